"""Which part of a face-forward scan is drawn: the face oval, forehead to chin and ear to ear.

Scanners and databases cut their meshes in different places: a face scanner's crop ends at the
hairline and the jaw (BU-3DFE, Bosphorus, the built-in procedural faces), a head scan shows ears,
skull, neck and shoulders (Kinect captures, FaceScape, ICT-FaceKit's heads). Framing alone puts
the face at the same place and size, but a head still fills the square with skull and ears where
a face crop leaves black background. That outline says which scanner made the scan, not which
expression it shows, and a model trained on one kind of crop reads the other as something else.
So every scan whose pose was estimated is cut to the same face region, as 3D expression work
commonly does (a sphere about the nose tip, or a face mask), and a head and a face crop of the
same face render alike.

The region, in the canonical frame of :mod:`facevlm.render.face_pose` (face box centre at the
origin, face box radius 1, looking along +z, y up):

- an elliptic cylinder along the viewing axis, :data:`HALF_WIDTH` across and :data:`HALF_HEIGHT`
  high about :data:`CENTRE_Y`: ear to ear, hairline to below the chin;
- in front of :data:`BACK_Z`: the face's sides, not the skull behind them;
- inside :data:`MAX_RADIUS`: nothing far out (a spike, debris) is kept.

The sizes are set from the built-in procedural faces (the crop the project was modelled on,
after BU-3DFE): 99% of their vertices lie within 0.70 across, -0.92 to 0.97 high and in front of
-0.45 (``python benchmarks/face_region.py`` prints these extents for both face sources), with a
margin so that a face crop keeps its own outline and an open jaw its chin.
"""

from __future__ import annotations

import numpy as np

HALF_WIDTH = 0.8
HALF_HEIGHT = 1.1
CENTRE_Y = 0.02
BACK_Z = -0.55
MAX_RADIUS = 1.2

#: Everything that decides the region, for the render cache key: a change re-renders.
FACE_REGION = {
    "half_width": HALF_WIDTH,
    "half_height": HALF_HEIGHT,
    "centre_y": CENTRE_Y,
    "back_z": BACK_Z,
    "max_radius": MAX_RADIUS,
}


def in_face_region(points: np.ndarray) -> np.ndarray:
    """Which of ``(N, 3)`` canonical points lie in the face region (module docstring)."""
    points = np.asarray(points, dtype=np.float64)
    x, y, z = points[:, 0], points[:, 1], points[:, 2]
    oval = (x / HALF_WIDTH) ** 2 + ((y - CENTRE_Y) / HALF_HEIGHT) ** 2 <= 1.0
    return oval & (z >= BACK_Z) & (np.einsum("ij,ij->i", points, points) <= MAX_RADIUS**2)
