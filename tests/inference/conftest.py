"""The inference tests share one tiny real project (``tiny_project.py``): ``tiny_project`` in
``tests/conftest.py``, made once per test process for them and the app tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_project import write_scan, write_sequence

from facevlm.inference import Project, find_inputs


@pytest.fixture(scope="session")
def scans(tmp_path_factory) -> Path:
    """A textured BU-3DFE-size scan and a 12-frame BU-4DFE-style sequence."""
    root = tmp_path_factory.mktemp("inputs")
    write_scan(root / "scan")
    write_sequence(root / "F001" / "Happy")
    return root


@pytest.fixture(scope="module")
def project(tiny_project) -> Project:
    """The tiny project, opened (a test module that changes it opens a copy of its own)."""
    return Project.open(tiny_project)


@pytest.fixture(scope="module")
def scan(scans):
    """The textured scan as a prediction input."""
    (item,) = find_inputs(scans / "scan" / "F0001_HA04WH_F3D.wrl")
    return item
