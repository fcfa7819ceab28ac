"""Byte-exact file output for the synthetic set: images, spreadsheets, rounded meshes, JSON.

Why a module of its own: "same seed → byte-identical files" is a promise about bytes, and a few
libraries break it quietly — openpyxl stamps the save time into ``docProps/core.xml`` and into
every zip entry, JSON key order follows dict order, and full-precision floats make text meshes
twice as large as the scans they imitate. Everything here is deterministic and compact.
"""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from datetime import datetime
from pathlib import Path

import numpy as np
from PIL import Image

from facevlm.atomic_files import atomic_write
from facevlm.scans.mesh import FaceMesh

#: Decimals kept when writing coordinates (µm) and texture coordinates.
COORD_DECIMALS = 3
UV_DECIMALS = 6
#: The fixed timestamp written into spreadsheets.
_EPOCH = datetime(2022, 1, 1, 0, 0, 0)


def encode_image(image: np.ndarray, fmt: str) -> bytes:
    """``image`` (H, W, 3 uint8, row 0 top) encoded as ``BMP``, ``JPEG`` or ``PNG`` bytes."""
    buffer = io.BytesIO()
    pil = Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8), mode="RGB")
    if fmt.upper() == "JPEG":
        pil.save(buffer, format="JPEG", quality=90, subsampling=0, optimize=False)
    elif fmt.upper() == "PNG":
        pil.save(buffer, format="PNG", optimize=False, compress_level=6)
    elif fmt.upper() == "BMP":
        pil.save(buffer, format="BMP")
    else:
        raise ValueError(f"unsupported image format {fmt!r}")
    return buffer.getvalue()


#: Decimals that keep coordinates to the micrometre, per unit of the file.
UNIT_DECIMALS: dict[str, int] = {
    "mm": COORD_DECIMALS,
    "cm": COORD_DECIMALS + 1,
    "m": COORD_DECIMALS + 3,
}


def rounded(mesh: FaceMesh, unit: str = "mm") -> FaceMesh:
    """A copy of ``mesh`` with coordinates rounded to µm (in ``unit``, the unit its
    coordinates are in) and UVs to 1e-6 (landmarks follow).

    Real scans carry 5–7 significant digits; full float64 precision would only bloat the text
    formats. Rounding before writing also makes a written-and-read-back mesh equal to it.
    """
    vertices = np.round(mesh.vertices, UNIT_DECIMALS[unit]) + 0.0  # + 0.0 turns -0.0 into 0.0
    index = mesh.metadata.get("landmark_indices")
    landmarks = vertices[index] if index is not None else mesh.landmarks
    return FaceMesh(
        vertices=vertices,
        polygon_offsets=mesh.polygon_offsets,
        polygon_indices=mesh.polygon_indices,
        uv=None if mesh.uv is None else np.round(mesh.uv, UV_DECIMALS) + 0.0,
        uv_indices=mesh.uv_indices,
        texture_path=mesh.texture_path,
        landmarks=landmarks,
        landmark_labels=mesh.landmark_labels,
        vertex_colors=mesh.vertex_colors,
        metadata=dict(mesh.metadata),
    )


def save_workbook(workbook, path: Path) -> None:
    """Save an openpyxl workbook so that the same content always gives the same bytes.

    openpyxl writes the current time into the document properties and every zip entry; both
    are pinned to a fixed date here.
    """
    workbook.properties.creator = "facevlm synthetic"
    workbook.properties.created = _EPOCH
    workbook.properties.modified = _EPOCH
    workbook.properties.lastModifiedBy = None
    raw = io.BytesIO()
    workbook.save(raw)
    stamp = _EPOCH.strftime("%Y-%m-%dT%H:%M:%SZ")
    out = io.BytesIO()
    with zipfile.ZipFile(raw) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in sorted(src.infolist(), key=lambda i: i.filename):
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = re.sub(
                    rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*", rb"\g<1>" + stamp.encode(), data
                )
            entry = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o600 << 16
            dst.writestr(entry, data)
    Path(path).write_bytes(out.getvalue())


def write_json(path: Path, data: dict) -> None:
    """Write JSON with sorted keys, atomically (a reader never sees half a manifest)."""
    with atomic_write(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def tree_size(folder: Path) -> tuple[int, int]:
    """Number of files and total bytes under ``folder``."""
    n, size = 0, 0
    for base, _, names in os.walk(folder):
        for name in names:
            n += 1
            size += os.path.getsize(os.path.join(base, name))
    return n, size
