"""The CLIP backbone: one factory for every open_clip architecture we use, with or without weights.

AffectVLM and SMILE-VLM both start from a CLIP image/text encoder pair. ``create_backbone`` builds
it from a :class:`BackboneConfig`: an open_clip architecture name (``ViT-B-32``, ``ViT-B-16``,
``RN50``, ... or our ``facevlm-tiny`` for CPU tests) and weights that are either an open_clip hub
tag (``openai``, ``laion2b_s34b_b79k``) or a local file path -- the same open_clip call handles
both. It returns the model, the tensor normalisation its weights expect and its tokenizer.

Its functions register ``models/configs/*.json`` (``facevlm-tiny``) with open_clip before they use
it. open_clip itself is imported on first use: importing it takes 1.5-2 s of a CPU (torchvision,
timm and ``torch._dynamo`` come with it), which a process that never builds a model (a Kedro run
of the data stages, Kedro-Viz, a notebook that reads the catalog) would otherwise pay for importing
this module.

    >>> model, normalize, tokenizer = create_backbone(BackboneConfig(name="facevlm-tiny"))
    >>> tokens = tokenizer(["a happy face"])               # (1, 32) int64
    >>> feats = model.encode_image(normalize(images))      # images (N, 3, 64, 64) in [0, 1]
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

CONFIG_DIR = Path(__file__).parent / "configs"

#: Names of the architectures our own configs add to open_clip's registry.
LOCAL_MODEL_NAMES: tuple[str, ...] = tuple(sorted(p.stem for p in CONFIG_DIR.glob("*.json")))


def _open_clip():
    """open_clip, imported on first use (see the module doc), with ``models/configs`` in its
    config registry."""
    import open_clip

    if not all(name in open_clip.list_models() for name in LOCAL_MODEL_NAMES):
        open_clip.add_model_config(CONFIG_DIR)
    return open_clip


Tokenizer = Callable[..., torch.Tensor]  # list[str] -> (N, context_length) int64


@dataclass
class BackboneConfig:
    name: str = "ViT-B-32"  # open_clip architecture: facevlm-tiny | ViT-B-32 | ViT-B-16 | RN50
    pretrained: str | None = "openai"  # None (random init) | open_clip tag | local weight file path
    freeze_image: bool = False  # requires_grad False on the image tower (and frozen BN stats)
    freeze_text: bool = False  # requires_grad False on the text tower
    image_size: int | None = None  # override the architecture's input size (pos. embed. resized)
    quick_gelu: bool | None = None  # None: follow the pretrained tag (OpenAI weights use QuickGELU)
    cache_dir: str | None = None  # where hub weights are cached (None: the HF default)


class ImageNormalize(nn.Module):
    """``(x - mean) / std`` per channel on ``(..., 3, H, W)`` tensors in [0, 1]."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        return f"mean={self.mean.flatten().tolist()}, std={self.std.flatten().tolist()}"


def _looks_like_path(pretrained: str) -> bool:
    suffixes = (".pt", ".pth", ".bin", ".safetensors", ".ckpt")
    return os.sep in pretrained or pretrained.startswith("~") or pretrained.endswith(suffixes)


def _resolve_pretrained(cfg: BackboneConfig) -> tuple[str | None, bool]:
    """The ``pretrained`` argument for open_clip and whether the model needs QuickGELU."""
    if cfg.pretrained is None:
        return None, bool(cfg.quick_gelu)
    path = Path(cfg.pretrained).expanduser()
    if path.is_file():
        return str(path), bool(cfg.quick_gelu)
    if _looks_like_path(cfg.pretrained):
        raise FileNotFoundError(f"pretrained weight file not found: {path}")
    open_clip = _open_clip()
    tag_cfg = open_clip.get_pretrained_cfg(cfg.name, cfg.pretrained)
    if not tag_cfg:
        tags = open_clip.list_pretrained_tags_by_model(cfg.name)
        raise ValueError(
            f"unknown pretrained tag {cfg.pretrained!r} for {cfg.name}; "
            f"known tags: {', '.join(tags) or 'none'} (or pass a local weight file)"
        )
    quick_gelu = tag_cfg.get("quick_gelu", False) if cfg.quick_gelu is None else cfg.quick_gelu
    return cfg.pretrained, bool(quick_gelu)


def freeze_towers(model: nn.Module, image: bool, text: bool) -> None:
    """Set requires_grad False on the image and/or text tower of an open_clip model."""
    if image:
        model.lock_image_tower(unlocked_groups=0, freeze_bn_stats=True)
    if text:
        model.lock_text_tower(unlocked_layers=0, freeze_layer_norm=True)


def create_backbone(cfg: BackboneConfig) -> tuple[nn.Module, ImageNormalize, Tokenizer]:
    """Build ``(clip_model, normalize, tokenizer)`` for ``cfg``.

    ``normalize`` maps images in [0, 1] to the mean/std the weights were trained with; the model
    itself expects normalised input. Weights come from a hub tag (downloaded into ``cache_dir``)
    or a local open_clip state-dict file; ``pretrained=None`` gives a random initialisation.
    """
    pretrained, quick_gelu = _resolve_pretrained(cfg)
    open_clip = _open_clip()
    if cfg.name not in open_clip.list_models():
        raise ValueError(f"unknown open_clip architecture {cfg.name!r}")
    with _random_init_notice_dropped(pretrained is None):
        model = open_clip.create_model(
            cfg.name,
            pretrained=pretrained,
            force_quick_gelu=quick_gelu,
            force_image_size=cfg.image_size,
            cache_dir=cfg.cache_dir,
        )
    freeze_towers(model, image=cfg.freeze_image, text=cfg.freeze_text)
    pp = model.visual.preprocess_cfg  # mean/std of the weights (OpenAI's for random init)
    normalize = ImageNormalize(tuple(pp["mean"]), tuple(pp["std"]))
    return model, normalize, get_tokenizer(cfg.name)


class _RandomInitNotice(logging.Filter):
    """Drops open_clip's "No pretrained weights loaded ... initialized randomly" warning."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("No pretrained weights loaded")


@contextlib.contextmanager
def _random_init_notice_dropped(asked_for_random: bool) -> Iterator[None]:
    """Silence open_clip's random-initialisation warning when random weights are what was asked
    for: a test config, or a trained bundle whose weights are loaded right after building (the
    warning then alarms a user about weights that are about to be replaced)."""
    if not asked_for_random:
        yield
        return
    notice = _RandomInitNotice()
    logging.getLogger().addFilter(notice)  # open_clip warns through the root logger
    try:
        yield
    finally:
        logging.getLogger().removeFilter(notice)


@functools.lru_cache(maxsize=8)
def get_tokenizer(name: str) -> Tokenizer:
    """open_clip's tokenizer for architecture ``name`` (cached: building it reads the BPE file)."""
    return _open_clip().get_tokenizer(name)


def architecture_image_size(name: str, override: int | None = None) -> int:
    """Input side of architecture ``name`` without building it (``override`` wins when set)."""
    if override:
        return int(override)
    config = _open_clip().get_model_config(name)
    if config is None:
        raise ValueError(f"unknown open_clip architecture {name!r}")
    return _square_side(config["vision_cfg"]["image_size"])


def image_size_of(model: nn.Module) -> int:
    """Square input size of an open_clip model's image tower."""
    return _square_side(model.visual.image_size)


def _square_side(size: int | tuple[int, int] | list[int]) -> int:
    """open_clip gives an image size as ``S`` or ``(S, S)``."""
    return int(size[0] if isinstance(size, tuple | list) else size)
