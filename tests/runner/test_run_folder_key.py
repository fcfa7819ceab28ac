"""The key of a training-run folder digests what decides the run and nothing else: not the path
of the pretrained weights (a versioned dataset, saved under a new timestamp by every
``kedro run``), not the bytes ``torch.save`` wrote, not how the run executes."""

from __future__ import annotations

import copy

import torch
from tiny_bundles import TINY_EXPERIMENT, prompt_bank, tiny_data

from facevlm.experiments.recipes import get_recipe
from facevlm.runner.identity import weights_digest
from facevlm.runner.run import training_run_folder


def _weights(path, value: float):
    torch.manual_seed(0)
    state = {"visual.proj": torch.randn(4, 3) + value, "logit_scale": torch.tensor(value)}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return str(path)


def _folder(runs, weights: str | None, **execution):
    experiment = copy.deepcopy(TINY_EXPERIMENT)
    experiment["model"]["backbone"]["pretrained"] = weights
    experiment["execution"].update(execution)
    cfg = get_recipe("smile").config_type.from_params(experiment)
    return training_run_folder(runs, "smile", cfg, tiny_data(), prompt_bank("smile"))


def test_the_same_weights_saved_again_elsewhere_name_the_same_run(tmp_path):
    first = _weights(tmp_path / "2026-01-01T00.00.00.000Z" / "pretrained_backbone.pt", 1.0)
    again = _weights(tmp_path / "2026-01-01T00.05.00.000Z" / "pretrained_backbone.pt", 1.0)
    renamed = _weights(tmp_path / "copy" / "backbone.pt", 1.0)
    other = _weights(tmp_path / "other.pt", 2.0)
    with open(first, "rb") as a, open(renamed, "rb") as b:
        assert a.read() != b.read(), "torch.save names the file's records after the file"
    assert weights_digest(first) == weights_digest(again) == weights_digest(renamed)
    assert weights_digest(other) != weights_digest(first)

    runs = tmp_path / "runs"
    named = _folder(runs, first)
    assert named.parent == runs and named.name.startswith("smile-")
    assert _folder(runs, again) == named
    assert _folder(runs, renamed) == named
    assert _folder(runs, other) != named, "other weights, another run"
    assert _folder(runs, None) != named, "no weights, another run"


def test_how_a_run_executes_is_no_part_of_its_key(tmp_path):
    runs = tmp_path / "runs"
    named = _folder(runs, None)
    assert _folder(runs, None, progress=True, device="auto", keep_checkpoints=3) == named
    assert _folder(runs, None, checkpoint_dir=str(tmp_path), checkpoint_every=4) == named
    assert _folder(runs, None, nproc=2, cpu_threads=1, num_workers=1) == named


def test_a_weight_file_torch_cannot_read_is_named_by_its_bytes(tmp_path):
    """A file open_clip reads by other means (safetensors, say) still counts by its content."""
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(b"\x00weights" * 10)
    b.write_bytes(b"\x00weights" * 10)
    assert weights_digest(a) == weights_digest(b)
    b.write_bytes(b"\x00weightz" * 10)
    assert weights_digest(a) != weights_digest(b)
