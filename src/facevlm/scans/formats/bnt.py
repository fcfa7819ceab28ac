"""Bosphorus ``.bnt`` range scans: a binary grid of points, and the mesh made from it.

Why a reader that checks sizes before reading: the header declares the name length and the number
of values. A corrupted header (a flipped bit in ``count``) would otherwise ask numpy for up to
32 GiB before noticing the file is short. Every declared size is compared with the bytes that are
actually left in the file first, so a bad file fails in microseconds with a clear reason.

Layout (little-endian, verified on real files)::

    uint16 nrows, uint16 ncols, float64 zmin      # zmin (-1e9) marks background points
    uint16 L, char[L] image file name             # the 1600x1200 texture, e.g. bs001_N_N_0.png
    uint32 count                                  # = 5 * nrows * ncols
    float64[count] = x[N], y[N], z[N], u[N], v[N] # planar, N = nrows * ncols; then EOF

Row 0 on disk is the chin end; :class:`BntScan` holds the grids upright (row 0 = forehead), the
way an image is shown. ``u, v`` index the texture with ``v`` measured from the top; meshes use the
VRML/OpenGL convention (``v`` from the bottom), so :func:`bnt_to_mesh` converts.

A grid is a range image: ``x`` changes along a row and stays (nearly) constant down a column,
``y`` the other way round. A header whose ``nrows``/``ncols`` are swapped (same product, so
every size check passes) wraps the planes at the wrong width, and vertical neighbours then differ
in ``x`` by several grid steps; :func:`grid_incoherence` detects that and the scan is refused
rather than triangulated into a scrambled mesh.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facevlm.scans.errors import ScanError
from facevlm.scans.formats._files import ReadScope, reports_scan_errors, scope_for
from facevlm.scans.formats._textures import first_existing
from facevlm.scans.formats.limits import describe_bytes
from facevlm.scans.mesh import FaceMesh

_HEAD = struct.Struct("<HHd")
_NAME_LENGTH = struct.Struct("<H")
_COUNT = struct.Struct("<I")
_PLANES = ("x", "y", "z", "u", "v")


@dataclass
class BntScan:
    """One ``.bnt`` scan, grids upright (row 0 at the top of the face).

    Attributes:
        nrows, ncols: grid size.
        zmin: the background marker; points with ``z == zmin`` are not part of the face.
        image_name: the texture file name stored in the header.
        x, y, z, u, v: ``(nrows, ncols)`` float64 grids.
        foreground: ``(nrows, ncols)`` bool, True where the point belongs to the face.
        source: the file it was read from.
    """

    nrows: int
    ncols: int
    zmin: float
    image_name: str
    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    u: np.ndarray
    v: np.ndarray
    foreground: np.ndarray
    source: Path | None = None

    @property
    def n_foreground(self) -> int:
        return int(np.count_nonzero(self.foreground))


@reports_scan_errors
def read_bnt(path: str | Path, *, scope: ReadScope | None = None) -> BntScan:
    """Read a Bosphorus ``.bnt`` file, checking every declared size against the file first.

    Args:
        scope: where the file may be read from and the size limits (default: its own folder,
            default limits).

    Raises:
        ScanError: truncated header, a name or value count larger than the file, ``count`` not
            ``5 * nrows * ncols``, a grid above ``limits.max_vertices`` points, bytes after the
            data, a name that is not text, foreground points with NaN/infinite coordinates, or
            x/y planes that are not a coherent grid (swapped dimensions).
    """
    path = Path(path)
    scope = scope_for(path, scope)
    handle, size = scope.open(path)
    with handle:
        nrows, ncols, zmin = _unpack(handle, _HEAD, path, "grid header")
        (name_length,) = _unpack(handle, _NAME_LENGTH, path, "image name length")
        header_rest = _HEAD.size + _NAME_LENGTH.size
        if name_length > size - header_rest - _COUNT.size:
            raise ScanError(
                path,
                f"image name length {name_length} runs past the end of the file ({size} bytes)",
            )
        image_name = _decode_name(handle.read(name_length), path)
        (count,) = _unpack(handle, _COUNT, path, "value count")
        left = size - header_rest - name_length - _COUNT.size
        if count * 8 > left:
            raise ScanError(
                path,
                f"truncated: header declares {count} values "
                f"({count * 8} bytes) but only {left} bytes follow",
            )
        if count != 5 * nrows * ncols:
            raise ScanError(path, f"value count {count} is not 5 x {nrows} x {ncols}")
        if count * 8 < left:
            raise ScanError(path, f"{left - count * 8} unexpected bytes after the data")
        if nrows == 0 or ncols == 0:
            raise ScanError(path, f"empty grid ({nrows} x {ncols})")
        if nrows * ncols > scope.limits.max_vertices:
            raise ScanError(
                path,
                f"grid of {nrows} x {ncols} = {nrows * ncols} points ({describe_bytes(count * 8)})"
                f" is above the limit of {scope.limits.max_vertices} (limits.max_vertices)",
            )
        values = np.fromfile(handle, dtype="<f8", count=count)
    if len(values) != count:
        raise ScanError(path, "truncated while reading the values")
    if not np.isfinite(zmin):
        raise ScanError(path, f"background marker zmin is {zmin}")

    # On disk row 0 is the chin end; flip rows so the grids are upright.
    planes = {
        name: plane[::-1].copy()
        for name, plane in zip(_PLANES, values.reshape(5, nrows, ncols), strict=True)
    }
    foreground = planes["z"] != zmin
    xyz_ok = np.isfinite(planes["x"]) & np.isfinite(planes["y"]) & np.isfinite(planes["z"])
    if not xyz_ok[foreground].all():
        bad = int(np.count_nonzero(foreground & ~xyz_ok))
        raise ScanError(path, f"{bad} foreground points have NaN or infinite coordinates")
    problem = grid_incoherence(planes["x"], planes["y"], foreground)
    if problem:
        raise ScanError(path, f"{problem} (nrows/ncols {nrows} x {ncols} swapped or wrong?)")
    return BntScan(
        nrows, ncols, float(zmin), image_name, foreground=foreground, source=path, **planes
    )


#: Fewest neighbour pairs in each direction for the coherence check to judge a grid.
_MIN_PAIRS = 8
#: Row pairs the coherence check samples (evenly spaced): enough for medians and "most rows".
_SAMPLE_ROW_PAIRS = 32


def grid_incoherence(x: np.ndarray, y: np.ndarray, foreground: np.ndarray) -> str:
    """Why the ``x``/``y`` planes are not a range-image grid ("" when they are, or when there
    are too few neighbouring foreground points to tell).

    Along a row ``x`` steps and ``y`` stays; down a column the reverse. Two checks on the steps
    between foreground neighbours:

    - medians: down a column, ``x`` must change less than half as much as along a row (and ``y``
      along a row less than half as much as down a column). Wrapped at a width that is not a
      multiple of the true one, vertical neighbours are points one or more columns apart.
      A plane that does not change at all is left to the mesh's degeneracy check.
    - wraps: wrapped at a multiple of the true width, each row of the file holds several true
      rows, and at the same column of every row ``x`` jumps *back* by a whole row's width. So no
      column boundary may step against the grid's direction by more than two median steps in
      most rows (a real scanner grid never folds back).
    """
    if len(x) < 2:
        return ""
    # A sample of row pairs (i, i+1) is enough to judge, and keeps the check at ~1 ms.
    top = np.arange(0, len(x) - 1, max(1, (len(x) - 1) // _SAMPLE_ROW_PAIRS))
    rows = np.concatenate([top, top + 1])
    horizontal = foreground[rows, :-1] & foreground[rows, 1:]
    vertical = foreground[top] & foreground[top + 1]
    if np.count_nonzero(horizontal) < _MIN_PAIRS or np.count_nonzero(vertical) < _MIN_PAIRS:
        return ""
    with np.errstate(over="ignore", invalid="ignore"):
        step_x = np.diff(x[rows], axis=1)
        dx_row = np.median(np.abs(step_x)[horizontal])
        dy_row = np.median(np.abs(np.diff(y[rows], axis=1))[horizontal])
        dx_col = np.median(np.abs(x[top + 1] - x[top])[vertical])
        dy_col = np.median(np.abs(y[top + 1] - y[top])[vertical])
    if (dx_col > 0 and dx_col >= 0.5 * dx_row) or (dy_row > 0 and dy_row >= 0.5 * dy_col):
        return (
            "x/y planes are not a coherent grid: median steps along rows "
            f"dx={dx_row:.3g} dy={dy_row:.3g}, down columns dx={dx_col:.3g} dy={dy_col:.3g}"
        )
    column = _backward_column(step_x, horizontal)
    if column is not None:
        return (
            f"x/y planes are not a coherent grid: x steps back between columns {column} and "
            f"{column + 1} in most rows (each row of the file holds several rows of the grid)"
        )
    return ""


def _backward_column(step_x: np.ndarray, horizontal: np.ndarray) -> int | None:
    """First column boundary where ``x`` steps against the grid's direction, by more than two
    median steps, in most of the rows that have foreground there (None if there is none)."""
    direction = np.median(step_x[horizontal])
    if not np.isfinite(direction) or direction == 0:
        return None
    against = horizontal & (step_x * np.sign(direction) < -2 * abs(direction))
    rows_with_pairs = horizontal.sum(axis=0)
    enough = rows_with_pairs >= max(2, 0.5 * rows_with_pairs.max())
    folded = enough & (against.sum(axis=0) > 0.5 * rows_with_pairs)
    hits = np.flatnonzero(folded)
    return int(hits[0]) if len(hits) else None


def _unpack(handle, layout: struct.Struct, path: Path, what: str) -> tuple:
    raw = handle.read(layout.size)
    if len(raw) != layout.size:
        raise ScanError(path, f"truncated: file ends inside the {what}")
    return layout.unpack(raw)


def _decode_name(raw: bytes, path: Path) -> str:
    try:
        return raw.rstrip(b"\0").decode("utf-8")
    except UnicodeDecodeError:
        raise ScanError(path, "image name in the header is not text") from None


def bnt_to_mesh(
    scan: BntScan,
    texture_path: str | Path | None = None,
    path: str | Path | None = None,
    scope: ReadScope | None = None,
) -> FaceMesh:
    """Triangulate the foreground of a scan: two triangles for every fully-foreground 2x2 cell.

    Every foreground point becomes a vertex (in upright row-major order), with its own UV
    (``v`` flipped to count from the bottom). Triangles are wound counter-clockwise as seen from
    the nose side (+z), whichever way the scanner's x axis runs.

    Args:
        texture_path: the texture image; by default the ``.png`` beside the scan file, else the
            image named in the header if it is beside the file. A missing texture gives
            ``texture_path=None`` and a warning in ``metadata["warnings"]``.
        path: the scan file, for messages and finding the texture (default ``scan.source``).
        scope: where the texture may be found (default: the scan's folder).

    Raises:
        ScanError: the mesh is empty or unusable (see :meth:`FaceMesh.validate`).
    """
    path = Path(path) if path is not None else scan.source
    fg = scan.foreground
    vertex_id = np.full(fg.shape, -1, dtype=np.int64)
    vertex_id[fg] = np.arange(np.count_nonzero(fg))

    cell = fg[:-1, :-1] & fg[:-1, 1:] & fg[1:, :-1] & fg[1:, 1:]
    top_left, top_right = vertex_id[:-1, :-1][cell], vertex_id[:-1, 1:][cell]
    bottom_left, bottom_right = vertex_id[1:, :-1][cell], vertex_id[1:, 1:][cell]
    triangles = np.stack(
        [
            np.stack([bottom_left, bottom_right, top_right], axis=1),
            np.stack([bottom_left, top_right, top_left], axis=1),
        ],
        axis=1,
    ).reshape(-1, 3)

    vertices = np.stack([scan.x[fg], scan.y[fg], scan.z[fg]], axis=1)
    if len(triangles) and _mean_normal_z(vertices, triangles) < 0:
        triangles = triangles[:, ::-1].copy()  # x runs right-to-left: keep normals toward +z
    uv = np.stack([scan.u[fg], 1.0 - scan.v[fg]], axis=1)

    warnings: list[str] = []
    texture = _bnt_texture(scan, texture_path, path, warnings, scope)
    mesh = FaceMesh.from_triangles(
        vertices,
        triangles,
        uv=uv,
        texture_path=texture,
        source=path,
        metadata={
            "format": "bnt",
            "grid_shape": (scan.nrows, scan.ncols),
            "image_name": scan.image_name,
            "warnings": warnings,
        },
    )
    return mesh.validate(path)


def _mean_normal_z(vertices: np.ndarray, triangles: np.ndarray) -> float:
    """Summed z of the normals of up to ~2,000 triangles: the grid's handedness is global."""
    sample = triangles[:: max(1, len(triangles) // 2000)]
    a, b, c = (vertices[sample[:, k], :2] for k in range(3))
    ab, ac = b - a, c - a
    with np.errstate(over="ignore", invalid="ignore"):  # absurd values are refused later
        return float((ab[:, 0] * ac[:, 1] - ab[:, 1] * ac[:, 0]).sum())


def _bnt_texture(
    scan: BntScan,
    texture_path: str | Path | None,
    path: Path | None,
    warnings: list[str],
    scope: ReadScope | None,
) -> Path | None:
    if texture_path is not None:
        found = first_existing([Path(texture_path)], path, scope, warnings)
        if found is None:
            warnings.append(f"texture {texture_path} is missing")
        return found
    if path is None:
        warnings.append("no texture: scan has no file to look beside")
        return None
    candidates = [path.with_suffix(".png")]
    name = Path(scan.image_name)
    beside = path.parent / name.name
    if (
        scan.image_name == name.name
        and name.name not in ("", ".", "..")
        and beside not in candidates
    ):
        candidates.append(beside)  # a bare file name only, never a path
    found = first_existing(candidates, path, scope, warnings)
    if found is None:
        looked = ", ".join(c.name[:80] for c in candidates)
        warnings.append(f"texture missing (looked for {looked})")
    return found


@reports_scan_errors
def read_bnt_mesh(path: str | Path, *, scope: ReadScope | None = None) -> FaceMesh:
    """:func:`read_bnt` then :func:`bnt_to_mesh`, with the ``.png`` beside the file."""
    scope = scope_for(path, scope)
    return bnt_to_mesh(read_bnt(path, scope=scope), path=path, scope=scope)


def write_bnt(
    path: str | Path,
    x: np.ndarray,
    y: np.ndarray,
    z: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    zmin: float,
    image_name: str,
) -> None:
    """Write upright ``(nrows, ncols)`` grids as a ``.bnt`` file (rows flipped back to chin-first).

    Raises:
        ValueError: grids of different or non-2-D shapes, a grid dimension or name too long for
            the header's uint16 fields.
    """
    grids = [np.asarray(g, dtype=np.float64) for g in (x, y, z, u, v)]
    shape = grids[0].shape
    if len(shape) != 2 or any(g.shape != shape for g in grids):
        raise ValueError(
            f"x, y, z, u, v must be 2-D grids of one shape, got {[g.shape for g in grids]}"
        )
    nrows, ncols = shape
    name = image_name.encode("utf-8")
    if max(nrows, ncols, len(name)) > 0xFFFF:
        raise ValueError("grid dimensions and image name length must fit in uint16")
    payload = np.stack([g[::-1] for g in grids]).astype("<f8")
    header = (
        _HEAD.pack(nrows, ncols, float(zmin))
        + _NAME_LENGTH.pack(len(name))
        + name
        + _COUNT.pack(payload.size)
    )
    Path(path).write_bytes(header + payload.tobytes())
