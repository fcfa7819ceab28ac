"""The training loop: it learns, it is bit-reproducible on CPU, it resumes exactly, it clamps."""

from __future__ import annotations

import math
import os
import threading
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from facevlm.models.augment import AugmentConfig, MixedViewAugmentation
from facevlm.models.checkpoints import latest_checkpoint, load_checkpoint
from facevlm.models.classifier import PromptEnsembleClassifier
from facevlm.models.multiview_clip import MAX_LOGIT_SCALE, embed_samples
from facevlm.models.multiview_data import MultiviewDataset, make_loader
from facevlm.scans.labels import BASIC_EMOTIONS
from facevlm.trainer import ExecutionConfig, TrainConfig, resolve_device, train
from facevlm.trainer.objective import Objective
from facevlm.trainer.prefetch import augmented_batches, prefetch_enabled
from facevlm.trainer.schedule import param_groups, warmup_cosine
from facevlm.trainer.step import clip_grad_norm

pytestmark = pytest.mark.usefixtures("one_thread")

PROMPTS = {c: [f"a face showing {c}"] for c in BASIC_EMOTIONS}


class LabelAwareInfoNCE(nn.Module):
    """Test loss: image->text InfoNCE whose positives are all texts of the sample's label, plus
    a learnable offset pulled toward 1 (a stand-in for a loss parameter such as the margin)."""

    def __init__(self) -> None:
        super().__init__()
        self.offset = nn.Parameter(torch.zeros(()))

    def forward(self, emb, labels=None):
        logits = emb.logit_scale.exp() * emb.fused @ emb.text.T  # (B, B)
        same = (labels[:, None] == labels[None, :]).float()
        targets = same / same.sum(dim=1, keepdim=True)
        return {
            "loss/nce": F.cross_entropy(logits, targets),
            "loss/offset": (self.offset - 1) ** 2,
            "stat/offset": self.offset.detach(),
        }


@pytest.fixture
def toy_dataset(toy_views, tiny_tokenizer):
    views, labels = toy_views(4)  # 24 samples, 6 classes
    prompts = [PROMPTS[BASIC_EMOTIONS[c]] for c in labels]
    return MultiviewDataset(views, labels, prompts=prompts, tokenizer=tiny_tokenizer, image_size=64)


def config(**overrides) -> TrainConfig:
    base = dict(epochs=2, batch_size=8, lr_backbone=1e-3, lr_head=1e-2, warmup_epochs=0.5)
    return TrainConfig(**{**base, **overrides})


def execution(**overrides) -> ExecutionConfig:
    return ExecutionConfig(**{"progress": False, **overrides})


def state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def assert_same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def without_time(history) -> list[dict]:
    return [{k: v for k, v in rec.items() if k != "time_s"} for rec in history.epochs]


def test_training_reduces_the_loss_and_records_everything(
    make_tiny_model, toy_dataset, tiny_tokenizer
):
    model = make_tiny_model()
    loss = LabelAwareInfoNCE()
    eval_loader = make_loader(toy_dataset, batch_size=12, shuffle=False)
    started = []

    def zero_shot(m, epoch):
        clf = PromptEnsembleClassifier.from_prompts(m, tiny_tokenizer, PROMPTS)
        emb = embed_samples(m, eval_loader)
        return {"accuracy": (clf.predict(emb.fused) == emb.labels).float().mean().item()}

    history = train(
        model,
        loss,
        toy_dataset,
        config(epochs=3),
        execution=execution(),
        before_epoch=lambda epoch, m: started.append(epoch),
        evaluate=zero_shot,
    )
    losses = history.metric("loss/nce")
    assert len(history.epochs) == 3 and started == [0, 1, 2]
    assert losses[-1] < 0.5 * losses[0]
    assert history.metric("eval/accuracy")[-1] >= 0.5  # chance is 1/6 on the toy set
    assert 0 < loss.offset.item() < 1  # the loss module's parameter was optimised
    rec = history.last
    assert rec["loss"] == pytest.approx(rec["loss/nce"] + rec["loss/offset"], rel=1e-5)
    assert rec["stat/offset"] == pytest.approx(loss.offset.item(), abs=0.1)
    assert {"lr_backbone", "lr_head", "logit_scale", "time_s", "epoch"} <= rec.keys()
    assert history.to_dict()["epoch"] == [1.0, 2.0, 3.0]


def test_the_held_out_evaluation_runs_every_eval_every_epochs_and_after_the_last(
    make_tiny_model, toy_dataset
):
    evaluated = []

    def count(model, epoch):
        evaluated.append(epoch)
        return {"accuracy": 0.5}

    history = train(
        make_tiny_model(),
        LabelAwareInfoNCE(),
        toy_dataset,
        config(epochs=5),
        execution=execution(eval_every=2),
        evaluate=count,
    )
    assert evaluated == [1, 3, 4]  # 0-based epochs: after the 2nd, the 4th and the 5th (last)
    assert history.metric("eval/accuracy") == [0.5, 0.5, 0.5]
    curve = history.to_dict()["eval/accuracy"]  # one value per epoch, NaN where not evaluated
    assert [value == value for value in curve] == [False, True, False, True, True]


def test_the_evaluation_cadence_does_not_change_what_is_trained(make_tiny_model, toy_dataset):
    eval_loader = make_loader(toy_dataset, batch_size=12, shuffle=False)

    def embed(m, epoch):  # a real forward pass in eval mode, as the held-out accuracy makes
        return {"norm": embed_samples(m, eval_loader).fused.norm().item()}

    runs = []
    for every in (1, 3):
        model = make_tiny_model(seed=3)
        history = train(
            model,
            LabelAwareInfoNCE(),
            toy_dataset,
            config(epochs=3),
            execution=execution(eval_every=every),
            evaluate=embed,
        )
        runs.append((state(model), history.metric("loss")))
    assert_same_state(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1]


def test_a_call_without_an_execution_config_runs_with_the_defaults(make_tiny_model, toy_dataset):
    history = train(make_tiny_model(), LabelAwareInfoNCE(), toy_dataset, config(epochs=1))
    assert len(history.epochs) == 1 and history.checkpoint_dir is None  # no checkpoint_dir


def test_two_identical_runs_are_bit_identical(make_tiny_model, toy_dataset):
    aug = MixedViewAugmentation(AugmentConfig())
    runs = []
    for _ in range(2):
        model = make_tiny_model(seed=3, fusion="attention")
        history = train(
            model, LabelAwareInfoNCE(), toy_dataset, config(), execution=execution(), augment=aug
        )
        runs.append((state(model), without_time(history)))
    assert_same_state(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1]
    other = make_tiny_model(seed=3, fusion="attention")
    train(
        other, LabelAwareInfoNCE(), toy_dataset, config(seed=1), execution=execution(), augment=aug
    )
    assert not torch.equal(
        other.fusion.query, make_tiny_model(seed=3, fusion="attention").fusion.query
    )
    assert not torch.equal(other.fusion.query, runs[0][0]["fusion.query"])


def test_resume_continues_exactly(make_tiny_model, toy_dataset, tmp_path):
    aug = MixedViewAugmentation(AugmentConfig())
    model = make_tiny_model(seed=0)
    full = train(
        model,
        LabelAwareInfoNCE(),
        toy_dataset,
        config(),
        execution=execution(checkpoint_dir=str(tmp_path)),
        augment=aug,
    )
    run_dir = Path(full.checkpoint_dir)  # <checkpoint_dir>/run-<key>
    assert run_dir.parent == tmp_path and run_dir.name.startswith("run-")
    assert [p.name for p in sorted(run_dir.glob("*.pt"))] == ["epoch_0001.pt", "epoch_0002.pt"]
    ckpt = load_checkpoint(run_dir / "epoch_0001.pt")
    assert ckpt["epoch"] == 1 and len(ckpt["history"]) == 1

    resumed_model = make_tiny_model(seed=99)  # different init: everything comes from the file
    loss = LabelAwareInfoNCE()
    resumed = train(
        resumed_model,
        loss,
        toy_dataset,
        config(),
        execution=execution(resume=str(run_dir / "epoch_0001.pt")),
        augment=aug,
    )
    assert_same_state(state(model), state(resumed_model))
    assert without_time(resumed) == without_time(full)

    again = make_tiny_model(seed=0)  # 'latest' with nothing left to do: loads and returns
    latest = train(
        again,
        LabelAwareInfoNCE(),
        toy_dataset,
        config(),
        execution=execution(checkpoint_dir=str(tmp_path), resume="latest"),
        augment=aug,
    )
    assert_same_state(state(model), state(again))
    assert latest.epochs == full.epochs  # the records of the file, times included: not retrained


def test_keep_checkpoints(make_tiny_model, toy_dataset, tmp_path):
    run = execution(checkpoint_dir=str(tmp_path), keep_checkpoints=1)
    history = train(
        make_tiny_model(), LabelAwareInfoNCE(), toy_dataset, config(epochs=3), execution=run
    )
    run_dir = Path(history.checkpoint_dir)
    assert sorted(p.name for p in run_dir.iterdir()) == ["epoch_0003.pt", "identity.json"]
    assert latest_checkpoint(run_dir).name == "epoch_0003.pt"


def test_a_folder_given_as_the_runs_own_resumes_it_and_replaces_another_runs(
    make_tiny_model, toy_dataset, tmp_path
):
    """With ``checkpoint_subfolder=False`` the epochs go straight into ``checkpoint_dir``; the
    same run resumes from them, another run (other parameters) starts over and replaces them."""
    direct = dict(checkpoint_dir=str(tmp_path), checkpoint_subfolder=False, resume="latest")
    full = train(
        make_tiny_model(), LabelAwareInfoNCE(), toy_dataset, config(), execution=execution(**direct)
    )
    assert Path(full.checkpoint_dir) == tmp_path
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "epoch_0001.pt",
        "epoch_0002.pt",
        "identity.json",
    ]
    again = train(
        make_tiny_model(), LabelAwareInfoNCE(), toy_dataset, config(), execution=execution(**direct)
    )
    assert again.epochs == full.epochs  # read back from the folder: nothing retrained

    other = train(
        make_tiny_model(),
        LabelAwareInfoNCE(),
        toy_dataset,
        config(epochs=1, lr_head=5e-3),
        execution=execution(**direct),
    )
    assert len(other.epochs) == 1 and other.epochs[0]["loss"] != full.epochs[0]["loss"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch_0001.pt", "identity.json"]
    assert load_checkpoint(tmp_path / "epoch_0001.pt")["history"] == other.epochs


@pytest.mark.parametrize("clamp", [True, False])
def test_logit_scale_is_clamped_after_each_step(make_tiny_model, toy_dataset, clamp):
    model = make_tiny_model()
    with torch.no_grad():
        model.clip.logit_scale.fill_(8.0)  # above ln 100
    train(
        model,
        LabelAwareInfoNCE(),
        toy_dataset,
        config(epochs=1, lr_backbone=1e-4, clamp_logit_scale=clamp),
        execution=execution(),
    )
    if clamp:
        assert 0.0 <= model.logit_scale.item() <= MAX_LOGIT_SCALE + 1e-6
    else:
        assert model.logit_scale.item() > 7.9


class Recorder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list = []

    def forward(self, emb, labels=None):
        self.seen.append(labels)
        return {
            "loss/text": (emb.fused * emb.text).sum(dim=1).mean(),
            "stat/big": torch.tensor(1e6),
        }


def test_labels_routing_and_stat_terms_are_not_summed(make_tiny_model, toy_dataset):
    ids = [10 + i % 2 for i in range(len(toy_dataset))]
    toy_dataset.set_prompts(
        ["x" if i % 2 else "y" for i in range(len(toy_dataset))], prompt_ids=ids
    )
    for mode, allowed in [("labels", set(range(6))), ("prompt_ids", {10, 11})]:
        rec = Recorder()
        history = train(
            make_tiny_model(),
            rec,
            toy_dataset,
            config(epochs=1, loss_labels=mode),
            execution=execution(),
        )
        assert set(torch.cat(rec.seen).tolist()) <= allowed
        assert history.last["loss"] == pytest.approx(history.last["loss/text"])
    rec = Recorder()
    train(
        make_tiny_model(),
        rec,
        toy_dataset,
        config(epochs=1, loss_labels="none"),
        execution=execution(),
    )
    assert all(seen is None for seen in rec.seen)


def test_bad_loss_terms_fail(make_tiny_model, toy_dataset):
    class Unprefixed(nn.Module):
        def forward(self, emb, labels=None):
            return {"nce": emb.fused.sum()}

    with pytest.raises(ValueError, match="neither"):
        train(make_tiny_model(), Unprefixed(), toy_dataset, config(epochs=1), execution=execution())
    with pytest.raises(ValueError, match="loss_labels"):
        config(loss_labels="truth")


def test_param_groups_split_backbone_heads_and_decay(make_tiny_model):
    model = make_tiny_model(freeze_text=True)
    loss = LabelAwareInfoNCE()
    groups = {g["name"]: g for g in param_groups(Objective(model, nn.ModuleList([loss])), config())}
    assert set(groups) == {"backbone_decay", "backbone_no_decay", "head_no_decay"}
    assert groups["backbone_decay"]["lr"] == 1e-3 and groups["head_no_decay"]["lr"] == 1e-2
    assert groups["backbone_no_decay"]["weight_decay"] == 0.0
    assert groups["backbone_decay"]["weight_decay"] == 0.05
    ids = lambda name: {id(p) for p in groups[name]["params"]}  # noqa: E731
    assert id(model.clip.logit_scale) in ids("backbone_no_decay")
    assert {id(model.fusion.view_logits), id(loss.offset)} <= ids("head_no_decay")
    assert id(model.clip.token_embedding.weight) not in set().union(*map(ids, groups))  # frozen


def test_warmup_cosine_schedule():
    f = warmup_cosine(warmup_steps=4, total_steps=20, min_ratio=0.1)
    assert [f(s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert f(4) == pytest.approx(1.0)
    assert f(12) == pytest.approx(0.1 + 0.9 * 0.5)
    assert f(20) == pytest.approx(0.1) and f(25) == pytest.approx(0.1)
    assert all(f(s) >= f(s + 1) for s in range(4, 25))
    assert math.isclose(warmup_cosine(0, 10, 0.0)(0), 1.0)


# ---- overhead reductions: background augmentation, clipping without the multiply-by-one ------


class Flaky(nn.Module):
    """An augmentation that fails on its ``n``-th call (to see the error reach the loop)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.calls, self.n = 0, n

    def forward(self, images, generator=None):
        self.calls += 1
        if self.calls == self.n:
            raise RuntimeError("augmentation failed")
        return images


def test_prefetched_batches_equal_the_synchronous_ones(toy_dataset):
    aug = MixedViewAugmentation(AugmentConfig())
    runs = {}
    for prefetch in (False, True):
        loader = make_loader(toy_dataset, batch_size=5, seed=2)  # 24 samples: a short last batch
        loader.sampler.set_epoch(1)
        torch.manual_seed(11)  # prompt draws (a single candidate each here) and loader seed
        generator = torch.Generator().manual_seed(4)
        runs[prefetch] = list(
            augmented_batches(loader, torch.device("cpu"), aug, generator, prefetch)
        )
    assert len(runs[True]) == len(runs[False]) == 5
    for (b0, x0), (b1, x1) in zip(runs[False], runs[True], strict=True):
        assert b0.sample_ids == b1.sample_ids
        assert torch.equal(b0.views, b1.views) and torch.equal(b0.tokens, b1.tokens)
        assert torch.equal(b0.labels, b1.labels) and torch.equal(b0.prompt_ids, b1.prompt_ids)
        assert torch.equal(x0, x1)  # same augmentation draws, in the same order
        assert not torch.equal(x1, b1.views)


def test_prefetched_candidate_prompt_draws_equal_the_synchronous_ones(toy_views, tiny_tokenizer):
    views, labels = toy_views(4)
    prompts = [[f"a face {c}", f"a person {c}", f"an expression {c}"] for c in labels]
    ds = MultiviewDataset(views, labels, prompts=prompts, tokenizer=tiny_tokenizer, image_size=64)
    aug = MixedViewAugmentation(AugmentConfig())
    tokens = {}
    for prefetch in (False, True):
        torch.manual_seed(5)
        loader = make_loader(ds, batch_size=8, seed=0)
        generator = torch.Generator().manual_seed(0)
        batches = augmented_batches(loader, torch.device("cpu"), aug, generator, prefetch)
        tokens[prefetch] = torch.cat([b.tokens for b, _ in batches])
    assert torch.equal(tokens[False], tokens[True])
    assert len(torch.unique(tokens[True], dim=0)) > len(BASIC_EMOTIONS)  # candidates were drawn


@pytest.mark.parametrize("prefetch", [True, False])
def test_training_with_and_without_prefetch_is_bit_identical(
    make_tiny_model, toy_dataset, prefetch
):
    aug = MixedViewAugmentation(AugmentConfig())
    runs = []
    for p in (prefetch, not prefetch):
        model = make_tiny_model(seed=1)
        history = train(
            model,
            LabelAwareInfoNCE(),
            toy_dataset,
            config(),
            execution=execution(prefetch=p),
            augment=aug,
        )
        runs.append((state(model), without_time(history)))
    assert_same_state(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1]


def test_prefetch_default_and_switch():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert not prefetch_enabled(execution(prefetch=False), cpu)
    assert prefetch_enabled(execution(prefetch=True), cpu)
    assert not prefetch_enabled(execution(prefetch=True), cuda)  # GPU augmentation is async already
    assert not prefetch_enabled(execution(), cuda)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(cores)  # every core busy with the step: nothing to overlap on
        assert not prefetch_enabled(execution(), cpu)
        if cores > 1:
            torch.set_num_threads(1)
            assert prefetch_enabled(execution(), cpu)
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("prefetch", [True, False])
def test_augmentation_errors_reach_the_loop(make_tiny_model, toy_dataset, prefetch):
    aug = Flaky(n=2)
    with pytest.raises(RuntimeError, match="augmentation failed"):
        train(
            make_tiny_model(),
            LabelAwareInfoNCE(),
            toy_dataset,
            config(),
            execution=execution(prefetch=prefetch),
            augment=aug,
        )
    assert aug.calls == (3 if prefetch else 2)  # prefetching runs one batch ahead


@pytest.mark.parametrize("max_norm", [1e-3, 1e6, float("inf")], ids=["clipped", "kept", "inf"])
def test_clip_grad_norm_is_bit_identical_to_torch(max_norm):
    torch.manual_seed(0)
    params = [nn.Parameter(torch.randn(shape)) for shape in [(300, 64), (64,), (7, 3, 5), ()]]
    grads = [torch.randn_like(p) for p in params]
    results = []
    for clip in (clip_grad_norm, torch.nn.utils.clip_grad_norm_):
        for p, g in zip(params, grads, strict=True):
            p.grad = g.clone()
        clip(params, max_norm)
        results.append([p.grad.clone() for p in params])
    for ours, theirs in zip(*results, strict=True):
        assert torch.equal(ours, theirs)
    changed = not torch.equal(results[0][0], grads[0])
    assert changed == (max_norm == 1e-3)


def test_clip_grad_norm_spreads_a_non_finite_norm_like_torch():
    p = nn.Parameter(torch.ones(4))
    p.grad = torch.tensor([1.0, float("nan"), 0.0, 2.0])
    clip_grad_norm([p], 1.0)
    assert torch.isnan(p.grad).all()  # as clip_grad_norm_ leaves it (the NaN factor multiplies)
    clip_grad_norm([nn.Parameter(torch.ones(2))], 1.0)  # no gradients: nothing to do


def test_a_bare_cuda_device_gets_an_index_that_set_device_accepts():
    """``execution.device: cuda`` (no index) once failed on a GPU in ``torch.cuda.set_device``."""
    assert resolve_device("cuda") == torch.device("cuda", 0)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    assert resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        assert resolve_device("auto") == torch.device("cpu")


def test_batches_loaded_ahead_arrive_in_order_and_errors_reach_the_caller():
    """CUDA training loads the next batch in a background thread: same batches, same order,
    and a loader that fails makes the training step's thread fail, not a silent thread."""
    from facevlm.trainer.prefetch import loaded_ahead

    assert list(loaded_ahead(iter(range(7)), depth=2)) == list(range(7))

    def broken():
        yield 1
        raise OSError("views.npy: read failed")

    got = []
    with pytest.raises(OSError, match="views.npy"):
        for item in loaded_ahead(broken()):
            got.append(item)
    assert got == [1]

    ahead = loaded_ahead(iter(range(100)), depth=2)
    assert next(ahead) == 0
    ahead.close()  # the consumer stops early: the thread ends instead of blocking on a full queue
    assert not any(t.name == "facevlm-load-ahead" for t in threading.enumerate())


def test_a_cpu_run_under_torchrun_uses_gloo_even_where_a_gpu_is_visible(monkeypatch):
    """On a GPU machine, ``execution.device: cpu`` with 2 processes once picked NCCL and failed
    (rank 1 asked for a second GPU): the backend follows the training device."""
    import torch.distributed as dist

    from facevlm.trainer import distributed as training

    calls: list[tuple[str, object]] = []
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "set_device", lambda i: calls.append(("gpu", i)))
    monkeypatch.setattr(dist, "init_process_group", lambda backend: calls.append(("pg", backend)))
    training.setup_distributed("cpu")
    assert calls == [("pg", "gloo")]
    calls.clear()
    training.setup_distributed("auto")  # a CUDA run: this process's own GPU, NCCL
    assert calls == [("gpu", 1), ("pg", "nccl")]


class NaNAtBatch(nn.Module):
    """Test loss: a learnable offset and the raw embeddings' size (so that every step moves the
    model), not a number after the ``at``-th call."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.offset = nn.Parameter(torch.zeros(()))
        self.at, self.calls = at, 0

    def forward(self, emb, labels=None):
        self.calls += 1
        bad = float("nan") if self.calls > self.at else 0.0
        loss = (self.offset - 1) ** 2 + emb.fused_raw.pow(2).mean() + bad
        return {"loss/offset": loss}


def test_a_non_finite_loss_stops_training_before_its_update_and_names_the_batch(
    make_tiny_model, toy_dataset
):
    """On CPU the loss is read before the backward pass: the run fails with the epoch and the
    batch of the bad loss, and the model keeps the weights of the last good step."""
    model = make_tiny_model(0)
    weights_after_each_step = []
    loss = NaNAtBatch(at=4)  # batches 0-3 of epoch 1 are fine (3 per epoch: 24 samples / 8)
    loss.register_forward_hook(lambda *_: weights_after_each_step.append(state(model)))
    with pytest.raises(
        FloatingPointError, match=r"epoch 2, batch 1: non-finite loss: loss/offset=nan"
    ):
        train(model, loss, toy_dataset, config(epochs=3), execution=execution())
    assert_same_state(state(model), weights_after_each_step[-1])  # the bad step changed nothing
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_the_deferred_loss_check_reports_the_right_batch_one_step_late():
    """On CUDA the finiteness of step k is read at step k + 1 (or when the epoch ends), so the
    host never waits for the GPU mid-epoch; the error still names step k's batch and terms."""
    from facevlm.trainer.step import LossCheck

    fine, bad = torch.tensor(1.0), torch.tensor(float("inf"))
    check = LossCheck(epoch=0, deferred=True)
    check(fine, {"loss/a": fine})
    check(bad, {"loss/a": bad})  # batch 1 is bad, not yet read
    with pytest.raises(FloatingPointError, match=r"epoch 1, batch 1: non-finite loss: loss/a=inf"):
        check(fine, {"loss/a": fine})
    last = LossCheck(epoch=4, deferred=True)
    last(fine, {"loss/a": fine})
    last(bad, {"loss/a": bad})
    with pytest.raises(FloatingPointError, match=r"epoch 5, batch 1"):
        last.finish()  # the epoch's last step is read when the epoch ends
    immediate = LossCheck(epoch=0, deferred=False)
    with pytest.raises(FloatingPointError, match=r"epoch 1, batch 0"):
        immediate(bad, {"loss/a": bad})
