"""The capture light baked into each scan's texture photograph: folds and furrows as shading."""

from __future__ import annotations

import numpy as np
import pytest

from facevlm.synthetic.expressions import au_displacement
from facevlm.synthetic.procedural.photo_shading import bake_capture_light, vertex_normals
from facevlm.synthetic.procedural.texture import STRIP, paint_texture

SIZE = 256


@pytest.fixture(scope="module")
def atlas(head) -> np.ndarray:
    return paint_texture(head.identity, SIZE)


def _face_block(image: np.ndarray) -> np.ndarray:
    v = 1.0 - (np.arange(SIZE) + 0.5) / SIZE
    return image[v >= STRIP].astype(np.float64)


def _row_sheet_y(head) -> np.ndarray:
    """Sheet ``py`` (mm) of each row of the atlas' face block."""
    layout = head.texture_layout
    v = 1.0 - (np.arange(SIZE) + 0.5) / SIZE
    v = v[v >= STRIP]
    return layout["y0"] + (v - STRIP) / (1.0 - STRIP) * (layout["y1"] - layout["y0"])


def _changed_rows(head, atlas, activation) -> np.ndarray:
    """Sheet ``py`` of every face texel whose photo changes when ``activation`` is made."""
    neutral = bake_capture_light(atlas, head, head.mesh.vertices)
    moved = head.mesh.vertices + au_displacement(head, activation)
    expressive = bake_capture_light(atlas, head, moved)
    diff = np.abs(_face_block(expressive) - _face_block(neutral)).max(axis=2)
    rows, _ = np.nonzero(diff > 3)
    return _row_sheet_y(head)[rows]


def test_skin_facing_the_camera_keeps_its_painted_colour(head, atlas):
    flat = head.mesh.vertices.copy()
    flat[:, 2] = 0.0  # every skin normal points at the camera
    assert np.array_equal(bake_capture_light(atlas, head, flat), atlas)


def test_skin_turned_away_from_the_lights_is_darker(head, atlas):
    turned = head.mesh.vertices.copy()
    turned[:, 2] = 0.0
    angle = np.radians(60.0)  # the face plane turned 60 degrees about the vertical axis
    x = turned[:, 0].copy()
    turned[:, 0], turned[:, 2] = x * np.cos(angle), -x * np.sin(angle)
    baked = _face_block(bake_capture_light(atlas, head, turned))
    painted = _face_block(atlas)
    skin = painted.sum(axis=2) > 0
    assert (baked.sum(axis=2)[skin] <= painted.sum(axis=2)[skin]).all()
    assert baked[skin].mean() < 0.8 * painted[skin].mean()


def test_no_light_strength_gives_the_painted_skin(head, atlas):
    moved = head.mesh.vertices + au_displacement(head, {4: 1.0, 9: 1.0})
    assert bake_capture_light(atlas, head, moved, strength=0.0) is atlas


def test_a_brow_lowerer_shades_the_brows_and_a_smile_the_lower_face(head, atlas):
    idn = head.identity
    brows = _changed_rows(head, atlas, {4: 1.0})
    smile = _changed_rows(head, atlas, {12: 1.0, 6: 0.5})
    assert len(brows) > 100 and len(smile) > 100
    # the brow lowerer's furrows sit about the eyes and above, the smile's folds below them
    assert np.median(brows) > idn.eye_y - 5.0
    assert np.median(smile) < idn.eye_y - 10.0
    assert np.median(smile) < np.median(brows) - 15.0


def test_the_same_face_gives_the_same_photograph(head, atlas):
    moved = head.mesh.vertices + au_displacement(head, {9: 1.0, 10: 0.5})
    assert np.array_equal(
        bake_capture_light(atlas, head, moved), bake_capture_light(atlas, head, moved.copy())
    )


def test_vertex_normals_point_out_of_the_face_towards_the_camera(head):
    tris = head.mesh.polygon_indices[: 3 * 50].reshape(-1, 3)
    normals = vertex_normals(head.mesh.vertices, tris)
    used = np.unique(tris)
    assert np.allclose(np.linalg.norm(normals, axis=1), 1.0)
    assert (normals[used, 2] > 0).mean() > 0.9
