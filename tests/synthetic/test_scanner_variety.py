"""Scanner variety: each knob does what it promises, and nothing else.

Specification:

- with every knob off (the default) a mesh comes back bit-identical, and so it does with any one
  knob set to its "off" value;
- ``density`` below 1 leaves about that share of the vertices, above 1 adds them, without
  moving the surface (subdivision) or opening it (decimation adds no border);
- ``holes`` add borders, and never remove anything near a landmark;
- ``ragged_border_mm`` eats into the outer border only: the eyes' and mouth's openings and the
  landmarks' neighbourhood stay;
- ``noise_mm`` moves vertices along their normals, by about the requested standard deviation;
- ``smoothing`` takes the roughness out of a noisy surface and leaves the borders where they are;
- ``units`` scale the coordinates by 1/10 (cm) or 1/1000 (m), landmarks alike;
- ``pose_deg`` turns the mesh rigidly by the recorded angle, never beyond 3 standard deviations;
- UVs (per-vertex and face-varying, across a texture seam) and vertex colours follow the
  geometry: a surviving vertex keeps its UVs and colour, a new one gets its edge's means;
- landmarks stay on vertices, and ``metadata["landmark_indices"]`` names them;
- the result validates, is the same for the same seed, and its record is JSON-ready;
- each knob draws from its own stream: switching one on does not change what another draws.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from facevlm.render.arrays import area_weighted_normals
from facevlm.render.fixtures import HALF_HEIGHT_MM, HALF_WIDTH_MM, face_like_mesh
from facevlm.scans.mesh import FaceMesh
from facevlm.synthetic.ict_facekit import IctFaceModel, paint_vertex_colours
from facevlm.synthetic.scanner_variety import (
    KNOBS,
    ScannerVariety,
    apply_scanner_variety,
    boundary_loops,
)

RECORD_KEYS = {
    "pose_deg",
    "pose_axis",
    "holes",
    "hole_radii_mm",
    "hole_centres",
    "ragged_border_mm",
    "noise_mm",
    "smoothing_iterations",
    "density",
    "unit",
    "vertices",
    "vertices_removed",
    "landmarks_moved",
    "mouth",
    "eyes",
}
#: one setting per knob, strong enough to be seen
KNOB_ON = {
    "mouth_cavity_share": {"mouth_cavity_share": 0.0},  # the procedural cavity taken away
    "eye_surface_share": {"eye_surface_share": 0.0},  # the eyeballs taken away
    "pose_deg": {"pose_deg": 4.0},
    "holes": {"holes": 6.0},
    "ragged_border_mm": {"ragged_border_mm": 5.0},
    "noise_mm": {"noise_mm": 0.3},
    "smoothing": {"smoothing": 5},
    "density": {"density": 0.4},
    "units": {"units": "cm"},
}
KNOB_OFF = {
    "mouth_cavity_share": {"mouth_cavity_share": None},
    "eye_surface_share": {"eye_surface_share": None},
    "pose_deg": {"pose_deg": 0.0},
    "holes": {"holes": 0.0, "hole_radius_mm": (20, 30)},
    "ragged_border_mm": {"ragged_border_mm": (0.0, 0.0)},
    "noise_mm": {"noise_mm": 0},
    "smoothing": {"smoothing": (0, 0)},
    "density": {"density": 1.0},
    "units": {"units": ["mm"]},
}


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def apply(mesh: FaceMesh, seed: int = 0, **knobs) -> tuple[FaceMesh, dict]:
    return apply_scanner_variety(mesh, ScannerVariety(**knobs), rng(seed))


def coloured(mesh: FaceMesh) -> FaceMesh:
    """``mesh`` with vertex colours that are a linear function of position (so that a new
    vertex's interpolated colour can be checked against where it is)."""
    v = mesh.vertices
    colours = np.stack(
        [
            100 + v[:, 0] / HALF_WIDTH_MM * 80,
            100 + v[:, 1] / HALF_HEIGHT_MM * 80,
            100 + 0 * v[:, 2],
        ],
        axis=1,
    )
    mesh.vertex_colors = colours.round().astype(np.uint8)
    return mesh


@pytest.fixture(scope="module")
def plain() -> FaceMesh:
    """A dome with per-vertex UVs (u, v linear in x, y) and colours, no landmarks."""
    return coloured(face_like_mesh(n_side=40, seam=False))


@pytest.fixture(scope="module")
def seamed() -> FaceMesh:
    """The same dome with face-varying UVs: a two-half atlas split along the midline."""
    return coloured(face_like_mesh(n_side=40, seam=True))


@pytest.fixture(scope="module")
def ict() -> FaceMesh:
    """An ICT-FaceKit face (triangles, vertex colours, 68 landmarks on vertices)."""
    model = IctFaceModel.load()
    vertices = model.shape()
    colours = paint_vertex_colours(model, vertices, rng(3))
    mesh = model.mesh(vertices, "narrow_face", vertex_colours=colours)
    mesh.landmarks = mesh.vertices[model.landmarks]
    return mesh


def assert_identical(a: FaceMesh, b: FaceMesh) -> None:
    for name in ("vertices", "polygon_offsets", "polygon_indices", "uv", "uv_indices",
                 "landmarks", "vertex_colors"):  # fmt: skip
        x, y = getattr(a, name), getattr(b, name)
        assert (x is None) == (y is None), name
        if x is not None:
            assert x.dtype == y.dtype and np.array_equal(x, y), name
    assert a.metadata.keys() == b.metadata.keys()


def uv_of_position(points: np.ndarray) -> np.ndarray:
    """The per-vertex atlas of :func:`face_like_mesh`: u, v linear in x, y."""
    return np.stack(
        [(points[:, 0] / HALF_WIDTH_MM + 1) / 2, (points[:, 1] / HALF_HEIGHT_MM + 1) / 2], 1
    )


def seam_uv_ok(mesh: FaceMesh, atol: float = 1e-8) -> np.ndarray:
    """Per corner: does its UV lie on the atlas half of its side of the seam, at the place of
    its vertex? (Grid columns 0-39; left half u = 0.49 * column / 19 up to column 19, right
    half u = 0.51 + 0.49 * (column - 19) / 20 from column 19: the seam column has both.)"""
    corner_xy = mesh.vertices[mesh.polygon_indices]
    corner_uv = mesh.uv[mesh.uv_indices]
    column = (corner_xy[:, 0] / HALF_WIDTH_MM + 1) / 2 * 39
    slack = 39 * atol
    left = np.isclose(corner_uv[:, 0], 0.49 * column / 19, atol=atol) & (column <= 19 + slack)
    right = np.isclose(corner_uv[:, 0], 0.51 + 0.49 * (column - 19) / 20, atol=atol) & (
        column >= 19 - slack
    )
    v_ok = np.isclose(corner_uv[:, 1], (corner_xy[:, 1] / HALF_HEIGHT_MM + 1) / 2, atol=atol)
    return (left | right) & v_ok


SEAM_X = -HALF_WIDTH_MM + 2 * HALF_WIDTH_MM * 19 / 39


def inner_loops(mesh: FaceMesh) -> np.ndarray:
    return np.sort(boundary_loops(mesh)[1:])


# ------------------------------------------------------------------------------ off is off
def test_default_variety_is_off_and_returns_the_mesh_bit_identical(head, seamed, ict):
    assert ScannerVariety().active == ()
    for mesh in (head.mesh, seamed, ict):
        out, record = apply_scanner_variety(mesh, ScannerVariety(), rng())
        assert_identical(out, mesh)
        assert record["vertices"] == [mesh.n_vertices, mesh.n_vertices]
        assert record["landmarks_moved"] == [] and record["unit"] == "mm"


@pytest.mark.parametrize("knob", KNOBS)
def test_each_knob_at_its_off_value_leaves_the_mesh_bit_identical(knob, head):
    variety = ScannerVariety(**KNOB_OFF[knob])
    assert variety.active == ()
    out, _ = apply_scanner_variety(head.mesh, variety, rng())
    assert_identical(out, head.mesh)


@pytest.mark.parametrize("knob", KNOBS)
def test_each_knob_alone_changes_the_mesh_validly_and_deterministically(knob, head):
    variety = ScannerVariety(**KNOB_ON[knob])
    assert variety.active == (knob,)
    out, record = apply_scanner_variety(head.mesh, variety, rng(5))
    again, record_again = apply_scanner_variety(head.mesh, variety, rng(5))
    out.validate()
    assert not (
        out.vertices.shape == head.mesh.vertices.shape
        and np.array_equal(out.vertices, head.mesh.vertices)
    )
    assert_identical(out, again)
    assert record == record_again
    assert set(record) == RECORD_KEYS
    assert json.loads(json.dumps(record)) == record
    # the landmarks stay on vertices, and the metadata names which
    index = out.metadata["landmark_indices"]
    assert len(out.landmarks) == len(head.mesh.landmarks)
    np.testing.assert_array_equal(out.vertices[index], out.landmarks)


def test_knobs_draw_from_their_own_streams(head):
    """Switching noise on does not change the turn drawn for the pose, nor the reverse."""
    _, turned = apply(head.mesh, seed=9, pose_deg=3.0)
    _, both = apply(head.mesh, seed=9, pose_deg=3.0, noise_mm=0.2)
    _, noisy = apply(head.mesh, seed=9, noise_mm=0.2)
    assert turned["pose_deg"] == both["pose_deg"] and turned["pose_axis"] == both["pose_axis"]
    assert noisy["noise_mm"] == both["noise_mm"]


def test_another_seed_gives_another_scan(head):
    knobs = {"holes": 3.0, "noise_mm": (0.1, 0.4), "pose_deg": 2.0, "density": (0.5, 2.0)}
    a, record_a = apply(head.mesh, seed=1, **knobs)
    b, record_b = apply(head.mesh, seed=2, **knobs)
    assert record_a != record_b
    assert a.n_vertices != b.n_vertices or not np.array_equal(a.vertices, b.vertices)


# ------------------------------------------------------------------------------ density
@pytest.mark.parametrize("factor", [0.25, 0.5])
def test_decimation_keeps_about_that_share_of_vertices_and_opens_no_holes(factor, head, ict):
    for mesh in (head.mesh, ict):
        out, record = apply(mesh, density=factor)
        assert record["density"] == factor
        assert out.n_vertices == pytest.approx(factor * mesh.n_vertices, rel=0.05)
        assert len(boundary_loops(out)) == len(boundary_loops(mesh))
        assert (out.arities == 3).all()


@pytest.mark.parametrize("factor", [1.5, 2.0, 3.0])
def test_subdivision_adds_vertices_on_the_same_surface(factor, head):
    out, _ = apply(head.mesh, density=factor)
    assert out.n_vertices == pytest.approx(factor * head.mesh.n_vertices, rel=0.01)
    # every old vertex stays where it was, with its number; the new ones lie on the curved
    # surface through them, so the area and the borders barely change
    n = head.mesh.n_vertices
    np.testing.assert_array_equal(out.vertices[:n], head.mesh.vertices)
    assert out._total_area(None) == pytest.approx(head.mesh._total_area(None), rel=2e-3)
    np.testing.assert_allclose(boundary_loops(out), boundary_loops(head.mesh), rtol=5e-3)


#: How far (in UV) a new vertex's UV may be from the UV of the place it moved to: the curved
#: midpoint leaves the straight edge by a fraction of a millimetre.
MIDPOINT_UV_DRIFT = 5e-3


@pytest.mark.parametrize("factor", [0.3, 2.5])
def test_remeshing_keeps_per_vertex_uvs_and_colours_with_the_geometry(factor, plain):
    out, _ = apply(plain, density=factor)
    # UVs are a function of position on this mesh, so they must still be, at every vertex
    atol = 1e-12 if factor < 1 else MIDPOINT_UV_DRIFT
    np.testing.assert_allclose(out.uv, uv_of_position(out.vertices), atol=atol)
    expected = np.stack(
        [
            100 + out.vertices[:, 0] / HALF_WIDTH_MM * 80,
            100 + out.vertices[:, 1] / HALF_HEIGHT_MM * 80,
        ],
        axis=1,
    )
    assert np.abs(out.vertex_colors[:, :2] - expected).max() <= 1.0 + 160 * atol  # rounding


@pytest.mark.parametrize("factor", [0.3, 0.6, 2.5])
def test_remeshing_keeps_face_varying_uvs_on_their_side_of_the_seam(factor, seamed):
    assert seam_uv_ok(seamed).all()
    out, _ = apply(seamed, density=factor)
    assert out.uv_indices is not None
    assert seam_uv_ok(out, atol=1e-8 if factor < 1 else MIDPOINT_UV_DRIFT).all()
    # the midline still carries both halves' UVs: the seam was not lost
    on_seam = np.abs(out.vertices[out.polygon_indices, 0] - SEAM_X) < 1e-9
    u = out.uv[out.uv_indices[on_seam], 0]
    assert (u < 0.5).any() and (u > 0.5).any()


def test_decimation_keeps_the_surviving_vertices_uvs_and_colours(head, ict):
    """A texture lookup at a vertex that survived gives the colour it gave before."""
    out, _ = apply(head.mesh, density=0.3)
    before = {}
    for vertex, uv in zip(head.mesh.polygon_indices, head.mesh.corner_uv_indices(), strict=True):
        before.setdefault(tuple(head.mesh.vertices[vertex]), set()).add(tuple(head.mesh.uv[uv]))
    for vertex, uv in zip(out.polygon_indices, out.uv_indices, strict=True):
        assert tuple(out.uv[uv]) in before[tuple(out.vertices[vertex])]
    out, _ = apply(ict, density=0.3)
    colour_of = {tuple(p): tuple(c) for p, c in zip(ict.vertices, ict.vertex_colors, strict=True)}
    assert all(
        colour_of[tuple(p)] == tuple(c)
        for p, c in zip(out.vertices, out.vertex_colors, strict=True)
    )


# ------------------------------------------------------------------------------ holes, border
def near_landmarks(mesh: FaceMesh, landmarks: np.ndarray, radius: float) -> np.ndarray:
    d = np.linalg.norm(mesh.vertices[:, None] - landmarks[None], axis=-1)
    return mesh.vertices[(d < radius).any(axis=1)]


def test_holes_add_borders_and_spare_the_landmarks_neighbourhood(head, ict):
    for mesh in (head.mesh, ict):
        out, record = apply(mesh, seed=2, holes=8.0, hole_radius_mm=(5, 12), hole_clearance_mm=10)
        assert record["holes"] > 0 and record["vertices_removed"] > 0
        assert len(boundary_loops(out)) > len(boundary_loops(mesh))
        assert record["landmarks_moved"] == []
        kept = {tuple(p) for p in out.vertices}
        assert all(tuple(p) in kept for p in near_landmarks(mesh, mesh.landmarks, 10.0))


def test_holes_without_landmarks_spare_the_front_of_the_face(seamed):
    out, record = apply(seamed, seed=4, holes=30.0, hole_radius_mm=(10, 20))
    assert record["vertices_removed"] > 0
    tip = seamed.vertices[seamed.vertices[:, 2].argmax()]
    kept = {tuple(p) for p in out.vertices}
    assert all(tuple(p) in kept for p in near_landmarks(seamed, tip[None], 45.0))
    assert seam_uv_ok(out).all()


def test_holes_keep_the_surviving_vertices_colours(ict):
    out, _ = apply(ict, seed=2, holes=8.0)
    colour_of = {tuple(p): tuple(c) for p, c in zip(ict.vertices, ict.vertex_colors, strict=True)}
    assert all(
        colour_of[tuple(p)] == tuple(c)
        for p, c in zip(out.vertices, out.vertex_colors, strict=True)
    )


def test_ragged_border_eats_into_the_outer_border_only(head):
    out, record = apply(head.mesh, seed=3, ragged_border_mm=6.0)
    assert record["ragged_border_mm"] == 6.0 and record["vertices_removed"] > 0
    # the eyes' and the mouth's openings are untouched, the landmarks' neighbourhood kept
    np.testing.assert_allclose(inner_loops(out)[-4:], inner_loops(head.mesh)[-4:])
    kept = {tuple(p) for p in out.vertices}
    assert all(tuple(p) in kept for p in near_landmarks(head.mesh, head.mesh.landmarks, 10.0))
    # what went lies near the old border: at most 1 + amplitude times the depth (graph distance)
    gone = np.array([p for p in head.mesh.vertices if tuple(p) not in kept])
    centre = head.mesh.landmarks.mean(axis=0)
    assert np.linalg.norm(gone - centre, axis=1).min() > 40.0


def test_a_deeper_ragged_border_removes_more(ict):
    removed = [apply(ict, seed=1, ragged_border_mm=d)[1]["vertices_removed"] for d in (2, 5, 10)]
    assert removed[0] < removed[1] < removed[2]


# ------------------------------------------------------------------------------ noise, smoothing
def test_noise_moves_vertices_along_their_normals_by_the_requested_sd(ict):
    out, record = apply(ict, noise_mm=0.5)
    assert record["noise_mm"] == 0.5
    normals = area_weighted_normals(ict.vertices, ict.triangles())
    step = out.vertices - ict.vertices
    along = np.einsum("ij,ij->i", step, normals)
    np.testing.assert_allclose(step, along[:, None] * normals, atol=1e-9)
    assert along.std() == pytest.approx(0.5, rel=0.05)
    assert abs(along.mean()) < 0.05


def test_a_noise_range_is_drawn_per_scan(ict):
    drawn = {apply(ict, seed=s, noise_mm=(0.1, 0.6))[1]["noise_mm"] for s in range(4)}
    assert len(drawn) == 4 and all(0.1 <= d <= 0.6 for d in drawn)


def roughness(mesh: FaceMesh) -> float:
    """Mean distance of a vertex from the mean of its neighbours (by triangle edges)."""
    tri = mesh.triangles()
    n = mesh.n_vertices
    total, count = np.zeros((n, 3)), np.zeros(n)
    for a, b in ((0, 1), (1, 2), (2, 0)):
        for s, t in ((a, b), (b, a)):
            np.add.at(total, tri[:, s], mesh.vertices[tri[:, t]])
            np.add.at(count, tri[:, s], 1)
    used = count > 0
    return float(
        np.linalg.norm(total[used] / count[used, None] - mesh.vertices[used], axis=1).mean()
    )


def test_smoothing_takes_out_roughness_and_keeps_the_borders(ict):
    noisy, _ = apply(ict, noise_mm=0.4)
    smoothed, record = apply_scanner_variety(noisy, ScannerVariety(smoothing=8), rng())
    assert record["smoothing_iterations"] == 8
    assert roughness(smoothed) < 0.6 * roughness(noisy)
    border = np.unique([i for loop_edge in _border_vertices(noisy) for i in loop_edge])
    np.testing.assert_array_equal(smoothed.vertices[border], noisy.vertices[border])
    # little shrinkage: the face keeps its size to a fraction of a millimetre
    extent = np.ptp(smoothed.vertices, axis=0) - np.ptp(noisy.vertices, axis=0)
    assert np.abs(extent).max() < 0.5


def _border_vertices(mesh: FaceMesh) -> np.ndarray:
    from facevlm.render.arrays import border_edges

    return border_edges(mesh.polygon_offsets, mesh.polygon_indices, mesh.n_vertices)


# ------------------------------------------------------------------------------ units, pose
@pytest.mark.parametrize(("unit", "divisor"), [("cm", 10.0), ("m", 1000.0)])
def test_units_scale_the_coordinates_and_landmarks(unit, divisor, head):
    out, record = apply(head.mesh, units=unit)
    assert record["unit"] == unit
    np.testing.assert_allclose(out.vertices * divisor, head.mesh.vertices, rtol=1e-12)
    np.testing.assert_allclose(out.landmarks * divisor, head.mesh.landmarks, rtol=1e-12)
    np.testing.assert_array_equal(out.uv, head.mesh.uv)


def test_units_are_drawn_among_the_choices(head):
    drawn = {apply(head.mesh, seed=s, units=("mm", "cm", "m"))[1]["unit"] for s in range(20)}
    assert drawn == {"mm", "cm", "m"}


def kabsch_angle(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(axis=0), b - b.mean(axis=0)
    u, _, vt = np.linalg.svd(a.T @ b)
    rotation = (u @ vt).T
    return float(np.degrees(np.arccos(np.clip((np.trace(rotation) - 1) / 2, -1, 1))))


def test_pose_turns_the_mesh_rigidly_by_the_recorded_angle(head):
    out, record = apply(head.mesh, seed=7, pose_deg=3.0)
    assert 0 < record["pose_deg"] <= 9.0
    assert kabsch_angle(head.mesh.vertices, out.vertices) == pytest.approx(
        record["pose_deg"], abs=1e-3
    )
    pairs = rng(0).integers(0, head.mesh.n_vertices, size=(500, 2))
    distance = lambda v: np.linalg.norm(v[pairs[:, 0]] - v[pairs[:, 1]], axis=1)  # noqa: E731
    np.testing.assert_allclose(distance(out.vertices), distance(head.mesh.vertices), atol=1e-9)
    np.testing.assert_allclose(
        out.landmarks, out.vertices[head.mesh.metadata["landmark_indices"]], atol=1e-9
    )


def test_pose_never_turns_beyond_three_standard_deviations(plain):
    angles = np.array([apply(plain, seed=s, pose_deg=2.0)[1]["pose_deg"] for s in range(60)])
    assert angles.max() <= 6.0
    assert 1.0 < np.sqrt(np.mean(angles**2)) < 3.0  # about one standard deviation of 2


# ------------------------------------------------------------------------------ all together
def test_everything_at_once_stays_valid_and_keeps_the_face(head, seamed):
    knobs = dict(
        density=(0.3, 3.0), smoothing=(0, 4), noise_mm=(0.05, 0.3), holes=4.0,
        ragged_border_mm=(2, 8), units=("mm", "cm", "m"), pose_deg=3.0,
    )  # fmt: skip
    for seed in range(3):
        out, record = apply(head.mesh, seed=seed, **knobs)
        out.validate()
        scale = {"mm": 1.0, "cm": 10.0, "m": 1000.0}[record["unit"]]
        assert len(out.landmarks) == 83
        np.testing.assert_allclose(out.vertices[out.metadata["landmark_indices"]], out.landmarks)
        # the face is still a face: about as big as before
        assert np.ptp(out.landmarks * scale, axis=0) == pytest.approx(
            np.ptp(head.mesh.landmarks, axis=0), abs=8.0
        )
        out, _ = apply(seamed, seed=seed, **{**knobs, "pose_deg": 0.0, "units": "mm",
                                             "noise_mm": 0.0, "smoothing": 0})  # fmt: skip
        assert seam_uv_ok(out, atol=MIDPOINT_UV_DRIFT).all()


# ------------------------------------------------------------------------------ settings
@pytest.mark.parametrize(
    "bad",
    [
        {"density": (2.0, 1.0)},
        {"density": 20.0},
        {"noise_mm": -0.1},
        {"smoothing": 1.5},
        {"holes": -1},
        {"hole_radius_mm": 0},
        {"units": ("ft",)},
        {"units": ()},
        {"pose_deg": 45},
    ],
)
def test_nonsense_settings_are_refused(bad):
    with pytest.raises(ValueError):
        ScannerVariety(**bad)


def test_settings_from_yaml_style_parameters():
    variety = ScannerVariety.from_params(
        {"density": [0.5, 2], "noise_mm": 0.1, "units": ["mm", "cm"], "smoothing": [0, 3]}
    )
    assert variety.density == (0.5, 2.0) and variety.noise_mm == (0.1, 0.1)
    assert variety.units == ("mm", "cm") and variety.smoothing == (0, 3)
    assert variety.active == ("noise_mm", "smoothing", "density", "units")
    with pytest.raises(ValueError, match="unknown"):
        ScannerVariety.from_params({"nosie_mm": 0.1})
