"""Shared fixtures: synthetic textured meshes and one renderer per settings for the session.

Renderers are cached because each owns an OpenGL context; building one per test would spend
the suite's time on context creation and shader compilation instead of on assertions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytest

from facevlm.render.fixtures import checker_texture, face_like_mesh
from facevlm.render.renderer import MultiviewRenderer, RenderSettings
from facevlm.scans.mesh import FaceMesh

#: Test renders are smaller than the 224 px default: same code path, less pixel work.
TEST_SIZE = 96


@pytest.fixture(scope="session")
def make_renderer() -> Iterator[Callable[..., MultiviewRenderer]]:
    """``make_renderer(**settings)`` -> a cached renderer (size defaults to ``TEST_SIZE``)."""
    cache: dict[RenderSettings, MultiviewRenderer] = {}

    def get(**kwargs) -> MultiviewRenderer:
        settings = RenderSettings(**{"size": TEST_SIZE, **kwargs})
        if settings not in cache:
            cache[settings] = MultiviewRenderer(settings)
        return cache[settings]

    yield get
    for renderer in cache.values():
        renderer.close()


@pytest.fixture(scope="session")
def face() -> FaceMesh:
    """A 1,600-vertex textured face-like mesh with a UV seam (a coarse grid, for speed)."""
    return face_like_mesh(n_side=40)


@pytest.fixture(scope="session")
def other_face() -> FaceMesh:
    """The same kind of mesh with the nose moved and lower: a different shape."""
    return face_like_mesh(n_side=40, nose_height=15.0, nose_offset=(25.0, 30.0))


@pytest.fixture(scope="session")
def texture() -> np.ndarray:
    return checker_texture(128, squares=8)


@pytest.fixture(scope="session")
def other_texture() -> np.ndarray:
    return np.ascontiguousarray(checker_texture(128, squares=4)[:, ::-1])
