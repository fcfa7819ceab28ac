"""Tiny training data for the distributed-training tests (imported by their conftest and tests).

Views are coloured noise (what is learnt does not matter here, only that training runs, resumes
and distributes); 6 classes x 3 subjects, 3 views of 64 px, one subject per fold.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before open_clip / huggingface_hub import

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from facevlm.experiments.experiment_data import ExperimentData
from facevlm.prompts.augmented import plain_label_bank
from facevlm.prompts.descriptive import descriptive_prompt_bank
from facevlm.scans.labels import BASIC_EMOTIONS

CLASSES = list(BASIC_EMOTIONS)
SRC = Path(__file__).resolve().parents[2] / "src"

#: Experiment parameters for a fast CPU run of the tiny backbone (random init, no hub).
TINY_EXPERIMENT = {
    "data": {"classes": CLASSES, "max_folds": 2},
    "model": {"backbone": {"name": "facevlm-tiny", "pretrained": None}, "n_views": 3},
    "augment": None,
    "train": {
        "epochs": 2,
        "batch_size": 6,
        "lr_backbone": 1e-3,
        "lr_head": 1e-2,
        "warmup_epochs": 0.5,
    },
    "eval_batch_size": 32,
    "execution": {"progress": False, "device": "cpu", "keep_checkpoints": 1},
}


def tiny_data(n_subjects: int = 3, size: int = 64, seed: int = 0) -> ExperimentData:
    rng = np.random.default_rng(seed)
    rows = [
        {"sample_id": f"S{s}_{c}", "subject": f"S{s}", "expression": c, "fold": s}
        for s in range(n_subjects)
        for c in CLASSES
    ]
    samples = pd.DataFrame(rows)
    labels = samples["expression"].map(CLASSES.index).to_numpy(np.int64)
    views = rng.integers(0, 256, (len(samples), 3, size, size, 3), dtype=np.uint8)
    for i, label in enumerate(labels):  # a class-coloured band, so the classes differ a little
        views[i, :, 8 * label : 8 * label + 8] = (40 * label, 255 - 40 * label, 128)
    return ExperimentData(views, labels, samples, list(CLASSES))


def prompt_bank(model: str, classes: Sequence[str] = CLASSES) -> pd.DataFrame:
    return plain_label_bank(classes) if model == "affectvlm" else descriptive_prompt_bank(classes)
