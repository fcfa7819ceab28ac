"""The app tests share one tiny real project (see ``tests/inference/tiny_project.py``):
``tiny_project`` in ``tests/conftest.py``, made once per test process for them and the inference
tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "inference"))


@pytest.fixture(scope="session")
def scans(tmp_path_factory) -> Path:
    """A folder of test inputs: a textured scan, a 12-frame sequence, their zips."""
    from tiny_project import write_scan, write_sequence, zip_folder

    root = tmp_path_factory.mktemp("inputs")
    write_scan(root / "scan")
    write_sequence(root / "F001" / "Happy")
    zip_folder(root / "F001", root / "sequence.zip", prefix="F001/")
    return root
