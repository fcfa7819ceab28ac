"""Checkpoints: a run stopped after k epochs and resumed equals the uninterrupted run bit for bit
(weights, history, prompts, generator states, the caller's extra state); checkpoints of other
runs are never resumed or pruned; every file is written atomically."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from facevlm.models.checkpoints import (
    checkpoint_path,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from facevlm.models.multiview_data import MultiviewDataset
from facevlm.scans.labels import BASIC_EMOTIONS
from facevlm.trainer import ExecutionConfig, TrainConfig, train

pytestmark = pytest.mark.usefixtures("one_thread")

GROUPS = [[f"a face showing {c}", f"someone looks {c}"] for c in BASIC_EMOTIONS]


class PromptNCE(nn.Module):
    """InfoNCE of the fused image embedding against its prompt, with one learnable offset."""

    def __init__(self) -> None:
        super().__init__()
        self.offset = nn.Parameter(torch.zeros(()))

    def forward(self, emb, labels=None):
        logits = emb.logit_scale.exp() * emb.fused @ emb.text.T
        target = torch.arange(len(logits))
        return {
            "loss/nce": F.cross_entropy(logits, target),
            "loss/offset": (self.offset - 1) ** 2,
        }


class PseudoLabels:
    """A SMILE-like refresh: every 2nd epoch each sample gets a prompt group drawn from numpy's
    global generator (so a resume that did not restore it would differ), logged as extra state."""

    def __init__(self, dataset: MultiviewDataset, refresh_every: int = 2):
        self.dataset, self.refresh_every, self.log = dataset, refresh_every, []

    def __call__(self, epoch: int, model: nn.Module) -> None:
        if self.dataset.has_prompts and epoch % self.refresh_every:
            return
        groups = np.random.randint(len(GROUPS), size=len(self.dataset))  # noqa: NPY002
        self.dataset.set_prompts([GROUPS[g] for g in groups], prompt_ids=groups)
        self.log.append({"epoch": epoch, "groups": groups.tolist()})

    def state_dict(self):
        return {"log": self.log}

    def load_state_dict(self, state):
        self.log = list(state["log"])


class Stop(Exception):
    """Stands for a kill: raised after the checkpoint of the k-th epoch was written."""


def make_dataset(toy_views, tokenizer, n_per_class=3, seed=0):
    views, _ = toy_views(n_per_class, seed=seed)
    return MultiviewDataset(views, tokenizer=tokenizer, image_size=64)


def config(**overrides) -> TrainConfig:
    base = dict(
        epochs=3,
        batch_size=6,
        lr_backbone=1e-3,
        lr_head=1e-2,
        warmup_epochs=0.5,
        loss_labels="prompt_ids",
        run_key="fold-0",
    )
    return TrainConfig(**{**base, **overrides})


def execution(tmp_path, **overrides) -> ExecutionConfig:
    base = dict(progress=False, checkpoint_dir=str(tmp_path), keep_checkpoints=1, resume="latest")
    return ExecutionConfig(**{**base, **overrides})


def run(make_tiny_model, dataset, cfg, execution, stop_after=None):
    """Train a fresh model (seed 0) with a fresh pseudo-label state; maybe stop after k epochs."""
    model = make_tiny_model(seed=0, fusion="attention")
    labels = PseudoLabels(dataset)

    def kill(epoch, record, model):
        if stop_after is not None and epoch + 1 == stop_after:
            raise Stop

    history = train(
        model,
        PromptNCE(),
        dataset,
        cfg,
        execution=execution,
        before_epoch=labels,
        on_epoch_end=kill,
        extra_state=labels,
    )
    return model, history, labels


def without_time(records):
    return [{k: v for k, v in r.items() if k != "time_s"} for r in records]


def test_stop_and_resume_is_bit_identical(make_tiny_model, toy_views, tiny_tokenizer, tmp_path):
    np.random.seed(7)  # noqa: NPY002
    full_model, full, full_labels = run(
        make_tiny_model,
        make_dataset(toy_views, tiny_tokenizer),
        config(),
        execution(tmp_path / "uninterrupted"),
    )
    np.random.seed(7)  # noqa: NPY002
    dataset = make_dataset(toy_views, tiny_tokenizer)
    with pytest.raises(Stop):  # stopped after epoch 1: an odd epoch, between two refreshes
        run(make_tiny_model, dataset, config(), execution(tmp_path / "killed"), stop_after=1)
    # the restarted process's generators are anything: they are restored from the file
    np.random.seed(12345)  # noqa: NPY002
    resumed_model, resumed, resumed_labels = run(
        make_tiny_model,
        make_dataset(toy_views, tiny_tokenizer),
        config(),
        execution(tmp_path / "killed"),
    )
    for name, value in full_model.state_dict().items():
        assert torch.equal(value, resumed_model.state_dict()[name]), name
    assert without_time(resumed.epochs) == without_time(full.epochs)
    assert (
        resumed.epochs[0]
        == load_checkpoint(latest_checkpoint(resumed.checkpoint_dir))["history"][0]
    )  # the first epoch's record came from the checkpoint, not from a new run
    assert resumed_labels.log == full_labels.log and [r["epoch"] for r in full_labels.log] == [0, 2]
    ckpt = load_checkpoint(latest_checkpoint(resumed.checkpoint_dir))
    assert set(ckpt) >= {"model", "optimizer", "scheduler", "scaler", "rng", "dataset", "extra"}
    assert set(ckpt["rng"][0]) == {"python", "numpy", "torch", "cuda"}


def test_a_run_never_resumes_from_another_runs_checkpoints(
    make_tiny_model, toy_views, tiny_tokenizer, tmp_path
):
    """The bug of issue 10: folds shared one folder, a stale epoch_0010.pt sorted last, each new
    checkpoint was pruned at once and later folds loaded an earlier fold's weights."""
    stale = tmp_path / "epoch_0010.pt"  # what an earlier layout left in the shared folder
    save_checkpoint(stale, {"epoch": 10}, keep=0)
    fold_a = make_dataset(toy_views, tiny_tokenizer, seed=0)
    fold_b = make_dataset(toy_views, tiny_tokenizer, seed=1)
    _, a, _ = run(make_tiny_model, fold_a, config(run_key="fold-0"), execution(tmp_path))
    model_b, b, _ = run(make_tiny_model, fold_b, config(run_key="fold-1"), execution(tmp_path))
    assert a.checkpoint_dir != b.checkpoint_dir
    assert len(b.epochs) == 3 and without_time(b.epochs) != without_time(
        a.epochs
    )  # fold B trained, from nothing of A's
    for history in (a, b):
        files = sorted(p.name for p in Path(history.checkpoint_dir).iterdir())
        assert files == ["epoch_0003.pt", "identity.json"]  # keep_checkpoints: 1, own folder
    assert stale.exists()  # left alone, never loaded
    ckpt_a = load_checkpoint(latest_checkpoint(a.checkpoint_dir))
    assert not torch.equal(ckpt_a["model"]["fusion.query"], model_b.fusion.query)

    # same data under another key, or another parameter: another folder again
    _, c, _ = run(
        make_tiny_model, fold_a, config(run_key="fold-0", lr_head=5e-3), execution(tmp_path)
    )
    assert c.checkpoint_dir not in (a.checkpoint_dir, b.checkpoint_dir)
    identity = json.loads((Path(a.checkpoint_dir) / "identity.json").read_text())
    assert identity["described"]["run_key"] == "fold-0"
    assert identity["described"]["config"]["lr_head"] == 1e-2


def test_explicit_resume_from_another_run_warns(
    make_tiny_model, toy_views, tiny_tokenizer, tmp_path, caplog
):
    dataset = make_dataset(toy_views, tiny_tokenizer)
    _, a, _ = run(make_tiny_model, dataset, config(epochs=1), execution(tmp_path))
    other = make_dataset(toy_views, tiny_tokenizer, seed=3)
    with caplog.at_level(logging.WARNING, logger="facevlm.trainer.loop"):
        run(
            make_tiny_model,
            other,
            config(epochs=2),
            execution(tmp_path, resume=str(latest_checkpoint(a.checkpoint_dir))),
        )
    assert "written by another run" in caplog.text and "data" in caplog.text


def test_pruning_keeps_the_new_checkpoint_and_newer_files(tmp_path):
    for epoch in (1, 2, 10):
        save_checkpoint(checkpoint_path(tmp_path, epoch), {"epoch": epoch}, keep=0)
    save_checkpoint(checkpoint_path(tmp_path, 3), {"epoch": 3}, keep=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch_0003.pt", "epoch_0010.pt"]
    assert latest_checkpoint(tmp_path).name == "epoch_0010.pt"
    # 5 digits: the newest by number, not by name
    save_checkpoint(checkpoint_path(tmp_path, 10000), {"epoch": 10000}, keep=0)
    assert latest_checkpoint(tmp_path).name == "epoch_10000.pt"


def test_a_failed_write_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    path = checkpoint_path(tmp_path, 1)
    save_checkpoint(path, {"epoch": 1}, keep=0)
    real_save = torch.save

    def dies_half_way(obj, f):
        real_save({"half": torch.zeros(1000)}, f)
        raise KeyboardInterrupt  # killed while writing

    monkeypatch.setattr(torch, "save", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"epoch": 2}, keep=0)
    monkeypatch.setattr(torch, "save", real_save)
    assert load_checkpoint(path) == {"epoch": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["epoch_0001.pt"]  # no temporary left


def test_unreadable_checkpoint_names_the_file(tmp_path):
    bad = tmp_path / "epoch_0001.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="epoch_0001.pt"):
        load_checkpoint(bad)
