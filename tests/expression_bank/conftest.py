"""Fixtures of the expression bank's tests: one photo set of rendered faces per test session."""

from __future__ import annotations

from pathlib import Path

import pytest
from face_photos import write_face_photos


@pytest.fixture(scope="session")
def face_photo_set(tmp_path_factory) -> tuple[Path, dict[str, list[str]]]:
    """``(root, items by kind)`` of :func:`face_photos.write_face_photos`; tests only read it."""
    root = tmp_path_factory.mktemp("face_photos")
    return root, write_face_photos(root)
