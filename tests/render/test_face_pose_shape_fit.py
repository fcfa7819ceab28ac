"""The face test against the template bent to the scan's own face: faces far from the mean face
are faces too, and the bending finds the face's shape and pose."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from _posed_cases import pose_case
from scipy.spatial import cKDTree

from facevlm.render import face_pose as fp
from facevlm.render.face_pose.scan_surface import _scan_surface
from facevlm.render.face_pose.shape_fit import fit_shape
from facevlm.render.face_pose.starts import scan_points
from facevlm.render.face_template import NARROW_FACE_END, load_template
from facevlm.render.normalize import fit_normalization
from facevlm.scans.mesh import FaceMesh
from facevlm.synthetic.ict_facekit import IctFaceModel, quad_triangles

#: Two seeded ICT-FaceKit identities with broad, flat noses and full lips, each smiling to
#: one side: the mean face matches 0.20-0.30 of their eyes and nose at their true fit.
FLAT_NOSED = (10061, 50171)


def _mean_face_only():
    """The template without its shape modes: the face test reads the mean face alone."""
    return replace(load_template(), identity_modes=None, expression_shapes=None)


@pytest.mark.parametrize("seed", FLAT_NOSED)
def test_faces_far_from_the_mean_face_are_found_by_the_template_bent_to_them(seed):
    face = pose_case(seed).canonical
    vertices, triangles = face.vertices, face.triangles()
    with pytest.raises(fp.NotAFaceError, match="nose ridge"):
        fp.fit_face_pose(vertices, triangles, template=_mean_face_only())
    pose = fp.fit_face_pose(vertices, triangles)
    # the crop is stored face-forward: the pose found turns it by the canonical pitch, within
    # the benchmark's 10 degrees
    assert fp.rotation_angle_deg(pose.rotation, fp.x_rotation(fp.FRAME_PITCH_DEG)) < 10.0
    assert pose.nose_ridge >= fp.MIN_NOSE_RIDGE and pose.eyes_nose >= fp.MIN_EYES_NOSE
    # the scan index records that the face test read the bent template
    assert pose.shape_fitted and fp.FacePose.from_json(pose.to_json()).shape_fitted


def test_a_flat_nosed_face_turned_and_damaged_is_found_and_framed_like_its_clean_crop():
    case = pose_case(FLAT_NOSED[0])  # in centimetres, turned, with holes and noise
    pose = fp.estimate_face_pose(case.mesh)
    reference = fp.estimate_face_pose(case.canonical)
    assert pose.shape_fitted
    angle, centre, radius = case.errors(pose, reference)
    assert angle < 10.0 and centre < 0.1 and abs(radius) < 0.1


@pytest.mark.parametrize("seed", range(3))
def test_the_template_bent_to_a_face_lies_on_it(seed):
    """A face of random identity with a known expression, made by the model the template
    comes from, in the template's own frame: the template bent to it, in the fit refined
    with it, lies on its surface, its median distance from it under a third of the mean
    face's and its 90th percentile under half."""
    template = load_template()
    identity = np.random.default_rng(seed).normal(0.0, 1.0, template.identity_modes.shape[2])
    expression = {"jawOpen": 0.4, "mouthSmile_L": 0.7, "browInnerUp_R": 0.5}
    model = IctFaceModel.load()
    # the template is centred on the mean face's face box
    centre = fit_normalization(model.shape()[:NARROW_FACE_END]).centre
    vertices = model.shape(identity, expression)[:NARROW_FACE_END] - centre
    triangles = quad_triangles(model.polygons)
    triangles = triangles[(triangles < NARROW_FACE_END).all(axis=1)]
    scan = _scan_surface(vertices, triangles, scan_points(vertices))

    bent, (scale, rotation, shift) = fit_shape(scan, template, (1.0, np.eye(3), np.zeros(3)))

    surface = cKDTree(vertices)
    bent_distance, _ = surface.query(scale[0] * bent.points @ rotation[0].T + shift[0])
    mean_distance, _ = surface.query(template.points)
    assert np.median(bent_distance) < np.median(mean_distance) / 3.0
    assert np.percentile(bent_distance, 90) < np.percentile(mean_distance, 90) / 2.0
    # fitted together with the shape, the pose stays where the face is
    assert fp.rotation_angle_deg(rotation[0], np.eye(3)) < 1.5
    assert np.linalg.norm(shift[0]) < 2.0 and abs(scale[0] - 1.0) < 0.03


@pytest.mark.parametrize("seed", (1, 2))
def test_a_face_posed_by_the_models_blend_shapes_is_read_back_as_them(seed):
    """``shape_weights`` reads a scan in the model's own blend shapes: an ICT-FaceKit face
    of random identity posed with three shapes, turned and in centimetres, is read with each
    posed shape near its weight and the shapes not posed near zero; the same face at rest
    reads no shape strongly."""
    model = IctFaceModel.load()
    triangles = quad_triangles(model.polygons)
    triangles = triangles[(triangles < NARROW_FACE_END).all(axis=1)]
    identity = np.random.default_rng(seed).normal(0.0, 1.0, model.identity.shape[0])
    turn = fp.x_rotation(25.0)

    def read(expression):
        vertices = model.shape(identity, expression)[:NARROW_FACE_END] @ turn.T  # in cm
        return fp.shape_weights(FaceMesh.from_triangles(vertices, triangles)).expression

    posed = {"jawOpen": 0.4, "mouthSmile_L": 0.7, "browInnerUp_R": 0.5}
    weights = read(posed)
    for name, weight in posed.items():
        assert abs(weights[name] - weight) < 0.25, (name, weights[name])
    others = [w for name, w in weights.items() if name not in posed]
    assert np.median(others) < 0.05 and np.percentile(others, 90) < 0.2
    assert max(read({}).values()) < 0.2
