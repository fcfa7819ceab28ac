"""Do the two face sources make the same expressions? Each scan read as real people's blend shapes.

``cross_generator.py`` trains on one face source of the synthetic set and tests on the other,
and the models read the other source near chance. ``source_gap.py`` asks the renders why; this
script asks the shapes, with no render and no model: every scan is read in one expression basis
measured on real people, ICT-FaceKit's 55 ARKit blend shapes at the face template's points,
fitted together with the identity modes and the pose (:func:`facevlm.render.face_pose.
shape_weights`). Then:

0. **How far each source's faces lie from real people's.** The identity weights' size and the
   share stopped at the fit's limit, and the share of expression weights at full strength: a
   face the basis can make needs neither.
1. **What each source's emotions are, so read.** The mean weights of each emotion at
   intensity 4, and of the neutral face, per source: the shapes the fit reaches for most.
2. **Whether one source's emotions predict the other's.** A logistic regression on the
   expression weights (two highest intensities, six emotions), trained on one source and
   tested on the other, both ways; beside it, leave one subject out within the source, and the
   same across the sources with each scan's weights taken relative to its own subject's
   neutral scan (each face's own resting shape taken out, as a neutral capture allows).

If the sources agreed on what an emotion does to a face, the weights of one would read the
other well above chance (0.167), at least relative to each neutral face.

The sets are BU-3DFE-style scans written as the project's ``data`` pipeline writes them (the
configured scanner variety, one face source each, ``cross_generator.py``'s test seeds and
subject numbers), kept under ``--work`` and reused by a second call.

    PYTHONPATH=src python benchmarks/expression_basis.py --work /tmp/expression_basis
"""

from __future__ import annotations

import argparse
import json
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import yaml
from cross_generator import PROJECT_ROOT, SOURCES, TEST_SEED_OFFSET, TEST_SUBJECT_OFFSET
from source_gap import EMOTIONS, INTENSITIES


def write_sets(work: Path, subjects: int, seed: int) -> dict[str, Path]:
    """A BU-3DFE-style set per face source under ``work`` (reused when written with the same
    settings): the configured synthetic set (its scanner variety, style, pose spread), that
    source alone."""
    from facevlm.synthetic import SyntheticConfig, generate_synthetic_dataset

    params = yaml.safe_load((PROJECT_ROOT / "conf/base/parameters_synthesize.yml").read_text())
    roots = {}
    for source in SOURCES:
        config = SyntheticConfig(
            **{
                **params["synthetic"],
                "seed": seed + TEST_SEED_OFFSET,
                "n_subjects": subjects,
                "subject_offset": TEST_SUBJECT_OFFSET,
                "face_sources": (source,),
                "layouts": ("bu3dfe",),
            }
        )
        roots[source] = work / source
        generate_synthetic_dataset(roots[source], config)
    return roots


def scans_of(root: Path) -> list[tuple[str, str, str, int]]:
    """Every 3D scan of a BU-3DFE-style set: ``(path, subject, emotion, intensity)``."""
    from facevlm.scans.layouts.bu3dfe import parse_name

    found = []
    for path in sorted(root.rglob("*_F3D.wrl")):
        name = parse_name(path.name)
        found.append((str(path), name.subject, name.expression, name.intensity))
    return found


def read_weights(path: str) -> tuple[np.ndarray, np.ndarray] | None:
    """One scan's identity and expression weights (in the template's order), or None when no
    face is found."""
    from facevlm.inference.scan_files import read_scan
    from facevlm.render.face_pose import NotAFaceError, shape_weights

    try:
        read = shape_weights(read_scan(path))
    except NotAFaceError:
        return None
    return read.identity, np.array(list(read.expression.values()))


def weights_table(roots: dict[str, Path], workers: int) -> dict[str, dict]:
    """Per source: the scans' ``subject``, ``emotion``, ``intensity``, ``identity`` and
    ``weights`` (expression) arrays (scans whose face was not found left out, and counted in
    ``refused``)."""
    tables = {}
    with ProcessPoolExecutor(workers) as pool:
        for source, root in roots.items():
            scans = scans_of(root)
            read = list(pool.map(read_weights, [s[0] for s in scans], chunksize=4))
            kept = [i for i, r in enumerate(read) if r is not None]
            tables[source] = {
                "subject": np.array([scans[i][1] for i in kept]),
                "emotion": np.array([scans[i][2] for i in kept]),
                "intensity": np.array([scans[i][3] for i in kept]),
                "identity": np.stack([read[i][0] for i in kept]),
                "weights": np.stack([read[i][1] for i in kept]),
                "refused": len(scans) - len(kept),
            }
    return tables


def outside_the_basis(tables: dict[str, dict]) -> dict:
    """Part 0: how much of each source's faces the basis cannot make, printed and returned:
    the identity weights' mean size (standard deviations; the model's own people: about 0.8)
    and the share stopped at the fit's limit, and the share of expression weights at full
    strength, over every scan and over the neutral scans."""
    from facevlm.render.face_pose.shape_fit import IDENTITY_LIMIT

    print("\n0. How far each source's faces lie from the basis (every scan | neutral scans)")
    result = {}
    for source, table in tables.items():
        row = {}
        for part, chosen in (
            ("all", np.ones(len(table["emotion"]), dtype=bool)),
            ("neutral", table["emotion"] == "neutral"),
        ):
            identity, expression = table["identity"][chosen], table["weights"][chosen]
            row[part] = {
                "identity_mean_sd": float(np.abs(identity).mean()),
                "identity_at_limit": float((np.abs(identity) >= IDENTITY_LIMIT - 1e-6).mean()),
                "expression_at_full": float((expression >= 1.0 - 1e-6).mean()),
            }
        result[source] = row
        shown = " | ".join(
            f"identity {v['identity_mean_sd']:.2f} sd, {v['identity_at_limit']:.3f} at the "
            f"limit, expression {v['expression_at_full']:.3f} at full strength"
            for v in row.values()
        )
        print(f"   {source:<10} {shown}")
    return result


def strongest_shapes(tables: dict[str, dict], names: tuple[str, ...], top: int) -> dict:
    """Part 1: each source's ``top`` strongest mean weights for the neutral face and each
    emotion at intensity 4, printed and returned."""
    print("\n1. The strongest blend shapes of each emotion (mean weight, intensity 4)")
    result = {}
    for emotion in ("neutral", *EMOTIONS):
        for source, table in tables.items():
            chosen = (table["emotion"] == emotion) & np.isin(table["intensity"], (0, 4))
            mean = table["weights"][chosen].mean(axis=0)
            order = np.argsort(-mean)[:top]
            result[f"{emotion}/{source}"] = {names[i]: round(float(mean[i]), 3) for i in order}
            shown = ", ".join(f"{names[i]} {mean[i]:.2f}" for i in order)
            print(f"   {emotion:<10} {source:<10} {shown}")
    return result


def _classifier():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=3000))


def _scored(table: dict, relative: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The part 2 scans' weights (relative to their subject's neutral scan when ``relative``),
    emotion labels and subjects."""
    subject, emotion, weights = table["subject"], table["emotion"], table["weights"]
    chosen = np.isin(emotion, EMOTIONS) & np.isin(table["intensity"], INTENSITIES)
    neutral = {s: w for s, e, w in zip(subject, emotion, weights, strict=True) if e == "neutral"}
    if relative:
        chosen &= np.isin(subject, list(neutral))
    x = weights[chosen]
    if relative:
        x = x - np.stack([neutral[s] for s in subject[chosen]])
    labels = np.array([EMOTIONS.index(e) for e in emotion[chosen]])
    return x, labels, subject[chosen]


def within_source(table: dict) -> float:
    """Leave-one-subject-out accuracy of the classifier within one source."""
    x, y, subjects = _scored(table, relative=False)
    right = 0
    for subject in np.unique(subjects):
        held = subjects == subject
        right += int((_classifier().fit(x[~held], y[~held]).predict(x[held]) == y[held]).sum())
    return right / len(y)


def across_sources(train: dict, test: dict, relative: bool) -> float:
    """Accuracy on ``test`` of the classifier trained on ``train``."""
    x, y, _ = _scored(train, relative)
    test_x, test_y, _ = _scored(test, relative)
    return float((_classifier().fit(x, y).predict(test_x) == test_y).mean())


def transfer(tables: dict[str, dict]) -> dict:
    """Part 2, printed and returned."""
    print("\n2. Emotions read from the blend-shape weights (linear, six emotions, chance 0.167)")
    print("   trained on -> tested on | own source, leave one subject out | other source |")
    print("   other source, each scan relative to its subject's neutral")
    result = {}
    for train, test in ((SOURCES[0], SOURCES[1]), (SOURCES[1], SOURCES[0])):
        row = {
            "own_source": within_source(tables[train]),
            "other_source": across_sources(tables[train], tables[test], relative=False),
            "other_source_relative_to_neutral": across_sources(
                tables[train], tables[test], relative=True
            ),
        }
        result[f"{train}->{test}"] = row
        print(f"   {train} -> {test} | " + " | ".join(f"{v:.3f}" for v in row.values()))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("data/expression_basis"))
    parser.add_argument("--subjects", type=int, default=16, help="subjects per source")
    parser.add_argument("--seed", type=int, default=0, help="the training sets' synthetic seed")
    parser.add_argument("--top", type=int, default=5, help="shapes listed per emotion")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()

    from facevlm.render.face_template import load_template

    roots = write_sets(args.work, args.subjects, args.seed)
    tables = weights_table(roots, args.workers)
    for source, table in tables.items():
        print(f"{source}: {len(table['weights'])} scans read, {table['refused']} without a face")
    figures = {
        "outside_the_basis": outside_the_basis(tables),
        "strongest_shapes": strongest_shapes(tables, load_template().expression_names, args.top),
        "transfer": transfer(tables),
    }
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
