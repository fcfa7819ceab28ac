"""The studio light of the capture, baked into a scan's texture photograph.

Why: a real scanner's texture is a photograph of the face *as it was during that capture*,
taken under the scanner's flash lights. Every fold, furrow and bulge of the expression is in it
as shading: the nasolabial folds of a smile, the furrows between lowered brows, the wrinkled
skin over the nose of disgust. Our painted atlas is the subject's skin only (the same for every
scan of a person), and the renderer shows textures unlit (the photo already holds the light).
Without this step the geometry's creases were invisible in the default ``texture`` renders:
the models saw the expression only through where the painted features moved, and the
``shaded`` modality (geometry only, lit) recognised expressions far better than ``texture``.

How: per scan, the skin's vertex normals under two soft flash lights (left and right of the
camera, a little above, as the two texture cameras of a 3dMD-style scanner have) give a
shading factor per vertex, normalised so that skin facing the camera keeps its painted colour.
The factor is interpolated over the atlas texels of the face through the sheet coordinates
(the atlas is a function of them, :mod:`facevlm.synthetic.procedural.texture`), and the atlas is
multiplied by it. The texel-to-vertex weights depend only on the head and are memoised in
``head.cache``. The inner patches (mouth cavity, eyeballs) keep their paint.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import Delaunay

from facevlm.render.arrays import triangle_normals
from facevlm.synthetic.procedural.head import SyntheticHead
from facevlm.synthetic.procedural.texture import face_block_sheet

#: Unit directions towards the capture's lights (x right, y up, z towards the camera).
CAPTURE_LIGHTS = np.array(
    [
        [np.sin(np.radians(-35.0)), np.sin(np.radians(12.0)), np.cos(np.radians(-35.0))],
        [np.sin(np.radians(35.0)), np.sin(np.radians(12.0)), np.cos(np.radians(35.0))],
    ]
)
CAPTURE_LIGHTS = CAPTURE_LIGHTS / np.linalg.norm(CAPTURE_LIGHTS, axis=1, keepdims=True)
#: Share of the light that reaches every surface whatever its normal (the studio's bounce).
AMBIENT = 0.35


def vertex_normals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Area-weighted unit normals ``(V, 3)`` of ``vertices`` over ``triangles`` ``(T, 3)``.

    Vertices on no triangle get ``(0, 0, 1)`` (facing the camera).

    Not :func:`~facevlm.render.arrays.area_weighted_normals`, although they agree to within
    the last bit: here the triangles' normals are summed corner by corner (every triangle's
    first corner, then its second, then its third) rather than triangle by triangle, float sums
    depend on their order, and a vertex on no triangle faces the camera rather than being zero.
    The synthetic set's textures are baked from these normals, and a last-bit change in one can
    tip a texel's rounding, so the set's bytes rest on this order.
    """
    face = triangle_normals(vertices, triangles)  # length = 2 x area: larger triangles weigh more
    normals = np.zeros_like(vertices, dtype=np.float64)
    for k in range(3):
        np.add.at(normals, triangles[:, k], face)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    flat = length[:, 0] < 1e-12
    normals[flat] = (0.0, 0.0, 1.0)
    length[flat] = 1.0
    return normals / length


def capture_shading(normals: np.ndarray, strength: float = 1.0) -> np.ndarray:
    """Per-vertex factor of the capture light: 1 for skin facing the camera, less elsewhere.

    ``strength`` blends between no baked light (0) and the full studio light (1).
    """
    lambert = np.clip(normals @ CAPTURE_LIGHTS.T, 0.0, None).mean(axis=1)
    facing = float(CAPTURE_LIGHTS[:, 2].mean())
    lit = (AMBIENT + (1.0 - AMBIENT) * lambert) / (AMBIENT + (1.0 - AMBIENT) * facing)
    return 1.0 + strength * (lit - 1.0)


def _skin_triangles(head: SyntheticHead) -> np.ndarray:
    """The triangles of the face surface (not the cavity or eyeball patches), memoised."""
    if "skin_triangles" not in head.cache:
        tris = head.mesh.triangles()
        head.cache["skin_triangles"] = tris[head.skin[tris].all(axis=1)]
    return head.cache["skin_triangles"]


def _face_texel_weights(head: SyntheticHead, size: int) -> dict:
    """Which skin vertices (and with what barycentric weights) each face texel lies between."""
    key = ("photo_shading_weights", size)
    if key in head.cache:
        return head.cache[key]
    rows, py, px = face_block_sheet(head.texture_layout, size)
    grid_y, grid_x = np.meshgrid(py, px, indexing="ij")
    points = np.stack([grid_x.ravel(), grid_y.ravel()], axis=1)
    skin = np.flatnonzero(head.skin)
    # the slit row's lower-lip copies share their sheet point with the upper lip: keep one
    sheet, first = np.unique(head.sheet[skin], axis=0, return_index=True)
    vertex_ids = skin[first]
    triangulation = Delaunay(sheet)
    simplex = triangulation.find_simplex(points)
    inside = simplex >= 0
    transform = triangulation.transform[simplex[inside]]
    bary = np.einsum("nij,nj->ni", transform[:, :2], points[inside] - transform[:, 2])
    weights = np.concatenate([bary, 1.0 - bary.sum(axis=1, keepdims=True)], axis=1)
    record = {
        "rows": rows,
        "texels": np.flatnonzero(inside),  # flat index into the (len(rows), size) face block
        "vertices": vertex_ids[triangulation.simplices[simplex[inside]]],
        "weights": weights,
    }
    head.cache[key] = record
    return record


def bake_capture_light(
    atlas: np.ndarray, head: SyntheticHead, vertices: np.ndarray, strength: float = 1.0
) -> np.ndarray:
    """``atlas`` as photographed on the face shaped by ``vertices`` (same head, any pose).

    ``vertices`` are the scan's own (expression applied, before or after the capture's pose:
    the lights are fixed to the scanner, the head turns a few degrees in them). Returns a new
    uint8 atlas; ``strength`` 0 returns ``atlas`` unchanged.
    """
    if strength <= 0:
        return atlas
    size = atlas.shape[0]
    normals = vertex_normals(np.asarray(vertices, dtype=np.float64), _skin_triangles(head))
    shade = capture_shading(normals, strength)
    texel = _face_texel_weights(head, size)
    factor = np.ones(len(texel["rows"]) * size)
    factor[texel["texels"]] = (shade[texel["vertices"]] * texel["weights"]).sum(axis=1)
    out = atlas.astype(np.float64)
    out[texel["rows"]] *= factor.reshape(len(texel["rows"]), size)[..., None]
    return np.clip(np.round(out), 0, 255).astype(np.uint8)
