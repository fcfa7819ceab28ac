"""Synthetic textured face-like meshes for the renderer's tests, benchmark and examples.

Why synthetic: the real datasets are licence-restricted and cannot be in the repo, yet the
renderer must be exercised on meshes that look like the real ones where it matters:

- millimetre units, y up, nose toward +z, about 160 x 200 mm (a BU-3DFE ``F3D`` crop);
- a few thousand shared vertices (``n_side=90`` gives 8,100, close to BU-3DFE's 7,968);
- **face-varying UVs with a seam**, like BU-3DFE's two-view texture atlas: the left and right
  halves of the face map to the left and right halves of the atlas, so the vertices on the
  midline carry two UVs and :meth:`FaceMesh.render_arrays` has to split them.

The texture is a coloured checker (each half of the atlas has its own hue ramp), so renders from
different angles, and of differently displaced meshes, differ visibly.

:func:`save_mesh_npz` / :func:`read_mesh_npz` store such a mesh as a file, so that tests and the
benchmark can hand *paths* to the parallel renderer, as real jobs do, before the real readers
exist (and without depending on them).
"""

from __future__ import annotations

import dataclasses
import zipfile
from pathlib import Path

import numpy as np

from facevlm.scans.errors import ScanError
from facevlm.scans.mesh import FaceMesh

#: Half-width and half-height of the synthetic face, millimetres.
HALF_WIDTH_MM = 80.0
HALF_HEIGHT_MM = 100.0


def face_like_mesh(
    n_side: int = 90,
    nose_height: float = 30.0,
    nose_offset: tuple[float, float] = (0.0, 0.0),
    seam: bool = True,
) -> FaceMesh:
    """A dome with a nose-like bump, triangulated on an ``n_side x n_side`` grid.

    Args:
        n_side: grid points per side (``n_side**2`` vertices; must be even when ``seam``).
        nose_height: height of the Gaussian "nose" in millimetres (0 gives a plain dome).
        nose_offset: ``(x, y)`` position of the nose in millimetres, to make distinct shapes.
        seam: give the mesh a two-half texture atlas with split UVs along the midline (True),
            or one UV per vertex (False).
    """
    if seam and n_side % 2:
        raise ValueError("n_side must be even when seam=True (the seam is a grid column)")
    s = np.linspace(-1.0, 1.0, n_side)
    gx, gy = np.meshgrid(s, s)  # row index = y, column index = x
    x = gx * HALF_WIDTH_MM
    y = gy * HALF_HEIGHT_MM
    dome = 60.0 * np.sqrt(np.clip(1.0 - 0.6 * gx**2 - 0.4 * gy**2, 0.0, None))
    nx, ny = nose_offset
    nose = nose_height * np.exp(-(((x - nx) / 14.0) ** 2 + ((y - ny) / 22.0) ** 2))
    vertices = np.stack([x, y, dome + nose], axis=-1).reshape(-1, 3)

    idx = np.arange(n_side * n_side).reshape(n_side, n_side)
    a, b = idx[:-1, :-1].ravel(), idx[:-1, 1:].ravel()
    c, d = idx[1:, :-1].ravel(), idx[1:, 1:].ravel()
    # counter-clockwise seen from +z (x right, y up): normals point toward the viewer
    triangles = np.concatenate([np.stack([a, b, d], 1), np.stack([a, d, c], 1)])

    u = (gx.ravel() + 1.0) / 2.0
    v = (gy.ravel() + 1.0) / 2.0
    if not seam:
        return FaceMesh.from_triangles(vertices, triangles, uv=np.stack([u, v], 1))

    # Atlas: x < 0 half -> u in [0, 0.5), x >= 0 half -> u in [0.5, 1]; the midline column is
    # in both halves, so its vertices get one UV per half (face-varying UVs, like BU-3DFE).
    half = n_side // 2
    col = np.tile(np.arange(n_side), n_side)
    left_uv = np.stack([0.49 * col / (half - 1), v], 1)  # columns 0..half-1
    right_uv = np.stack([0.51 + 0.49 * (col - (half - 1)) / (n_side - half), v], 1)
    uv = np.concatenate([left_uv, right_uv])  # UV k for vertex k (left), V + k (right)
    tri_cols = col[triangles]
    on_left = tri_cols.max(axis=1) <= half - 1
    uv_triangles = np.where(on_left[:, None], triangles, triangles + len(vertices))
    return FaceMesh.from_triangles(vertices, triangles, uv=uv, uv_triangles=uv_triangles)


def checker_texture(size: int = 512, squares: int = 16) -> np.ndarray:
    """``(size, size, 3)`` uint8 coloured checker: red/yellow ramp on the left, blue/cyan right.

    Row 0 is the top of the image (PIL convention); the renderer flips it for VRML UVs.
    """
    ramp = np.linspace(0.0, 1.0, size)
    rows, cols = np.meshgrid(ramp, ramp, indexing="ij")
    check = ((rows * squares).astype(int) + (cols * squares).astype(int)) % 2
    image = np.zeros((size, size, 3))
    left = cols < 0.5
    image[..., 0] = np.where(left, 0.9, 0.2)
    image[..., 1] = np.where(left, rows, 0.3 + 0.6 * rows)
    image[..., 2] = np.where(left, 0.1, 0.9)
    image *= (0.55 + 0.45 * check)[..., None]
    return (image * 255).round().astype(np.uint8)


def save_mesh_npz(mesh: FaceMesh, path: str | Path, texture: np.ndarray | None = None) -> Path:
    """Write a mesh, fan-triangulated, (and its texture as ``<path>.png``) for :func:`read_mesh_npz`."""
    from PIL import Image

    path = Path(path)
    arrays = {"vertices": mesh.vertices, "triangles": mesh.triangles()}
    if mesh.has_uv:
        arrays["uv"] = mesh.uv
        # the UV corners triangulate like the vertex corners: a copy with UV ids as "vertices"
        uv_corners = dataclasses.replace(mesh, polygon_indices=mesh.corner_uv_indices())
        arrays["uv_triangles"] = uv_corners.triangles()
    np.savez(path, **arrays)
    if texture is not None:
        Image.fromarray(texture).save(path.with_suffix(".png"))
    return path


def read_mesh_npz(path: str | Path) -> FaceMesh:
    """Read a mesh written by :func:`save_mesh_npz`; its texture is the sibling ``.png``."""
    path = Path(path)
    try:
        with np.load(path) as data:
            texture = path.with_suffix(".png")
            return FaceMesh.from_triangles(
                data["vertices"],
                data["triangles"],
                uv=data.get("uv"),
                uv_triangles=data.get("uv_triangles"),
                texture_path=texture if texture.exists() else None,
                source=path,
            ).validate(path)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        if isinstance(exc, ScanError):
            raise
        raise ScanError(path, f"cannot read mesh: {exc}") from exc
