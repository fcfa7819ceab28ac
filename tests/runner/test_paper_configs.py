"""The paper configurations (``--env paper``) train end to end: one optimisation step of each
model with a randomly initialised ViT-B-32 on a tiny 224 px bundle, through the code path a GPU
run takes (bundle on disk, loader worker processes, autocast/scaler/TF32 switched by device)."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_bundles import prompt_bank, tiny_data

from facevlm.experiments.experiment_data import ExperimentData
from facevlm.models.checkpoints import latest_checkpoint, load_checkpoint
from facevlm.runner.bundle_training import train_from_bundle
from facevlm.runner.training_bundle import load_training_bundle, write_training_bundle
from facevlm.settings import CONFIG_LOADER_ARGS, CONFIG_LOADER_CLASS
from facevlm.trainer.precision import choose_amp_dtype

CONF = Path(__file__).resolve().parents[2] / "conf"


def paper_experiment(model: str) -> dict:
    loader = CONFIG_LOADER_CLASS(
        conf_source=str(CONF), **{**CONFIG_LOADER_ARGS, "default_run_env": "paper"}
    )
    return copy.deepcopy(loader["parameters"][model]["experiment"])


def _two_expressions(data: ExperimentData, *, name_only_those: bool) -> ExperimentData:
    """The samples of ``data`` with its first two expressions; every class still named, or
    (``name_only_those``) only those two."""
    rows = np.flatnonzero(data.labels < 2)
    samples = data.samples.iloc[rows].reset_index(drop=True)
    classes = data.classes[:2] if name_only_those else data.classes
    return ExperimentData(data.views[rows], data.labels[rows], samples, classes)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["affectvlm", "smile"])
def test_paper_config_trains_one_step_with_a_random_vit_b_32(model, tmp_path):
    experiment = paper_experiment(model)
    backbone = experiment["model"]["backbone"]
    assert backbone["name"] == "ViT-B-32" and experiment["train"]["batch_size"] >= 64
    backbone["pretrained"] = None  # no hub weights in tests
    # two subjects: fold 0 trains on one subject's samples and tests on the other's. Every view
    # costs a ViT-B/32 pass on a CPU core, several times over (step, pseudo-labels, tests), and
    # one step is all this proves: two expressions each. SMILE-VLM makes one pseudo-label
    # cluster per named class, each needing a training sample, so its data names only those two
    smile = model == "smile"
    data = _two_expressions(tiny_data(n_subjects=2, size=224), name_only_those=smile)
    prompts = prompt_bank(model, data.classes)
    folder = write_training_bundle(tmp_path / "bundle", model, data, prompts, experiment)
    out = tmp_path / "out"
    # loader worker processes (the paper env loads in a thread; views from files need workers)
    overrides = {"train.epochs": 1, "execution.num_workers": 2}
    trained = train_from_bundle(folder, out, folds=[0], overrides=overrides)

    (fold,) = trained.result.folds
    assert len(fold.history) == 1 and torch.isfinite(torch.tensor(fold.history[0]["loss"]))
    run_dir = out / "fold_0" / "checkpoints"
    ckpt = load_checkpoint(latest_checkpoint(run_dir))
    assert ckpt["scheduler"]["last_epoch"] == 1  # 2 training samples, batch >= 64: one step
    cfg = load_training_bundle(folder).experiment_config()
    assert cfg.model.backbone.name == "ViT-B-32" and cfg.train.amp  # autocast on CUDA only
    assert trained.model.build()[0].clip.visual.image_size == (224, 224)


def test_autocast_dtype_follows_the_gpu_generation():
    gpu, cpu = torch.device("cuda", 0), torch.device("cpu")
    assert choose_amp_dtype(True, "auto", cpu) is None  # CPU: float32, no scaler
    assert choose_amp_dtype(True, "auto", gpu, capability=(8, 0)) is torch.bfloat16  # Ampere+
    assert choose_amp_dtype(True, "auto", gpu, capability=(9, 0)) is torch.bfloat16  # Hopper
    assert choose_amp_dtype(True, "auto", gpu, capability=(7, 0)) is torch.float16  # V100
    assert choose_amp_dtype(True, "bfloat16", gpu, capability=(7, 5)) is torch.float16
    assert choose_amp_dtype(True, "float16", gpu, capability=(9, 0)) is torch.float16
    assert choose_amp_dtype(False, "auto", gpu, capability=(9, 0)) is None
