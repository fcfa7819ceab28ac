"""Render arrays: identical to the FaceMesh contract, plus a seam-aware smooth normal."""

from __future__ import annotations

import numpy as np

from facevlm.render.arrays import render_arrays, smooth_normals, triangle_normals
from facevlm.render.fixtures import face_like_mesh
from facevlm.scans.mesh import FaceMesh


def _assert_same_as_contract(mesh: FaceMesh) -> None:
    ours = render_arrays(mesh)
    points, triangles, tcoords = mesh.render_arrays()
    np.testing.assert_array_equal(ours.points, points)
    np.testing.assert_array_equal(ours.triangles, triangles)
    if tcoords is None:
        assert ours.tcoords is None
    else:
        np.testing.assert_array_equal(ours.tcoords, tcoords)
    np.testing.assert_array_equal(mesh.vertices[ours.point_vertex], ours.points)


def test_same_arrays_as_the_contract_for_seamed_per_vertex_and_untextured_meshes():
    seamed = face_like_mesh(n_side=20)
    _assert_same_as_contract(seamed)
    _assert_same_as_contract(face_like_mesh(n_side=20, seam=False))
    _assert_same_as_contract(FaceMesh.from_triangles(seamed.vertices, seamed.triangles()))


def test_same_arrays_for_quads_and_pentagons_with_face_varying_uvs():
    vertices = [[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [2, 0, 0], [2, 1, 0], [1.5, 2, 0]]
    polygons = [[0, 1, 2, 3], [1, 4, 5, 6, 2]]
    uv = [[0, 0], [0.5, 0], [0.5, 1], [0, 1], [0.6, 0], [1, 0], [1, 1], [0.8, 1], [0.6, 1]]
    uv_polygons = [[0, 1, 2, 3], [4, 5, 6, 7, 8]]  # vertices 1 and 2 carry two UVs each
    mesh = FaceMesh.from_polygons(vertices, polygons, uv=uv, uv_polygons=uv_polygons)
    _assert_same_as_contract(mesh)
    assert len(render_arrays(mesh).points) == 9


def test_only_the_seam_vertices_are_split():
    mesh = face_like_mesh(n_side=20)
    arrays = render_arrays(mesh)
    assert len(arrays.points) == mesh.n_vertices + 20  # one extra point per midline vertex


def test_split_copies_of_a_seam_vertex_get_one_normal():
    arrays = render_arrays(face_like_mesh(n_side=20))
    normals = smooth_normals(arrays)
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0)
    copies = np.flatnonzero(np.bincount(arrays.point_vertex) == 2)
    assert len(copies) == 20
    for vertex in copies:
        at = np.flatnonzero(arrays.point_vertex == vertex)
        np.testing.assert_allclose(normals[at[0]], normals[at[1]])


def test_normals_of_the_dome_point_toward_the_viewer():
    arrays = render_arrays(face_like_mesh(n_side=20))
    assert (smooth_normals(arrays)[:, 2] > 0).all()


def test_triangle_normals_are_np_cross_to_the_bit():
    # the synthetic set's bytes rest on these bits (scanner variety's areas, the capture light)
    mesh = face_like_mesh(n_side=20)
    points, triangles = mesh.vertices, mesh.triangles()
    a, b, c = (points[triangles[:, k]] for k in range(3))
    assert triangle_normals(points, triangles).tobytes() == np.cross(b - a, c - a).tobytes()
