"""Range-scan rasterisation: a mesh seen from the front as a Bosphorus-style ``.bnt`` grid.

Why: Bosphorus is not a mesh format but a structured-light range image — a regular x/y grid
(about 0.75 mm step) with one depth per cell, a background marker, and per-cell texture
coordinates into a 2D photo. To write one from a synthetic face we z-buffer its triangles onto
such a grid (the front-most surface wins, so the eyeballs and mouth cavity show only through
the openings), and paint the "photo" by sampling the texture atlas at the same cells.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facevlm.scans.mesh import FaceMesh

#: Bosphorus background marker (``zmin`` in the header, and z of every background cell).
BACKGROUND = -1.0e9
#: Grid step of the real scans, millimetres.
DEFAULT_STEP = 0.75


@dataclass
class RangeGrid:
    """An upright range grid (row 0 at the top) with its colour image.

    ``x, y, z, u, v`` are ``(nrows, ncols)``; background cells hold :data:`BACKGROUND` in x, y
    and z and 0 in u, v; ``u, v`` index ``image`` with v measured from the top.
    """

    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    u: np.ndarray
    v: np.ndarray
    image: np.ndarray

    @property
    def foreground(self) -> np.ndarray:
        return self.z > BACKGROUND


def sample_texture(image: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Bilinear colour of ``image`` (row 0 top) at OpenGL-style ``uv`` (v from the bottom)."""
    h, w = image.shape[:2]
    x = np.clip(uv[:, 0] * w - 0.5, 0, w - 1)
    y = np.clip((1.0 - uv[:, 1]) * h - 0.5, 0, h - 1)
    x0, y0 = np.floor(x).astype(np.int64), np.floor(y).astype(np.int64)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = (x - x0)[:, None], (y - y0)[:, None]
    img = image.astype(np.float64)
    top = img[y0, x0] * (1 - fx) + img[y0, x1] * fx
    bottom = img[y1, x0] * (1 - fx) + img[y1, x1] * fx
    return top * (1 - fy) + bottom * fy


def rasterize(
    mesh: FaceMesh, texture: np.ndarray, step: float = DEFAULT_STEP, margin: float = 3.0
) -> RangeGrid:
    """Front view of ``mesh`` (looking down −z) on a grid of ``step`` mm.

    Every grid cell centre that falls inside a triangle takes the z of the front-most one; UVs
    are interpolated per corner (face-varying UVs respected) and the colour is sampled from
    ``texture``.
    """
    points, triangles, tcoords = mesh.render_arrays()
    if tcoords is None:
        raise ValueError("rasterize needs a textured mesh")
    lo = points[:, :2].min(axis=0) - margin
    hi = points[:, :2].max(axis=0) + margin
    ncols = int(np.ceil((hi[0] - lo[0]) / step)) + 1
    nrows = int(np.ceil((hi[1] - lo[1]) / step)) + 1
    xs = lo[0] + step * np.arange(ncols)
    ys = hi[1] - step * np.arange(nrows)  # upright: row 0 at the top

    tri = points[triangles]  # (F, 3, 3)
    # column/row ranges of each triangle's bounding box
    c0 = np.ceil((tri[:, :, 0].min(1) - lo[0]) / step).astype(np.int64)
    c1 = np.floor((tri[:, :, 0].max(1) - lo[0]) / step).astype(np.int64)
    r0 = np.ceil((hi[1] - tri[:, :, 1].max(1)) / step).astype(np.int64)
    r1 = np.floor((hi[1] - tri[:, :, 1].min(1)) / step).astype(np.int64)
    k = int(max((c1 - c0).max(), (r1 - r0).max(), 0)) + 1
    dc, dr = np.meshgrid(np.arange(k), np.arange(k))
    col = (c0[:, None] + dc.ravel()[None]).ravel()
    row = (r0[:, None] + dr.ravel()[None]).ravel()
    face = np.repeat(np.arange(len(triangles)), k * k)
    keep = (col <= np.repeat(c1, k * k)) & (row <= np.repeat(r1, k * k))
    col, row, face = col[keep], row[keep], face[keep]
    # barycentric coordinates of the cell centres
    a, b, c = tri[face, 0], tri[face, 1], tri[face, 2]
    px, py = xs[col], ys[row]
    det = (b[:, 1] - c[:, 1]) * (a[:, 0] - c[:, 0]) + (c[:, 0] - b[:, 0]) * (a[:, 1] - c[:, 1])
    ok = np.abs(det) > 1e-12
    det = np.where(ok, det, 1.0)
    w0 = ((b[:, 1] - c[:, 1]) * (px - c[:, 0]) + (c[:, 0] - b[:, 0]) * (py - c[:, 1])) / det
    w1 = ((c[:, 1] - a[:, 1]) * (px - c[:, 0]) + (a[:, 0] - c[:, 0]) * (py - c[:, 1])) / det
    w2 = 1.0 - w0 - w1
    eps = -1e-9
    inside = ok & (w0 >= eps) & (w1 >= eps) & (w2 >= eps)
    col, row, face = col[inside], row[inside], face[inside]
    w = np.stack([w0[inside], w1[inside], w2[inside]], axis=1)
    z = (w * tri[face, :, 2]).sum(1)
    # z-buffer: the front-most (largest z) candidate of each cell
    cell = row * ncols + col
    order = np.lexsort((-z, cell))
    first = np.ones(len(order), dtype=bool)
    first[1:] = cell[order][1:] != cell[order][:-1]
    win = order[first]
    cell, face, w, z = cell[win], face[win], w[win], z[win]

    shape = (nrows, ncols)
    gx = np.full(shape, BACKGROUND)
    gy = np.full(shape, BACKGROUND)
    gz = np.full(shape, BACKGROUND)
    gx.flat[cell] = xs[cell % ncols]
    gy.flat[cell] = ys[cell // ncols]
    gz.flat[cell] = z
    uv = (w[:, :, None] * tcoords[triangles[face]]).sum(1)
    image = np.zeros(shape + (3,))
    image.reshape(-1, 3)[cell] = sample_texture(texture, uv)
    gu = np.zeros(shape)
    gv = np.zeros(shape)
    gu.flat[cell] = (cell % ncols + 0.5) / ncols
    gv.flat[cell] = (cell // ncols + 0.5) / nrows
    return RangeGrid(
        x=gx, y=gy, z=gz, u=gu, v=gv, image=np.clip(np.round(image), 0, 255).astype(np.uint8)
    )
