"""One subject's plain paint of an ICT face: per vertex (:func:`paint_vertex_colours`) or as a
texture atlas (:func:`paint_texture_atlas`), both from one function of the 3D surface, so that
the same draws give the same face either way.

Separate because the model's geometry does not depend on it: a face is painted only where a
layout writes colour or a texture, and the atlas' rasterisation is its own piece of work.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from facevlm.render.arrays import area_weighted_normals
from facevlm.synthetic.ict_facekit.model import (
    EYEBALL_VERTICES,
    HEAD_END,
    IctFaceModel,
    _split_quads,
    quad_triangles,
)

#: Skin tones (RGB) a painted face is drawn from, light to dark.
SKIN_TONES = np.array(
    [[236, 200, 178], [224, 172, 140], [198, 140, 104], [160, 106, 74], [112, 72, 50]],
    dtype=np.float64,
)


#: Width (mm) of the soft edge of the lips and brows: a paint boundary, not a jagged step.
PAINT_EDGE = 1.5
#: Texture atlas sizes :func:`paint_texture_atlas` accepts.
MIN_ATLAS_SIZE, MAX_ATLAS_SIZE = 64, 4096


@dataclass(frozen=True)
class _Paint:
    """One subject's paint, drawn once and applied to any set of surface points: the same
    draws give the same face whether it is painted per vertex or per texel."""

    tone: np.ndarray  # (3,) RGB skin tone
    blotches: tuple[tuple[np.ndarray, float], ...]  # (unit direction, phase) per cosine
    brow_darkness: float  # brow colour as a fraction of the skin's
    light: np.ndarray  # (3,) unit direction toward the key light
    iris: np.ndarray  # (3,) RGB
    landmarks: np.ndarray  # (68, 3) mm, where the lips and brows are
    eye_front: tuple[float, float]  # z (mm) of the front of the eyeball at +x and at -x


def _draw_paint(model: IctFaceModel, vertices: np.ndarray, rng: np.random.Generator) -> _Paint:
    tone = SKIN_TONES[rng.integers(len(SKIN_TONES))] * rng.uniform(0.92, 1.05, size=3)
    blotches = []
    for _ in range(3):
        direction = rng.standard_normal(3)
        blotches.append((direction / np.linalg.norm(direction), float(rng.uniform(0, 2 * np.pi))))
    brow_darkness = float(rng.uniform(0.35, 0.6))
    # the light of the capture, baked in as a photograph holds it: one soft key light from
    # above the camera, drawn per scan, and an ambient part
    light = np.array([rng.uniform(-0.4, 0.4), rng.uniform(0.1, 0.6), 1.0])
    iris = rng.uniform(30, 110) * np.array([1.0, 0.8, 0.6])
    eyes = vertices[HEAD_END:]
    return _Paint(
        tone=tone,
        blotches=tuple(blotches),
        brow_darkness=brow_darkness,
        light=light / np.linalg.norm(light),
        iris=iris,
        landmarks=vertices[model.landmarks],
        eye_front=(
            float(eyes[:EYEBALL_VERTICES, 2].max()),
            float(eyes[EYEBALL_VERTICES:, 2].max()),
        ),
    )


def _paint_points(
    paint: _Paint, points: np.ndarray, normals: np.ndarray, part: np.ndarray
) -> np.ndarray:
    """``(N, 3)`` float RGB of surface ``points`` (mm) with unit ``normals``; ``part`` says
    what each point is on: 0 skin, 1 the eyeball at +x, 2 the eyeball at -x.

    The paint is a function of where a point is in 3D, never of which vertex or texel holds
    it: skin in the subject's tone with slow blotches, redder lips round the lip landmarks,
    darker brows along the brow landmarks, white eyeballs whose front cap is the iris, and a
    key light from the point's normal.
    """
    colours = np.tile(paint.tone, (len(points), 1))
    # slow blotches: a few random cosines over the surface, +-6% brightness
    for direction, phase in paint.blotches:
        colours *= 1.0 + 0.02 * np.cos(points @ direction / 25.0 + phase)[:, None]
    skin = np.flatnonzero(part == 0)
    marks = paint.landmarks
    lips = _soft_near(points[skin], marks[48:60], 4.5, closed=True)[:, None]
    lip_colour = colours[skin] * [0.82, 0.55, 0.55] + [30, 5, 10]
    colours[skin] = colours[skin] * (1.0 - lips) + lip_colour * lips
    brows = np.maximum(
        _soft_near(points[skin], marks[17:22], 5.0), _soft_near(points[skin], marks[22:27], 5.0)
    )
    colours[skin] *= (1.0 - brows * (1.0 - paint.brow_darkness))[:, None]
    eyes = part > 0
    colours[eyes] = [235, 232, 225]
    lambert = np.clip(normals @ paint.light, 0.0, 1.0)
    colours *= (0.45 + 0.6 * lambert)[:, None]
    for eye, front in enumerate(paint.eye_front, start=1):
        on_eye = np.flatnonzero(part == eye)
        iris = points[on_eye, 2] > front - 2.5  # the front cap, toward +z
        colours[on_eye[iris]] = paint.iris
    return colours


def _vertex_parts(n_vertices: int) -> np.ndarray:
    """Per asset vertex, what :func:`_paint_points` calls its part (0 skin, 1 and 2 eyes)."""
    part = np.zeros(n_vertices, dtype=np.int64)
    part[HEAD_END : HEAD_END + EYEBALL_VERTICES] = 1
    part[HEAD_END + EYEBALL_VERTICES :] = 2
    return part


def paint_vertex_colours(
    model: IctFaceModel, vertices: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """``(V, 3)`` uint8 per-vertex colours of a plain painted face: a skin tone, redder lips,
    darker brows, white eyeballs with a dark iris, and low-frequency blotches.

    Why a plain paint: the upstream model's textures are not part of the light release, and
    the point is a face of another source in the colours a model trained on textured scans
    expects, not a photograph (no pores, no make-up). Vertex colours suit sources that export
    colour per vertex (depth cameras, many scanners), which the ``texture`` modality renders;
    :func:`paint_texture_atlas` paints the same face, for the same ``rng`` state, as an image.
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    paint = _draw_paint(model, vertices, rng)
    normals = area_weighted_normals(vertices, quad_triangles(model.polygons))
    colours = _paint_points(paint, vertices, normals, _vertex_parts(len(vertices)))
    return np.clip(colours, 0, 255).astype(np.uint8)


def paint_texture_atlas(
    model: IctFaceModel, vertices: np.ndarray, rng: np.random.Generator, size: int = 256
) -> np.ndarray:
    """``(size, size, 3)`` uint8 texture atlas (row 0 at the top = v 1) of the face with
    ``vertices``, for the UVs of :meth:`IctFaceModel.mesh` with ``textured=True``.

    The same face as :func:`paint_vertex_colours` paints for the same ``rng`` state, painted
    per texel: every texel inside a UV triangle takes the 3D point and the interpolated normal
    under it, and is painted there, so the paint does not depend on the atlas layout and a
    seam shows the same skin on both sides. Texels outside every triangle take the colour of
    the nearest painted texel, so that bilinear sampling and mipmaps at a seam blend skin with
    skin rather than with black.
    """
    size = int(size)
    if not MIN_ATLAS_SIZE <= size <= MAX_ATLAS_SIZE:
        raise ValueError(f"atlas size {size} not in {MIN_ATLAS_SIZE}..{MAX_ATLAS_SIZE}")
    vertices = np.asarray(vertices, dtype=np.float64)
    if vertices.shape != model.neutral.shape:
        raise ValueError(f"vertices must be {model.neutral.shape}, got {vertices.shape}")
    paint = _draw_paint(model, vertices, rng)
    triangles, texel, triangle, weights, nearest = _atlas_texels(model, size)
    corners = triangles[triangle]  # (N, 3) vertices of the triangle under each texel
    points = np.einsum("nk,nkd->nd", weights, vertices[corners])
    vertex_normals = area_weighted_normals(vertices, triangles)
    normals = np.einsum("nk,nkd->nd", weights, vertex_normals[corners])
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    normals = np.divide(normals, length, out=np.zeros_like(normals), where=length > 0)
    part = _vertex_parts(len(vertices))[corners[:, 0]]
    colours = np.clip(_paint_points(paint, points, normals, part), 0, 255)

    image = np.zeros((size * size, 3))
    image[texel] = colours
    image = image.reshape(size, size, 3)[nearest[0], nearest[1]]
    return np.round(image).astype(np.uint8)


def _atlas_texels(model: IctFaceModel, size: int) -> tuple[np.ndarray, ...]:
    """What a ``size``-pixel atlas needs of the topology, worked out once per model and size
    (a subject's every scan repaints it): the triangles, the painted texels with the triangle
    and barycentric weights under each, and for every texel the painted texel nearest to it."""
    key = ("atlas", size)
    if key not in model.cache:
        triangles, uv_triangles = _split_quads(model.polygons, model.polygon_uv)
        texel, triangle, weights = _rasterise_uv(model.uv, uv_triangles, size)
        painted = np.zeros(size * size, dtype=bool)
        painted[texel] = True
        nearest = ndimage.distance_transform_edt(
            ~painted.reshape(size, size), return_distances=False, return_indices=True
        )
        model.cache[key] = (triangles, texel, triangle, weights, nearest)
    return model.cache[key]


def _rasterise_uv(
    uv: np.ndarray, uv_triangles: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The texels of a ``size``-pixel square atlas whose centres lie inside a UV triangle.

    Returns the flat texel indices (row 0 at the top, v from the bottom), the triangle that
    covers each, and its ``(N, 3)`` barycentric weights. A texel on an edge shared by two
    triangles is given to the later one; both give the same point.
    """
    # texel (row r, column c) has its centre at x = c, y = r in these coordinates
    x = np.asarray(uv[:, 0], np.float64) * size - 0.5
    y = (1.0 - np.asarray(uv[:, 1], np.float64)) * size - 0.5
    tx, ty = x[uv_triangles], y[uv_triangles]  # (F, 3)
    c0 = np.maximum(np.ceil(tx.min(axis=1)), 0).astype(np.int64)
    c1 = np.minimum(np.floor(tx.max(axis=1)), size - 1).astype(np.int64)
    r0 = np.maximum(np.ceil(ty.min(axis=1)), 0).astype(np.int64)
    r1 = np.minimum(np.floor(ty.max(axis=1)), size - 1).astype(np.int64)
    width = np.maximum(c1 - c0 + 1, 0)
    count = width * np.maximum(r1 - r0 + 1, 0)
    triangle = np.repeat(np.arange(len(uv_triangles)), count)
    offset = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    col = c0[triangle] + offset % width[triangle]
    row = r0[triangle] + offset // width[triangle]
    ax, bx, cx = (tx[triangle, k] for k in range(3))
    ay, by, cy = (ty[triangle, k] for k in range(3))
    det = (by - cy) * (ax - cx) + (cx - bx) * (ay - cy)
    flat = np.abs(det) < 1e-12
    det = np.where(flat, 1.0, det)
    w0 = ((by - cy) * (col - cx) + (cx - bx) * (row - cy)) / det
    w1 = ((cy - ay) * (col - cx) + (ax - cx) * (row - cy)) / det
    w2 = 1.0 - w0 - w1
    eps = -1e-9
    inside = ~flat & (w0 >= eps) & (w1 >= eps) & (w2 >= eps)
    texel = (row * size + col)[inside]
    weights = np.stack([w0, w1, w2], axis=1)[inside]
    triangle = triangle[inside]
    # one triangle per texel: the last one listed
    last = len(texel) - 1 - np.unique(texel[::-1], return_index=True)[1]
    return texel[last], triangle[last], np.clip(weights[last], 0.0, 1.0)


def _soft_near(
    points: np.ndarray, polyline: np.ndarray, radius: float, closed: bool = False
) -> np.ndarray:
    """How much each point is within ``radius`` mm of the polyline through ``polyline``'s
    points (``closed``: back to the first point, as round the lips): 1 inside, 0 outside,
    a linear ramp :data:`PAINT_EDGE` mm wide across the boundary."""
    weight = np.zeros(len(points))
    reach = radius + PAINT_EDGE / 2.0  # only points in the polyline's box so grown can count
    box = (points >= polyline.min(axis=0) - reach) & (points <= polyline.max(axis=0) + reach)
    near = np.flatnonzero(box.all(axis=1))
    starts = polyline if closed else polyline[:-1]
    ends = np.roll(polyline, -1, axis=0) if closed else polyline[1:]
    segment = ends - starts
    t = np.einsum("pkd,kd->pk", points[near, None, :] - starts[None], segment)
    t = np.clip(t / np.maximum(np.einsum("kd,kd->k", segment, segment), 1e-9), 0.0, 1.0)
    closest = starts[None] + t[..., None] * segment[None]
    distance = np.linalg.norm(points[near, None, :] - closest, axis=-1).min(axis=1)
    weight[near] = np.clip((radius - distance) / PAINT_EDGE + 0.5, 0.0, 1.0)
    return weight
