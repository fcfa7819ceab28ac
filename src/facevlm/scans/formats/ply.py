"""Stanford PLY meshes (ascii and binary), the usual interchange format of mesh tools.

Why it is here: processed scans and synthetic faces are often passed around as PLY (MeshLab,
Open3D, trimesh all write it), and binary PLY is the compact way to cache a cleaned mesh.

The header declares element counts and property types; the body is then read element by element.
Every declared count is checked against what the file can actually hold *before* anything is
allocated, so a corrupted count fails fast instead of asking for gigabytes. Binary elements
whose records have a fixed size (all vertices; faces when every face has the same arity) are
read with one ``np.frombuffer``; faces of mixed arity are walked record by record, which is the
only way to find where each variable-length record starts.

Texture coordinates: per-vertex ``s t`` (also ``u v``, ``texture_u texture_v``), or face-varying
as MeshLab writes them, a ``texcoord`` list of ``2 * arity`` numbers per face. The texture image
is named by a ``comment TextureFile <name>`` line (MeshLab's convention), resolved inside the
file's folder only; else a same-stem ``.png``/``.jpg`` beside the file is used.

The reader's stages are modules of their own: the header (:mod:`._ply_header`), the body
(:mod:`._ply_binary`, :mod:`._ply_ascii`) and the mesh made of it (:mod:`._ply_mesh`); the
writer is :mod:`._ply_writer`. This module reads a file through them.
"""

from __future__ import annotations

from pathlib import Path

from facevlm.scans.formats._files import ReadScope, reports_scan_errors, scope_for
from facevlm.scans.formats._ply_ascii import _read_ascii
from facevlm.scans.formats._ply_binary import _read_binary
from facevlm.scans.formats._ply_header import _check_counts, _parse_header
from facevlm.scans.formats._ply_mesh import _to_mesh
from facevlm.scans.formats._ply_writer import write_ply
from facevlm.scans.formats._textures import colours_stand_in, resolve_texture
from facevlm.scans.mesh import FaceMesh

__all__ = ["read_ply", "write_ply"]


@reports_scan_errors
def read_ply(path: str | Path, *, scope: ReadScope | None = None) -> FaceMesh:
    """Read an ascii or binary PLY mesh into a FaceMesh.

    ``scope`` says where the file and its texture may be read from and the size limits
    (default: the file's own folder, default limits); declared element counts are compared
    with the limits before anything is read.

    Raises:
        ScanError: a bad or truncated header, unknown types, counts larger than the file,
            bad numbers, no ``x y z`` vertices or no faces, indices out of range, NaN or absurd
            coordinates, or a texture reference that escapes the folder.
    """
    path = Path(path)
    scope = scope_for(path, scope)
    data = scope.read_bytes(path)
    fmt, elements, texture_ref, body = _parse_header(data, path)
    _check_counts(elements, path, scope)
    if fmt is None:
        values = _read_ascii(data[body:], elements, path)
    else:
        values = _read_binary(data, body, elements, fmt, path, scope.limits)

    warnings: list[str] = []
    vertex_element = next((e for e in elements if e.name == "vertex"), None)
    declared = (
        {} if vertex_element is None else {p.name: p.dtype for p in vertex_element.properties}
    )
    mesh = _to_mesh(values, declared, path, warnings, scope.limits)
    if mesh.has_uv or mesh.vertex_colors is None:
        # An image is only drawn through UVs: with colours and no UVs, the colours are the
        # texture, and a same-stem photo beside the file must not be taken for one.
        fallbacks = [path.with_suffix(".png"), path.with_suffix(".jpg")]
        mesh.texture_path = resolve_texture(
            texture_ref, path.parent, path, warnings, fallbacks, scope
        )
        colours_stand_in(mesh, warnings)
    mesh.source = path
    mesh.metadata.update(
        {"format": "ply", "encoding": "ascii" if fmt is None else "binary", "warnings": warnings}
    )
    return mesh.validate(path)
