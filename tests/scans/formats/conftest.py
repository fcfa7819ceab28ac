"""Shared sample meshes for the format tests.

``seam_mesh`` has everything the datasets' files have and a naive reader loses: shared vertices,
triangles, quads and a pentagon, and face-varying UVs with one vertex carrying two texture
coordinates (a texture-atlas seam). Coordinates are irregular floats so that a writer that
rounds would be caught by the round-trip tests.
"""

from __future__ import annotations

import numpy as np
import pytest

from facevlm.scans.mesh import FaceMesh

# 10 vertices: a 3x3 grid plus one to the right of the middle row.
#   6 7 8
#   3 4 5 9
#   0 1 2
SEAM_POLYGONS = [[0, 1, 4], [0, 4, 3], [1, 2, 5, 4], [3, 4, 7, 6], [4, 5, 9, 8, 7]]
# Same structure; in the pentagon vertex 4 uses UV 10 instead of UV 4.
SEAM_UV_POLYGONS = [[0, 1, 4], [0, 4, 3], [1, 2, 5, 4], [3, 4, 7, 6], [10, 5, 9, 8, 7]]


def seam_vertices() -> np.ndarray:
    grid = [(x, y) for y in range(3) for x in range(3)] + [(3, 1)]
    rng = np.random.default_rng(7)
    xy = np.array(grid, dtype=float) * 20.123456789 - 30.0
    z = 50.0 + rng.normal(scale=3.0, size=len(grid))
    return np.column_stack([xy, z])


def seam_uv() -> np.ndarray:
    grid = [(x / 3, y / 2) for y in range(3) for x in range(3)] + [(1.0, 0.5)]
    return np.array(grid + [(0.4321, 0.5678)], dtype=float)


@pytest.fixture
def seam_mesh() -> FaceMesh:
    return FaceMesh.from_polygons(
        seam_vertices(), SEAM_POLYGONS, uv=seam_uv(), uv_polygons=SEAM_UV_POLYGONS
    )
