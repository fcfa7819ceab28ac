"""Tiny parameters for running the real pipelines in a temporary folder within seconds."""

from __future__ import annotations

import pytest

#: Smallest synthetic set that still exercises every layout (2 micro subjects for LOSO).
TINY_SYNTHETIC = {
    "seed": 0,
    "n_subjects": 3,
    "n_subjects_4d": 1,
    "n_frames": 6,
    "n_bosphorus": 1,
    "n_bp4d_subjects": 1,
    "n_micro_subjects": 2,
    "clips_per_subject": 2,
    "clip_frames": 6,
    "resolution": 1500,
    "resolution_4d": 800,
    "texture_size": 128,
    "texture_size_4d": 64,
}


@pytest.fixture
def tiny_synthetic() -> dict:
    return dict(TINY_SYNTHETIC)


@pytest.fixture
def tiny_params(tmp_path):
    """Parameters of the data pipelines for a tiny synthetic set under ``tmp_path``."""
    return {
        "dataset": {
            "name": "synthetic",
            "root": str(tmp_path / "raw" / "synthetic"),
            "fail_fast": False,
            "allow_missing_texture": False,
            "n_workers": 1,
            "options": {},
        },
        "synthetic": dict(TINY_SYNTHETIC),
        "contact_sheet": {"n_subjects": 2, "size": 64},
        "render": {
            "size": 64,
            "views": [[0, 0], [20, 0], [-20, 0]],
            "modality": "texture",
            "frames": "uniform:2",
            "n_workers": 1,
            "datasets": None,
        },
        "protocol": {
            "name": "subject_kfold",
            "k": 2,
            "seed": 0,
            "subset": "all",
            "datasets": ["synthetic-bu3dfe"],
        },
    }
