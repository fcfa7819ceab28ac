"""What a scan shows through the face's openings: the mouth's inside and the eyes.

Why: the two face sources of the synthetic set showed these two different ways, and a model
trained on one learnt that way rather than the face's shape. The procedural faces have a mouth
cavity with teeth behind the lips, which a shaded render draws in the same grey as the skin, and
flat eyeball patches just behind the lids; ICT-FaceKit's head has no mouth interior, so the same
open mouth is a black hole, and round eyeballs. Real scanners do all of it: a structured-light
scan often loses the mouth's inside and the eyes (glints, dark irises) and leaves holes, and
often catches the teeth and the eyes' surface. Giving every face source each of these at random
leaves the outline of the lips and the lids as what tells an expression.

Generators list the vertices of these parts in the mesh's metadata (:data:`MOUTH_INTERIOR_KEY`,
:data:`EYE_SURFACE_KEY`); :func:`listed_mask` names them, for the scanner variety to remove.
:func:`with_mouth_back_wall` adds a mouth interior where a mesh has none: a curved plate over
the mouth's extent, at least :data:`BACK_WALL_DEPTH_MM` behind the face's surface everywhere,
facing forward, coloured like the inner lips. Landmarks are the 83 of BU-3DFE (eyes 0-15, nose
36-47, outer mouth 48-59, inner mouth 60-67), in millimetres.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.spatial import cKDTree

from facevlm.scans.mesh import FaceMesh

#: Metadata keys under which a generator lists the vertices of its mouth interior (cavity and
#: teeth) and of the eyes' surface (the eyeballs).
MOUTH_INTERIOR_KEY = "mouth_interior_indices"
EYE_SURFACE_KEY = "eye_surface_indices"
#: The BU-3DFE landmark groups this module reads.
MOUTH = slice(48, 68)
INNER_MOUTH = slice(60, 68)
LEFT_CORNER, RIGHT_CORNER = 48, 54  # the outer mouth's image-left and image-right corners
EYES = slice(0, 16)
NOSE = slice(36, 48)
#: How far behind the face's surface the plate lies (mm): about where the teeth are, and the
#: procedural generator's cavity depth.
BACK_WALL_DEPTH_MM = 12.0
#: The plate's extent beyond the mouth landmarks, in mouth half-widths: past the corners (seen
#: through a stretched mouth's corners there must be plate, not background) and below the lower
#: lip (the jaw drops).
BACK_WALL_MARGIN = (0.35, 0.45, 0.6)  # sideways, above, below
#: Grid of the plate (columns, rows) and the radius (mm) within which the face's surface is
#: looked for above each grid point.
BACK_WALL_GRID = (9, 7)
SURFACE_SEARCH_MM = 5.0
#: How much darker than the inner lips the plate is painted (a mouth's inside is in shadow).
BACK_WALL_SHADE = 0.45


def listed_mask(mesh: FaceMesh, key: str) -> np.ndarray:
    """``(V,)`` True for the vertices the generator listed under ``key`` in ``mesh.metadata``."""
    mask = np.zeros(mesh.n_vertices, dtype=bool)
    mask[np.asarray(mesh.metadata.get(key, ()), dtype=np.int64)] = True
    return mask


def mouth_frame(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mouth's centre and a right-handed frame ``(3, 3)`` (rows: towards the image-right
    mouth corner, up towards the eyes, forward towards the nose tip) from the 83 landmarks."""
    centre = landmarks[MOUTH].mean(axis=0)
    x = landmarks[RIGHT_CORNER] - landmarks[LEFT_CORNER]
    x /= np.linalg.norm(x)
    up = landmarks[EYES].mean(axis=0) - centre
    y = up - (up @ x) * x
    y /= np.linalg.norm(y)
    z = np.cross(x, y)
    if (landmarks[NOSE].mean(axis=0) - centre) @ z < 0:
        # a mirrored face (corners numbered the other way round): keep the frame right-handed
        x, z = -x, -z
    return centre, np.stack([x, y, z])


def with_mouth_back_wall(mesh: FaceMesh) -> FaceMesh:
    """``mesh`` with a plate behind its lips (see the module docstring); unchanged when it has
    a listed interior already or lacks BU-3DFE's mouth landmarks to place the plate by."""
    if (
        listed_mask(mesh, MOUTH_INTERIOR_KEY).any()
        or mesh.landmarks is None
        or len(mesh.landmarks) < MOUTH.stop
    ):
        return mesh
    centre, frame = mouth_frame(mesh.landmarks)
    local_mouth = (mesh.landmarks[MOUTH] - centre) @ frame.T
    local_inner_lips = (mesh.landmarks[INNER_MOUTH] - centre) @ frame.T
    half_width = 0.5 * np.ptp(local_mouth[:, 0])
    side, above, below = (m * half_width for m in BACK_WALL_MARGIN)
    columns, rows = BACK_WALL_GRID
    gx = np.linspace(local_mouth[:, 0].min() - side, local_mouth[:, 0].max() + side, columns)
    gy = np.linspace(local_mouth[:, 1].min() - below, local_mouth[:, 1].max() + above, rows)
    grid = np.stack(np.meshgrid(gx, gy), axis=-1).reshape(-1, 2)

    used = np.unique(mesh.polygon_indices)
    local = (mesh.vertices[used] - centre) @ frame.T
    # the face's surface above each grid point: the front-most vertex near it (of the front of
    # the mesh: for a whole head, the face, not the back of the skull); inside the opening,
    # where there is none, the deepest point of the opening's rim
    front = local[local[:, 2] > local_mouth[:, 2].min() - 2 * BACK_WALL_DEPTH_MM]
    tree = cKDTree(front[:, :2])
    depth = np.full(len(grid), local_inner_lips[:, 2].min())
    for k, near in enumerate(tree.query_ball_point(grid, SURFACE_SEARCH_MM)):
        if near:
            depth[k] = front[near, 2].max()
    # a smooth plate (the face's sideways curve and its tilt), moved back until it is behind
    # every point's limit: a plate that followed each point would be creased
    limit = depth - BACK_WALL_DEPTH_MM
    design = np.column_stack([np.ones(len(grid)), grid[:, 0], grid[:, 0] ** 2, grid[:, 1]])
    smooth = design @ np.linalg.lstsq(design, limit, rcond=None)[0]
    wall_local = np.column_stack([grid, smooth - (smooth - limit).max()])
    wall = wall_local @ frame + centre

    n = mesh.n_vertices
    r, c = np.meshgrid(np.arange(rows - 1), np.arange(columns - 1), indexing="ij")
    corner = (r * columns + c).ravel()
    # counter-clockwise seen from the front (+z of the frame): the plate faces the camera
    quads = n + np.stack([corner, corner + 1, corner + 1 + columns, corner + columns], axis=1)
    offsets = np.concatenate(
        [mesh.polygon_offsets, mesh.polygon_offsets[-1] + 4 * np.arange(1, len(quads) + 1)]
    ).astype(np.int64)
    indices = np.concatenate([mesh.polygon_indices, quads.ravel()]).astype(np.int64)

    inner_lip = _inner_lip_vertex(mesh, used)
    uv, uv_indices, colours = mesh.uv, mesh.uv_indices, mesh.vertex_colors
    if uv is not None and uv_indices is not None:
        # every corner of the plate samples the texture where the inner lip is painted
        corner_of_lip = int(np.flatnonzero(mesh.polygon_indices == inner_lip)[0])
        uv_indices = np.concatenate(
            [uv_indices, np.full(quads.size, uv_indices[corner_of_lip], dtype=np.int64)]
        )
    elif uv is not None:
        uv = np.concatenate([uv, np.repeat(uv[inner_lip][None], len(wall), axis=0)])
    if colours is not None:
        shade = np.round(colours[inner_lip].astype(np.float64) * BACK_WALL_SHADE)
        colours = np.concatenate([colours, np.repeat(shade[None], len(wall), 0).astype(np.uint8)])
    return dataclasses.replace(
        mesh,
        vertices=np.concatenate([mesh.vertices, wall]),
        polygon_offsets=offsets,
        polygon_indices=indices,
        uv=uv,
        uv_indices=uv_indices,
        vertex_colors=colours,
    )


def _inner_lip_vertex(mesh: FaceMesh, used: np.ndarray) -> int:
    """Of the ``used`` vertices, the one on the inner lip nearest the inner-mouth landmarks'
    centre."""
    target = mesh.landmarks[INNER_MOUTH].mean(axis=0)
    return int(used[np.argmin(np.linalg.norm(mesh.vertices[used] - target, axis=1))])
