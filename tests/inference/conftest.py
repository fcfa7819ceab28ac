"""The inference tests share one tiny real project (``tiny_project.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_project import make_tiny_project, write_scan, write_sequence


@pytest.fixture(scope="session")
def tiny_project(tmp_path_factory, new_mlflow_store) -> Path:
    return make_tiny_project(tmp_path_factory.mktemp("project"), new_mlflow_store)


@pytest.fixture(scope="session")
def scans(tmp_path_factory) -> Path:
    """A textured BU-3DFE-size scan and a 12-frame BU-4DFE-style sequence."""
    root = tmp_path_factory.mktemp("inputs")
    write_scan(root / "scan")
    write_sequence(root / "F001" / "Happy")
    return root
