"""How much of a micro-expression reaches the renders, for each way of showing the motion?

Not part of the package: the diagnostic behind ``render.frames: surface_motion``
(docs/what-we-tried/sequences.md). It writes the built-in 4DME-style clips (conf/base's
synthetic parameters, only that layout), makes one input per clip in each of these ways and
prints how well a linear model reads the five classes from its pixels, leave-one-subject-out
(grey levels of every view, standardised, 40 principal components, logistic regression). A
linear model on pixels is a floor for what a network can read, not a ceiling; it is cheap, and
it tells the ways apart.

- ``apex``: the apex frame's texture render;
- ``apex-onset``: the difference of the apex and onset renders (the motion as photographs
  carry it);
- ``surface_motion``: the map of how far the surface moved from onset to apex, measured on the
  meshes (``facevlm.render.surface_motion``), as the pipeline renders it.

    PYTHONPATH=src python benchmarks/micro_expression_inputs.py [--size 64] [--root DIR]

Measured on 2026-11-24 (80 clips of 16 subjects, 64 px): apex 0.363, apex-onset 0.600,
surface_motion 0.838 (docs/what-we-tried/sequences.md has the history); about 75 s on 2 cores
with the clips written.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

CLASSES = ["Positive", "Negative", "Surprise", "Repression", "Others"]
LABELS = "4DME_Labelling_Micro_release v1.xlsx"


def write_clips(root: Path) -> Path:
    """The built-in 4DME-style clips under ``root`` (reused when already there), written the
    way a run that reads only ``synthetic-4dme`` writes them."""
    from facevlm.pipelines.synthesize.nodes import prepare_raw_scans

    params = yaml.safe_load(Path("conf/base/parameters_synthesize.yml").read_text())["synthetic"]
    dataset = {"name": "synthetic", "root": str(root)}
    prepare_raw_scans(dataset, params, {"datasets": ["synthetic-4dme"]})
    return root / "4DME"


def loso_accuracy(features: np.ndarray, labels: np.ndarray, subjects: np.ndarray) -> float:
    """Mean accuracy over leave-one-subject-out folds of a linear model on ``features``."""
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    scores = []
    for subject in np.unique(subjects):
        test = subjects == subject
        model = make_pipeline(
            StandardScaler(), PCA(40, random_state=0), LogisticRegression(C=0.1, max_iter=3000)
        ).fit(features[~test], labels[~test])
        scores.append(float(np.mean(model.predict(features[test]) == labels[test])))
    return float(np.mean(scores))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=64, help="render size in pixels")
    parser.add_argument("--root", type=Path, default=None, help="where to write the clips")
    args = parser.parse_args()

    from facevlm.render.renderer import MultiviewRenderer, RenderSettings
    from facevlm.render.surface_motion import surface_motion_mesh, surface_motion_settings
    from facevlm.scans.formats import read_mesh

    with tempfile.TemporaryDirectory() as scratch:
        clips = write_clips(args.root or Path(scratch))
        table = pd.read_excel(clips / LABELS)
        labels = table[CLASSES].to_numpy().argmax(axis=1)
        subjects = table["sub_ID"].to_numpy()
        settings = RenderSettings(size=args.size)
        inputs: dict[str, list[np.ndarray]] = {"apex": [], "apex-onset": [], "surface_motion": []}
        start = time.perf_counter()
        with (
            MultiviewRenderer(settings) as photo,
            MultiviewRenderer(surface_motion_settings(settings)) as motion,
        ):
            for clip in table.itertuples():
                folder = clips / clip.sub_ID / clip.fold_name
                onset = read_mesh(folder / f"{clip.Onset:03d}.obj")
                apex = read_mesh(folder / f"{clip.Apex:03d}.obj")
                apex_views = photo.render(apex).astype(np.float32).mean(-1)
                onset_views = photo.render(onset).astype(np.float32).mean(-1)
                motion_views = motion.render(surface_motion_mesh(onset, apex))
                inputs["apex"].append(apex_views.ravel())
                inputs["apex-onset"].append((apex_views - onset_views).ravel())
                inputs["surface_motion"].append(motion_views.astype(np.float32).mean(-1).ravel())
        print(
            f"{len(table)} clips of {len(np.unique(subjects))} subjects, {args.size} px, "
            f"made in {time.perf_counter() - start:.1f} s; chance {1 / len(CLASSES):.2f}"
        )
        for name, rows in inputs.items():
            accuracy = loso_accuracy(np.stack(rows), labels, subjects)
            print(f"{name:>15}: leave-one-subject-out linear accuracy {accuracy:.3f}")


if __name__ == "__main__":
    main()
