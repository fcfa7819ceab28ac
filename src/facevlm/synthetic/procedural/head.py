"""A procedural face mask in the style of BU-3DFE's cropped ``_F3D`` scans.

Why procedural: no third-party face model may ship with the project, yet every stage downstream
(readers, renderer, models) needs face-like meshes with real topology: a few thousand shared
vertices, face-varying UVs, a mouth that can open, 83 landmarks on the right features.

Construction, in order:

1. a *face sheet* (see :mod:`~facevlm.synthetic.procedural.identity`) is sampled on a grid that is
   denser around the eyes, the mouth and the midline, with one grid row exactly on the mouth
   slit and one column exactly on the midline;
2. the sheet is wrapped around an elliptic cylinder (x = W(y)·sin θ, z = D·(cos θ − 1)) and
   raised by a *relief*: brow ridge, eye sockets and eyeballs, nose, cheeks, lips, chin
   (:mod:`~facevlm.synthetic.procedural.head_surface`);
3. the grid is cropped to a face oval and triangulated mirror-symmetrically;
4. the vertices of the mouth row between the corners are duplicated, so the mesh is *cut* along
   the lips and the jaw can drop (an open mouth is a real hole), and a dark mouth-cavity patch
   with upper teeth sits behind the lips so the opening is not see-through; the eye openings
   are holes too, with an eyeball patch just behind, so lids slide over a still eyeball when an
   eye widens, narrows or closes;
5. UVs are face-varying like BU-3DFE's two-view atlas (:mod:`.texture`).

Coordinates: millimetres, y up, nose toward +z, x to the image right (subject's left).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from facevlm.scans.mesh import FaceMesh
from facevlm.synthetic.face_openings import EYE_SURFACE_KEY, MOUTH_INTERIOR_KEY
from facevlm.synthetic.procedural import shapes
from facevlm.synthetic.procedural.head_surface import sheet_to_xyz
from facevlm.synthetic.procedural.identity import Identity
from facevlm.synthetic.procedural.landmarks import landmark_vertices
from facevlm.synthetic.procedural.texture import atlas_uvs

#: How far the mouth cavity sits behind the neutral skin (mm).
CAVITY_DEPTH = 13.0
#: Default vertex budget of a BU-3DFE style mask.
DEFAULT_RESOLUTION = 6000

#: Grid size (columns, rows) of the inner patches and how far behind the skin they sit (mm).
_PATCH_GRID = {"mouth": (13, 11), "eye_left": (15, 9), "eye_right": (15, 9)}
_PATCH_DEPTH = {"mouth": CAVITY_DEPTH, "eye_left": 1.2, "eye_right": 1.2}
_PATCH_VERTICES = sum(c * r for c, r in _PATCH_GRID.values())


@dataclass
class SyntheticHead:
    """A neutral synthetic face with everything the expression and writer steps need.

    Attributes:
        identity: the subject.
        mesh: neutral :class:`FaceMesh` (face-varying UVs, landmarks, metadata).
        sheet: ``(V, 2)`` sheet coordinates ``(px, py)`` of each vertex (mm).
        lower: ``(V,)`` True for vertices that move with the jaw: below the mouth slit, and the
            lower-lip copies of the slit row.
        part: ``(V,)`` 0 for skin, else 1 + index into :data:`shapes.INNER_PARTS` (mouth cavity,
            eyeballs): the patches behind the skin's openings, never moved by action units.
        landmark_indices: ``(83,)`` vertex index of each BU-3DFE landmark.
        texture_layout: UV layout parameters shared with the texture painter.
        cache: per-head memo (action-unit fields), filled on demand.
    """

    identity: Identity
    mesh: FaceMesh
    sheet: np.ndarray
    lower: np.ndarray
    part: np.ndarray
    landmark_indices: np.ndarray
    texture_layout: dict = field(default_factory=dict)
    cache: dict = field(default_factory=dict, repr=False)

    @property
    def skin(self) -> np.ndarray:
        """``(V,)`` True for vertices of the face surface (not the cavity or the eyeballs)."""
        return self.part == 0

    def with_vertices(self, vertices: np.ndarray) -> FaceMesh:
        """A copy of the neutral mesh with other vertex positions (same topology and UVs)."""
        mesh = self.mesh
        vertices = np.asarray(vertices, dtype=np.float64)
        return FaceMesh(
            vertices=vertices,
            polygon_offsets=mesh.polygon_offsets,
            polygon_indices=mesh.polygon_indices,
            uv=mesh.uv,
            uv_indices=mesh.uv_indices,
            texture_path=mesh.texture_path,
            landmarks=vertices[self.landmark_indices],
            landmark_labels=mesh.landmark_labels,
            metadata=dict(mesh.metadata),
        )


# ---------------------------------------------------------------------------------- grid
def _axis(lo: float, hi: float, n: int, density) -> np.ndarray:
    """``n`` positions from ``lo`` to ``hi`` whose spacing is inversely proportional to
    ``density``: more rows and columns where the features are."""
    fine = np.linspace(lo, hi, 4096)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (density(fine[1:]) + density(fine[:-1])))])
    cdf /= cdf[-1]
    return np.interp(np.linspace(0.0, 1.0, n), cdf, fine)


def _snap(values: np.ndarray, target: float) -> int:
    """Move the grid line nearest ``target`` exactly onto it; returns its index."""
    i = int(np.argmin(np.abs(values - target)))
    values[i] = target
    return i


def _in_oval(identity: Identity, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """The crop of the mask: a squarish forehead, a rounded chin."""
    y_mid = identity.eye_y - 12.0
    a = np.abs(px) / identity.sheet_half_width
    up = py >= y_mid
    b = np.where(
        up, (py - y_mid) / (identity.top_y - y_mid), (y_mid - py) / (y_mid - identity.chin_y)
    )
    b = np.clip(b, 0.0, None)
    return a**2.4 + np.where(up, b**4.0, b**2.2) <= 1.0 + 1e-9


def _grid(identity: Identity, n_vertices: int) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Column (``px``) and row (``py``) positions for about ``n_vertices`` kept vertices."""
    idn = identity
    half = idn.sheet_half_width
    height = idn.top_y - idn.chin_y

    def dens_x(x):
        return 1.0 + 0.9 * np.exp(-0.5 * (x / 40.0) ** 2)

    def dens_y(y):
        return (
            1.0
            + 0.9 * np.exp(-0.5 * ((y - idn.eye_y) / 11.0) ** 2)
            + 1.0 * np.exp(-0.5 * ((y - idn.mouth_y) / 10.0) ** 2)
        )

    kept_fraction = 0.86  # share of the grid inside the oval (measured)
    total = max(n_vertices - _PATCH_VERTICES, 300) / kept_fraction
    ratio = 2.0 * half / height
    ncols = max(15, int(round(np.sqrt(total * ratio))) | 1)  # odd: a column on the midline
    nrows = max(15, int(round(total / ncols)))
    cols = _axis(-half, half, ncols, dens_x)
    cols = 0.5 * (cols - cols[::-1])  # exactly symmetric
    cols[ncols // 2] = 0.0
    mhw = idn.mouth_half_width
    right = _snap(cols, mhw)
    cols[ncols - 1 - right] = -mhw
    rows = _axis(idn.chin_y, idn.top_y, nrows, dens_y)
    mouth_row = _snap(rows, idn.mouth_y)
    return cols, rows, mouth_row, right


def _oval_scale(identity: Identity, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Factor that moves sheet points radially (about the oval's centre) onto the oval."""
    y_mid = identity.eye_y - 12.0
    a = np.abs(px) / identity.sheet_half_width
    up = py >= y_mid
    b = np.abs(
        np.where(
            up, (py - y_mid) / (identity.top_y - y_mid), (y_mid - py) / (y_mid - identity.chin_y)
        )
    )
    pb = np.where(up, 4.0, 2.2)
    lo, hi = np.zeros_like(a), np.full_like(a, 4.0)
    for _ in range(40):  # bisection on k: (k a)^2.4 + (k b)^pb = 1
        k = 0.5 * (lo + hi)
        over = (k * a) ** 2.4 + (k * b) ** pb > 1.0
        hi = np.where(over, k, hi)
        lo = np.where(over, lo, k)
    return 0.5 * (lo + hi)


@dataclass
class _Topology:
    sheet: np.ndarray
    lower: np.ndarray
    triangles: np.ndarray


def _eye_hole_cells(identity: Identity, cx_cells: np.ndarray, cy_cells: np.ndarray) -> np.ndarray:
    """Grid cells whose centre lies inside an eye opening (removed: the eyeball shows there)."""
    hole = np.zeros(cx_cells.shape, dtype=bool)
    for side in (-1, 1):
        upper, lower = shapes.eye_lids(identity, side, cx_cells)
        hole |= (cy_cells < upper) & (cy_cells > lower)
    return hole


def _snap_to_lids(identity: Identity, gx: np.ndarray, gy: np.ndarray, ring: np.ndarray) -> None:
    """Move the vertices around each eye hole vertically onto the lid margins (in place)."""
    for side in (-1, 1):
        upper, lower = shapes.eye_lids(identity, side, gx)
        near = (
            ring
            & ~np.isnan(upper)
            & (np.abs(gx - side * identity.eye_x) < 0.97 * identity.eye_half_width)
        )
        # per column, only the rim vertex nearest the opening from above and from below moves,
        # so two vertices of a column never land on the same lid point
        for c in np.flatnonzero(near.any(axis=0)):
            rows = np.flatnonzero(near[:, c])
            mid = 0.5 * (upper[rows[0], c] + lower[rows[0], c])
            below, above = rows[gy[rows, c] <= mid], rows[gy[rows, c] > mid]
            if len(below):
                gy[below.max(), c] = lower[below.max(), c]
            if len(above):
                gy[above.min(), c] = upper[above.min(), c]


def _face_topology(identity: Identity, n_vertices: int) -> _Topology:
    """Cropped, symmetric triangulation of the sheet grid with the lips cut and eyes open."""
    cols, rows, mouth_row, corner_col = _grid(identity, n_vertices)
    ncols, nrows = len(cols), len(rows)
    gx, gy = np.meshgrid(cols, rows)  # (nrows, ncols)
    inside = _in_oval(identity, gx, gy)
    oval_cell = inside[:-1, :-1] & inside[:-1, 1:] & inside[1:, :-1] & inside[1:, 1:]
    ccx, ccy = np.meshgrid(0.5 * (cols[1:] + cols[:-1]), 0.5 * (rows[1:] + rows[:-1]))
    eye_cell = _eye_hole_cells(identity, ccx, ccy) & oval_cell
    cell = oval_cell & ~eye_cell

    def corners(mask: np.ndarray) -> np.ndarray:
        out = np.zeros((nrows, ncols), dtype=bool)
        out[:-1, :-1] |= mask
        out[:-1, 1:] |= mask
        out[1:, :-1] |= mask
        out[1:, 1:] |= mask
        return out

    used = corners(cell)
    grid_x, grid_y = gx, gy
    # tidy the outlines: boundary vertices of the oval onto the oval, eye rims onto the lids
    gx, gy = gx.copy(), gy.copy()
    outer = used & corners(~oval_cell)
    k = _oval_scale(identity, gx[outer], gy[outer])
    y_mid = identity.eye_y - 12.0
    gx[outer] *= k
    gy[outer] = y_mid + (gy[outer] - y_mid) * k
    _snap_to_lids(identity, gx, gy, used & corners(eye_cell))

    vid = -np.ones((nrows, ncols), dtype=np.int64)
    vid[used] = np.arange(int(used.sum()))
    n_main = int(used.sum())
    # slit: the mouth row strictly between the corners gets a second (lower-lip) copy
    mid = ncols // 2
    slit_cols = np.arange(mid - (corner_col - mid) + 1, corner_col)
    slit_cols = slit_cols[used[mouth_row, slit_cols]]
    low_vid = vid.copy()
    low_vid[mouth_row, slit_cols] = n_main + np.arange(len(slit_cols))
    sheet = np.concatenate(
        [
            np.stack([gx[used], gy[used]], axis=1),
            np.stack([gx[mouth_row, slit_cols], gy[mouth_row, slit_cols]], axis=1),
        ]
    )
    lower = np.concatenate(
        [gy[used] < identity.mouth_y - 1e-9, np.ones(len(slit_cols), dtype=bool)]
    )

    r, c = np.nonzero(cell)
    # cells just below the mouth row take the lower copy for their top corners
    top = np.where((r + 1 == mouth_row)[:, None], low_vid[r + 1], vid[r + 1])
    a = vid[r, c]
    b = vid[r, c + 1]
    cc = top[np.arange(len(r)), c + 1]
    d = top[np.arange(len(r)), c]
    left = 0.5 * (cols[c] + cols[c + 1]) < 0.0
    tri1 = np.where(left[:, None], np.stack([a, b, cc], 1), np.stack([a, b, d], 1))
    tri2 = np.where(left[:, None], np.stack([a, cc, d], 1), np.stack([b, cc, d], 1))
    triangles = np.stack([tri1, tri2], axis=1).reshape(-1, 3)
    original = np.concatenate(
        [
            np.stack([grid_x[used], grid_y[used]], axis=1),
            np.stack([grid_x[mouth_row, slit_cols], grid_y[mouth_row, slit_cols]], axis=1),
        ]
    )
    _undo_folds(sheet, original, triangles)
    return _Topology(sheet=sheet, lower=lower, triangles=triangles)


def _sheet_areas(sheet: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    p = sheet[triangles]
    e1, e2 = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]
    return 0.5 * (e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])


def _undo_folds(sheet: np.ndarray, original: np.ndarray, triangles: np.ndarray) -> None:
    """Put snapped outline vertices back where snapping folded or flattened a triangle."""
    for _ in range(10):
        bad = _sheet_areas(sheet, triangles) <= 1e-3
        if not bad.any():
            return
        verts = np.unique(triangles[bad])
        moved = verts[np.any(sheet[verts] != original[verts], axis=1)]
        if len(moved) == 0:
            return
        sheet[moved] = original[moved]


def _eyeball_recess(identity: Identity, side: int, pts: np.ndarray) -> np.ndarray:
    """Extra depth of the eyeball patch outside the neutral opening: the ball curves away
    behind the lids, so skin that slides over it (a lid raised, a cheek pushed up) stays in
    front of it."""
    cx = side * identity.eye_x
    w = identity.eye_half_width
    upper, lower = shapes.eye_lids(
        identity, side, np.clip(pts[:, 0], cx - 0.999 * w, cx + 0.999 * w)
    )
    out_y = np.clip(pts[:, 1] - upper, 0, None) + np.clip(lower - pts[:, 1], 0, None)
    out_x = np.clip(np.abs(pts[:, 0] - cx) - w, 0, None)
    return 1.0 * np.hypot(out_x, out_y)


def _patch(
    rect: tuple[float, float, float, float], shape: tuple[int, int], start: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sheet points and quads of a regular patch over ``rect`` (vertex ids from ``start``)."""
    x0, y0, x1, y1 = rect
    gx, gy = np.meshgrid(np.linspace(x0, x1, shape[0]), np.linspace(y0, y1, shape[1]))
    ids = start + np.arange(gx.size).reshape(gx.shape)
    quads = np.stack([ids[:-1, :-1], ids[:-1, 1:], ids[1:, 1:], ids[1:, :-1]], axis=-1).reshape(
        -1, 4
    )
    return np.stack([gx.ravel(), gy.ravel()], axis=1), quads


def _part_number(name: str) -> int:
    """The value of ``SyntheticHead.part`` for one of :data:`shapes.INNER_PARTS`."""
    return 1 + shapes.INNER_PARTS.index(name)


def build_head(identity: Identity, resolution: int = DEFAULT_RESOLUTION) -> SyntheticHead:
    """The neutral face of ``identity`` with about ``resolution`` vertices.

    Deterministic: the same identity and resolution give the same mesh, bit for bit.
    """
    if resolution < 500:
        raise ValueError(f"resolution {resolution} is too small for a face (at least 500 vertices)")
    topo = _face_topology(identity, resolution)
    sheets, parts = [topo.sheet], [np.zeros(len(topo.sheet), dtype=np.int8)]
    n = len(topo.sheet)
    rects = shapes.inner_rects(identity)
    quads_all = []
    for k, name in enumerate(shapes.INNER_PARTS, start=1):
        pts, quads = _patch(rects[name], _PATCH_GRID[name], n)
        sheets.append(pts)
        parts.append(np.full(len(pts), k, dtype=np.int8))
        quads_all.append(quads)
        n += len(pts)
    sheet = np.concatenate(sheets)
    part = np.concatenate(parts)
    vertices = sheet_to_xyz(identity, sheet[:, 0], sheet[:, 1])
    for k, name in enumerate(shapes.INNER_PARTS, start=1):
        sel = part == k
        vertices[sel, 2] -= _PATCH_DEPTH[name]
        if name != "mouth":
            vertices[sel, 2] -= _eyeball_recess(
                identity, -1 if name == "eye_left" else 1, sheet[sel]
            )
    lower = np.concatenate([topo.lower, np.zeros(n - len(topo.sheet), dtype=bool)])
    quads = np.concatenate(quads_all)
    n_tri = len(topo.triangles)
    polygon_offsets = np.concatenate(
        [np.arange(0, 3 * n_tri, 3), 3 * n_tri + np.arange(0, 4 * len(quads) + 1, 4)]
    ).astype(np.int64)
    polygon_indices = np.concatenate([topo.triangles.ravel(), quads.ravel()]).astype(np.int64)
    uv, uv_indices, layout = atlas_uvs(identity, sheet, part, polygon_offsets, polygon_indices)
    landmark_idx = landmark_vertices(identity, sheet, lower, part != 0)
    mesh = FaceMesh(
        vertices=vertices,
        polygon_offsets=polygon_offsets,
        polygon_indices=polygon_indices,
        uv=uv,
        uv_indices=uv_indices,
        landmarks=vertices[landmark_idx],
        metadata={
            "landmark_indices": landmark_idx,
            # the cavity and teeth, and the eyeballs, which the scanner variety may take away
            MOUTH_INTERIOR_KEY: np.flatnonzero(part == _part_number("mouth")),
            EYE_SURFACE_KEY: np.flatnonzero(
                (part == _part_number("eye_left")) | (part == _part_number("eye_right"))
            ),
            **identity.metadata(),
        },
    )
    return SyntheticHead(
        identity=identity,
        mesh=mesh,
        sheet=sheet,
        lower=lower,
        part=part,
        landmark_indices=landmark_idx,
        texture_layout=layout,
    )
