"""Bosphorus-style range grids rasterised from a synthetic face."""

from __future__ import annotations

import numpy as np
import pytest

from facevlm.synthetic.expressions import expression_vertices
from facevlm.synthetic.procedural.texture import paint_texture
from facevlm.synthetic.raster import BACKGROUND, DEFAULT_STEP, rasterize, sample_texture


@pytest.fixture(scope="module")
def grid(head):
    return rasterize(head.mesh, paint_texture(head.identity, 256))


def test_grid_is_a_regular_front_view(grid, head):
    fg = grid.foreground
    assert 0.6 < fg.mean() < 0.9
    xs = grid.x[fg]
    assert np.allclose(np.round((xs - xs.min()) / DEFAULT_STEP), (xs - xs.min()) / DEFAULT_STEP)
    # upright: row 0 at the top (forehead), y falls down the rows
    rows_y = np.where(fg, grid.y, np.nan)
    top, bottom = np.nanmean(rows_y[: len(rows_y) // 4]), np.nanmean(rows_y[-len(rows_y) // 4 :])
    assert top > bottom
    skin = head.mesh.vertices[head.skin]
    assert grid.z[fg].max() == pytest.approx(skin[:, 2].max(), abs=1.0), (
        "the nose tip is the front-most cell"
    )


def test_background_is_marked_everywhere(grid):
    bg = ~grid.foreground
    assert bg.any()
    assert (grid.x[bg] == BACKGROUND).all() and (grid.y[bg] == BACKGROUND).all()
    assert (grid.u[bg] == 0).all() and (grid.image[bg] == 0).all()
    # foreground u, v address the colour image's own cells (v from the top)
    fg = grid.foreground
    rows, cols = np.nonzero(fg)
    h, w = grid.z.shape
    assert np.allclose(grid.u[fg], (cols + 0.5) / w) and np.allclose(grid.v[fg], (rows + 0.5) / h)


def test_open_mouth_shows_the_dark_cavity(head):
    texture = paint_texture(head.identity, 256)
    closed = rasterize(head.mesh, texture)
    opened = rasterize(head.with_vertices(expression_vertices(head, "surprise", 4)), texture)

    def darkest_mouth_cell(g):
        fg = g.foreground
        y_mouth = head.identity.mouth_y
        band = fg & (np.abs(g.x) < 8) & (g.y < y_mouth) & (g.y > y_mouth - 15)
        return g.image[band].mean(axis=1).min()

    assert darkest_mouth_cell(opened) < 60 < darkest_mouth_cell(closed)


def test_sample_texture_is_bilinear():
    image = np.zeros((2, 2, 3), dtype=np.uint8)
    image[:, 1] = 200  # right column bright
    centre = sample_texture(image, np.array([[0.5, 0.5], [0.25, 0.5], [0.75, 0.5]]))
    assert centre[:, 0].tolist() == pytest.approx([100.0, 0.0, 200.0])
