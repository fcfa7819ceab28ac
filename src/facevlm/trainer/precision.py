"""Mixed precision and fast matmuls on CUDA; the CPU path trains in float32 without autocast."""

from __future__ import annotations

import logging

import torch

logger = logging.getLogger(__name__)


def choose_amp_dtype(
    amp: bool, requested: str, device: torch.device, capability: tuple[int, int] | None = None
) -> torch.dtype | None:
    """The autocast dtype for ``device`` (``None``: no autocast, the CPU case).

    bf16 needs compute capability 8.0 (Ampere) or newer; older GPUs get fp16, which the loop
    pairs with a GradScaler. ``capability`` defaults to the device's own.
    """
    if not amp or device.type != "cuda":
        return None
    if capability is None:
        capability = torch.cuda.get_device_capability(device)
    has_bf16 = capability[0] >= 8
    if requested == "auto":
        return torch.bfloat16 if has_bf16 else torch.float16
    if requested == "bfloat16" and not has_bf16:
        logger.warning(
            "bfloat16 autocast needs compute capability 8.0, this GPU has %d.%d: "
            "training in float16 with a grad scaler",
            *capability,
        )
        return torch.float16
    return {"bfloat16": torch.bfloat16, "float16": torch.float16}[requested]


class CudaMathSettings:
    """TF32 matmuls and convolutions while training on CUDA (restored afterwards)."""

    def __init__(self, device: torch.device):
        self.on = device.type == "cuda"

    def __enter__(self) -> None:
        if self.on:
            self.before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True

    def __exit__(self, *exc) -> None:
        if self.on:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = self.before
