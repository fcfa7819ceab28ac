"""What each scanner-variety knob (:mod:`facevlm.synthetic.scanner_variety`) does to a face,
measured one knob at a time at a few strengths.

For a face of the built-in generator (``build_head`` of ``sample_identity``, 6,000 vertices, the
set's default) and an ICT-FaceKit face (``narrow_face`` crop, about 9,800 vertices, vertex
colours), each knob alone, averaged over ``--seeds`` draws, prints:

- ``V`` and ``F``: vertices and triangles of the degraded mesh;
- ``dev mean/max``: distance (mm) from the degraded surface (its vertices and 20,000 area-uniform
  samples) to the clean surface (to the tangent plane of the nearest of 200,000 samples of it),
  after converting the coordinates back to millimetres;
- ``area lost``: share of the clean surface area no longer covered (1 - area ratio);
- ``border``: total length (mm) of the open borders, and how many separate borders there are;
- ``lm moved``: landmarks whose vertex went (they move to the kept vertex that took its place);
- ``ms``: time of one ``apply_scanner_variety`` call (median);
- ``px``: mean absolute difference (grey levels, 0-255) between the clean and the degraded
  face's shaded front view, 128 px, framed as stored (``--no-render`` leaves it out).

    python benchmarks/scanner_variety.py [--seeds 3] [--repeats 3] [--no-render]
"""

from __future__ import annotations

import argparse
import time

import _results
import numpy as np
from scipy.spatial import cKDTree

from facevlm.scans.mesh import FaceMesh
from facevlm.synthetic.ict_facekit import (
    IctFaceModel,
    paint_vertex_colours,
    random_identity,
)
from facevlm.synthetic.procedural.head import build_head
from facevlm.synthetic.procedural.identity import sample_identity
from facevlm.synthetic.scanner_variety import (
    UNITS,
    ScannerVariety,
    apply_scanner_variety,
    boundary_loops,
)

#: Each knob alone at a few strengths: (label, settings).
SWEEP: list[tuple[str, dict]] = [
    ("clean", {}),
    ("density 0.25", {"density": 0.25}),
    ("density 0.5", {"density": 0.5}),
    ("density 2", {"density": 2.0}),
    ("density 4", {"density": 4.0}),
    ("smoothing 2", {"smoothing": 2}),
    ("smoothing 10", {"smoothing": 10}),
    ("smoothing 30", {"smoothing": 30}),
    ("noise_mm 0.05", {"noise_mm": 0.05}),
    ("noise_mm 0.2", {"noise_mm": 0.2}),
    ("noise_mm 0.5", {"noise_mm": 0.5}),
    ("holes 2", {"holes": 2.0}),
    ("holes 6", {"holes": 6.0}),
    ("holes 6, 15-25 mm", {"holes": 6.0, "hole_radius_mm": (15, 25)}),
    ("ragged_border_mm 2", {"ragged_border_mm": 2.0}),
    ("ragged_border_mm 5", {"ragged_border_mm": 5.0}),
    ("ragged_border_mm 10", {"ragged_border_mm": 10.0}),
    ("units cm", {"units": "cm"}),
    ("units m", {"units": "m"}),
    ("pose_deg 1", {"pose_deg": 1.0}),
    ("pose_deg 3", {"pose_deg": 3.0}),
    ("pose_deg 6", {"pose_deg": 6.0}),
    ("mouth hole", {"mouth_cavity_share": 0.0}),
    ("mouth cavity", {"mouth_cavity_share": 1.0}),
    ("eye holes", {"eye_surface_share": 0.0}),
]


def faces() -> list[tuple[str, FaceMesh]]:
    head = build_head(sample_identity(np.random.default_rng(0), "F")).mesh
    model = IctFaceModel.load()
    rng = np.random.default_rng(0)
    vertices = model.shape(random_identity(rng))
    colours = paint_vertex_colours(model, vertices, rng)
    ict = model.mesh(vertices, "narrow_face", vertex_colours=colours)
    ict.landmarks = ict.vertices[model.landmarks]
    return [("generator", head), ("ICT-FaceKit", ict)]


def surface_samples(mesh: FaceMesh, n: int, rng: np.random.Generator):
    """``n`` area-uniform points on ``mesh`` and the unit normal of the triangle of each."""
    tri = mesh.triangles()
    a, b, c = (mesh.vertices[tri[:, k]] for k in range(3))
    cross = np.cross(b - a, c - a)
    area = np.linalg.norm(cross, axis=1)
    pick = rng.choice(len(tri), size=n, p=area / area.sum())
    r1, r2 = rng.random(n), rng.random(n)
    flip = r1 + r2 > 1
    r1[flip], r2[flip] = 1 - r1[flip], 1 - r2[flip]
    points = a[pick] + r1[:, None] * (b - a)[pick] + r2[:, None] * (c - a)[pick]
    return points, cross[pick] / np.maximum(area[pick], 1e-300)[:, None]


class CleanSurface:
    """Point-to-surface distances to a clean mesh: to the tangent plane of the nearest of many
    samples of it (exact on flat patches, and far less biased than the distance to the sample)."""

    def __init__(self, mesh: FaceMesh, n: int = 200_000) -> None:
        points, normals = surface_samples(mesh, n, np.random.default_rng(0))
        self.points = np.concatenate([points, mesh.vertices])
        vertex_normals = np.zeros_like(mesh.vertices)
        tri = mesh.triangles()
        face = np.cross(*(mesh.vertices[tri[:, k]] - mesh.vertices[tri[:, 0]] for k in (1, 2)))
        for k in range(3):
            np.add.at(vertex_normals, tri[:, k], face)
        vertex_normals /= np.maximum(np.linalg.norm(vertex_normals, axis=1), 1e-300)[:, None]
        self.normals = np.concatenate([normals, vertex_normals])
        self.tree = cKDTree(self.points)
        self.area = float(mesh._total_area(None))

    def distance(self, points: np.ndarray) -> np.ndarray:
        gap, nearest = self.tree.query(points)
        along = np.abs(np.einsum("ij,ij->i", points - self.points[nearest], self.normals[nearest]))
        return np.minimum(gap, along)


def measure(clean: FaceMesh, surface: CleanSurface, out: FaceMesh, record: dict) -> dict:
    in_mm = UNITS[record["unit"]]
    mm = FaceMesh(out.vertices * in_mm, out.polygon_offsets, out.polygon_indices)
    samples, _ = surface_samples(mm, 20_000, np.random.default_rng(1))
    distance = surface.distance(np.concatenate([mm.vertices, samples]))
    loops = boundary_loops(mm)
    return {
        "V": out.n_vertices,
        "F": out.n_triangles,
        "dev_mean": float(distance.mean()),
        "dev_max": float(distance.max()),
        "area_lost": 1.0 - mm._total_area(None) / surface.area,
        "border": float(loops.sum()),
        "loops": len(loops),
        "moved": len(record["landmarks_moved"]),
    }


def render_front(renderer, mesh: FaceMesh) -> np.ndarray:
    return renderer.render(mesh)[0].astype(np.float64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3, help="draws averaged per row")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per draw")
    parser.add_argument("--no-render", action="store_true", help="skip the pixel difference")
    args = parser.parse_args()

    renderer = None
    if not args.no_render:
        from facevlm.render import MultiviewRenderer, RenderSettings

        settings = RenderSettings(size=128, views="0", modality="shaded")
        renderer = MultiviewRenderer(settings)

    table = []
    for source, clean in faces():
        surface = CleanSurface(clean)
        clean_image = None if renderer is None else render_front(renderer, clean)
        print(f"\n{source}: {clean.n_vertices} vertices, {clean.n_triangles} triangles, "
              f"{len(boundary_loops(clean))} borders")  # fmt: skip
        header = (
            f"{'knob':22s} {'V':>6s} {'F':>6s} {'dev mean':>9s} {'dev max':>8s} "
            f"{'area lost':>9s} {'border mm':>9s} {'borders':>7s} {'lm moved':>8s} "
            f"{'ms':>6s} {'px':>5s}"
        )
        print(header)
        print("-" * len(header))
        for label, knobs in SWEEP:
            variety = ScannerVariety(**knobs)
            rows, times, pixels = [], [], []
            for seed in range(args.seeds):
                for _ in range(args.repeats):
                    start = time.perf_counter()
                    out, record = apply_scanner_variety(clean, variety, np.random.default_rng(seed))
                    times.append(time.perf_counter() - start)
                rows.append(measure(clean, surface, out, record))
                if renderer is not None:
                    pixels.append(np.abs(render_front(renderer, out) - clean_image).mean())
            mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
            px = f"{np.mean(pixels):5.2f}" if pixels else "    -"
            print(
                f"{label:22s} {mean['V']:6.0f} {mean['F']:6.0f} {mean['dev_mean']:9.3f} "
                f"{mean['dev_max']:8.2f} {mean['area_lost']:9.2%} {mean['border']:9.0f} "
                f"{mean['loops']:7.1f} {mean['moved']:8.1f} {1000 * np.median(times):6.1f} {px}"
            )
            table.append(
                {
                    "face": f"{source} ({clean.n_vertices} V)",
                    "knob": label,
                    "V": round(mean["V"]),
                    "dev mean mm": round(mean["dev_mean"], 3),
                    "dev max mm": round(mean["dev_max"], 2),
                    "area lost": round(mean["area_lost"], 4),
                    "border mm": round(mean["border"]),
                    "borders": round(mean["loops"], 1),
                    "lm moved": round(mean["moved"], 1),
                    "ms": round(1000 * float(np.median(times)), 1),
                    "px": round(float(np.mean(pixels)), 2) if pixels else None,
                }
            )
    if renderer is not None:
        renderer.close()
    _results.record(
        __file__,
        "knobs",
        table,
        notes=f"Each knob alone, averaged over {args.seeds} draws ({args.repeats} timed calls "
        "each); dev: distance from the degraded surface to the clean one; px: mean grey-level "
        "difference of the shaded front view at 128 px.",
    )


if __name__ == "__main__":
    main()
