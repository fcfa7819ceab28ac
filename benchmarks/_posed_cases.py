"""Face scans in known poses, and meshes that are no face, for the tests of the face pose and
of what reads and renders a scan in any pose, and for ``canonical_pose.py``, which measures the
pose on many more of the same cases (``from _posed_cases import ...``).

Not the library's: nothing the project runs makes a case. One copy serves the tests and the
benchmarks: it lives here, beside the scripts, which run without the test tree, and
``tests/conftest.py`` puts this folder on ``sys.path``.

A case is a face from one of two sources, turned by a rotation drawn uniformly over all
orientations, shifted, written in other units, cropped like a scanner crops and damaged like a
scanner damages (holes, noise, spikes), with the truth it came from: the rotation and the face
box (the robust sphere of the face crop, :func:`~facevlm.render.normalize.fit_normalization`)
in the scan's coordinates.

- ``synthetic``: the project's procedural faces (:mod:`facevlm.synthetic`), which the
  template was *not* made from; face crops, with or without their forehead.
- ``ict``: random identities of ICT-FaceKit with random expressions (the template is its mean
  neutral face): the narrow face area, the full face area, or the head with its neck.
- scenes (:func:`scene_case`): an ICT-FaceKit head before a wall, with a torso or not, as a
  depth camera captures a sitter.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from facevlm.render.face_pose import FRAME_PITCH_DEG, rotation_angle_deg, x_rotation
from facevlm.render.normalize import fit_normalization
from facevlm.scans.mesh import FaceMesh
from facevlm.synthetic.ict_facekit import quad_triangles

NARROW_FACE_END, FULL_FACE_END, HEAD_END = 6706, 9409, 11248
UNITS_MM = {"mm": 1.0, "cm": 10.0, "m": 1000.0}


@dataclass
class PoseCase:
    """One scan and the truth: ``scan = (canonical @ rotation.T + offset) / mm_per_unit``.

    ``canonical`` is the same face as a clean face crop in its own frame (millimetres, looking
    along +z): what the scan should render like. ``centre`` and ``radius`` are the robust
    sphere of that crop carried into the scan's coordinates. ``upright`` is the rotation the
    estimate should find: ``rotation`` for a procedural face, whose frame is the canonical one,
    and ``rotation`` turned by the canonical pitch for an ICT-FaceKit face, which looks
    :data:`~facevlm.render.face_pose.FRAME_PITCH_DEG` further down than the built-in faces
    that define "face-forward" (where a face looks when it looks straight ahead is a
    convention that differs between face sources by a few degrees; a fit that found the ICT
    face's own frame exactly would otherwise count those degrees as its error).
    """

    mesh: FaceMesh
    rotation: np.ndarray
    centre: np.ndarray  # face box centre, scan units
    radius: float  # face box radius, scan units
    description: str
    canonical: FaceMesh
    offset: np.ndarray
    mm_per_unit: float
    upright: np.ndarray

    def to_scan(self, points_mm: np.ndarray) -> np.ndarray:
        """Canonical millimetres -> the scan's coordinates."""
        return (np.asarray(points_mm) @ self.rotation.T + self.offset) / self.mm_per_unit

    def errors(self, pose, reference) -> tuple[float, float, float]:
        """How far the pose ``pose`` of the scan is from the truth: its rotation's angle from
        :attr:`upright` (degrees), and its face box's centre distance (a share of the radius)
        and radius ratio minus one against ``reference``, the pose of the same face's clean
        crop (:attr:`canonical`) carried into the scan's coordinates. The benchmark's and the
        tests' measure of a pose found right (within 10 degrees and 10%)."""
        ref_centre = self.to_scan(reference.centre[None])[0]
        ref_radius = reference.radius / self.mm_per_unit
        return (
            rotation_angle_deg(pose.rotation, self.upright),
            float(np.linalg.norm(pose.centre - ref_centre) / ref_radius),
            float(pose.radius / ref_radius - 1.0),
        )


@lru_cache(maxsize=1)
def _ict() -> dict[str, np.ndarray]:
    """The project's packed ICT-FaceKit model (:mod:`facevlm.synthetic.ict_facekit`)."""
    from facevlm.synthetic.ict_facekit import IctFaceModel

    model = IctFaceModel.load()
    return {
        "neutral": model.neutral,
        "identity": model.identity.astype(np.float32),
        "expression": model.expression.astype(np.float32),
        "faces": model.polygons,
    }


def ict_face(rng: np.random.Generator, region: str) -> tuple[np.ndarray, np.ndarray, FaceMesh]:
    """A random ICT-FaceKit identity with a random expression: ``(vertices_mm, triangles,
    narrow_face_crop)``, region ``narrow`` | ``full`` | ``head``."""
    model = _ict()
    weights = rng.normal(0.0, 1.0, len(model["identity"]))
    expression = np.zeros(len(model["expression"]))
    chosen = rng.choice(len(expression), size=int(rng.integers(0, 5)), replace=False)
    expression[chosen] = rng.uniform(0.2, 1.0, len(chosen))
    vertices = model["neutral"].astype(np.float64)
    vertices = vertices + np.tensordot(weights, model["identity"], axes=1)
    vertices = vertices + np.tensordot(expression, model["expression"], axes=1)
    vertices *= 10.0  # centimetres -> mm
    triangles = quad_triangles(model["faces"])

    def region_of(end: int) -> tuple[np.ndarray, np.ndarray]:
        return vertices[:end], triangles[(triangles < end).all(axis=1)]

    end = {"narrow": NARROW_FACE_END, "full": FULL_FACE_END, "head": HEAD_END}[region]
    crop = FaceMesh.from_triangles(*region_of(NARROW_FACE_END))
    return *region_of(end), crop


def synthetic_face(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, FaceMesh]:
    """A random procedural face: ``(vertices_mm, triangles, the same face as a mesh)``."""
    from facevlm.synthetic.procedural.head import build_head
    from facevlm.synthetic.procedural.identity import sample_identity

    head = build_head(sample_identity(rng), resolution=int(rng.integers(3000, 9000)))
    triangles = head.mesh.triangles()
    return head.mesh.vertices, triangles, FaceMesh.from_triangles(head.mesh.vertices, triangles)


def _drop_vertices(vertices, triangles, drop: np.ndarray):
    """The mesh without the vertices ``drop`` marks (and their triangles), re-indexed."""
    keep = ~drop
    triangles = triangles[keep[triangles].all(axis=1)]
    used = np.zeros(len(vertices), dtype=bool)
    used[triangles.ravel()] = True
    new_index = np.cumsum(used) - 1
    return vertices[used], new_index[triangles]


def damaged(vertices, triangles, rng: np.random.Generator, forehead_cut: bool):
    """Scanner damage: holes, a cut forehead, noise and a few spikes (canonical mm frame)."""
    drop = np.zeros(len(vertices), dtype=bool)
    for _ in range(int(rng.integers(0, 4))):  # holes of 10-25 mm radius
        centre = vertices[rng.integers(len(vertices))]
        drop |= np.linalg.norm(vertices - centre, axis=1) < rng.uniform(10.0, 25.0)
    if forehead_cut:  # the top 10-25% of the face missing
        top = np.percentile(vertices[:, 1], 100.0 - rng.uniform(10.0, 25.0))
        drop |= vertices[:, 1] > top
    vertices, triangles = _drop_vertices(vertices, triangles, drop)
    vertices = vertices + rng.normal(0.0, rng.uniform(0.0, 0.5), vertices.shape)
    spikes = rng.choice(len(vertices), size=int(rng.integers(0, 6)), replace=False)
    direction = rng.normal(size=(len(spikes), 3))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    vertices[spikes] += direction * rng.uniform(30.0, 120.0, (len(spikes), 1))
    return vertices, triangles


def pose_case(seed: int, source: str | None = None) -> PoseCase:
    """Case ``seed``: a face from ``source`` (``synthetic`` | ``ict``; default: alternating)
    in a random pose, unit, crop and state."""
    rng = np.random.default_rng(seed)
    if source is None:
        source = "ict" if seed % 2 else "synthetic"
    if source == "ict":
        region = str(rng.choice(["narrow", "full", "head"]))
        vertices, triangles, face = ict_face(rng, region)
    else:
        region = "crop"
        vertices, triangles, face = synthetic_face(rng)
    box = fit_normalization(face.vertices)
    forehead_cut = bool(rng.random() < 0.25)
    vertices, triangles = damaged(vertices, triangles, rng, forehead_cut)
    rotation = Rotation.random(random_state=rng).as_matrix()
    unit = str(rng.choice(list(UNITS_MM)))
    mm = UNITS_MM[unit]
    offset = rng.normal(0.0, 300.0, 3)
    scan = (vertices @ rotation.T + offset) / mm
    mesh = FaceMesh.from_triangles(scan, triangles, source=Path(f"case{seed}.ply"))
    description = f"{source}/{region}{' forehead-cut' if forehead_cut else ''} in {unit}"
    centre = (box.centre @ rotation.T + offset) / mm
    upright = rotation @ x_rotation(FRAME_PITCH_DEG) if source == "ict" else rotation
    return PoseCase(mesh, rotation, centre, box.radius / mm, description, face, offset, mm, upright)


def scene_case(seed: int, wall_grid: int = 120) -> PoseCase:
    """Case ``seed`` of a face in a wider scene, as a depth camera or a body scanner captures
    it: an ICT-FaceKit head with neck before a wall 0.25-0.7 m behind it (1-2.4 m across,
    ``wall_grid`` x ``wall_grid`` points: 400 gives the wall most of the scan's points, as in
    a depth camera's whole frame), with or without a torso below it, in a random pose, in
    millimetres or metres. The truth is the head's, as in :func:`pose_case`."""
    rng = np.random.default_rng(seed)
    vertices, triangles, face = ict_face(rng, "head")
    pieces = [FaceMesh.from_triangles(vertices, triangles)]
    half, behind = rng.uniform(500.0, 1200.0), rng.uniform(250.0, 700.0)
    back = float(vertices[:, 2].min()) - behind
    pieces.append(
        _grid_surface(
            wall_grid,
            wall_grid,
            lambda u, v: np.stack(
                [(2 * u - 1) * half, (2 * v - 1) * half - 200.0, np.full(u.shape, back)], 1
            ),
        )
    )
    torso = bool(rng.random() < 0.5)
    if torso:  # an elliptic cylinder from the neck down
        top, height, depth = float(vertices[:, 1].min()), rng.uniform(300.0, 800.0), -20.0
        middle = float(vertices[:, 2].mean()) + depth
        pieces.append(
            _grid_surface(
                80,
                40,
                lambda u, v: np.stack(
                    [
                        180.0 * np.cos(2 * np.pi * u),
                        top - v * height,
                        110.0 * np.sin(2 * np.pi * u) + middle,
                    ],
                    1,
                ),
            )
        )
    scene = _concatenate(pieces)
    box = fit_normalization(face.vertices)
    rotation = Rotation.random(random_state=rng).as_matrix()
    unit = str(rng.choice(["mm", "m"]))
    mm = UNITS_MM[unit]
    offset = rng.normal(0.0, 300.0, 3)
    mesh = FaceMesh.from_triangles(
        (scene.vertices @ rotation.T + offset) / mm,
        scene.triangles(),
        source=Path(f"scene{seed}.ply"),
    )
    description = f"ict/head before a wall{' with a torso' if torso else ''} in {unit}"
    centre = (box.centre @ rotation.T + offset) / mm
    upright = rotation @ x_rotation(FRAME_PITCH_DEG)
    return PoseCase(mesh, rotation, centre, box.radius / mm, description, face, offset, mm, upright)


# ------------------------------------------------------------------------------ non-faces
def _grid_surface(u_count: int, v_count: int, point_of) -> FaceMesh:
    u, v = np.meshgrid(np.linspace(0, 1, u_count), np.linspace(0, 1, v_count), indexing="ij")
    points = point_of(u.ravel(), v.ravel())
    index = np.arange(u_count * v_count).reshape(u_count, v_count)
    a, b = index[:-1, :-1].ravel(), index[1:, :-1].ravel()
    c, d = index[1:, 1:].ravel(), index[:-1, 1:].ravel()
    triangles = np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)])
    return FaceMesh.from_triangles(points, triangles)


def non_face(kind: str, seed: int = 0) -> FaceMesh:
    """A mesh that is no face: ``sphere``, ``box``, ``plane``, ``cloud`` (random triangles of
    random points), ``torus``, ``cylinder``, ``blob`` (a lumpy ellipsoid, hand-sized) — in a
    random pose and a face's size range."""
    rng = np.random.default_rng(seed)
    size = rng.uniform(80.0, 300.0)
    if kind == "sphere":

        def sphere(u, v):
            theta, phi = np.pi * u, 2 * np.pi * v
            return np.stack(
                [np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)], 1
            )

        mesh = _grid_surface(60, 90, lambda u, v: size * sphere(u, v))
    elif kind == "box":
        faces = []
        for axis in range(3):
            for sign in (-1.0, 1.0):

                def side(u, v, axis=axis, sign=sign):
                    p = np.zeros((len(u), 3))
                    others = [k for k in range(3) if k != axis]
                    p[:, axis] = sign
                    p[:, others[0]], p[:, others[1]] = 2 * u - 1, 2 * v - 1
                    return p * size * np.array([1.0, 0.7, 0.5])

                faces.append(_grid_surface(30, 30, side))
        mesh = _concatenate(faces)
    elif kind == "plane":
        mesh = _grid_surface(60, 60, lambda u, v: size * np.stack([u, v, 0 * u], 1))
        mesh.vertices[:, 2] += rng.normal(0, 0.3, len(mesh.vertices))
    elif kind == "cloud":
        points = rng.uniform(-size, size, (4000, 3))
        triangles = rng.integers(0, len(points), (3000, 3))
        triangles = triangles[
            (triangles[:, 0] != triangles[:, 1])
            & (triangles[:, 1] != triangles[:, 2])
            & (triangles[:, 0] != triangles[:, 2])
        ]
        mesh = FaceMesh.from_triangles(points, triangles)
    elif kind == "torus":

        def torus(u, v):
            a, b = 2 * np.pi * u, 2 * np.pi * v
            big, small = 1.0, 0.35
            return np.stack(
                [
                    (big + small * np.cos(b)) * np.cos(a),
                    (big + small * np.cos(b)) * np.sin(a),
                    small * np.sin(b),
                ],
                1,
            )

        mesh = _grid_surface(90, 40, lambda u, v: size * torus(u, v))
    elif kind == "cylinder":

        def cylinder(u, v):
            a = 2 * np.pi * u
            return np.stack([np.cos(a), np.sin(a), 3 * v - 1.5], 1)

        mesh = _grid_surface(80, 40, lambda u, v: size * 0.5 * cylinder(u, v))
    elif kind == "blob":
        bumps = rng.normal(0, 0.15, (6, 3))

        def blob(u, v):
            theta, phi = np.pi * u, 2 * np.pi * v
            direction = np.stack(
                [np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)], 1
            )
            lumps = sum(
                0.25 * np.exp(-np.sum((direction - b / np.linalg.norm(b)) ** 2, 1) * 6)
                for b in bumps
            )
            return direction * (1 + lumps)[:, None] * np.array([1.0, 0.45, 0.25])

        mesh = _grid_surface(60, 90, lambda u, v: size * blob(u, v))
    else:
        raise ValueError(f"unknown non-face {kind!r}")
    rotation = Rotation.random(random_state=rng).as_matrix()
    mesh.vertices[:] = mesh.vertices @ rotation.T + rng.normal(0, 200.0, 3)
    return mesh


NON_FACES = ("sphere", "box", "plane", "cloud", "torus", "cylinder", "blob")


def _concatenate(meshes: list[FaceMesh]) -> FaceMesh:
    vertices, triangles, base = [], [], 0
    for mesh in meshes:
        vertices.append(mesh.vertices)
        triangles.append(mesh.triangles() + base)
        base += len(mesh.vertices)
    return FaceMesh.from_triangles(np.concatenate(vertices), np.concatenate(triangles))


# ------------------------------------------------------------------------------ real scans
#: The formats a re-posed real scan is written in (the benchmark reads real scans from a
#: folder of its own; the tests re-pose built-in faces, as it re-poses real ones).
REPOSED_FORMATS = ("obj", "stl", "off", "ply")


@dataclass
class ReposedScan:
    """A real scan re-posed: ``vertices = stored @ rotation.T * factor + offset``, written to
    ``path`` in ``unit`` (``factor`` converts the stored unit into it)."""

    path: Path
    rotation: np.ndarray
    factor: float
    offset: np.ndarray
    unit: str


def repose_real(mesh: FaceMesh, stored_mm_per_unit: float, seed: int, folder: Path) -> ReposedScan:
    """The real scan ``mesh`` (its stored unit ``stored_mm_per_unit`` mm) turned by a uniformly
    random rotation, shifted, converted to mm, cm or m and written in one of
    :data:`REPOSED_FORMATS` into ``folder`` (all drawn from ``seed``), as a scanner of
    another orientation and unit would have stored it. The truth of its pose is the stored
    scan's turned by ``rotation``."""
    rng = np.random.default_rng(seed)
    rotation = Rotation.random(random_state=rng).as_matrix()
    unit = str(rng.choice(list(UNITS_MM)))
    factor = stored_mm_per_unit / UNITS_MM[unit]
    offset = rng.normal(0.0, 300.0, 3) / UNITS_MM[unit]
    fmt = str(rng.choice(REPOSED_FORMATS))
    vertices = np.asarray(mesh.vertices, dtype=np.float64) @ rotation.T * factor + offset
    path = folder / f"reposed{seed}.{fmt}"
    write_mesh(path, vertices, mesh.triangles())
    return ReposedScan(path, rotation, factor, offset, unit)


def write_mesh(path: Path, vertices: np.ndarray, triangles: np.ndarray) -> None:
    """A triangle mesh written as OBJ, binary STL, OFF or binary PLY, by ``path``'s suffix."""
    from facevlm.scans.formats.obj import write_obj
    from facevlm.scans.formats.ply import write_ply

    suffix = path.suffix.lower()
    if suffix in (".obj", ".ply"):
        mesh = FaceMesh.from_triangles(vertices, triangles)
        (write_obj if suffix == ".obj" else write_ply)(path, mesh)
    elif suffix == ".off":
        with path.open("w", encoding="ascii") as out:
            out.write(f"OFF\n{len(vertices)} {len(triangles)} 0\n")
            np.savetxt(out, vertices, fmt="%.9g")
            np.savetxt(out, np.hstack([np.full((len(triangles), 1), 3), triangles]), fmt="%d")
    elif suffix == ".stl":
        record = np.dtype([("normal", "<f4", 3), ("corners", "<f4", (3, 3)), ("attr", "<u2")])
        body = np.zeros(len(triangles), dtype=record)
        body["corners"] = vertices[triangles]
        with path.open("wb") as out:
            out.write(b"facevlm re-posed scan".ljust(80, b"\0"))
            out.write(np.uint32(len(triangles)).tobytes())
            out.write(body.tobytes())
    else:
        raise ValueError(f"{path}: no writer for {suffix!r}")
