"""The model pipelines run on an in-memory catalog of toy renders (``toy_model_run``) and log to
a temporary SQLite MLflow store: every node — protocol folds, prompt bank, cross-validation,
final fit, report, MLflow run, model bundle — in seconds, without the data stages."""

from __future__ import annotations

import mlflow
import pytest
import torch
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from toy_model_run import (
    N_SUBJECTS,
    SIZE,
    KeptMemoryDataset,
    index_and_renders,
    model_params,
    run_model_pipeline,
    toy_face_actions,
)

from facevlm.datasets import MlflowModelRunDataset, ModelBundle, PretrainedWeights
from facevlm.evaluation import conformal
from facevlm.evaluation.familiarity import APPEARANCE, EDGES, EMBEDDING, JointFamiliarity
from facevlm.face_reader.head import FaceReaderHead
from facevlm.pipelines import training
from facevlm.pipelines.face_reader.nodes import read_render_face_actions
from facevlm.scans.labels import BASIC_EMOTIONS


@pytest.mark.parametrize(
    ("model", "prompts"), [("affectvlm", "augmented"), ("smile", "descriptive")]
)
def test_model_pipeline_slice_trains_reports_and_logs_an_mlflow_run(
    model, prompts, mlflow_tracking
):
    params = model_params(prompts)
    # both folds: each fold's calibrated ECE needs a temperature fitted on another fold
    params["experiment"]["data"]["max_folds"] = None
    catalog = run_model_pipeline(model, params, "training_runs")  # in tmp_path

    folds = catalog.load(f"{model}.fold_table")
    assert set(folds["fold"]) == {0, 1}
    bank = catalog.load(f"{model}.prompt_bank")
    assert set(bank["class_name"]) == set(BASIC_EMOTIONS)
    summary = catalog.load(f"{model}.summary")
    assert {"test/accuracy_mean", "test/macro_f1_mean"} <= set(summary["metrics"])
    baseline = {"baseline/linear_probe/accuracy_mean", "baseline/zero_shot/accuracy_mean"}
    assert baseline <= set(summary["metrics"]), "the frozen starting point is scored too"
    bundle = catalog.load(f"{model}.model")
    assert isinstance(bundle, ModelBundle) and bundle.classes == list(BASIC_EMOTIONS)
    assert bundle.info["fit"] == "all_subjects", "the saved model is the final fit"
    assert bundle.info["n_subjects"] == N_SUBJECTS and bundle.info["render"] == {"size": SIZE}
    last_fold = catalog.load(f"{model}.last_fold_model")
    assert last_fold.info["fit"] == "last_fold"
    assert any(
        not torch.equal(bundle.state_dict[k], last_fold.state_dict[k]) for k in bundle.state_dict
    ), "the final fit is trained again, on every subject"
    if model == "smile":  # the bundle carries a linear probe over every class
        bundle.check_probe()
        assert bundle.linear_probe["weight"].shape[0] == len(BASIC_EMOTIONS)
        assert (bundle.linear_probe["bias"] > -1e3).all(), "every class was in the final fit"
    else:
        assert bundle.linear_probe is None
    # calibrated on the out-of-fold logits: a temperature per head, ECE before and after
    heads = {"affectvlm": {"prompt_classifier"}, "smile": {"linear_probe", "prompt_classifier"}}
    assert set(bundle.calibration["temperature"]) == heads[model]
    result = catalog.load(f"{model}.cv_results")
    assert bundle.calibration["temperature"][
        "linear_probe" if model == "smile" else "prompt_classifier"
    ] == pytest.approx(result.fold_calibration().temperature)
    rebuilt, _ = bundle.build()
    assert sum(p.numel() for p in rebuilt.parameters()) > 0
    # the second reader, fitted on the same folds: the bundle carries it with its answer rule
    reader = catalog.load(f"{model}.face_reader")
    assert reader["enabled"] and bundle.face_reader == reader
    assert FaceReaderHead.from_dict(reader["head"]).classes == sorted(BASIC_EMOTIONS)
    figures = reader["figures"]
    assert figures["reader_accuracy"] > 0.9, "each toy expression raises a score of its own"
    assert figures["answered_coverage"] >= figures["agree_coverage"] > 0
    # familiarity statistics of the final fit, read back with weights_only: its training
    # embeddings, appearance features and edges, and the folds' held-out scores as the yardstick
    statistics = JointFamiliarity.from_dict(bundle.familiarity)
    assert set(statistics.spaces) == {EMBEDDING, APPEARANCE, EDGES}
    embedding = statistics.spaces[EMBEDDING].train_embeddings
    assert embedding.shape == (bundle.info["n_samples"], rebuilt.embed_dim)
    assert len(statistics.spaces[APPEARANCE].train_embeddings) == bundle.info["n_samples"]
    assert len(statistics.spaces[EDGES].train_embeddings) == bundle.info["n_samples"]
    assert 0 < len(statistics.reference) <= bundle.info["n_samples"]
    assert statistics.familiar(statistics.reference).mean() >= statistics.rate

    runs = mlflow.search_runs(search_all_experiments=True, output_format="list")
    assert len(runs) == 1
    run = runs[0]
    assert run.data.tags["model"] == model and run.data.tags["protocol"] == "subject_kfold"
    assert run.data.tags["task"] == "fer3d"
    assert run.data.metrics["test/accuracy_mean"] == pytest.approx(
        summary["metrics"]["test/accuracy_mean"]
    )
    assert {"train.epochs", "render.size", "protocol.k"} <= set(run.data.params), "flat names"
    assert run.data.metrics["answers/coverage"] == pytest.approx(figures["answered_coverage"])
    assert run.data.metrics["face_reader/accuracy"] == pytest.approx(figures["reader_accuracy"])
    assert run.data.metrics["answers/best_guess_accuracy"] == pytest.approx(
        figures["best_guess_accuracy"]
    )
    if model == "smile":  # how often its pseudo-labels named the truth, beside the test metrics
        for when in ("initial", "final"):
            agreement = run.data.metrics[f"pseudo_labels/agreement_{when}_mean"]
            assert agreement == pytest.approx(
                summary["metrics"][f"pseudo_labels/agreement_{when}_mean"]
            )
            assert 0.0 <= agreement <= 1.0
    for name in (
        "test/ece_mean",
        "test/ece_std",
        "test/ece_uncalibrated_mean",
        "test/temperature",
        "test/ece_pooled",
        "test/ece_pooled_uncalibrated",
        "test/set_coverage",
        "test/abstention_rate",
    ):
        assert run.data.metrics[name] == pytest.approx(summary["metrics"][name])
    assert 0.0 <= run.data.metrics["test/ece_mean"] <= 1.0
    before, after = result.reliability()  # the diagram's pooled rows give the pooled ECEs
    assert run.data.metrics["test/ece_pooled"] == pytest.approx(after.ece)
    assert run.data.metrics["test/ece_pooled_uncalibrated"] == pytest.approx(before.ece)
    # the sets of answers' calibration scores: one per out-of-fold row, per calibrated head
    sets = conformal.from_calibration(bundle.calibration)
    n_held_out = sum(len(f.y_true) for f in result.folds)
    assert {h: len(s) for h, s in sets.scores.items()} == dict.fromkeys(heads[model], n_held_out)
    per_fold = catalog.load(f"{model}.fold_metrics")
    primary = per_fold[per_fold["evaluation"] == "primary"]
    assert primary["ece"].mean() == pytest.approx(run.data.metrics["test/ece_mean"])
    assert primary["ece_uncalibrated"].notna().all() and primary["temperature"].notna().all()
    losses = mlflow.MlflowClient().get_metric_history(run.info.run_id, "train/loss")
    assert [m.step for m in losses] == [1, 2, 3]
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)}
    assert {"confusion_matrix.png", "training_curves.png", "fold_metrics.csv"} <= artifacts
    assert "reliability_diagram.png" in artifacts
    reliability = catalog.load(f"{model}.reliability_diagram")
    panels = [ax.get_title() for ax in reliability.axes]
    assert panels[0].startswith("primary") and len(panels) == (2 if model == "smile" else 1)


def test_renders_in_which_no_face_is_found_give_a_model_without_a_face_reader(mlflow_tracking):
    """The real landmarker reads the toy renders (coloured bars): no face, so no second reader,
    and the model answers as a model without one does."""
    index, renders = index_and_renders()
    actions = read_render_face_actions(renders, {"views": None})
    assert len(actions) == len(renders) and not actions["found"].any()
    catalog = run_model_pipeline(
        "affectvlm", model_params("augmented"), "training_runs", mlflow=False, face_actions=actions
    )
    reader = catalog.load("affectvlm.face_reader")
    assert reader["enabled"] is False and "no face" in reader["reason"]
    assert catalog.load("affectvlm.model").face_reader is None


def test_a_derived_namespace_lists_only_what_differs_from_its_base():
    """``smile_mer`` is ``smile`` with its own protocol, classes and task."""
    import yaml

    from facevlm.experiments.model_parameters import resolve_model_parameters
    from facevlm.pipeline_registry import CONF_SOURCE

    blocks = yaml.safe_load((CONF_SOURCE / "base" / "parameters_train_smile.yml").read_text())
    mer = resolve_model_parameters(blocks["smile"], blocks["smile_mer"])
    assert mer["recipe"] == "smile" and mer["task"] == "mer"
    assert mer["protocol"]["name"] == "loso" and mer["protocol"]["datasets"] == ["synthetic-4dme"]
    assert len(mer["experiment"]["data"]["classes"]) == 5
    assert mer["experiment"]["loss"] == blocks["smile"]["experiment"]["loss"], "inherited"
    assert "loss" not in blocks["smile_mer"].get("experiment", {}), "not copied"


def test_an_unknown_recipe_is_refused_before_any_work():
    from facevlm.experiments.model_parameters import resolve_model_parameters

    with pytest.raises(ValueError, match="recipe must be one of affectvlm | smile"):
        resolve_model_parameters({**model_params("plain"), "recipe": "clip"})


def test_a_4d_namespace_trains_on_sequences_of_stacked_frames(mlflow_tracking, tmp_path):
    """``affectvlm_4d``: each sequence is one sample of frames x views; tagged ``fer4d``. The
    bundle records that, so the trained model serves a new sequence: the same three frames
    stacked as one sample, one calibrated prediction with its familiarity."""
    index, renders = index_and_renders(frames=3)
    pipe = training.create_pipeline("affectvlm_4d", base="affectvlm")
    datasets = {name: KeptMemoryDataset() for name in pipe.all_outputs()}
    datasets["affectvlm_4d.mlflow_run"] = MlflowModelRunDataset(log_model=False)
    # the face reader off: a model without one is what this test serves
    # (test_sequence_face_reader.py trains one with it)
    overrides = {
        "task": "fer4d",
        "experiment": {"data": {"frames": "views"}},
        "face_reader": {"enabled": False},
    }
    catalog = DataCatalog(
        {
            **datasets,
            "scan_index": MemoryDataset(index),
            "renders": MemoryDataset(renders, copy_mode="assign"),
            "face_actions": MemoryDataset(toy_face_actions(renders)),
            "params:dataset": MemoryDataset({"name": "toy"}),
            "params:caches.training_runs": MemoryDataset("training_runs"),  # under tmp_path
            "pretrained_backbone": MemoryDataset(PretrainedWeights("", {"skipped": True})),
            "params:affectvlm": MemoryDataset(model_params("augmented")),
            "params:affectvlm_4d": MemoryDataset(overrides),
        }
    )

    SequentialRunner().run(pipe, catalog)

    result = catalog.load("affectvlm_4d.cv_results")
    n_test = sum(len(f.y_true) for f in result.folds)
    assert n_test == len(BASIC_EMOTIONS) * N_SUBJECTS // 2, "one test sample per sequence"
    bundle = catalog.load("affectvlm_4d.model")
    assert bundle.model_config["n_views"] == 3 * 3, "3 frames x 3 views"
    assert bundle.info["n_samples"] == len(BASIC_EMOTIONS) * N_SUBJECTS
    assert bundle.info["sample_frames"] == {"frames": "views", "frames_per_sample": 3}
    assert bundle.face_reader is None, "face_reader.enabled: false"
    assert catalog.load("affectvlm_4d.last_fold_model").info["sample_frames"]["frames"] == "views"
    _serves_a_sequence(bundle, tmp_path)
    (run,) = mlflow.search_runs(search_all_experiments=True, output_format="list")
    assert run.data.tags["task"] == "fer4d"
    assert run.data.params["sample_frames.frames_per_sample"] == "3", "the run says how"
    figure = catalog.load("affectvlm_4d.confusion_matrix")
    assert "fer4d" in figure.axes[0].get_title(), "the 4D figures say they are the 4D model's"


def _serves_a_sequence(bundle: ModelBundle, tmp_path) -> None:
    """The trained stacked-frame model predicts a 12-frame sequence through the app's and
    ``facevlm predict``'s path: once, from the three frames uniform:3 selects."""
    from PIL import Image

    from facevlm.inference import Predictor, find_inputs
    from facevlm.render.fixtures import checker_texture, face_like_mesh
    from facevlm.scans.formats import write_vrml

    folder = tmp_path / "F001" / "Happy"  # BU-4DFE-style frames: NNN.wrl with its NNN.jpg
    folder.mkdir(parents=True)
    for k in range(12):
        write_vrml(folder / f"{k:03d}.wrl", face_like_mesh(n_side=40, nose_height=10 + 3 * k))
        Image.fromarray(checker_texture(64)).save(folder / f"{k:03d}.jpg")
    (item,) = find_inputs(folder)
    predictor = Predictor(bundle)
    try:
        result = predictor.predict(item)
    finally:
        predictor.close()
    assert result.sequence_frames == [2, 6, 10] and result.stacked_frames == 3
    assert result.frame_probabilities is None, "the model reads no frame alone"
    assert result.probabilities.sum() == pytest.approx(1, abs=1e-5)
    assert result.temperature == pytest.approx(
        bundle.calibration["temperature"]["prompt_classifier"]
    )
    assert 0.0 <= result.familiarity <= 1.0 and isinstance(result.familiar, bool)
