"""Does a trained model still recognise expressions when the face sits elsewhere in the image?

Not part of the package: a check of what a model reads expressions from. The renderer draws
every face at the same place and size (:mod:`facevlm.render.normalize`), so a model trained on
the built-in set alone can learn "the mouth is in *this* patch" instead of what the mouth does;
faces from any other source (another scanner's crop, a full head, a face model) are framed
differently and such a model fails on them. Here faces of new synthetic subjects (seeds no
pipeline uses) are rendered with the project's settings, then zoomed and shifted, and scored by
a trained bundle (by default the last ``train_affectvlm`` run's).

    PYTHONPATH=src python benchmarks/framing_robustness.py [--bundle PATH] [--modality shaded]

Prints the accuracy per framing; a model that reads expressions keeps its accuracy across rows.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

#: (zoom, vertical shift as a fraction of the half-image, horizontal shift): zoom < 1 draws the
#: face smaller (a looser crop), > 1 larger; a positive shift moves the face up / right.
FRAMINGS: tuple[tuple[float, float, float], ...] = (
    (1.0, 0.0, 0.0),
    (0.85, 0.0, 0.0),
    (1.15, 0.0, 0.0),
    (1.0, 0.08, 0.0),
    (1.0, -0.08, 0.0),
    (1.0, 0.0, 0.08),
    (0.9, -0.05, 0.05),
)


def reframe(views: np.ndarray, zoom: float, dy: float, dx: float) -> np.ndarray:
    """``(N, V, S, S, 3)`` uint8 views zoomed by ``zoom`` about the centre and shifted by
    ``(dx, dy)`` half-images (the background fills what comes into view)."""
    import torch
    import torch.nn.functional as F

    n, v, s = views.shape[:3]
    x = torch.from_numpy(views).float().permute(0, 1, 4, 2, 3).reshape(n * v, 3, s, s)
    # sampling grid: output -> input coordinates; image y grows downwards, so "up" is -dy
    theta = torch.tensor([[1 / zoom, 0.0, -dx / zoom], [0.0, 1 / zoom, dy / zoom]])
    grid = F.affine_grid(theta.expand(n * v, 2, 3), list(x.shape), align_corners=False)
    y = F.grid_sample(x, grid, padding_mode="zeros", align_corners=False)
    y = y.reshape(n, v, 3, s, s).permute(0, 1, 3, 4, 2)
    return y.round().clamp(0, 255).to(torch.uint8).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bundle", type=Path, default=None)
    parser.add_argument("--modality", default=None, help="texture | shaded | depth (default: conf)")
    parser.add_argument("--subjects", type=int, default=6)
    parser.add_argument("--intensity", type=int, default=4)
    args = parser.parse_args()

    from bundle_scoring import load_bundle, render_settings

    from facevlm.render.renderer import MultiviewRenderer
    from facevlm.synthetic.expressions import expression_vertices
    from facevlm.synthetic.head import build_head
    from facevlm.synthetic.identity import sample_identity
    from facevlm.synthetic.photo_shading import bake_capture_light
    from facevlm.synthetic.texture import paint_texture

    scored = load_bundle(args.bundle)
    settings = render_settings(args.modality)
    modality = settings.modality

    faces, labels = [], []
    with MultiviewRenderer(settings) as renderer:
        for s in range(args.subjects):
            # seed 424242: no pipeline's subjects (they derive from synthetic.seed 0 and 1)
            identity = sample_identity(np.random.default_rng([424242, s]), "FM"[s % 2])
            head = build_head(identity)
            texture = paint_texture(identity) if modality == "texture" else None
            for label, emotion in enumerate(scored.classes):
                rng = np.random.default_rng([424242, s, label])
                moved = expression_vertices(head, emotion, args.intensity, rng=rng)
                mesh = head.with_vertices(moved)
                # the texture photographed on this face, as the built-in set's scans are
                photo = None if texture is None else bake_capture_light(texture, head, moved)
                faces.append(renderer.render(mesh, photo))
                labels.append(label)
    views = np.stack(faces)
    labels = np.array(labels)
    print(f"bundle: {scored.path}")
    print(
        f"faces: {len(labels)} ({args.subjects} new subjects x {len(scored.classes)} emotions, "
        f"intensity {args.intensity}, {modality})"
    )
    print("zoom  shift(y, x)  accuracy  predictions per class")
    for zoom, dy, dx in FRAMINGS:
        predicted = scored.predict(reframe(views, zoom, dy, dx))
        counts = np.bincount(predicted, minlength=len(scored.classes))
        print(f"{zoom:4.2f}  ({dy:+.2f}, {dx:+.2f})  {np.mean(predicted == labels):8.3f}  {counts}")


if __name__ == "__main__":
    main()
