"""Frontal pyvista renders of synthetic subjects' expressions, for a person to look at.

Not part of the package: a quick visual check of :mod:`facevlm.synthetic` (do the six
emotions read as six different faces? does the texture look like a face?).

    PYTHONPATH=src python tools/preview_synthetic.py --out /tmp/synthetic_preview.png
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pyvista as pv
from PIL import Image

from facevlm.scans.labels import BASIC_EMOTIONS, NEUTRAL
from facevlm.synthetic.expressions import expression_vertices
from facevlm.synthetic.procedural.head import build_head
from facevlm.synthetic.procedural.identity import sample_identity
from facevlm.synthetic.procedural.texture import paint_texture

pv.OFF_SCREEN = True


def render(mesh, texture_png: Path | None, size: int, yaw: float = 0.0) -> np.ndarray:
    points, triangles, tcoords = mesh.render_arrays()
    faces = np.hstack([np.full((len(triangles), 1), 3), triangles]).ravel()
    poly = pv.PolyData(points, faces)
    pl = pv.Plotter(off_screen=True, window_size=(size, size))
    pl.set_background("black")
    if texture_png is not None and tcoords is not None:
        poly.active_texture_coordinates = tcoords
        pl.add_mesh(poly, texture=pv.read_texture(str(texture_png)), smooth_shading=True)
    else:
        pl.add_mesh(poly, color="lightgray", smooth_shading=True, specular=0.2)
    pl.camera_position = "xy"
    pl.camera.azimuth = yaw
    pl.camera.zoom(1.25)
    pl.render()
    image = pl.screenshot(return_img=True)
    pl.close()
    return image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("/tmp/synthetic_preview.png"))
    parser.add_argument("--subjects", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--intensity", type=int, default=4)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for s in range(args.subjects):
            rng = np.random.default_rng([args.seed, s])
            identity = sample_identity(rng, "F" if s % 2 == 0 else "M")
            head = build_head(identity)
            png = Path(tmp) / f"atlas{s}.png"
            Image.fromarray(paint_texture(identity)).save(png)
            for textured in (True, False):
                row = []
                for emotion in (NEUTRAL, *BASIC_EMOTIONS):
                    intensity = 0 if emotion == NEUTRAL else args.intensity
                    verts = expression_vertices(
                        head, emotion, intensity, rng=np.random.default_rng(s)
                    )
                    row.append(
                        render(head.with_vertices(verts), png if textured else None, args.size)
                    )
                rows.append(np.concatenate(row, axis=1))
        # intensity ladder of the first subject: happiness 1-4, then surprise 1-3
        identity = sample_identity(np.random.default_rng([args.seed, 0]), "F")
        head = build_head(identity)
        png = Path(tmp) / "atlas0.png"
        ladder = [("happiness", k) for k in (1, 2, 3, 4)] + [("surprise", k) for k in (1, 2, 3)]
        row = [
            render(head.with_vertices(expression_vertices(head, e, k)), png, args.size)
            for e, k in ladder
        ]
        rows.append(np.concatenate(row, axis=1))
    Image.fromarray(np.concatenate(rows, axis=0)).save(args.out)
    print(args.out)


if __name__ == "__main__":
    main()
