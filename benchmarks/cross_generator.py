"""Transfer between face sources, measured by design: train on one source, test on the other.

The built-in synthetic set draws each subject's face from one of two face models: the project's
procedural generator, or ICT-FaceKit (a morphable model measured on real people). A model that
learnt the expressions, not one generator's habits, should read faces of the source it never
saw. This script measures it both ways and prints, for AffectVLM (its prompt classifier) and
SMILE-VLM (its linear probe), the accuracy, the accuracy per emotion (recall) and the confusion
matrix:

1. **Leave one source out**, for each direction (procedural -> ICT, ICT -> procedural):

   - a training set of the training source only, and a pretraining corpus of that source only
     (pretraining on a corpus that mixed in the held-out source would leak it into the
     backbone), are made and trained on by the project's own ``__default__`` pipeline in a Kedro
     session, exactly as ``kedro run`` does: data stages, pretraining, cross-validation of both
     models and their final fits on all subjects;
   - a test set of the other source only (another seed and other subject numbers) goes through
     the project's data stages (``data`` pipeline: synthesize, ingest with the face pose, render)
     with the same render settings;
   - the final fit of each model scores the test set's scans that its protocol selects (the
     same subset and classes as its cross-validation: BU-3DFE's two highest intensities, six
     emotions). Beside it the run's own cross-validated accuracy on its training source.

   Each of the four sets lives in a project of its own under ``--work`` (the configuration of
   ``conf/``, without ``conf/local``; its own ``data/`` and MLflow store), so nothing here
   touches the project's catalog. A second call with the same options reuses the sets, renders,
   pretrained backbone and trained folds, and goes straight to scoring.

2. **Hand-posed heads**: a given bundle (default: the newest ``affectvlm.model`` of this
   project's catalog, ``data/06_models``, i.e. the default run's model) scores the hand-posed
   heads of ``transfer_handposed.py`` (an independent face model; both head styles).

The defaults are the default run's settings (16 subjects, pretraining on 32, AffectVLM 40 epochs,
SMILE-VLM 10, pretraining 90, every fold): about 11 minutes per direction on two idle cores,
plus the test sets. Run it from the project root after ``kedro run`` (for part 2):

    PYTHONPATH=src python benchmarks/cross_generator.py --work data/cross_generator

A quick run (18 minutes for both directions on two cores shared with other work; figures
too small to mean much):

    PYTHONPATH=src python benchmarks/cross_generator.py --work /tmp/cross_generator \\
        --subjects 4 --test-subjects 4 --pretrain-subjects 4 --epochs 2 --smile-epochs 1 \\
        --pretrain-epochs 2 --folds 1 --handposed-heads 2
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The project this script belongs to (its ``conf/`` and ``pyproject.toml`` are copied).
PROJECT_ROOT = Path(__file__).resolve().parents[1]
#: The two face sources of the synthetic set.
SOURCES = ("procedural", "ict")
#: The models scored, by catalog namespace, and what their main head is called here.
MODELS = {"affectvlm": "AffectVLM", "smile": "SMILE-VLM"}
#: Test sets draw from other seeds than any training set (``--seed`` + this) and number their
#: subjects from here, so no test subject shares an id or a random stream with a training one.
TEST_SEED_OFFSET = 1000
TEST_SUBJECT_OFFSET = 3000

#: Runs one pipeline of the project at argv[1] in a Kedro session, runtime params on stdin
#: (JSON): the way ``kedro run --params`` does, with nested values and lists.
_RUN_SESSION = """
import json, sys
from pathlib import Path
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
project, pipeline_name = Path(sys.argv[1]), sys.argv[2]
bootstrap_project(project)
with KedroSession.create(project_path=project, runtime_params=json.load(sys.stdin)) as session:
    session.run(pipeline_name=pipeline_name)
"""


def project_copy(folder: Path) -> Path:
    """A runnable copy of the project in ``folder``: its configuration (without ``conf/local``,
    so the figures are the default settings') and ``pyproject.toml``; the package is the
    installed one. An existing copy is kept with its data (and so its caches)."""
    if not (folder / "pyproject.toml").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copytree(
            PROJECT_ROOT / "conf", folder / "conf", ignore=shutil.ignore_patterns("local")
        )
        (folder / "conf" / "local").mkdir(exist_ok=True)
        shutil.copy(PROJECT_ROOT / "pyproject.toml", folder / "pyproject.toml")
        (folder / "src").mkdir(exist_ok=True)
    return folder


def run_session(project: Path, pipeline: str, params: dict[str, Any]) -> None:
    """Run ``pipeline`` of ``project`` in a Kedro session of a process of its own (kedro-mlflow
    keeps global state, the synthetic writer spawns workers); its log goes to this terminal."""
    print(f"\n=== {project.name}: kedro run --pipeline={pipeline}", flush=True)
    subprocess.run(
        [sys.executable, "-c", _RUN_SESSION, str(project), pipeline],
        input=json.dumps(params),
        text=True,
        cwd=project,
        check=True,
    )


@dataclass(frozen=True)
class Sizes:
    """How big a run is; ``None`` keeps the project's configured value."""

    subjects: int | None
    test_subjects: int
    pretrain_subjects: int | None
    epochs: int | None
    smile_epochs: int | None
    pretrain_epochs: int | None
    folds: int | None
    seed: int
    workers: int | None
    #: further runtime parameters of every set, training and test alike: ``(dotted key,
    #: value)`` pairs (``--param``), e.g. a scanner-variety knob to measure
    extra: tuple[tuple[str, Any], ...] = ()


def _set(tree: dict[str, Any], dotted: str, value: Any) -> None:
    """``tree["a"]["b"] = value`` for ``"a.b"``, making the levels on the way."""
    *path, last = dotted.split(".")
    for key in path:
        tree = tree.setdefault(key, {})
    tree[last] = value


def _common_params(sizes: Sizes) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if sizes.workers is not None:
        for key in ("dataset.n_workers", "pretraining.dataset.n_workers", "render.n_workers"):
            _set(params, key, sizes.workers)
        _set(params, "synthetic.workers", sizes.workers)
        _set(params, "pretraining.synthetic.workers", sizes.workers)
    for key, value in sizes.extra:
        _set(params, key, value)
    return params


def training_params(source: str, sizes: Sizes, protocol_k: int) -> dict[str, Any]:
    """Runtime parameters of a ``__default__`` run on faces of ``source`` only, its
    pretraining corpus included."""
    params = _common_params(sizes)
    _set(params, "synthetic.face_sources", [source])
    _set(params, "synthetic.seed", sizes.seed)
    _set(params, "pretraining.synthetic.face_sources", [source])
    if sizes.subjects is not None:
        _set(params, "synthetic.n_subjects", sizes.subjects)
    if sizes.pretrain_subjects is not None:
        _set(params, "pretraining.synthetic.n_subjects", sizes.pretrain_subjects)
        # the corpus keeps some subjects out to check zero-shot accuracy: at most half of them
        held_out = max(1, min(4, sizes.pretrain_subjects // 2))
        _set(params, "pretraining.training.holdout_subjects", held_out)
    if sizes.pretrain_epochs is not None:
        _set(params, "pretraining.training.train.epochs", sizes.pretrain_epochs)
    for model, epochs in (("affectvlm", sizes.epochs), ("smile", sizes.smile_epochs)):
        if epochs is not None:
            _set(params, f"{model}.experiment.train.epochs", epochs)
        if sizes.folds is not None:
            _set(params, f"{model}.experiment.data.max_folds", sizes.folds)
        _set(params, f"{model}.protocol.k", protocol_k)
    return params


def test_params(source: str, sizes: Sizes) -> dict[str, Any]:
    """Runtime parameters of the ``data`` pipeline on a BU-3DFE-style set of ``source`` only,
    with other seeds and subject numbers than any training set."""
    params = _common_params(sizes)
    _set(params, "synthetic.face_sources", [source])
    _set(params, "synthetic.seed", sizes.seed + TEST_SEED_OFFSET)
    _set(params, "synthetic.subject_offset", TEST_SUBJECT_OFFSET)
    _set(params, "synthetic.n_subjects", sizes.test_subjects)
    _set(params, "synthetic.layouts", ["bu3dfe"])  # the layout the 3D models read
    _set(params, "contact_sheet.n_subjects", min(4, sizes.test_subjects))
    return params


def protocol_k(project: Path, subjects: int | None) -> int:
    """The models' fold count: the configured one, or fewer when there are fewer subjects."""
    from facevlm.inference import Project

    params = Project.open(project).params
    k = int(params["affectvlm"]["protocol"]["k"])
    n = subjects if subjects is not None else int(params["synthetic"]["n_subjects"])
    return max(2, min(k, n))


def evaluation_views(test_project: Path, model_params: dict[str, Any], scored) -> tuple:
    """The test set's renders that ``model_params``' protocol selects (its subset, datasets
    and classes, as cross-validation would test them), at the model's input size: ``(views,
    labels)`` with labels indexing ``scored.classes``."""
    from facevlm.experiments.common import model_image_size
    from facevlm.experiments.experiment_data import experiment_data
    from facevlm.inference import Project
    from facevlm.scans.protocols import make_folds

    project = Project.open(test_project)
    index, renders = project.catalog.load("scan_index"), project.catalog.load("renders")
    protocol = model_params["protocol"]
    # every selected row is scored: the fold split only has to exist (leave one subject out)
    selection = {"name": "loso", "subset": protocol.get("subset", "literature")}
    if protocol.get("datasets"):
        selection["datasets"] = list(protocol["datasets"])
    folds = make_folds(index, selection)
    views = (model_params["experiment"].get("data") or {}).get("views")
    data = experiment_data(
        renders, folds, scored.classes, model_image_size(scored.model), views=views
    )
    return data.views, data.labels


def leave_one_source_out(work: Path, train: str, test: str, sizes: Sizes) -> dict[str, Any]:
    """Train on ``train`` faces, score on ``test`` faces; print and return the figures."""
    from bundle_scoring import print_scores, scored

    from facevlm.inference import ModelChoice, Project
    from facevlm.inference import load_bundle as load_catalog_bundle

    train_project = project_copy(work / f"train-{train}")
    k = protocol_k(train_project, sizes.subjects)
    run_session(train_project, "__default__", training_params(train, sizes, k))
    test_project = project_copy(work / f"test-{test}")
    run_session(test_project, "data", test_params(test, sizes))

    # the runs' logs are above; loading their catalogs here would interleave Kedro's with the
    # figures
    logging.disable(logging.WARNING)
    project = Project.open(train_project)
    figures: dict[str, Any] = {}
    print(f"\n##### trained on {train} faces only, tested on {test} faces")
    for model, title in MODELS.items():
        bundle = scored(
            load_catalog_bundle(project, ModelChoice(model)), project.model_folder(model)
        )
        summary = project.catalog.load(f"{model}.summary")
        in_source = summary["metrics"].get("test/accuracy_mean", float("nan"))
        views, labels = evaluation_views(test_project, project.params[model], bundle)
        predicted = bundle.predict_main(views)
        print(f"\n{title} ({bundle.main_head}); cross-validated on {train}: {in_source:.3f}")
        print(f"held out: {test} faces")
        accuracy = print_scores(labels, predicted, bundle.classes, indent="  ")
        figures[model] = {
            "in_source_cv_accuracy": in_source,
            "held_out_accuracy": accuracy,
            "n_held_out": int(len(labels)),
        }
    logging.disable(logging.NOTSET)
    return figures


def handposed(bundle_path: Path | None, modality: str, n_heads: int) -> dict[str, float]:
    """Score a bundle on the hand-posed heads of both styles; print and return accuracies."""
    from bundle_scoring import load_bundle, print_scores, render_settings
    from transfer_handposed import HEAD_STYLES, handposed_faces

    bundle = load_bundle(bundle_path, PROJECT_ROOT)
    print(f"\n##### hand-posed heads ({modality} renders), bundle {bundle.path}")
    figures = {}
    for style in HEAD_STYLES:
        faces, labels = handposed_faces(bundle.classes, render_settings(modality), n_heads, style)
        predicted = bundle.predict_main(faces)
        print(f"\n{style} heads, {bundle.main_head} ({n_heads} heads x 6 emotions x 2)")
        figures[style] = print_scores(labels, predicted, bundle.classes, indent="  ")
    return figures


def key_value(text: str) -> tuple[str, Any]:
    """``"a.b=0.5"`` as ``("a.b", 0.5)``: the value read as YAML, as ``kedro run --params``."""
    import yaml

    key, sep, value = text.partition("=")
    if not sep or not key:
        raise SystemExit(f"--param wants KEY=VALUE, got {text!r}")
    return key.strip(), yaml.safe_load(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--work",
        type=Path,
        default=Path("data/cross_generator"),
        help="where the four projects (sets, renders, runs) are kept",
    )
    directions = [f"{train}-{test}" for train in SOURCES for test in SOURCES if train != test]
    parser.add_argument(
        "--directions",
        nargs="*",
        default=directions,
        choices=directions,
        help="training-test source pairs to run (default: both; none: the hand-posed heads only)",
    )
    parser.add_argument(
        "--subjects",
        type=int,
        default=None,
        help="training subjects (default: synthetic.n_subjects, 16)",
    )
    parser.add_argument("--test-subjects", type=int, default=16, help="test subjects")
    parser.add_argument(
        "--pretrain-subjects",
        type=int,
        default=None,
        help="pretraining corpus subjects (default: the configured 32)",
    )
    parser.add_argument("--epochs", type=int, default=None, help="AffectVLM epochs (40)")
    parser.add_argument("--smile-epochs", type=int, default=None, help="SMILE-VLM epochs (10)")
    parser.add_argument("--pretrain-epochs", type=int, default=None, help="pretraining (90)")
    parser.add_argument(
        "--folds",
        type=int,
        default=None,
        help="cross-validate only the first N folds (default: all)",
    )
    parser.add_argument("--seed", type=int, default=0, help="the training sets' synthetic seed")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes for writing, indexing and rendering (default: all cores)",
    )
    parser.add_argument(
        "--handposed-bundle",
        type=Path,
        default=None,
        help="bundle for the hand-posed heads (default: newest affectvlm.model)",
    )
    parser.add_argument(
        "--handposed-modality",
        default="shaded",
        help="render modality of the hand-posed heads (they have no texture)",
    )
    parser.add_argument("--handposed-heads", type=int, default=6, help="heads per style")
    parser.add_argument("--skip-handposed", action="store_true")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a runtime parameter of every set, as kedro run --params takes it (VALUE in YAML), "
        "e.g. synthetic.scanner_variety.eye_surface_share=0.5; repeat for more",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()

    sys.path.insert(0, str(Path(__file__).resolve().parent))  # bundle_scoring, transfer_handposed
    sizes = Sizes(
        subjects=args.subjects,
        test_subjects=args.test_subjects,
        pretrain_subjects=args.pretrain_subjects,
        epochs=args.epochs,
        smile_epochs=args.smile_epochs,
        pretrain_epochs=args.pretrain_epochs,
        folds=args.folds,
        seed=args.seed,
        workers=args.workers,
        extra=tuple(key_value(text) for text in args.param),
    )
    work = args.work.resolve()
    figures: dict[str, Any] = {}
    for direction in args.directions:
        train, test = direction.split("-")
        figures[f"{train} -> {test}"] = leave_one_source_out(work, train, test, sizes)
    if not args.skip_handposed:
        figures["hand-posed heads"] = handposed(
            args.handposed_bundle, args.handposed_modality, args.handposed_heads
        )
    print("\n##### summary")
    print(json.dumps(figures, indent=2))
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
