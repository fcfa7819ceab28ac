"""The inference tests share one tiny real project (``tiny_project.py``): ``tiny_project`` in
``tests/conftest.py``, made once per test process for them and the app tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_project import write_scan, write_sequence


@pytest.fixture(scope="session")
def scans(tmp_path_factory) -> Path:
    """A textured BU-3DFE-size scan and a 12-frame BU-4DFE-style sequence."""
    root = tmp_path_factory.mktemp("inputs")
    write_scan(root / "scan")
    write_sequence(root / "F001" / "Happy")
    return root
