"""How the packed asset (``assets/ict_facekit_compact.npz``) was made from the upstream
``ict_facekit_light.npz``: which vertices, polygons, identity modes and expression shapes are
kept, and the texture coordinates repacked into one square atlas (:data:`ATLAS_RECTS`).

Separate because it runs once, offline, on the upstream files; loading and using the packed
model (:mod:`.model`) never needs it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facevlm.synthetic.ict_facekit.model import (
    EYE_OUTER_SHELL_VERTICES,
    EYEBALL_VERTICES,
    HEAD_END,
    N_IDENTITY_MODES,
    NARROW_FACE_END,
)

#: Upstream vertex ranges kept in the asset: face, head and neck; left and right eyeballs.
KEPT_VERTICES = ((0, 11248), (21451, 24591))
#: Upstream polygon ranges of the same parts.
KEPT_POLYGONS = ((0, 11144), (21496, 24692))
#: Upstream shapes left out: gaze, pupils and sideways jaw or mouth moves are not expressions.
DROPPED_SHAPE_PREFIXES = (
    "Pupil",
    "eyeLook",
    "jawLeft",
    "jawRight",
    "jawForward",
    "mouthLeft",
    "mouthRight",
    "cheekPuff",
    "mouthClose",
)

#: Where each part's texture coordinates land in the packed atlas, as ``(u0, v0, u1, v1)``
#: (v from the bottom). Upstream, the UVs are tiles that overlap: the face in u 0-1, the back
#: of the head and neck in u 1-2, and all four eyeball shells across u 0-1 again, on top of
#: the face. One image needs every surface on texels of its own, so each tile is scaled into
#: its own rectangle (the face largest; the head tile squeezed, since it holds no features):
#:
#:     v 1 +--------------+------+
#:         |              |eye+x |   eye+x / eye-x: the eyeball at +x / -x,
#:         |     face     +------+   outer (visible) and inner (hidden) shell
#:         |  (u 0-1)     |eye-x |
#:         |              +------+
#:         |              |in +x |
#:    0.25 +--------------+------+
#:         | head (u 1-2) |in -x |
#:     v 0 +--------------+------+
#:         0            0.75     1
ATLAS_RECTS: dict[str, tuple[float, float, float, float]] = {
    "face": (0.0, 0.25, 0.75, 1.0),
    "head": (0.0, 0.0, 0.75, 0.25),
    "eye_px_outer": (0.75, 0.75, 1.0, 1.0),
    "eye_nx_outer": (0.75, 0.5, 1.0, 0.75),
    "eye_px_inner": (0.75, 0.25, 1.0, 0.5),
    "eye_nx_inner": (0.75, 0.0, 1.0, 0.25),
}
#: Gap kept between a tile and its rectangle's edge (UV units: 2 texels at 256 px), so that
#: bilinear sampling at a tile's border never reaches the next tile's paint.
ATLAS_MARGIN = 1.0 / 128.0


def derive_compact(upstream: str | Path, target: str | Path) -> None:
    """Write the packed asset from the upstream ``ict_facekit_light.npz`` and the
    ``vertex_indices.json`` beside it (its 68 landmark vertices): how ASSET was made.

    The kept polygons' texture coordinates are repacked into one atlas
    (:func:`_atlas_uvs`) and renumbered to those the kept polygons use; float32, as upstream
    (float16 would move a UV by up to a quarter texel of a 1024-pixel atlas).
    """
    import json

    indices = json.loads((Path(upstream).parent / "vertex_indices.json").read_text())
    landmarks = np.asarray(indices["idx_to_landmark_verts"], dtype=np.int64)
    if landmarks.shape != (68,) or landmarks.max() >= NARROW_FACE_END:
        raise ValueError("expected 68 landmark vertices inside the narrow face area")
    with np.load(upstream) as source:
        names = [str(n) for n in source["expression_names"]]
        vertices = np.concatenate([np.arange(a, b) for a, b in KEPT_VERTICES])
        kept_polygons = np.concatenate([np.arange(a, b) for a, b in KEPT_POLYGONS])
        polygons = source["faces"][kept_polygons]
        remap = np.full(len(source["neutral"]), -1, dtype=np.int64)
        remap[vertices] = np.arange(len(vertices))
        if (remap[polygons] < 0).any():
            raise ValueError("a kept polygon uses a vertex outside the kept parts")
        uv, polygon_uv = _atlas_uvs(source["uv"], source["face_uv"][kept_polygons], remap[polygons])
        kept = [i for i, n in enumerate(names) if not n.startswith(DROPPED_SHAPE_PREFIXES)]
        np.savez_compressed(
            target,
            neutral=source["neutral"][vertices].astype(np.float32),
            identity=source["identity"][:N_IDENTITY_MODES][:, vertices].astype(np.float16),
            expression=source["expression"][kept][:, vertices].astype(np.float16),
            expression_names=np.array([names[i] for i in kept]),
            faces=remap[polygons].astype(np.int32),
            landmarks=landmarks.astype(np.int32),  # face vertices keep their upstream index
            uv=uv.astype(np.float32),
            face_uv=polygon_uv.astype(np.int32),
        )


def _atlas_uvs(
    uv: np.ndarray, polygon_uv: np.ndarray, polygons: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Upstream ``uv`` and the kept polygons' ``polygon_uv`` (``(P, 4)``) as UVs of the packed
    atlas: each polygon's tile (face or head by its UV's whole part; an eyeball shell by its
    asset vertex indices ``polygons``) scaled into its :data:`ATLAS_RECTS` rectangle, less
    :data:`ATLAS_MARGIN`. A UV that two tiles share becomes one UV per tile; the UVs no kept
    polygon uses are dropped. Returns ``(T, 2)`` UVs and ``(P, 4)`` indices into them."""
    uv = np.asarray(uv, dtype=np.float64)
    corners = uv[polygon_uv]  # (P, 4, 2)
    tile = np.floor(corners[:, :, 0].mean(axis=1)).astype(np.int64)
    eyeball = polygons[:, 0] >= HEAD_END
    if (tile[~eyeball] < 0).any() or (tile[~eyeball] > 1).any():
        raise ValueError("a face or head polygon's UVs lie outside the tiles u 0-1 and 1-2")
    local = polygons[:, 0] - HEAD_END
    which_eye = local // EYEBALL_VERTICES  # 0: the first eyeball (+x), 1: the second
    inner = local % EYEBALL_VERTICES >= EYE_OUTER_SHELL_VERTICES
    shell_of_corner = (polygons - HEAD_END) % EYEBALL_VERTICES >= EYE_OUTER_SHELL_VERTICES
    if (shell_of_corner[eyeball] != inner[eyeball, None]).any():
        raise ValueError("an eyeball polygon joins its two shells")
    # group numbers follow ATLAS_RECTS: face, head, eye+x outer, eye-x outer, eye+x inner, ...
    names = list(ATLAS_RECTS)
    group = np.where(eyeball, 2 + which_eye + 2 * inner, tile)
    keys = group[:, None] * len(uv) + polygon_uv
    unique_keys, inverse = np.unique(keys, return_inverse=True)
    key_group, key_uv = np.divmod(unique_keys, len(uv))
    packed = np.empty((len(unique_keys), 2))
    for g, name in enumerate(names):
        u0, v0, u1, v1 = ATLAS_RECTS[name]
        select = key_group == g
        origin = np.array([float(g == 1), 0.0])  # the head tile starts at u = 1
        local_uv = np.clip(uv[key_uv[select]] - origin, 0.0, 1.0)
        low = np.array([u0, v0]) + ATLAS_MARGIN
        high = np.array([u1, v1]) - ATLAS_MARGIN
        packed[select] = low + local_uv * (high - low)
    return packed, inverse.reshape(polygon_uv.shape)
