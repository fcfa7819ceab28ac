"""Do the models recognise expressions on faces the built-in generator did not make?

Not part of the package: an independent check of transfer. The faces here share no code with
:mod:`facevlm.synthetic` — not its face sheet, identities, action-unit fields or recipes.
Each head is an ellipsoid parametrised by longitude/latitude with features raised along the
normal (nose, brow ridge, eye sockets and balls, cheekbones, lips, chin); each expression is
posed by hand, the way an animator poses a rig: a few control points (brows, lids, cheeks,
nose wings, lip corners, lip middles, chin) are moved and the skin follows by Gaussian radial
basis interpolation, with the upper and lower lip moving independently of each other.
Two head styles (``--style``): ``barrel``, the whole latitude/longitude patch with closed skin
over the eyeballs, and ``mask``, cropped to an oval like a face scan, with almond eye openings
and an eyeball behind each, so the lids open and close over it.

The faces are rendered with the project's renderer and settings (``conf/base``: views, size,
modality) and scored by a trained model bundle (the latest ``data/06_models/affectvlm/model.pt``
by default, i.e. the model of the last ``train_affectvlm`` run; train it with
``--params render.modality=shaded`` for a geometry-only check).

    PYTHONPATH=src python benchmarks/transfer_handposed.py [--bundle PATH] [--style mask]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np

from facevlm.scans.labels import BASIC_EMOTIONS
from facevlm.scans.mesh import FaceMesh

#: Hand-posed control-point moves at full intensity: name -> (dx, dy, dz) in mm (x to the image
#: right; names ending in _l/_r are mirrored, dx given for the image-right side).
POSES: dict[str, dict[str, tuple[float, float, float]]] = {
    "happiness": {
        "corner": (6.0, 7.0, -3.0),
        "cheek": (1.0, 4.0, 3.0),
        "lower_lid": (0.0, 2.0, 1.0),
        "upper_lip": (0.0, 2.5, 0.0),
        "lower_lip": (0.0, -4.0, -1.0),
    },
    "sadness": {
        "brow_inner": (-1.0, 5.0, 0.0),
        "brow_outer": (0.0, -1.5, 0.0),
        "corner": (0.5, -6.0, 0.0),
        "lower_lip": (0.0, 2.0, 2.0),
        "chin": (0.0, 3.0, 2.5),
    },
    "anger": {
        "brow_inner": (-3.5, -6.0, 1.5),
        "brow_outer": (0.0, -2.0, 0.0),
        "upper_lid": (0.0, -1.5, 0.0),
        "lower_lid": (0.0, 1.5, 0.5),
        "corner": (-2.5, 0.0, 0.0),
        "upper_lip": (0.0, -1.5, -1.0),
        "lower_lip": (0.0, 1.5, -1.0),
    },
    "surprise": {
        "brow_inner": (0.0, 8.0, 0.0),
        "brow_outer": (0.0, 7.0, 0.0),
        "upper_lid": (0.0, 3.0, 0.0),
        "lower_lip": (0.0, -14.0, -4.0),
        "chin": (0.0, -13.0, -4.0),
        "upper_lip": (0.0, 1.5, 0.0),
        "corner": (-2.0, -3.0, 0.0),
    },
    "fear": {
        "brow_inner": (-2.0, 6.0, 0.0),
        "brow_outer": (0.0, 2.0, 0.0),
        "upper_lid": (0.0, 3.0, 0.0),
        "corner": (6.0, -2.0, -2.0),
        "lower_lip": (0.0, -5.0, -1.0),
        "chin": (0.0, -4.0, -1.0),
    },
    "disgust": {
        "brow_inner": (-1.5, -3.0, 0.5),
        "nose_wing": (1.0, 3.0, 1.0),
        "upper_lip": (0.0, 4.5, 1.0),
        "lower_lid": (0.0, 1.5, 0.5),
        "corner": (0.0, -2.0, 0.0),
        "lower_lip": (0.0, -1.0, 1.5),
        "chin": (0.0, 2.0, 1.5),
    },
}


#: Head styles: ``barrel`` (the whole latitude/longitude patch, closed skin over the eyeballs) or
#: ``mask`` (cropped to an oval like a face scan, with almond eye openings and eyeballs behind).
HEAD_STYLES = ("barrel", "mask")


class Head:
    """An ellipsoid head with raised features; vertices on a (latitude, longitude) grid."""

    def __init__(
        self, rng: np.random.Generator, n_lat: int = 90, n_lon: int = 80, style: str = "barrel"
    ):
        if style not in HEAD_STYLES:
            raise ValueError(f"style must be one of {HEAD_STYLES}, got {style!r}")
        self.a = rng.uniform(68, 78)  # half-width (mm)
        self.b = rng.uniform(100, 115)  # half-height
        self.c = rng.uniform(85, 100)  # depth
        self.nose = rng.uniform(18, 26)
        self.mouth_w = rng.uniform(22, 28)
        self.eye_x = rng.uniform(29, 35)
        lat = np.linspace(-0.95, 0.75, n_lat)
        lon = np.linspace(-1.25, 1.25, n_lon)
        la, lo = np.meshgrid(lat, lon, indexing="ij")
        base = np.stack(
            [
                self.a * np.cos(la) * np.sin(lo),
                self.b * np.sin(la),
                self.c * np.cos(la) * np.cos(lo),
            ],
            axis=-1,
        ).reshape(-1, 3)
        normal = base / np.array([self.a, self.b, self.c]) ** 2
        normal /= np.linalg.norm(normal, axis=1, keepdims=True)
        x, y = base[:, 0], base[:, 1]
        self.mouth_y = -0.45 * self.b
        self.eye_y = 0.22 * self.b
        h = self._relief(x, y)
        self.vertices = base + normal * h[:, None]
        self.vertices[:, 2] -= self.c
        faces = []
        idx = np.arange(n_lat * n_lon).reshape(n_lat, n_lon)
        for i in range(n_lat - 1):
            for j in range(n_lon - 1):
                a, b, c, d = idx[i, j], idx[i, j + 1], idx[i + 1, j + 1], idx[i + 1, j]
                cy = 0.25 * (y[a] + y[b] + y[c] + y[d])
                cx = 0.25 * (x[a] + x[b] + x[c] + x[d])
                # the mouth slit: the rows either side of the lip line are not joined
                if (y[a] <= self.mouth_y < y[d]) and abs(cx) < self.mouth_w:
                    continue
                if style == "mask" and (self._outside_oval(cx, cy) or self._in_eye(cx, cy)):
                    continue
                faces += [(a, b, c), (a, c, d)]
        # a mouth cavity: a flat patch behind the slit, so an open mouth shows a recess, not
        # the background; 13 mm behind the skin it closes, following the curve of the face
        px, py = np.meshgrid(
            np.linspace(-self.mouth_w - 4, self.mouth_w + 4, 12),
            np.linspace(self.mouth_y - 30, self.mouth_y + 8, 10),
        )
        faces += self._add_patch(px, py, lambda skin: skin - 13.0)
        n_fixed = px.size
        if style == "mask":  # an eyeball behind each opening, 2 mm behind where the skin was
            for side in (-1, 1):
                ex, ey = np.meshgrid(
                    np.linspace(side * self.eye_x - 16, side * self.eye_x + 16, 14),
                    np.linspace(self.eye_y - 9, self.eye_y + 9, 9),
                )
                r2 = ((ex.ravel() - side * self.eye_x) / 16) ** 2 + (
                    (ey.ravel() - self.eye_y) / 9
                ) ** 2
                faces += self._add_patch(ex, ey, lambda skin, r2=r2: skin - 2.0 - 3.0 * r2)
                n_fixed += ex.size
        self.x = np.concatenate([x, np.full(n_fixed, 1e3)])  # never moved by control points
        self.y = np.concatenate([y, np.full(n_fixed, 1e3)])
        self.upper = self.y > self.mouth_y
        self.triangles = np.array(faces, dtype=np.int64)

    def _add_patch(
        self, px: np.ndarray, py: np.ndarray, depth: Callable[[np.ndarray], np.ndarray]
    ) -> list[tuple[int, int, int]]:
        """Append a grid of vertices at ``(px, py)`` (2D meshgrid arrays), each at
        ``depth(z of the nearest vertex so far)``, and return the grid's triangles."""
        from scipy.spatial import cKDTree

        _, nearest = cKDTree(self.vertices[:, :2]).query(np.stack([px.ravel(), py.ravel()], 1))
        start = len(self.vertices)
        patch = np.stack([px.ravel(), py.ravel(), depth(self.vertices[nearest, 2])], axis=1)
        self.vertices = np.concatenate([self.vertices, patch])
        pid = start + np.arange(px.size).reshape(px.shape)
        faces = []
        for i in range(px.shape[0] - 1):
            for j in range(px.shape[1] - 1):
                a, b, c, d = pid[i, j], pid[i, j + 1], pid[i + 1, j + 1], pid[i + 1, j]
                faces += [(a, b, c), (a, c, d)]
        return faces

    def _outside_oval(self, x: float, y: float) -> bool:
        """Outside the face oval of a cropped scan (forehead to chin, cheek to cheek)."""
        return (x / (0.88 * self.a)) ** 2 + ((y + 0.08 * self.b) / (0.76 * self.b)) ** 2 > 1.0

    def _in_eye(self, x: float, y: float) -> bool:
        """Inside an almond eye opening (the eyeball shows through)."""
        u = (abs(x) - self.eye_x) / 13.0
        return abs(u) < 1.0 and abs(y - self.eye_y) < 4.5 * (1.0 - u * u)

    def _relief(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        def g(cx, cy, sx, sy):
            return np.exp(-0.5 * (((x - cx) / sx) ** 2 + ((y - cy) / sy) ** 2))

        ax = np.abs(x)
        nose_t = np.clip((self.eye_y - y) / (self.eye_y + 0.2 * self.b), 0, 1)
        nose = self.nose * nose_t**1.4 * np.exp(-0.5 * (x / (5 + 4 * nose_t)) ** 2)
        nose *= y > -0.25 * self.b
        nose += 0.4 * self.nose * g(0, -0.2 * self.b, 7, 5)
        h = nose
        h += 4.0 * g(self.eye_x, self.eye_y + 16, 16, 5)  # brow ridge (mirrored below)
        h += 4.0 * g(-self.eye_x, self.eye_y + 16, 16, 5)
        for s in (-1, 1):
            h -= 8.0 * g(s * self.eye_x, self.eye_y, 14, 9)  # socket
            h += 5.5 * g(s * self.eye_x, self.eye_y, 10, 6)  # ball under the lids
            h += 3.5 * g(s * (self.eye_x + 12), self.eye_y - 22, 14, 10)  # cheekbone
        h += 6.0 * g(0, self.mouth_y + 5, 28, 20)  # muzzle
        h += 3.0 * g(0, self.mouth_y + 4, 0.7 * self.mouth_w, 3.5)  # upper lip
        h += 3.5 * g(0, self.mouth_y - 5, 0.6 * self.mouth_w, 4.0)  # lower lip
        h += 6.0 * g(0, -0.82 * self.b, 15, 10)  # chin
        del ax
        return h

    def control_points(self) -> dict[str, list[tuple[np.ndarray, int, float]]]:
        """Control point name -> [(position (x, y), side, radius)], sides mirrored."""
        ex, ey, my, mw = self.eye_x, self.eye_y, self.mouth_y, self.mouth_w
        out = {}
        for name, (x, y, r) in {
            "brow_inner": (ex - 12, ey + 17, 9),
            "brow_outer": (ex + 10, ey + 16, 10),
            "upper_lid": (ex, ey + 5, 6),
            "lower_lid": (ex, ey - 6, 6),
            "cheek": (ex + 6, ey - 28, 14),
            "nose_wing": (16, -0.2 * self.b + 4, 7),
            "corner": (mw, my, 10),
        }.items():
            out[name] = [(np.array([s * x, y]), s, r) for s in (-1, 1)]
        out["upper_lip"] = [(np.array([0.0, my + 4]), 0, 12)]
        out["lower_lip"] = [(np.array([0.0, my - 6]), 0, 13)]
        out["chin"] = [(np.array([0.0, -0.82 * self.b]), 0, 18)]
        return out

    def posed(self, emotion: str, strength: float) -> np.ndarray:
        moved = self.vertices.copy()
        points = self.control_points()
        xy = np.stack([self.x, self.y], axis=1)
        for name, (dx, dy, dz) in POSES[emotion].items():
            for centre, side, radius in points[name]:
                w = np.exp(-0.5 * np.sum((xy - centre) ** 2, axis=1) / radius**2)
                if name == "upper_lip":
                    w = w * self.upper
                elif name in ("lower_lip", "chin"):
                    w = w * ~self.upper
                sx = dx * (side if side else 1.0)
                moved += strength * w[:, None] * np.array([sx, dy, dz])
        return moved

    def mesh(self, vertices: np.ndarray) -> FaceMesh:
        n = len(self.triangles)
        return FaceMesh(
            vertices=vertices,
            polygon_offsets=np.arange(0, 3 * n + 1, 3, dtype=np.int64),
            polygon_indices=self.triangles.ravel(),
        )


#: The heads' seed: every script that scores the hand-posed heads scores the same heads.
HEADS_SEED = 12345
#: Each emotion is posed at these strengths (of the full control-point moves).
STRENGTHS = (0.8, 1.0)


def handposed_faces(
    classes: list[str], settings, n_heads: int = 6, style: str = "barrel"
) -> tuple[np.ndarray, np.ndarray]:
    """``n_heads`` hand-posed heads x ``classes`` x :data:`STRENGTHS`, rendered with
    ``settings`` (a :class:`~facevlm.render.renderer.RenderSettings`): the ``(N, V, S, S, 3)``
    views and each face's class index, heads in order, each head's emotions in class order."""
    from facevlm.render.renderer import MultiviewRenderer

    rng = np.random.default_rng(HEADS_SEED)
    heads = [Head(rng, style=style) for _ in range(n_heads)]
    faces, labels = [], []
    with MultiviewRenderer(settings) as renderer:
        for head in heads:
            for label, emotion in enumerate(classes):
                for strength in STRENGTHS:
                    faces.append(renderer.render(head.mesh(head.posed(emotion, strength))))
                    labels.append(label)
    return np.stack(faces), np.array(labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bundle", type=Path, default=None)
    parser.add_argument("--modality", default="shaded")
    parser.add_argument("--heads", type=int, default=6)
    parser.add_argument("--style", choices=HEAD_STYLES, default="barrel")
    parser.add_argument("--sheet", type=Path, default=Path("/tmp/transfer_handposed.png"))
    args = parser.parse_args()

    from bundle_scoring import load_bundle, print_scores, render_settings
    from PIL import Image

    scored = load_bundle(args.bundle)
    classes = scored.classes
    faces, labels = handposed_faces(classes, render_settings(args.modality), args.heads, args.style)
    predicted = scored.predict(faces)
    print(f"bundle: {scored.path}")
    print(f"faces: {len(labels)} ({args.heads} heads x {len(classes)} emotions x 2)")
    print_scores(labels, predicted, classes)
    frontal = [f[0] for f, s in zip(faces, range(len(faces)), strict=True) if s % 2 == 1]
    per_row = len(classes)
    rows = [
        np.concatenate(frontal[i : i + per_row], axis=1) for i in range(0, len(frontal), per_row)
    ]
    Image.fromarray(np.concatenate(rows[:3], axis=0)).save(args.sheet)
    print(f"contact sheet: {args.sheet}")


assert set(POSES) == set(BASIC_EMOTIONS)

if __name__ == "__main__":
    main()
