"""Under a real two-process gloo group, DDP gradients equal the single-process full-batch ones.

Each rank embeds half of the batch with the same tiny two-tower model wrapped in
DistributedDataParallel and computes the loss with ``gather_distributed=True``; after DDP's
gradient averaging, every parameter gradient (and the loss value) must equal what one process
gets on the whole batch. The loss's own margin is outside DDP and must already agree on every
rank. A control with gathering switched off must *not* match, so the test can fail.

Deselect with ``-m "not ddp"``; one spawn serves every case (a few seconds on 2 CPU cores).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from facevlm.models.embeddings import MultiviewEmbeddings
from facevlm.models.losses import (
    AffectVLMLoss,
    ClipInfoNCELoss,
    MultiviewBarlowTwinsLoss,
    SmileVLMLoss,
    loss_terms_total,
)

pytestmark = [
    pytest.mark.ddp,
    pytest.mark.skipif(
        not (dist.is_available() and dist.is_gloo_available()),
        reason="needs torch.distributed gloo",
    ),
]

WORLD, N, V, D_IN, D = 2, 8, 3, 5, 6  # global batch N, split evenly over WORLD ranks
TIMEOUT_S = 120


def smile_with_projector() -> nn.Module:
    """SMILE-VLM with a Barlow Twins projector: trainable parameters applied to the local
    samples, before the collectives (initialised alike on every rank)."""
    torch.manual_seed(0)
    return SmileVLMLoss(bt_projector=(D, 4))


# name -> (loss factory, whether it uses the text tower); a tower the loss ignores is left out
# of the model, since DDP expects every parameter to receive a gradient.
CASES: dict[str, tuple[Callable[[], nn.Module], bool]] = {
    "barlow_twins": (MultiviewBarlowTwinsLoss, False),
    "infonce_fused_and_views": (lambda: ClipInfoNCELoss(view_weight=1.0), True),
    "infonce_label_targets": (lambda: ClipInfoNCELoss(targets="labels"), True),
    "smile": (SmileVLMLoss, True),
    "smile_bt_projector": (smile_with_projector, True),
    "affectvlm": (AffectVLMLoss, True),
    "affectvlm_batch_hard": (lambda: AffectVLMLoss(mining="hard"), True),
}
CONTROL = {
    "barlow_twins_local_batch": (lambda: MultiviewBarlowTwinsLoss(gather_distributed=False), False)
}


class TinyTowers(nn.Module):
    """Linear image (and text) towers with a learnable temperature: enough to carry gradients."""

    def __init__(self, with_text: bool) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.image = nn.Linear(D_IN, D)
        self.text = nn.Linear(D_IN, D) if with_text else None
        for p in self.parameters():
            p.data = torch.randn(p.shape, generator=gen) * 0.5
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)), requires_grad=with_text)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> MultiviewEmbeddings:
        views_raw = self.image(x)  # (b, V, D)
        fused_raw = views_raw.mean(dim=1)  # (b, D)
        text_raw = None if self.text is None else self.text(t)  # (b, D)
        return MultiviewEmbeddings(
            views=F.normalize(views_raw, dim=-1),
            fused=F.normalize(fused_raw, dim=-1),
            text=None if text_raw is None else F.normalize(text_raw, dim=-1),
            views_raw=views_raw,
            fused_raw=fused_raw,
            text_raw=text_raw,
            logit_scale=self.logit_scale,
        )


class _Objective(nn.Module):
    """Towers and loss as one module (like ``facevlm.trainer.objective.Objective``)."""

    def __init__(self, model: nn.Module, loss: nn.Module) -> None:
        super().__init__()
        self.model, self.loss = model, loss

    def forward(self, x, t, labels) -> dict[str, torch.Tensor]:
        return self.loss(self.model(x, t), labels)


def inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    x, t = torch.randn(N, V, D_IN, generator=gen), torch.randn(N, D_IN, generator=gen)
    return x, t, torch.tensor([0, 1, 2, 0, 1, 0, 2, 1])


def loss_and_grads(
    make_loss: Callable[[], nn.Module], with_text: bool, batch: tuple, distributed: bool
) -> dict[str, torch.Tensor]:
    """Loss value and every parameter gradient of a fresh model and loss on ``batch``."""
    x, t, labels = batch
    model, loss_fn = TinyTowers(with_text), make_loss()
    objective = _Objective(model, loss_fn)
    # DDP averages the gradients of model and loss parameters, as the training loop's does
    forward = DistributedDataParallel(objective) if distributed else objective
    total = loss_terms_total(forward(x, t, labels))
    total.backward()
    named = [(f"model.{k}", p) for k, p in model.named_parameters() if p.requires_grad]
    named += [(f"loss.{k}", p) for k, p in loss_fn.named_parameters()]
    return {"value": total.detach(), **{k: p.grad.clone() for k, p in named}}


def run_all(batch: tuple, distributed: bool) -> dict[str, dict[str, torch.Tensor]]:
    return {
        name: loss_and_grads(make, with_text, batch, distributed)
        for name, (make, with_text) in {**CASES, **CONTROL}.items()
    }


def _rank_main(rank: int, init_file: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD)
    try:
        x, t, labels = inputs()
        rows = slice(rank * N // WORLD, (rank + 1) * N // WORLD)
        results = run_all((x[rows], t[rows], labels[rows]), distributed=True)
        torch.save(results, Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[list[dict], dict]:
    """(per-rank DDP results, single-process full-batch results), computed once."""
    tmp = tmp_path_factory.mktemp("ddp")
    context = mp.start_processes(
        _rank_main,
        args=(str(tmp / "rendezvous"), str(tmp)),
        nprocs=WORLD,
        join=False,
        start_method="spawn",
    )
    deadline = time.monotonic() + TIMEOUT_S
    try:
        # join() returns after any one rank exits (raising if it failed); loop until all have
        while not context.join(timeout=max(deadline - time.monotonic(), 0.0)):
            if time.monotonic() > deadline:
                pytest.fail(f"DDP ranks did not finish within {TIMEOUT_S} s")
    finally:
        for process in context.processes:
            if process.is_alive():
                process.terminate()
    ranks = [torch.load(tmp / f"rank{r}.pt") for r in range(WORLD)]
    return ranks, run_all(inputs(), distributed=False)


@pytest.mark.parametrize("case", sorted(CASES))
def test_ddp_loss_and_gradients_equal_single_process_full_batch(runs, case):
    ranks, single = runs
    for rank, result in enumerate(ranks):
        assert result[case].keys() == single[case].keys()
        for key, expected in single[case].items():
            got = result[case][key]
            gap = (got - expected).abs().max().item()
            assert torch.allclose(got, expected, rtol=1e-4, atol=1e-6), f"rank {rank} {key}: {gap}"


def test_control_local_batch_statistics_do_not_match(runs):
    ranks, single = runs
    case = "barlow_twins_local_batch"
    grad_ddp, grad_full = ranks[0][case]["model.image.weight"], single[case]["model.image.weight"]
    assert not torch.allclose(grad_ddp, grad_full, rtol=1e-3, atol=1e-5)
