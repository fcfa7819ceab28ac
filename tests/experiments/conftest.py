"""Shared fixtures of the experiment tests: a tiny, easy, subject-structured training set.

Six classes x six subjects, three 64 px views per sample. Each class draws a bar of its own
colour at its own height on a noisy dark background, shifted sideways from view to view (a crude
yaw), so even a randomly initialised ``facevlm-tiny`` separates the classes. Subjects are dealt
into three test folds, two subjects each (subject-independent by construction).

Tests never download weights: tests/conftest.py switches the hub off.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from facevlm.experiments.experiment_data import ExperimentData
from facevlm.prompts.augmented import PromptConfig, build_prompt_bank
from facevlm.prompts.descriptive import descriptive_prompt_bank
from facevlm.scans.labels import BASIC_EMOTIONS

CLASSES = list(BASIC_EMOTIONS)
N_SUBJECTS = 6
N_FOLDS = 3
N_VIEWS = 3
SIZE = 64  # facevlm-tiny's input side


def class_views(class_index: int, rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    """``(N_VIEWS, size, size, 3)`` uint8: the class's coloured bar over noise, one per view."""
    colour = np.array([(class_index % 3) / 2, class_index // 3, 1 - (class_index % 3) / 2])
    top = (4 + 10 * class_index) * size // 64
    height, left, right = 8 * size // 64, 8 * size // 64, 56 * size // 64
    views = []
    for v in range(N_VIEWS):
        image = 0.1 + 0.08 * rng.standard_normal((size, size, 3))
        shift = (v - 1) * 4 * size // 64  # the side views see the bar moved sideways
        image[top : top + height, left + shift : right + shift] = colour
        views.append(np.clip(image * 255, 0, 255).astype(np.uint8))
    return np.stack(views)


def subject_samples(n_subjects: int = N_SUBJECTS, n_folds: int = N_FOLDS) -> pd.DataFrame:
    """One sample per (subject, class) with metadata; a subject's samples share one fold."""
    rows = [
        {
            "sample_id": f"S{s:02d}_{name}",
            "subject": f"S{s:02d}",
            "gender": "FM"[s % 2],
            "age": 20 + 9 * s,
            "ethnicity": ("White", "Asian")[s * 2 // n_subjects],
            "expression": name,
            "fold": s % n_folds,
        }
        for s in range(n_subjects)
        for name in CLASSES
    ]
    return pd.DataFrame(rows)


def build_experiment_data(seed: int = 0) -> ExperimentData:
    rng = np.random.default_rng(seed)
    samples = subject_samples()
    labels = samples["expression"].map(CLASSES.index).to_numpy(np.int64)
    views = np.stack([class_views(int(c), rng) for c in labels])  # (N, V, S, S, 3)
    return ExperimentData(views, labels, samples, list(CLASSES))


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Every experiment test on one thread (training sets its own count; evaluation and
    pseudo-labels do not)."""


@pytest.fixture(scope="session")
def draw_class_views():
    """``draw_class_views(class_index, rng, size=64)``: the synthetic views of one sample."""
    return class_views


@pytest.fixture(scope="session")
def tiny_data() -> ExperimentData:
    """36 samples (6 classes x 6 subjects), 3 views of 64 px, 3 subject-independent folds."""
    return build_experiment_data()


@pytest.fixture(scope="session")
def permute_labels():
    """``permute_labels(data, seed)``: the same views and folds with the ground truth shuffled
    across samples (``labels`` and the ``expression`` column move together)."""

    def permute(data: ExperimentData, seed: int = 1) -> ExperimentData:
        order = np.random.default_rng(seed).permutation(len(data.labels))
        samples = data.samples.copy()
        samples["expression"] = data.samples["expression"].to_numpy()[order]
        return ExperimentData(data.views, data.labels[order].copy(), samples, list(data.classes))

    return permute


@pytest.fixture(scope="session")
def augmented_bank(tiny_data) -> pd.DataFrame:
    """AffectVLM's prompt bank for the tiny set's classes and subject metadata (kept small)."""
    config = PromptConfig(max_prompts_per_class=4, max_prompts_per_profile=2)
    return build_prompt_bank(tiny_data.samples, CLASSES, config)


@pytest.fixture(scope="session")
def descriptive_bank() -> pd.DataFrame:
    """SMILE-VLM's pseudo-label bank: facial-action sentences, no emotion words."""
    return descriptive_prompt_bank(CLASSES)


#: Experiment parameters (``from_params`` form) small enough for a CPU test.
BASE_PARAMS = {
    "model": {"backbone": {"name": "facevlm-tiny", "pretrained": None}, "n_views": N_VIEWS},
    "train": {
        "epochs": 4,
        "batch_size": 12,
        "lr_backbone": 5e-4,  # random init: the towers must move within a few epochs
        "lr_head": 1e-2,
        "warmup_epochs": 0.5,
    },
    "eval_batch_size": 64,
    "execution": {"progress": False, "cpu_threads": 1, "device": "cpu"},
}


@pytest.fixture(scope="session")
def make_params():
    """``make_params(**sections)``: :data:`BASE_PARAMS` with each given section updated
    (``train={"epochs": 2}`` changes one key of ``train``; non-dict values replace)."""

    def make(**sections) -> dict:
        params = copy.deepcopy(BASE_PARAMS)
        for name, value in sections.items():
            if isinstance(value, dict) and isinstance(params.get(name), dict):
                params[name].update(value)
            else:
                params[name] = value
        return params

    return make
