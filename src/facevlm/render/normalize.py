"""Put every face at the same place and size in the image, whatever its scanner units or crop.

Why: the encoder should see expression, not where the scanner put the head or how far it was.
The choice, and why:

- **Centre**: the middle of a *robust* bounding box, per axis the midpoint of the 1st and 99th
  percentiles of the vertices. A plain bounding box moves with a single spike (real scans have
  them); a vertex mean moves with the scanner's sampling density (denser on the nose and eyes).
  Percentiles ignore up to 1% stray vertices and do not care about density within the face.
- **Scale**: divide by a robust radius, the 99th percentile of the vertices' distances from that
  centre. A radius does not depend on the viewing direction, so every view of a face is drawn at
  the same scale, and no yaw or pitch can push the face out of the frame.
- **Projection**: parallel (orthographic), so depth does not change apparent size and a mesh
  rendered after normalisation is identical whatever its original translation and scale.

After normalisation (:func:`fit_normalization`, then ``.apply``) the face's robust sphere has radius 1 at the origin; the renderer
fixes its camera to show a square of half-side ``1 / fill`` (``fill`` = 0.9 by default, so the
robust sphere spans 90% of the image height).

Everything here is equivariant under translation and uniform scaling, which is what the tests
check: a shifted, scaled copy of a face normalises to the same points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Percentiles of the robust bounding box and of the robust radius.
LOW_PERCENTILE = 1.0
HIGH_PERCENTILE = 99.0


@dataclass(frozen=True)
class Normalization:
    """A similarity transform ``p -> rotation.T @ (p - centre) / radius`` fitted to one face.

    ``rotation`` (columns: the face's right, up and forward axes in the scan's coordinates) is
    the identity for a scan taken as stored; :mod:`.face_pose` sets it from the face it finds.
    """

    centre: np.ndarray  # (3,)
    radius: float
    rotation: np.ndarray | None = None  # (3, 3); None: the identity

    def apply(self, points: np.ndarray) -> np.ndarray:
        """``(N, 3)`` points in the face's normalised frame (float64)."""
        centred = np.asarray(points, dtype=np.float64) - self.centre
        if self.rotation is not None:
            centred = centred @ self.rotation
        return centred / self.radius


def fit_normalization(vertices: np.ndarray) -> Normalization:
    """Fit the robust centre and radius described in the module docstring to ``(V, 3)`` vertices.

    Raises ``ValueError`` for no vertices or a degenerate (zero-size) face.
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    if vertices.ndim != 2 or vertices.shape[1] != 3 or len(vertices) == 0:
        raise ValueError(f"expected (V, 3) vertices with V > 0, got shape {vertices.shape}")
    low, high = np.percentile(vertices, [LOW_PERCENTILE, HIGH_PERCENTILE], axis=0)
    centre = (low + high) / 2.0
    offsets = vertices - centre
    distances = np.sqrt(np.einsum("ij,ij->i", offsets, offsets))  # 3x faster than linalg.norm
    radius = float(np.percentile(distances, HIGH_PERCENTILE))
    if not np.isfinite(radius) or radius <= 0.0:
        raise ValueError(f"degenerate face: robust radius {radius}")
    return Normalization(centre=centre, radius=radius)
