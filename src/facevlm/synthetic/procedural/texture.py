"""The texture atlas of a synthetic face: where every vertex samples it, and the image itself.

Why an atlas of two halves: BU-3DFE's ``_F3D.bmp`` holds two camera views side by side, so a
vertex on the seam between them carries two texture coordinates and the files need a separate
``texCoordIndex``. Our atlas does the same — the image-left half of the face (plus a strip past
the midline) in the left half of the image, the image-right half in the right half — so every
midline vertex has two UVs and every reader, writer and renderer has to handle face-varying UVs.

Layout (u right, v up)::

    v 1 ┌──────────────┬──────────────┐
        │  face, x < 0 │  face, x > 0 │   both halves overlap the midline by OVERLAP mm
        │  (+ overlap) │  (+ overlap) │
  STRIP ├──────┬───────┴─┬──────────┬─┤
    v 0 │mouth │ left eye │ right eye │ │   the patches behind the skin's openings
        └──────┴─────────┴──────────┴─┘

The painting (:mod:`~facevlm.synthetic.procedural.painting`) is a function of sheet coordinates, so
the overlap strip shows the same skin in both halves and the seam does not show. UVs follow
VRML/OpenGL: ``v`` from the bottom; image arrays are row 0 at the top.
"""

from __future__ import annotations

import numpy as np

from facevlm.synthetic.procedural import shapes
from facevlm.synthetic.procedural.identity import Identity
from facevlm.synthetic.procedural.painting import paint_cavity, paint_eyeball, paint_face

#: How far (mm of sheet) each half of the atlas reaches past the midline.
OVERLAP = 12.0
#: Vertical margin of the face region beyond the mask (mm).
PAD = 3.0
#: The face occupies v in [STRIP, 1]; the strip below holds the inner patches.
STRIP = 0.12
#: Atlas rectangles ``(u0, v0, u1, v1)`` of the inner patches, inside the strip.
PATCH_RECTS: dict[str, tuple[float, float, float, float]] = {
    "mouth": (0.01, 0.006, 0.24, 0.114),
    "eye_left": (0.27, 0.006, 0.61, 0.114),
    "eye_right": (0.64, 0.006, 0.98, 0.114),
}
#: Default atlas size in pixels (square).
DEFAULT_TEXTURE_SIZE = 512


def texture_layout(identity: Identity) -> dict:
    """Where the sheet lands in the atlas; shared by :func:`atlas_uvs` and :func:`paint_texture`."""
    return {
        "half_width": identity.sheet_half_width,
        "overlap": OVERLAP,
        "y0": identity.chin_y - PAD,
        "y1": identity.top_y + PAD,
        "patch_sheet": shapes.inner_rects(identity),
        "patch_rect": dict(PATCH_RECTS),
    }


def face_block_sheet(layout: dict, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where the texels of a ``size``² atlas lie on the sheet.

    Returns the atlas rows of the face block (with two texels of margin below ``STRIP``), the
    sheet ``py`` of each of those rows, and the sheet ``px`` of every column (the left half
    maps to ``x < 0`` plus the overlap, the right half to ``x > 0`` plus the overlap).
    """
    v = 1.0 - (np.arange(size) + 0.5) / size
    rows = np.flatnonzero(v >= STRIP - 2.0 / size)
    py = layout["y0"] + (v[rows] - STRIP) / (1.0 - STRIP) * (layout["y1"] - layout["y0"])
    half, m = layout["half_width"], layout["overlap"]
    u = (np.arange(size) + 0.5) / size
    px = np.where(u < 0.5, u / 0.5 * (half + m) - half, (u - 0.5) / 0.5 * (half + m) - m)
    return rows, py, px


def _face_uv(layout: dict, px: np.ndarray, py: np.ndarray, view: int) -> np.ndarray:
    """UV of sheet points in the left (``view`` 0) or right (1) half of the atlas."""
    half, m = layout["half_width"], layout["overlap"]
    u = 0.5 * (px + half) / (half + m) if view == 0 else 0.5 + 0.5 * (px + m) / (half + m)
    v = STRIP + (1.0 - STRIP) * (py - layout["y0"]) / (layout["y1"] - layout["y0"])
    return np.stack([u, v], axis=-1)


def _patch_uv(layout: dict, name: str, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    x0, y0, x1, y1 = layout["patch_sheet"][name]
    u0, v0, u1, v1 = layout["patch_rect"][name]
    return np.stack(
        [u0 + (px - x0) / (x1 - x0) * (u1 - u0), v0 + (py - y0) / (y1 - y0) * (v1 - v0)], axis=-1
    )


def atlas_uvs(
    identity: Identity,
    sheet: np.ndarray,
    part: np.ndarray,
    polygon_offsets: np.ndarray,
    polygon_indices: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Face-varying UVs: one UV per (vertex, atlas region) actually used by a polygon.

    Each skin polygon goes to the atlas half on its side of the midline, so midline vertices
    are used by both halves and get two UVs; patch polygons use their patch's rectangle.

    Returns:
        ``uv (T, 2)``, ``uv_indices (K,)`` parallel to ``polygon_indices``, and the layout.
    """
    layout = texture_layout(identity)
    arity = np.diff(polygon_offsets)
    poly_of_corner = np.repeat(np.arange(len(arity)), arity)
    centroid_x = np.bincount(poly_of_corner, weights=sheet[polygon_indices, 0]) / arity
    poly_part = part[polygon_indices[polygon_offsets[:-1]]].astype(np.int64)
    # regions: 0 left half, 1 right half, 2 + k inner patch k
    region = np.where(poly_part > 0, 1 + poly_part, np.where(centroid_x < 0.0, 0, 1))
    n_regions = 2 + len(shapes.INNER_PARTS)
    keys = polygon_indices * n_regions + region[poly_of_corner]
    unique_keys, uv_indices = np.unique(keys, return_inverse=True)
    vert, kind = np.divmod(unique_keys, n_regions)
    uv = np.zeros((len(unique_keys), 2))
    for k in range(n_regions):
        sel = kind == k
        px, py = sheet[vert[sel], 0], sheet[vert[sel], 1]
        uv[sel] = (
            _face_uv(layout, px, py, k)
            if k < 2
            else _patch_uv(layout, shapes.INNER_PARTS[k - 2], px, py)
        )
    return uv, uv_indices.astype(np.int64).ravel(), layout


def paint_texture(identity: Identity, size: int = DEFAULT_TEXTURE_SIZE) -> np.ndarray:
    """The ``(size, size, 3)`` uint8 atlas image of ``identity`` (row 0 = top = v 1)."""
    if size < 64:
        raise ValueError(f"texture size {size} too small (at least 64)")
    layout = texture_layout(identity)
    image = np.zeros((size, size, 3))
    face_rows, py_rows, px = face_block_sheet(layout, size)
    half_px = size // 2
    for cols in (np.arange(half_px), np.arange(half_px, size)):
        image[face_rows[0] : face_rows[-1] + 1, cols[0] : cols[-1] + 1] = paint_face(
            identity, px[cols], py_rows
        )
    for name, (u0, v0, u1, v1) in layout["patch_rect"].items():
        x0, y0, x1, y1 = layout["patch_sheet"][name]
        # one texel of margin so bilinear filtering at the patch border stays inside the paint
        c0, c1 = max(int(np.floor(u0 * size)) - 1, 0), min(int(np.ceil(u1 * size)) + 1, size)
        r0, r1 = (
            max(int(np.floor((1 - v1) * size)) - 1, 0),
            min(int(np.ceil((1 - v0) * size)) + 1, size),
        )
        u = (np.arange(c0, c1) + 0.5) / size
        vv = 1.0 - (np.arange(r0, r1) + 0.5) / size
        px = x0 + (u - u0) / (u1 - u0) * (x1 - x0)
        py = y0 + (vv - v0) / (v1 - v0) * (y1 - y0)
        if name == "mouth":
            image[r0:r1, c0:c1] = paint_cavity(identity, px, py)
        else:
            image[r0:r1, c0:c1] = paint_eyeball(identity, -1 if name == "eye_left" else 1, px, py)
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def relight(
    image: np.ndarray,
    identity: Identity,
    rng: np.random.Generator,
    strength: float = 1.0,
    grayscale: bool = False,
) -> np.ndarray:
    """The atlas ``image`` as another capture would have photographed it.

    Real scanner textures are photographs taken with every scan: the exposure, the colour
    temperature and the side the light comes from change between sessions. ``strength`` scales
    the spread of all three (0 returns the image unchanged); ``grayscale`` gives a grey-level
    photograph. Deterministic for a given ``rng`` state.
    """
    if strength <= 0 and not grayscale:
        return image
    size = image.shape[0]
    out = image.astype(np.float64)
    gain, cast = exposure(rng, strength)
    side = float(np.clip(rng.normal(0.0, 0.12 * strength), -0.5, 0.5))
    # signed sheet px of every column (the two atlas halves), normalised to [-1, 1]
    layout = texture_layout(identity)
    _, _, px = face_block_sheet(layout, size)
    light = 1.0 + side * np.clip(px / layout["half_width"], -1.0, 1.0)
    face_rows = (1.0 - (np.arange(size) + 0.5) / size) >= STRIP
    out[face_rows] *= light[None, :, None]
    return developed(out * (gain * cast), grayscale)


def exposure(rng: np.random.Generator, strength: float) -> tuple[float, np.ndarray]:
    """One session's exposure gain and colour cast (per channel), their spreads scaled by
    ``strength``: what changes between photographs of the same skin."""
    gain = float(np.exp(rng.normal(0.0, 0.10 * strength)))
    return gain, np.exp(rng.normal(0.0, 0.035 * strength, 3))


def developed(image: np.ndarray, grayscale: bool = False) -> np.ndarray:
    """A float photograph as uint8 (a grey-level print with ``grayscale``)."""
    if grayscale:
        image = np.repeat(image @ np.array([0.299, 0.587, 0.114]), 3).reshape(image.shape)
    return np.clip(np.round(image), 0, 255).astype(np.uint8)
