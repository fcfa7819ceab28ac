"""The 4 x 4 matrices of VRML 1.0's transform nodes (column vectors: ``p' = M @ p``).

A scanner export that places its parts with ``Transform`` or ``MatrixTransform`` nodes means
those placements; ignoring them would stack the parts on top of each other. The conventions are
Open Inventor's, from which VRML 1.0 was taken: ``Transform`` applies, to a point, scale (about
``scaleOrientation``) then rotation, both about ``center``, then ``translation``; a
``MatrixTransform`` is written row by row for row vectors, so it is transposed here.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: ``field(name, count)`` -> that many floats, or None when the field is absent.
FieldReader = Callable[[bytes, int], "np.ndarray | None"]


def node_matrix(kind: str, field: FieldReader) -> np.ndarray:
    """The matrix a transform node of ``kind`` multiplies onto the current one."""
    if kind == "MatrixTransform":
        values = field(b"matrix", 16)
        return np.eye(4) if values is None else values.reshape(4, 4).T
    if kind == "Translation":
        return translation(field(b"translation", 3))
    if kind == "Rotation":
        return rotation(field(b"rotation", 4))
    if kind == "Scale":
        return scale(field(b"scaleFactor", 3))
    centre = translation(field(b"center", 3))
    orientation = rotation(field(b"scaleOrientation", 4))
    return (
        translation(field(b"translation", 3))
        @ centre
        @ rotation(field(b"rotation", 4))
        @ orientation
        @ scale(field(b"scaleFactor", 3))
        @ orientation.T
        @ np.linalg.inv(centre)
    )


def translation(values: np.ndarray | None) -> np.ndarray:
    matrix = np.eye(4)
    if values is not None:
        matrix[:3, 3] = values
    return matrix


def scale(values: np.ndarray | None) -> np.ndarray:
    return np.eye(4) if values is None else np.diag([*values.tolist(), 1.0])


def rotation(values: np.ndarray | None) -> np.ndarray:
    """Axis-angle (radians) to a rotation matrix; a zero axis is no rotation."""
    matrix = np.eye(4)
    if values is None:
        return matrix
    axis, angle = values[:3], float(values[3])
    norm = float(np.linalg.norm(axis))
    if norm == 0.0 or angle == 0.0:
        return matrix
    x, y, z = axis / norm
    k = np.array([[0, -z, y], [z, 0, -x], [-y, x, 0]])
    matrix[:3, :3] = np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)
    return matrix
