"""Do the trained models read expressions on real people's scans?

The yardstick of the built-in set's purpose: models trained on synthetic faces are only useful
if they read real faces. This script scores the project's trained models (the newest
``<model>.model`` of the catalog, as ``facevlm predict`` and the app serve them) on a folder of
real scans with a labels file the user writes, and prints one row per scan and the accuracy.

The labels file is a CSV with the columns ``file`` (a path relative to the scans folder) and
``emotion`` (one of the model's classes; other labels, such as ``neutral`` or a facial action,
are listed but not scored)::

    file,emotion
    pose_2.obj,happiness
    pose_5.obj,anger

No scan ships with the project: real 3D face databases are under research licences. The
documentation's figure uses FaceWarehouse's subject Tester_1 (public in the repository
jpl917/BlendshapeGeneration, ``data/Tester_1/TrainingPose/``); ``--facewarehouse`` writes its
labels file (FaceWarehouse's published pose order) beside the scans::

    PYTHONPATH=src python benchmarks/real_scans.py --scans /path/to/TrainingPose --facewarehouse

``--held-out-ict N`` adds a second yardstick that needs no download: N ICT-FaceKit subjects
written by the synthetic generator with a seed and subject ids no training set uses (a held-out
group of identities, every emotion at intensities 3 and 4).

``--held-out-bank N`` adds N held-out ICT-FaceKit subjects (the same seed and ids) wearing real
people's expressions instead: CK+'s coded expressions of the expression bank's people that no
built-in set deals (``synthetic.expressions: bank_held_out``; N at most 6), so that a model
trained on the prototypes and one trained on the bank's other people are scored alike on
expressions neither saw.

``--held-out-procedural N`` adds another: N subjects of the project's own procedural heads, which
no default run learns from, at the same intensities. It stands in for another face model: a
face whose shape and expressions were made otherwise than the training faces', the case in
which the model and the face reader are both fooled by the same render and agree on a wrong
answer (docs/methods.md, "When the product answers").

``--fold-agreement`` also predicts every scan with the fold models of the newest training run
and prints how many agree with the served model: does agreement tell right answers from wrong
ones (docs/what-we-tried/calibration.md)?
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import _results

#: FaceWarehouse's 20 training poses in its published order (Cao et al., 2014): ``pose_<i>``.
#: The poses named after an emotion are scored; the others are single facial actions.
FACEWAREHOUSE_POSES = (
    "neutral", "mouth stretch", "smile", "brow lower", "brow raiser", "anger", "jaw left",
    "jaw right", "jaw forward", "mouth left", "mouth right", "dimpler", "chin raiser",
    "lip puckerer", "lip funneler", "sadness", "lip roll", "grin", "cheek blowing", "eyes closed",
)  # fmt: skip
#: The poses that show one of the six basic emotions, as the models name it.
FACEWAREHOUSE_EMOTIONS = {"smile": "happiness", "grin": "happiness", "anger": "anger",
                          "sadness": "sadness"}  # fmt: skip
#: Seed and subject ids of the held-out ICT-FaceKit group: neither the evaluation set (seed 0,
#: ids from 1) nor the pretraining corpus (seed 1, ids from 5001) draws them.
HELD_OUT_SEED = 977
HELD_OUT_OFFSET = 9000
#: The generated yardsticks, by the face source they are drawn from.
HELD_OUT_NAMES = {
    "ict": "held-out ICT-FaceKit identities",
    "bank": "held-out ICT-FaceKit identities wearing held-out CK+ expressions",
    "procedural": "another face model (procedural heads)",
}


@dataclass
class Row:
    file: str
    truth: str
    prediction: str | None
    probability: float
    familiar: bool | None
    abstained: bool = False  # the model said it cannot tell (its top answer is still scored)
    answer_set: tuple[str, ...] = ()
    #: share of the cross-validation's fold models whose top answer is the served model's
    #: (``--fold-agreement``; None without)
    agreement: float | None = None
    #: what ``facevlm predict`` answers (None: it cannot tell), and what ``--always-answer``
    #: gives (the answer, else the model's and its face reader's best guess combined)
    answer: str | None = None
    best_guess: str | None = None


def write_facewarehouse_labels(scans: Path) -> Path:
    """``labels.csv`` beside FaceWarehouse's ``pose_<i>.obj`` files, in its published order."""
    path = scans / "labels.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "emotion"])
        for index, pose in enumerate(FACEWAREHOUSE_POSES):
            if (scans / f"pose_{index}.obj").is_file():
                writer.writerow([f"pose_{index}.obj", FACEWAREHOUSE_EMOTIONS.get(pose, pose)])
    return path


def read_labels(path: Path) -> dict[str, str]:
    """``file -> emotion`` from a labels CSV; a missing column is an error naming the file."""
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"file", "emotion"} <= set(reader.fieldnames):
            raise SystemExit(f"{path}: a labels file needs the columns file,emotion")
        return {row["file"]: row["emotion"].strip() for row in reader}


def write_held_out(folder: Path, n_subjects: int, kind: str) -> dict[str, str]:
    """A held-out group of subjects (:data:`HELD_OUT_NAMES`: ``ict``, ``bank`` or
    ``procedural``) in BU-3DFE's layout; ``file -> emotion``."""
    from facevlm.scans.labels import NEUTRAL
    from facevlm.synthetic import SyntheticConfig, generate_synthetic_dataset
    from facevlm.synthetic.layout_writers import BU3DFE_CODES

    config = SyntheticConfig(
        seed=HELD_OUT_SEED,
        n_subjects=n_subjects,
        layouts=("bu3dfe",),
        face_sources=("procedural",) if kind == "procedural" else ("ict",),
        expressions="bank_held_out" if kind == "bank" else "prototypes",
        subject_offset=HELD_OUT_OFFSET,
    )
    generate_synthetic_dataset(folder, config)
    emotions = {code: emotion for emotion, code in BU3DFE_CODES.items() if emotion != NEUTRAL}
    labels = {}
    for scan in sorted(folder.rglob("*_F3D.wrl")):
        code, intensity = scan.name.split("_")[1][:2], scan.name.split("_")[1][2:4]
        if code in emotions and intensity in ("03", "04"):
            labels[str(scan.relative_to(folder))] = emotions[code]
    return labels


def fold_predictors(project, bundle, model: str) -> list:
    """Predictors of the fold models of ``model``'s newest training run
    (``params:caches.training_runs``): each fold's last epoch checkpoint in a copy of the
    served bundle, whose prompts, probe, calibration and familiarity they share.

    Why: agreement between independently trained models is a candidate for knowing when the
    model can be trusted, and cross-validation trains them anyway. AffectVLM's answer comes
    from each fold model's own image and text towers; SMILE-VLM's from the served model's
    probe on each fold model's features (the folds' own probes are not kept), so its
    agreement is a looser measure."""
    import copy

    from facevlm.inference import Predictor
    from facevlm.models.checkpoints import latest_checkpoint, load_checkpoint

    runs_dir = project.path / project.params["caches"]["training_runs"]
    runs = sorted(runs_dir.glob(f"{model}-*"), key=lambda p: p.stat().st_mtime)
    if not runs:
        raise SystemExit(f"{runs_dir}: no training run of {model} (run `kedro run` first)")
    predictors = []
    for folder in sorted((runs[-1] / "training").glob("fold_*/checkpoints")):
        checkpoint = latest_checkpoint(folder)
        if checkpoint is None:
            continue
        fold_bundle = copy.copy(bundle)
        fold_bundle.state_dict = load_checkpoint(checkpoint)["model"]
        predictors.append(Predictor(fold_bundle, project.render_params, name=model))
    print(f"  {model}: {len(predictors)} fold models of {runs[-1]}")
    return predictors


def score(
    predictor, scans: Path, labels: dict[str, str], classes: list[str], folds: list = ()
) -> list[Row]:
    """One :class:`Row` per labelled scan (a scan the model refuses: prediction ``None``),
    with the fold models' agreement when ``folds`` are given (:func:`fold_predictors`)."""
    from facevlm.inference.inputs import ScanInput
    from facevlm.scans.errors import ScanError

    rows = []
    for name, truth in labels.items():
        try:
            result = predictor.predict(ScanInput(scans / name, name))
        except (ScanError, ValueError, OSError) as error:
            print(f"  {name}: refused: {error}", file=sys.stderr)
            rows.append(Row(name, truth, None, 0.0, None))
            continue
        # the top answer is scored even where the model abstains: the yardstick measures what
        # it reads; whether it knew that it could not tell is reported beside
        top = result.prediction
        probability = float(result.probabilities[classes.index(top)])
        answer_set = tuple(result.prediction_set or ())
        agreement = None
        if folds:
            tops = [fold.predict(ScanInput(scans / name, name)).prediction for fold in folds]
            agreement = sum(t == top for t in tops) / len(tops)
        rows.append(Row(name, truth, top, probability, result.familiar, result.abstained,
                        answer_set, agreement, result.answer, result.best_guess))  # fmt: skip
    return rows


def accuracy(
    rows: list[Row], classes: list[str], label: str = "prediction"
) -> tuple[int, int, float]:
    """(right, scored, balanced accuracy over the classes present) of the scorable rows, for the
    rows' ``label``: the model's top class (``prediction``) or ``best_guess``."""
    scored = [r for r in rows if r.truth in classes]
    by_class: dict[str, list[bool]] = defaultdict(list)
    for row in scored:
        by_class[row.truth].append(getattr(row, label) == row.truth)
    right = sum(getattr(r, label) == r.truth for r in scored)
    balanced = sum(sum(v) / len(v) for v in by_class.values()) / max(len(by_class), 1)
    return right, len(scored), balanced


def markdown_table(figures: dict[str, dict[str, dict]], set_names: list[str]) -> str:
    """One row per model: each set's right-of-scored and balanced accuracy, and the answers
    given to the real scans' scored poses."""
    header = "| model | " + " | ".join(set_names) + " | answers on the real emotion scans |"
    lines = [header, "|---" * (len(set_names) + 2) + "|"]
    for model, sets in figures.items():
        cells = [f"{f['right']} of {f['scored']} (balanced {f['balanced_accuracy']:.3f})"
                 for f in (sets[name] for name in set_names)]  # fmt: skip
        real = sets[set_names[0]]["rows"] if set_names[0] not in HELD_OUT_NAMES.values() else []
        answers = ", ".join(
            f"{r['file']} {r['truth']}: {r['prediction']} ({r['probability']:.2f})"
            for r in real
            if r["truth"] in sets["classes"]
        )
        lines.append(f"| {model} | " + " | ".join(cells) + f" | {answers} |")
    return "\n".join(lines) + "\n"


def answered(rows: list[Row], classes: list[str]) -> dict[str, int]:
    """How the model's "can't tell" did on the scored rows: answers given, right answers among
    them, and sets of answers that held the true class."""
    scored = [r for r in rows if r.truth in classes and r.prediction is not None]
    given = [r for r in scored if not r.abstained]
    figures = {
        "answered": len(given),
        "answered_right": sum(r.answer == r.truth for r in given),
        "set_holds_truth": sum(r.truth in r.answer_set for r in scored),
    }
    if any(r.agreement is not None for r in scored):
        # the answers that would stay if every fold model also had to agree
        agreed = [r for r in given if r.agreement == 1.0]
        figures["answered_all_folds_agree"] = len(agreed)
        figures["answered_all_folds_agree_right"] = sum(r.answer == r.truth for r in agreed)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scans", type=Path, help="folder of real scans")
    parser.add_argument("--labels", type=Path, help="labels CSV (default: <scans>/labels.csv)")
    parser.add_argument("--facewarehouse", action="store_true",
                        help="write FaceWarehouse's labels.csv into --scans first")  # fmt: skip
    parser.add_argument("--held-out-ict", type=int, default=0, metavar="N",
                        help="also score N held-out ICT-FaceKit subjects")  # fmt: skip
    parser.add_argument("--held-out-bank", type=int, default=0, metavar="N",
                        help="also score N held-out ICT-FaceKit subjects wearing held-out CK+ "
                             "people's expressions (N at most 6)")  # fmt: skip
    parser.add_argument("--held-out-procedural", type=int, default=0, metavar="N",
                        help="also score N subjects of the procedural heads (another face "
                             "model)")  # fmt: skip
    parser.add_argument("--models", nargs="+", default=["affectvlm", "smile"])
    parser.add_argument("--fold-agreement", action="store_true",
                        help="also predict with the newest training run's fold models and "
                             "print how many agree with the served model")  # fmt: skip
    parser.add_argument("--project", type=Path, default=Path.cwd())
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument("--markdown", type=Path,
                        help="write the figures as a table (docs/generated/real_scans.md)")  # fmt: skip
    args = parser.parse_args(argv)

    from facevlm.inference import ModelChoice, Predictor, Project, load_bundle

    sets: list[tuple[str, Path, dict[str, str]]] = []  # the real scans first, when given
    if args.scans:
        if args.facewarehouse:
            write_facewarehouse_labels(args.scans)
        name = "FaceWarehouse Tester_1" if args.facewarehouse else f"real scans ({args.scans.name})"
        sets.append((name, args.scans, read_labels(args.labels or args.scans / "labels.csv")))
    scratch = tempfile.TemporaryDirectory(prefix="held_out_")
    for kind, n_subjects in (("ict", args.held_out_ict), ("bank", args.held_out_bank),
                             ("procedural", args.held_out_procedural)):  # fmt: skip
        if n_subjects:
            folder = Path(scratch.name) / kind
            labels = write_held_out(folder, n_subjects, kind)
            sets.append((HELD_OUT_NAMES[kind], folder, labels))
    if not sets:
        parser.error("give --scans and/or a --held-out-* group")

    project = Project.open(args.project)
    figures: dict[str, dict[str, dict]] = {}
    for model in args.models:
        bundle = load_bundle(project, ModelChoice(model, None, None))
        predictor = Predictor(bundle, project.render_params, name=model)
        folds = fold_predictors(project, bundle, model) if args.fold_agreement else []
        classes = list(bundle.classes)
        try:
            for set_name, folder, labels in sets:
                rows = score(predictor, folder, labels, classes, folds)
                right, scored, balanced = accuracy(rows, classes)
                print(f"\n{model} on {set_name} ({folder}):")
                if folder == args.scans:
                    print(f"  {'file':<24} {'label':<14} {'top answer':<11} {'p':>5}  "
                          f"{'familiar':<8} {'folds':<5} answer")  # fmt: skip
                    for r in rows:
                        mark = "" if r.truth not in classes else (
                            " ok" if r.prediction == r.truth else " WRONG")  # fmt: skip
                        said = "can't tell" if r.abstained else r.answer
                        folds_agree = "" if r.agreement is None else f"{r.agreement:.1f}"
                        print(f"  {r.file:<24} {r.truth:<14} {str(r.prediction):<11} "
                              f"{r.probability:5.2f}  {str(r.familiar):<8} {folds_agree:<5} "
                              f"{said} {list(r.answer_set)}{mark}")  # fmt: skip
                answers = answered(rows, classes)
                guessed, _, guessed_balanced = accuracy(rows, classes, "best_guess")
                answers |= {"best_guess_right": guessed,
                            "best_guess_balanced_accuracy": round(guessed_balanced, 4)}  # fmt: skip
                print(f"  {right} of {scored} right, balanced accuracy {balanced:.3f}; "
                      f"--always-answer (best guess): {guessed} right, balanced "
                      f"{guessed_balanced:.3f}; "
                      f"answered {answers['answered']} of {scored}, "
                      f"{answers['answered_right']} of them right; "
                      f"the set held the truth {answers['set_holds_truth']} times")  # fmt: skip
                if "answered_all_folds_agree" in answers:
                    print(f"  answers where every fold model agrees: "
                          f"{answers['answered_all_folds_agree']}, "
                          f"{answers['answered_all_folds_agree_right']} of them right")  # fmt: skip
                figures.setdefault(model, {})["classes"] = classes
                figures[model][set_name] = {
                    "right": right, "scored": scored, "balanced_accuracy": round(balanced, 4),
                    **answers, "rows": [r.__dict__ for r in rows],
                }  # fmt: skip
        finally:
            for each in (predictor, *folds):
                each.close()
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    _results.record(
        __file__,
        "scores",
        [
            {
                "model": model,
                "scans": set_name,
                **{key: value for key, value in scores.items() if key != "rows"},
            }
            for model, per_set in figures.items()
            for set_name, scores in per_set.items()
            if set_name != "classes"  # the model's classes, beside its sets' scores
        ],  # fmt: skip
    )
    if args.markdown:
        args.markdown.write_text(markdown_table(figures, [name for name, _, _ in sets]))
    scratch.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
