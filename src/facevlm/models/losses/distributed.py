"""Gradient-carrying collectives for losses that need the global batch under DDP.

Contrastive and Barlow Twins losses couple the samples of a batch, so under
DistributedDataParallel each process must see the *global* batch, and gradients must flow back
through the communication. Plain ``torch.distributed.all_gather`` / ``all_reduce`` cut the graph:
the local process then only gets gradient through its own slice, and the effective gradient is
wrong (docs/methods.md: "never plain all_reduce").

Gradient convention (as in open_clip with ``gather_with_grad=True``): every rank computes the same
global loss, and the backward of these collectives sums the gradients of all ranks, so each rank
holds ``world_size x`` the gradient of the global loss for its local inputs. DDP then *averages*
parameter gradients over ranks, which exactly cancels the factor: the update equals the
single-process update on the full batch. Parameters that the global loss reaches without a
collective (the AffectVLM margin, the CLIP logit scale) get the true gradient on every rank, and
averaging identical values leaves it unchanged. ``tests/models/losses/test_loss_ddp.py`` checks
both on two CPU processes.

Without an initialised process group every function here is the identity, so the losses run
unchanged in a single process and in tests.
"""

from __future__ import annotations

import warnings

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_nn

# torch >= 2.10 marks torch.distributed.nn.functional as deprecated in favour of the private
# torch.distributed._functional_collectives; the public autograd collectives still work and have
# the documented sum-of-gradients backward that the convention above relies on.
_DEPRECATION = r"torch\.distributed\.nn\.functional\.all_(gather|reduce) is deprecated"


def is_distributed() -> bool:
    """True when a default process group is initialised (torchrun, or a test that spawns one)."""
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    """Number of processes in the default group, 1 outside DDP."""
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    """Rank of this process in the default group, 0 outside DDP."""
    return dist.get_rank() if is_distributed() else 0


def gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` (b, ...) of every rank along dim 0 -> (world_size * b, ...), with grad.

    Every rank must pass the same shape (use ``drop_last=True`` with a DistributedSampler).
    Rows are ordered by rank, so rank r's samples occupy rows ``[r * b, (r + 1) * b)``.
    """
    if not is_distributed() or world_size() == 1:
        return x
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_DEPRECATION, category=FutureWarning)
        parts = dist_nn.all_gather(x)  # tuple of world_size tensors (b, ...)
    return torch.cat(parts, dim=0)


def gather_no_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` of every rank along dim 0 without autograd (labels, integer tensors)."""
    if not is_distributed() or world_size() == 1:
        return x
    parts = [torch.empty_like(x) for _ in range(world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts, dim=0)


def all_reduce_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Sum ``x`` over ranks; the backward sums the incoming gradients over ranks too."""
    if not is_distributed() or world_size() == 1:
        return x
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_DEPRECATION, category=FutureWarning)
        return dist_nn.all_reduce(x)


def global_count(n_local: int, device: torch.device | None = None) -> int:
    """Total number of samples over ranks (per-rank batches may differ in size)."""
    if not is_distributed() or world_size() == 1:
        return n_local
    n = torch.tensor([n_local], dtype=torch.long, device=device)
    dist.all_reduce(n)
    return int(n.item())
