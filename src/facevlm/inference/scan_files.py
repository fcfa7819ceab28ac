"""How one scan file is read and which modality it can be rendered in: the one rule that
``facevlm render``, ``facevlm predict`` and the app share.

Why one place: a researcher who renders a scan to look at it and then predicts it must see the
model's input, not a second guess. Two rules decide that:

- **reading**: a VRML frame that names no texture uses the same-stem image beside it, as BU-4DFE
  frames (``000.wrl`` + ``000.jpg``) do; every other file is read by its own reader;
- **modality**: ``texture`` needs something to paint: UVs with a readable image, or per-vertex
  colours. A scan with neither (most geometry-only scans) is rendered ``shaded`` instead, with a
  note saying why, rather than refused: the shape still carries the expression.
"""

from __future__ import annotations

from pathlib import Path

from facevlm.scans.formats import read_mesh
from facevlm.scans.layouts.base import same_stem
from facevlm.scans.mesh import FaceMesh

#: Images a VRML scan may have beside it, same stem (BU-4DFE ``.jpg``, BU-3DFE ``.bmp``).
TEXTURE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
#: What a scan without a usable texture is rendered with instead of ``texture``.
FALLBACK_MODALITY = "shaded"


def read_scan(path: str | Path) -> FaceMesh:
    """Read one mesh file; a VRML file without a texture ``url`` uses its same-stem image."""
    path = Path(path)
    if path.suffix.lower() in (".wrl", ".vrml"):
        image = same_stem(path, TEXTURE_SUFFIXES)
        if image is not None:
            return read_mesh(path, texture_fallback=image.name)
    return read_mesh(path)


def has_usable_texture(mesh: FaceMesh) -> bool:
    """Whether the ``texture`` modality has something to paint: vertex colours, or UVs with an
    image embedded in the scan or in a file that exists."""
    if mesh.vertex_colors is not None or (mesh.has_uv and mesh.texture_image is not None):
        return True
    return bool(mesh.has_uv and mesh.texture_path is not None and Path(mesh.texture_path).is_file())


def modality_for(mesh: FaceMesh, wanted: str, name: str) -> tuple[str, str | None]:
    """The modality to render ``mesh`` with when ``wanted`` is asked for, and a note (naming the
    scan as ``name``) when it has to be another one; ``None`` when ``wanted`` is used as is."""
    if wanted != "texture" or has_usable_texture(mesh):
        return wanted, None
    why = "; ".join(mesh.metadata.get("warnings", [])) or "the mesh has no texture"
    return (
        FALLBACK_MODALITY,
        f"{name}: texture missing ({why}); rendered {FALLBACK_MODALITY} instead",
    )
