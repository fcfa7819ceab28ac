"""The onset-to-apex surface motion of a micro-expression, measured on the meshes and painted on
the apex (``facevlm.render.surface_motion``).

Specification:

- a head that only moved (rotation and translation) shows no motion: zero displacement, an
  evenly neutral map;
- skin that rose shows as positive displacement there and nowhere else, light on the map, and
  skin that sank shows dark;
- nothing assumes vertex correspondence: reordering the apex's vertices reorders the result and
  changes nothing else, and an apex sampled on another grid shows the same motion;
- skin only the apex frame covers (the onset's scan ends higher up) shows no motion, and does
  not disturb the alignment or the scale of the rest;
- a mesh wound the other way round, or given in other units (metres instead of millimetres),
  gives the same map;
- a clip without any motion is uniformly neutral grey, not amplified noise;
- on a scan as dense as a real 4D frame, whose two frames carry their own scanner noise, the
  motion still stands out of the noise: the averaging reaches as far over the face as on the
  built-in clips, not two rings of a 1 mm mesh;
- an unusable mesh raises a ScanError naming its file.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from facevlm.render.fixtures import face_like_mesh
from facevlm.render.frames import parse_frames, pool_frames, select_frames
from facevlm.render.surface_motion import (
    NEUTRAL_GREY,
    displacement_grey,
    face_size,
    smooth_on_mesh,
    smoothing_rounds,
    surface_displacement,
    surface_motion_mesh,
)
from facevlm.scans.errors import ScanError
from facevlm.scans.mesh import FaceMesh

ONSET_NOSE_MM, APEX_NOSE_MM = 20.0, 21.0  # a 1 mm rise of the "nose"


def _rotate(mesh, degrees=4.0, shift=(3.0, -2.0, 1.5)):
    angle = np.radians(degrees)
    rotation = np.array(
        [[np.cos(angle), 0, np.sin(angle)], [0, 1, 0], [-np.sin(angle), 0, np.cos(angle)]]
    )
    return dataclasses.replace(mesh, vertices=mesh.vertices @ rotation.T + np.asarray(shift))


def _nose(mesh):
    """Vertices within the nose's bump (where the fixture's Gaussian is above half height)."""
    x, y = mesh.vertices[:, 0], mesh.vertices[:, 1]
    return np.exp(-((x / 14.0) ** 2 + (y / 22.0) ** 2)) > 0.5


def _far_from_nose(mesh):
    x, y = mesh.vertices[:, 0], mesh.vertices[:, 1]
    return np.exp(-((x / 14.0) ** 2 + (y / 22.0) ** 2)) < 1e-3


@pytest.fixture(scope="module")
def onset():
    return face_like_mesh(n_side=60, nose_height=ONSET_NOSE_MM, seam=False)


@pytest.fixture(scope="module")
def apex():
    return face_like_mesh(n_side=60, nose_height=APEX_NOSE_MM, seam=False)


def test_a_head_that_only_moved_shows_no_motion(onset):
    displacement = surface_displacement(onset, _rotate(onset))
    assert np.abs(displacement).max() < 1e-6
    assert (surface_motion_mesh(onset, _rotate(onset)).vertex_colors == NEUTRAL_GREY).all()


def test_skin_that_rose_is_positive_and_light_where_it_rose(onset, apex):
    displacement = surface_displacement(onset, _rotate(apex))
    nose, far = _nose(apex), _far_from_nose(apex)
    assert displacement[nose].mean() > 0.3  # of the 1 mm rise, along the slanted normals
    assert np.abs(displacement[far]).max() < 0.05
    grey = surface_motion_mesh(onset, _rotate(apex)).vertex_colors[:, 0].astype(int)
    assert grey[nose].mean() > NEUTRAL_GREY + 60
    assert np.abs(grey[far] - NEUTRAL_GREY).max() < 10


def test_skin_that_sank_is_dark(onset, apex):
    grey = surface_motion_mesh(apex, onset).vertex_colors[:, 0].astype(int)
    assert grey[_nose(onset)].mean() < NEUTRAL_GREY - 60


def test_no_vertex_correspondence_is_assumed(onset, apex):
    order = np.random.default_rng(0).permutation(apex.n_vertices)
    inverse = np.argsort(order)
    shuffled = dataclasses.replace(
        apex, vertices=apex.vertices[order], polygon_indices=inverse[apex.polygon_indices]
    )
    np.testing.assert_allclose(
        surface_displacement(onset, shuffled),
        surface_displacement(onset, apex)[order],
        atol=1e-9,
    )


def test_frames_sampled_differently_still_show_only_the_motion(onset):
    """Real 4D frames are reconstructed one by one: another vertex count, other positions."""
    resampled_apex = face_like_mesh(n_side=47, nose_height=APEX_NOSE_MM, seam=False)
    displacement = surface_displacement(onset, _rotate(resampled_apex))
    assert displacement[_nose(resampled_apex)].mean() > 0.3
    assert np.abs(displacement[_far_from_nose(resampled_apex)]).mean() < 0.05


def test_skin_only_one_frame_covers_neither_moves_nor_misaligns(onset, apex):
    """The onset frame lacks the lower part of the face (a ragged scan border, a chin out of
    view): no motion is made up there, and the rest is aligned and measured as before."""
    kept = onset.vertices[:, 1] > -50.0
    triangles = onset.triangles()
    inside = kept[triangles].all(axis=1)
    new_index = np.cumsum(kept) - 1
    cropped = FaceMesh.from_triangles(onset.vertices[kept], new_index[triangles[inside]])

    displacement = surface_displacement(cropped, _rotate(apex, degrees=2.0, shift=(1, 1, 0)))

    uncovered = apex.vertices[:, 1] < -60.0
    assert np.abs(displacement[uncovered]).max() == 0.0
    assert displacement[_nose(apex)].mean() > 0.3
    covered_far = _far_from_nose(apex) & (apex.vertices[:, 1] > -40.0)
    assert np.abs(displacement[covered_far]).max() < 0.05
    grey = surface_motion_mesh(cropped, apex).vertex_colors[:, 0].astype(int)
    assert grey[_nose(apex)].mean() > NEUTRAL_GREY + 60  # the scale is the nose's, not a border's


def test_winding_and_units_do_not_change_the_map(onset, apex):
    expected = surface_motion_mesh(onset, apex).vertex_colors

    def flipped(mesh):
        triangles = mesh.triangles()[:, ::-1]
        return dataclasses.replace(
            mesh,
            polygon_offsets=np.arange(0, 3 * len(triangles) + 1, 3),
            polygon_indices=triangles.ravel(),
        )

    np.testing.assert_array_equal(
        surface_motion_mesh(flipped(onset), flipped(apex)).vertex_colors, expected
    )

    def metres(mesh):
        return dataclasses.replace(mesh, vertices=mesh.vertices / 1000.0)

    in_metres = surface_motion_mesh(metres(onset), metres(apex)).vertex_colors.astype(int)
    assert np.abs(in_metres - expected.astype(int)).max() <= 1  # rounding only


def test_a_clip_without_motion_is_uniformly_neutral(onset):
    grey = surface_motion_mesh(onset, onset).vertex_colors
    assert (grey == NEUTRAL_GREY).all()


def test_motion_stands_out_of_scanner_noise_on_a_dense_scan():
    """Two independently reconstructed 40,000-vertex frames (~1 mm edges, like BU-4DFE's ~35,000),
    each with 0.2 mm of vertex noise, and a 0.5 mm rise of the "nose" (a micro-expression)."""

    def noisy(mesh, seed):
        noise = np.random.default_rng(seed).normal(0.0, 0.2, mesh.vertices.shape)
        return dataclasses.replace(mesh, vertices=mesh.vertices + noise)

    onset = noisy(face_like_mesh(n_side=200, nose_height=20.0, seam=False), 1)
    apex = noisy(face_like_mesh(n_side=190, nose_height=20.5, seam=False), 2)
    nose, far = _nose(apex), _far_from_nose(apex)

    assert smoothing_rounds(apex) > 20  # rings of ~1 mm: many more than a 2,000-vertex clip's

    grey = surface_motion_mesh(onset, apex).vertex_colors[:, 0].astype(int)
    assert grey[nose].mean() > NEUTRAL_GREY + 80
    assert np.percentile(np.abs(grey[far] - NEUTRAL_GREY), 95) < 40

    # what two rings of neighbours leave: noise over half the grey range where nothing moved
    two_rings = smooth_on_mesh(surface_displacement(onset, apex), apex, rounds=2)
    grey_two = displacement_grey(two_rings, face_size(apex)).astype(int)
    assert np.percentile(np.abs(grey_two[far] - NEUTRAL_GREY), 95) > 60


def test_the_map_is_the_apex_geometry_without_texture(onset, apex):
    motion = surface_motion_mesh(onset, apex)
    np.testing.assert_array_equal(motion.vertices, apex.vertices)
    assert motion.uv is None and motion.texture_path is None
    assert motion.vertex_colors.shape == (apex.n_vertices, 3)


def test_an_unusable_mesh_raises_a_scan_error_naming_its_file(onset, apex, tmp_path):
    broken = dataclasses.replace(
        apex, vertices=np.full_like(apex.vertices, np.nan), source=tmp_path / "apex.obj"
    )
    with pytest.raises(ScanError, match="apex.obj"):
        surface_motion_mesh(onset, broken)


def test_frames_surface_motion_takes_onset_and_apex_and_pools_meshes_not_images():
    spec = parse_frames("surface_motion")
    assert spec.pooled and spec.pooled_meshes
    assert not parse_frames("magnified").pooled_meshes
    assert select_frames(12, spec) == [0, 5]  # unlabelled: the first and the middle frame
    with pytest.raises(ValueError, match="takes no frame count"):
        parse_frames("surface_motion:2")
    with pytest.raises(ValueError, match="meshes"):
        pool_frames(np.zeros((2, 1, 4, 4, 3), np.uint8), spec)
