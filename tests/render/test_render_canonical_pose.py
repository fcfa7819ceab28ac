"""Real offscreen renders with ``pose: estimate``: a scan in any orientation, unit and crop draws
like the canonical face; a mesh that is no face is refused."""

from __future__ import annotations

import numpy as np
import pytest
from _posed_cases import ict_face, non_face, synthetic_face
from scipy.spatial.transform import Rotation

from facevlm.render.face_pose import NotAFaceError, estimate_face_pose
from facevlm.scans.mesh import FaceMesh


def _silhouette_iou(a: np.ndarray, b: np.ndarray) -> float:
    sa, sb = a.max(axis=-1) > 0, b.max(axis=-1) > 0
    return float((sa & sb).sum() / max(1, (sa | sb).sum()))


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.astype(float).ravel(), b.astype(float).ravel())[0, 1])


def _turned(vertices: np.ndarray, triangles: np.ndarray, seed: int, mm_per_unit: float):
    rng = np.random.default_rng(seed)
    rotation = Rotation.random(random_state=rng).as_matrix()
    moved = (vertices @ rotation.T + rng.normal(0, 300, 3)) / mm_per_unit
    return FaceMesh.from_triangles(moved, triangles)


def test_a_turned_rescaled_face_renders_like_the_canonical_one(make_renderer):
    vertices, triangles, _ = synthetic_face(np.random.default_rng(8))
    canonical = FaceMesh.from_triangles(vertices, triangles)
    renderer = make_renderer(modality="shaded", pose="estimate")
    reference = renderer.render(canonical)
    for seed, unit in ((1, 1000.0), (2, 10.0)):
        images = renderer.render(_turned(vertices, triangles, seed, unit))
        for view, image in zip(reference, images, strict=True):
            assert _silhouette_iou(view, image) > 0.9
            assert _correlation(view, image) > 0.9
    # what the scan's own axes give instead: a different picture
    stored = make_renderer(modality="shaded", pose="as_stored")
    sideways = stored.render(_turned(vertices, triangles, 1, 1000.0))
    assert _silhouette_iou(reference[0], sideways[0]) < 0.8


def test_a_whole_head_with_neck_renders_like_its_face_crop(make_renderer):
    vertices, triangles, crop = ict_face(np.random.default_rng(4), "head")
    renderer = make_renderer(modality="depth", pose="estimate")
    reference = renderer.render(crop)[0, ..., 0]
    image = renderer.render(_turned(vertices, triangles, 3, 1000.0))[0, ..., 0]
    # the face sits at the same place and size: the nose tip (nearest point) on the same pixel
    tip_ref = np.unravel_index(np.argmax(reference), reference.shape)
    tip = np.unravel_index(np.argmax(image), image.shape)
    assert np.abs(np.subtract(tip, tip_ref)).max() <= 0.04 * len(image)
    # and inside the face crop's silhouette the head draws the same face at the same depths
    inside = (reference > 0) & (image > 0)
    assert inside.sum() > 0.9 * (reference > 0).sum()
    assert np.median(np.abs(reference[inside].astype(int) - image[inside])) <= 6
    assert _correlation(reference[inside], image[inside]) > 0.9


def test_a_ball_is_refused_by_the_renderer_but_drawn_as_stored(make_renderer):
    ball = non_face("sphere")
    with pytest.raises(NotAFaceError, match="no face found"):
        make_renderer(modality="shaded", pose="estimate").render(ball)
    assert make_renderer(modality="shaded", pose="as_stored").render(ball).any()


def test_a_given_pose_overrides_the_estimate(make_renderer):
    """A 4D sequence renders every frame in its one pose: the renderer takes the pose given."""
    vertices, triangles, _ = synthetic_face(np.random.default_rng(8))
    mesh = FaceMesh.from_triangles(vertices, triangles)
    pose = estimate_face_pose(mesh)
    renderer = make_renderer(modality="shaded", pose="estimate")
    assert np.array_equal(renderer.render(mesh, pose=pose), renderer.render(mesh))
    rolled = Rotation.from_euler("z", 90, degrees=True).as_matrix()
    turned = type(pose)(pose.rotation @ rolled, pose.centre, pose.radius)
    sideways = renderer.render(mesh, pose=turned)[0]
    upright = renderer.render(mesh)[0]
    assert _correlation(np.rot90(sideways), upright) > _correlation(sideways, upright)
