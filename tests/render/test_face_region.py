"""Every posed scan is drawn cut to the same face oval: a head with ears, skull and neck renders
like a face crop of the same face, so the outline says nothing about the scanner."""

from __future__ import annotations

import numpy as np
import pytest
from _posed_cases import ict_face

from facevlm.render.face_pose import estimate_face_pose
from facevlm.render.face_region import HALF_HEIGHT, HALF_WIDTH, in_face_region
from facevlm.scans.mesh import FaceMesh


def test_the_region_keeps_the_face_and_drops_ears_skull_and_what_lies_behind():
    points = np.array(
        [
            [0.0, 0.0, 0.4],  # nose
            [0.0, HALF_HEIGHT * 0.95, 0.0],  # top of the forehead
            [HALF_WIDTH * 0.95, 0.0, 0.0],  # a cheek's edge
            [HALF_WIDTH * 1.1, 0.0, -0.3],  # an ear
            [0.0, 0.2, -0.9],  # the skull behind the face
            [0.7, 1.0, 0.0],  # the corner above a temple: outside the oval
        ]
    )
    assert in_face_region(points).tolist() == [True, True, True, False, False, False]


def _silhouette(make_renderer, region: str) -> np.ndarray:
    vertices, triangles, _ = ict_face(np.random.default_rng(3), region)  # one identity
    mesh = FaceMesh.from_triangles(vertices, triangles)
    renderer = make_renderer(modality="shaded", pose="estimate", views=[[0, 0]])
    (view,) = renderer.render(mesh, pose=estimate_face_pose(mesh))
    return view.max(axis=-1) > 0


@pytest.mark.parametrize("region", ["full", "head"])
def test_a_head_and_a_full_face_render_with_the_face_crops_outline(make_renderer, region):
    crop = _silhouette(make_renderer, "narrow")  # roughly what a face scanner captures
    wider = _silhouette(make_renderer, region)
    background_share = 1.0 - wider.mean()
    assert background_share > 0.3, "the corners around the oval stay background"
    # the wider crop covers the face crop and adds at most a rim (forehead, jaw, neck stub)
    assert (crop & wider).sum() >= 0.97 * crop.sum()
    assert wider.sum() <= 1.35 * crop.sum()
