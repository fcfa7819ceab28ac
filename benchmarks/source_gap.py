"""Is the gap between the two face sources in the data or in the models? Measured without a model.

``cross_generator.py`` trains a model on one face source of the synthetic set and tests it on
the other; it has stayed at chance both ways. This script asks whether anything simpler reads
expressions across the sources, and where the sources differ, with no training run:

1. **Pixels, linearly.** A logistic regression on each scan's frontal render as the models see
   it (grey levels and their gradients, the whole view, framed by the face pose, resized to
   ``--size`` pixels) is trained on one source's six emotions (two highest intensities) and
   tested on the other's, both ways; beside it, its leave-one-subject-out accuracy within the
   source. Each pixel is standardised two ways: by the training source's mean and spread (what
   a model trained on it does with any input), and by each set's own (each source's average
   look taken out, with no labels: what a model could do with a new database's scans as a
   whole). If it reads the training source well and the other at chance, the sources' renders
   of one emotion differ where the pixels show it.
2. **Action units.** For each action unit at activation 1, how far it moves the 83 landmarks on
   procedural faces and on ICT-FaceKit faces (root mean square, mm) and whether in the same
   directions (cosine of the two landmark motions), over ``--identities`` identities.
3. **What each emotion changes.** For each source, the mean of each emotion's render minus the
   same subject's neutral (intensity 4, frontal), written as one picture (``--picture``): the
   rows are the sources, the columns the six emotions; grey is no change.

The two sets are made by the project's ``data`` pipeline in projects of their own under
``--work`` (as ``cross_generator.py`` makes its test sets: the default configuration, one face
source each, BU-3DFE layout), and reused by a second call.

    PYTHONPATH=src python benchmarks/source_gap.py --work /tmp/source_gap [--param KEY=VALUE]
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

#: The emotions scored (neutral is the reference of the difference pictures).
EMOTIONS = ("anger", "disgust", "fear", "happiness", "sadness", "surprise")
#: Scans scored in part 1: the two highest intensities, as the models' protocol selects.
INTENSITIES = (3, 4)


def make_sets(work: Path, subjects: int, seed: int, extra: tuple) -> dict[str, Path]:
    """One project per face source with its ``data`` pipeline run (reused when present): the
    test sets ``cross_generator.py`` makes for training seed ``seed``."""
    from cross_generator import Sizes, project_copy, run_session, test_params

    sizes = Sizes(
        subjects=None,
        test_subjects=subjects,
        pretrain_subjects=None,
        epochs=None,
        smile_epochs=None,
        pretrain_epochs=None,
        folds=None,
        seed=seed,
        workers=None,
        extra=extra,
    )
    projects = {}
    for source in ("procedural", "ict"):
        project = project_copy(work / f"set-{source}")
        if not any((project / "data" / "04_feature" / "renders").glob("*/renders/views.npy")):
            run_session(project, "data", test_params(source, sizes))
        projects[source] = project
    return projects


def frontal_renders(project: Path) -> tuple[np.ndarray, object]:
    """The render set's first view of every scan ``(N, S, S)`` grey, and its sample table."""
    from facevlm.inference import Project

    renders = Project.open(project).catalog.load("renders")
    views = np.asarray(renders.view_array()[:])[:, 0].astype(np.float32).mean(axis=-1)
    return views, renders.samples.reset_index(drop=True)


def pixel_features(grey: np.ndarray, size: int) -> np.ndarray:
    """Grey levels and their gradients over the whole view, resized to ``size``.

    The whole view, not the bounding box of what is drawn: the renderer frames every face by
    its pose (forehead to chin, ear to ear), so a pixel is the same part of the face in both
    sources; a face crop's drawn box and a head's differ in extent, and cropping to them put
    different parts of the face at one pixel (the probe measured 0.15-0.25 across sources so)."""
    from PIL import Image

    rows = []
    for image in grey:
        small = np.asarray(Image.fromarray(image).resize((size, size)), dtype=np.float32) / 255
        gy, gx = np.gradient(small)
        rows.append(np.concatenate([small.ravel(), gx.ravel(), gy.ravel()]))
    return np.stack(rows)


def linear_classifier():
    """The probe: a strongly regularised logistic regression on standardised features (few
    scans, many features)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=3000))


def linear_transfer(train_x, train_y, test_x, test_y) -> float:
    """Accuracy on ``test_*`` of :func:`linear_classifier` fitted on ``train_*``."""
    return float(np.mean(linear_classifier().fit(train_x, train_y).predict(test_x) == test_y))


def standardised(x: np.ndarray) -> np.ndarray:
    """Each feature by the set's own mean and spread (no labels)."""
    return (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-6)


def pixel_transfer(sets: dict[str, tuple[np.ndarray, object]], size: int) -> None:
    data = {}
    for source, (grey, samples) in sets.items():
        keep = samples.expression.isin(EMOTIONS) & samples.intensity.isin(INTENSITIES)
        rows = np.flatnonzero(keep.to_numpy())
        labels = samples.expression[keep].map(EMOTIONS.index).to_numpy()
        data[source] = (pixel_features(grey[rows], size), labels, samples.subject[keep].to_numpy())
    print(f"\n1. pixels, linearly ({size} px view; chance {1 / len(EMOTIONS):.3f})")
    for train, test in (("procedural", "ict"), ("ict", "procedural")):
        x, y, subjects = data[train]
        model = linear_classifier()
        within = []
        for subject in np.unique(subjects):
            held = subjects == subject
            model.fit(x[~held], y[~held])
            within.append(np.mean(model.predict(x[held]) == y[held]))
        x_test, y_test, _ = data[test]
        across = linear_transfer(x, y, x_test, y_test)
        # each set standardised by its own pixel statistics (no labels) before the same fit
        own = linear_transfer(standardised(x), y, standardised(x_test), y_test)
        print(f"   {train:>10} -> {test:<10} within (leave one subject out) "
              f"{np.mean(within):.3f}   across {across:.3f}, each set standardised by its own "
              f"statistics {own:.3f} (of {len(y_test)})")  # fmt: skip


def action_units(n_identities: int) -> None:
    from facevlm.synthetic.expressions import ACTION_UNITS, au_displacement
    from facevlm.synthetic.head import build_head
    from facevlm.synthetic.ict_head import build_ict_head
    from facevlm.synthetic.identity import sample_identity

    procedural, ict = [], []
    for k in range(n_identities):
        rng = np.random.default_rng([4242, k])
        identity = sample_identity(rng, "FM"[k % 2])
        procedural.append(build_head(identity))
        ict.append(build_ict_head(identity, rng, "face"))
    print(f"\n2. action units at activation 1: landmark motion over {n_identities} identities")
    print("   AU  name                    procedural mm  ICT-FaceKit mm  ratio  cosine")
    for au, name in ACTION_UNITS.items():
        p = np.mean([au_displacement(h, {au: 1.0})[h.landmark_indices] for h in procedural], 0)
        i = np.mean([h.displacement({au: (1.0, 1.0)})[h.landmark_indices] for h in ict], 0)
        rms_p, rms_i = np.sqrt((p**2).sum(1).mean()), np.sqrt((i**2).sum(1).mean())
        cosine = (p * i).sum() / (np.linalg.norm(p) * np.linalg.norm(i) + 1e-12)
        print(f"   {au:>2}  {name:<22} {rms_p:>14.2f} {rms_i:>15.2f} {rms_i / rms_p:>6.2f}"
              f" {cosine:>7.2f}")  # fmt: skip


def difference_picture(sets: dict[str, tuple[np.ndarray, object]], path: Path) -> None:
    from PIL import Image

    rows = []
    for grey, samples in sets.values():
        tiles = []
        for emotion in EMOTIONS:
            changes = []
            for subject in samples.subject.unique():
                mine = samples.subject == subject
                neutral = np.flatnonzero(mine & (samples.expression == "neutral"))
                apex = np.flatnonzero(
                    mine & (samples.expression == emotion) & (samples.intensity == 4)
                )
                if len(neutral) and len(apex):
                    changes.append(grey[apex[0]] - grey[neutral[0]])
            tiles.append(np.clip(128 + 2 * np.mean(changes, axis=0), 0, 255).astype(np.uint8))
        rows.append(np.concatenate(tiles, axis=1))
    Image.fromarray(np.concatenate(rows, axis=0)).save(path)
    print(f"\n3. each emotion minus neutral (rows: procedural, ICT-FaceKit): {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=Path("data/source_gap"))
    parser.add_argument("--subjects", type=int, default=8, help="subjects per source")
    parser.add_argument(
        "--seed", type=int, default=0, help="as cross_generator.py's: its test sets' seed"
    )
    parser.add_argument(
        "--size", type=int, nargs="+", default=[24, 48], help="view sizes of part 1 (px)"
    )
    parser.add_argument("--identities", type=int, default=8, help="identities of part 2")
    parser.add_argument("--picture", type=Path, default=None, help="part 3's PNG")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a runtime parameter of both sets, as in cross_generator.py",
    )
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # cross_generator
    from cross_generator import key_value

    extra = tuple(key_value(text) for text in args.param)
    projects = make_sets(args.work.resolve(), args.subjects, args.seed, extra)
    logging.disable(logging.WARNING)  # the catalogs' loading notes would bury the figures
    sets = {source: frontal_renders(project) for source, project in projects.items()}
    for size in args.size:
        pixel_transfer(sets, size)
    action_units(args.identities)
    difference_picture(sets, args.picture or args.work / "emotion_minus_neutral.png")


if __name__ == "__main__":
    main()
