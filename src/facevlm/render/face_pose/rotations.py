"""Rotation helpers of the face pose estimate: the starting rotations spread over all
orientations, rotation matrices from quaternions and rotation vectors, a pitch, and the angle
between two rotations.

Separate because they are plain geometry, with no notion of a face or a scan: the registration
builds on them, and the tests, benchmarks and pose fixtures use them on their own.
"""

from __future__ import annotations

import numpy as np

#: Starting rotations, uniform over all orientations.
N_ROTATIONS = 120


def rotation_starts(n: int = N_ROTATIONS) -> np.ndarray:
    """``(n, 3, 3)`` rotations spread uniformly over all orientations (super-Fibonacci spiral,
    Alexa 2022): deterministic, and no orientation is far from one of them."""
    phi, psi = np.sqrt(2.0), 1.533751168755204288118041
    s = np.arange(n) + 0.5
    r, big_r = np.sqrt(s / n), np.sqrt(1.0 - s / n)
    alpha, beta = 2 * np.pi * s / phi, 2 * np.pi * s / psi
    q = np.stack([r * np.sin(alpha), r * np.cos(alpha), big_r * np.sin(beta), big_r * np.cos(beta)])
    return _quaternion_matrices(q.T)


def _quaternion_matrices(q: np.ndarray) -> np.ndarray:
    x, y, z, w = (q / np.linalg.norm(q, axis=1, keepdims=True)).T
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
            np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
            np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1),
        ],
        axis=1,
    )


def _rotation_vectors(w: np.ndarray) -> np.ndarray:
    """``(B, 3, 3)`` rotation matrices of ``(B, 3)`` rotation vectors (Rodrigues)."""
    theta = np.linalg.norm(w, axis=1)
    k = w / np.maximum(theta, 1e-12)[:, None]
    zero = np.zeros(len(w))
    cross = np.stack(
        [
            np.stack([zero, -k[:, 2], k[:, 1]], -1),
            np.stack([k[:, 2], zero, -k[:, 0]], -1),
            np.stack([-k[:, 1], k[:, 0], zero], -1),
        ],
        axis=1,
    )
    sin, cos = np.sin(theta)[:, None, None], np.cos(theta)[:, None, None]
    return np.eye(3) + sin * cross + (1 - cos) * cross @ cross


def x_rotation(degrees: float) -> np.ndarray:
    """The rotation by ``degrees`` about the x axis (a face's pitch: positive looks up)."""
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def rotation_angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    """The angle of the rotation between two rotation matrices, degrees."""
    cos = (np.trace(a.T @ b) - 1.0) / 2.0
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))
