"""Where faces of each source and crop lie in the canonical frame, and how much of each the face
region keeps (``src/facevlm/render/face_region.py``).

For random procedural faces and ICT-FaceKit faces in their three crops (narrow face area, full
face area, head with neck), each placed by the face pose estimate as any scan is, it prints the
1st and 99th percentiles of the canonical x, y and z (face box radii) and the share of vertices
inside the face region. A procedural face crop should keep nearly all of itself; a head should
lose its skull, ears and neck. ``--sheet PATH`` writes shaded renders of a few faces of each
kind, as the pipelines draw them, to look at.

    python benchmarks/face_region.py --faces 12 --sheet face_region.png
"""

from __future__ import annotations

import argparse

import _results
import numpy as np
from _posed_cases import ict_face, synthetic_face

from facevlm.render.face_pose import estimate_face_pose
from facevlm.render.face_region import in_face_region
from facevlm.scans.mesh import FaceMesh

KINDS = ("procedural", "ict narrow", "ict full", "ict head")


def _face(kind: str, rng: np.random.Generator) -> FaceMesh:
    """A face of ``kind``, drawn as the face pose's tests draw theirs (_posed_cases.py)."""
    if kind == "procedural":
        return synthetic_face(rng)[2]
    vertices, triangles, _ = ict_face(rng, kind.split()[1])
    return FaceMesh.from_triangles(vertices, triangles)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=12, help="faces per kind")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sheet", help="write shaded renders of 3 faces per kind here (PNG)")
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    sheet_rows, table = [], []
    print(f"{'kind':<12} {'x 1%..99%':>14} {'y 1%..99%':>14} {'z 1%..99%':>14} {'kept':>12}")
    for kind in KINDS:
        low, high, kept = [], [], []
        for i in range(args.faces):
            mesh = _face(kind, rng)
            pose = estimate_face_pose(mesh)
            points = pose.normalization().apply(mesh.vertices)
            low.append(np.percentile(points, 1, axis=0))
            high.append(np.percentile(points, 99, axis=0))
            kept.append(in_face_region(points).mean())
            if args.sheet and i < 3:
                sheet_rows.append((mesh, pose))
        low, high = np.mean(low, axis=0), np.mean(high, axis=0)
        extents = " ".join(f"{a:+.2f}..{b:+.2f}" for a, b in zip(low, high, strict=True))
        print(f"{kind:<12} {extents}  {np.mean(kept):.3f} (min {np.min(kept):.3f})")
        table.append(
            {
                "faces": kind,
                **{
                    axis: f"{a:+.2f}..{b:+.2f}" for axis, a, b in zip("xyz", low, high, strict=True)
                },
                "kept": round(float(np.mean(kept)), 3),
                "kept, lowest": round(float(np.min(kept)), 3),
            }
        )
    _results.record(
        __file__,
        "extents",
        table,
        notes=f"{args.faces} faces of each kind, seed {args.seed}: mean 1st..99th percentiles "
        "once posed, in face box radii, and the share of vertices the face oval keeps.",
    )
    if args.sheet:
        from PIL import Image

        from facevlm.render.renderer import MultiviewRenderer, RenderSettings

        settings = RenderSettings(size=128, modality="shaded", pose="estimate")
        with MultiviewRenderer(settings) as renderer:
            rows = [np.concatenate(list(renderer.render(m, pose=p)), axis=1) for m, p in sheet_rows]
        Image.fromarray(np.concatenate(rows, axis=0)).save(args.sheet)
        print(f"renders: {args.sheet} (rows: 3 faces of each kind, in the order above)")


if __name__ == "__main__":
    main()
