"""Nodes shared by every model pipeline (``train_affectvlm``, ``train_smile``, their ablation
variants and ``train_smile_mer``).

Each node is a thin wrapper: the protocol comes from :mod:`facevlm.scans.protocols`, prompts from
:mod:`facevlm.prompts`, training and evaluation from :mod:`facevlm.experiments` (Kedro-free),
figures from :mod:`facevlm.evaluation.figures`. Which model a namespace trains is its
``recipe`` parameter (:data:`facevlm.experiments.recipes.RECIPE_ENTRIES`); everything else is
shared. The data and config are prepared once (:func:`prepare_training_data`) for the frozen
baseline, the cross-validation and the final fit; the cross-validation hands them to
:func:`facevlm.runner.run.run_cross_validation`, the final fit to
:func:`facevlm.runner.run.run_final_fit`, which decide where and how they train.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from facevlm.config import to_dict
from facevlm.datasets.mlflow_model_run import DatasetInput, ModelRunReport
from facevlm.datasets.pretrained_weights import PretrainedWeights
from facevlm.datasets.render_set import RenderSet
from facevlm.evaluation.figures import (
    comparison_table,
    confusion_matrix_figure,
    embedding_figure,
    reliability_figure,
    training_curves_figure,
)
from facevlm.experiments.cross_validation import fit_final, frozen_backbone_metrics
from facevlm.experiments.experiment_data import ExperimentData, experiment_data
from facevlm.experiments.model_parameters import run_tags
from facevlm.experiments.recipes import get_recipe
from facevlm.experiments.results import FACE_SOURCE, PRIMARY, CrossValidationResult
from facevlm.experiments.sequences import (
    FRAME_MODES,
    sample_frames_record,
    stack_sequence_frames,
)
from facevlm.models.backbone import architecture_image_size
from facevlm.models.model_bundle import SAMPLE_FRAMES, ModelBundle, plain
from facevlm.pipelines.pretrain.nodes import resolve_pipeline_weights

logger = logging.getLogger(__name__)


def make_protocol_folds(scan_index: pd.DataFrame, parameters: dict[str, Any]) -> pd.DataFrame:
    """The fold table of this model's protocol (subject-independent k-fold, LOSO, ...): folds
    are made here, once per model, from the scan index ingest wrote."""
    from facevlm.scans.protocols import make_folds

    return make_folds(scan_index, parameters["protocol"])


def model_classes(parameters: dict[str, Any]) -> list[str]:
    """The classes a model is trained on (``experiment.data.classes``, else the six emotions)."""
    from facevlm.experiments.common import DataConfig

    return list(parameters["experiment"].get("data", {}).get("classes") or DataConfig().classes)


def build_prompt_bank(fold_table: pd.DataFrame, parameters: dict[str, Any]) -> pd.DataFrame:
    """The prompt bank a model trains with (a readable, versioned table).

    Built from the protocol's rows (the fold table), not the whole scan index: the subject
    metadata in AffectVLM's prompts is that of the people the model is trained and tested on,
    whatever else the dataset root holds (before, a BU-3DFE run's prompts changed when 4D
    sequences were indexed beside it).

    ``kind``: ``augmented`` (AffectVLM: templates × synonyms × recorded subject metadata),
    ``plain`` (one "a photo of a {label} face" per class, the ablation), ``descriptive``
    (SMILE-VLM: facial-action sentences that pseudo-labels are matched to).
    """
    from facevlm.prompts.augmented import PromptConfig, plain_label_bank
    from facevlm.prompts.augmented import build_prompt_bank as augmented_bank
    from facevlm.prompts.descriptive import descriptive_prompt_bank

    prompts, classes = parameters["prompts"], model_classes(parameters)
    options = {k: v for k, v in prompts.items() if k != "kind"}
    kind = prompts.get("kind", "augmented")
    if kind == "augmented":
        index = fold_table[fold_table["expression"].isin(classes)]
        return augmented_bank(index, classes, PromptConfig.from_params(options))
    if kind == "plain":
        return plain_label_bank(classes)
    if kind == "descriptive":
        return descriptive_prompt_bank(classes, **options)
    raise ValueError(f"prompts.kind must be augmented | plain | descriptive, got {kind!r}")


@dataclass
class PreparedTraining:
    """What every training node of a namespace starts from, prepared once: the recipe's name,
    its typed config (``pretrained: pipeline`` resolved, the fusion head sized for the data's
    views), the joined data, the render settings the data was made with and how its samples
    were made of a sequence's frames
    (:func:`~facevlm.experiments.sequences.sample_frames_record`)."""

    recipe: str
    cfg: Any
    data: ExperimentData
    render_settings: dict[str, Any]
    sample_frames: dict[str, Any] = dataclasses.field(default_factory=dict)


def prepare_training_data(
    renders: RenderSet,
    fold_table: pd.DataFrame,
    parameters: dict[str, Any],
    pretrained_backbone: PretrainedWeights | None,
) -> PreparedTraining:
    """The recipe's config and the data joined from the renders and the fold table, for the
    baseline, the cross-validation and the final fit (kept in memory between them)."""
    recipe = get_recipe(parameters["recipe"])
    experiment = resolve_pipeline_weights(parameters["experiment"], pretrained_backbone)
    cfg = recipe.config_type.from_params(experiment)
    image_size = architecture_image_size(cfg.model.backbone.name, cfg.model.backbone.image_size)
    data = experiment_data(renders, fold_table, cfg.data.classes, image_size, cfg.data.views)
    if cfg.data.frames not in FRAME_MODES:
        raise ValueError(f"experiment.data.frames must be {' | '.join(FRAME_MODES)}")
    if cfg.data.frames == "views":
        data = stack_sequence_frames(data)
    cfg.model.n_views = data.views.shape[1]  # the fusion head is built for the data's views
    logger.info(
        "%s: %d samples, %d folds, %d classes",
        recipe.title,
        len(data.labels),
        len(data.folds),
        len(data.classes),
    )
    return PreparedTraining(
        recipe.name,
        cfg,
        data,
        dict(renders.settings),
        sample_frames_record(data, cfg.data.frames),
    )


def _bundle(
    model: Any,
    cfg: Any,
    data: ExperimentData,
    prompt_bank: pd.DataFrame,
    parameters: dict[str, Any],
    dataset: dict[str, Any],
    render_settings: dict[str, Any],
    sample_frames: dict[str, Any] | None = None,
    **info: Any,
) -> ModelBundle:
    """A trained model with what using it needs: classes, class prompts, the render settings
    it was trained on (the app renders a new scan the same way), how its samples were made of
    a sequence's frames (the app makes a new sequence's sample the same way) and where it came
    from."""
    from facevlm.prompts.augmented import class_prompts

    linear_probe = info.pop("linear_probe", None)
    familiarity = info.pop("familiarity", None)
    bundle = ModelBundle.from_model(
        str(parameters["recipe"]),
        model,
        to_dict(cfg.model),
        data.classes,
        class_prompts(prompt_bank),
        tags=run_tags(parameters, dataset),
        render=dict(render_settings),
        **({SAMPLE_FRAMES: dict(sample_frames)} if sample_frames else {}),
        **info,
    )
    bundle.linear_probe = linear_probe
    bundle.familiarity = None if familiarity is None else plain(familiarity)
    return bundle


def score_frozen_backbone(
    prepared: PreparedTraining, prompt_bank: pd.DataFrame, parameters: dict[str, Any]
) -> dict[str, float]:
    """What the starting point knows before any training, on the run's folds
    (:func:`~facevlm.experiments.cross_validation.frozen_backbone_metrics`): the floor the
    trained model's figures are read against. ``baseline: false`` skips it (no metrics)."""
    if not parameters.get("baseline", True):
        return {}
    return frozen_backbone_metrics(prepared.data, prompt_bank, prepared.cfg)


def cross_validate_model(
    prepared: PreparedTraining,
    prompt_bank: pd.DataFrame,
    parameters: dict[str, Any],
    dataset: dict[str, Any],
    runs_dir: str,
    baseline_metrics: dict[str, float],
) -> tuple[CrossValidationResult, ModelBundle]:
    """Train and evaluate the namespace's model on every fold of its protocol.

    ``model.backbone.pretrained: pipeline`` starts from the weights of the ``pretrain``
    pipeline. Where and how it trains (in this process, by ``experiment.execution.nproc`` torchrun
    workers, or not at all when ``training_result`` names a result trained elsewhere), and what
    a second run reuses, is :func:`facevlm.runner.run.run_cross_validation`'s. Returns the
    predictions, histories and embeddings of every fold with the frozen starting point's scores
    beside them, and the last fold's model (the bundle when ``final_fit`` is off).
    """
    from facevlm.runner.run import run_cross_validation

    tags = run_tags(parameters, dataset)
    elsewhere = parameters.get("training_result")
    trained = run_cross_validation(
        prepared.recipe,
        prepared.data,
        prompt_bank,
        prepared.cfg,
        tags,
        runs_dir,
        trained_elsewhere=elsewhere,
    )
    if elsewhere:
        tags = {**tags, "training_result": str(elsewhere)}
    result = trained.result
    result.tags = tags
    result.face_sources = sample_face_sources(prepared.data.samples)
    result.baseline_metrics = baseline_metrics
    last = trained.model
    last.info.update(tags=tags, fit="last_fold", render=dict(prepared.render_settings))
    last.info[SAMPLE_FRAMES] = dict(prepared.sample_frames)
    return result, last


def fit_face_reader(
    face_actions: pd.DataFrame, result: CrossValidationResult, parameters: dict[str, Any]
) -> dict[str, Any]:
    """The model's second reader (:mod:`facevlm.face_reader`) and the rule that decides when
    the product answers, calibrated on the cross-validation's held-out folds.

    Each fold's faces are read by a head fitted on the other subjects' renders, as the model's
    own held-out predictions were made; the rule's figures (``answered_coverage``,
    ``answered_accuracy``, ...) are those of the held-out folds. The head the model is served
    with is fitted on every subject. ``face_reader.enabled: false`` (the sequence models), or
    renders the landmarker cannot read, give a record without a head: the model then answers
    as it did without one."""
    from facevlm.face_reader.agreement import calibrate_answer_rule
    from facevlm.face_reader.reading import fit_head, held_out_readings

    # the values live once, in model_defaults.face_reader (conf/base/parameters_train.yml)
    options = parameters.get("face_reader") or {}
    needed = (
        ("enabled", "c", "target_accuracy", "reader_weight") if options.get("enabled", True) else ()
    )
    missing = [k for k in needed if k not in options]
    if missing:
        keys = ", ".join(f"face_reader.{k}" for k in missing)
        raise ValueError(
            f"{result.model}: the model's parameters lack {keys} "
            "(model_defaults.face_reader in conf/base/parameters_train.yml sets them)"
        )
    if not options["enabled"]:
        return {"enabled": False, "reason": "face_reader.enabled is false"}
    table = face_actions.drop_duplicates("sample_id")
    subject_of = dict(zip(table["sample_id"], table["subject"], strict=True))
    missing = [s for f in result.folds for s in f.test_sample_ids if str(s) not in subject_of]
    if missing or not table["found"].any():
        reason = (
            f"{len(missing)} held-out samples have no face reading (first: {missing[0]})"
            if missing
            else "the landmarker found no face in any render"
        )
        logger.warning("%s: no face reader (%s)", result.model, reason)
        return {"enabled": False, "reason": reason}
    folds = [
        ({subject_of[str(s)] for s in f.test_sample_ids}, f.test_sample_ids) for f in result.folds
    ]
    c = float(options["c"])
    reader, reader_classes = held_out_readings(table, result.classes, folds, c)
    model = np.concatenate(result.calibrated_probabilities(PRIMARY))
    truth = [result.classes[i] for f in result.folds for i in f.y_true]
    rule, figures = calibrate_answer_rule(
        model,
        reader,
        truth,
        result.classes,
        reader_classes,
        float(options["target_accuracy"]),
        float(options["reader_weight"]),
    )
    logger.info(
        "%s: held out, the face reader reads %.3f; agreeing they answer %.3f of the faces, "
        "%.3f right; with the combined reading %.3f, %.3f right",
        result.model,
        figures["reader_accuracy"],
        figures["agree_coverage"],
        figures["agree_accuracy"],
        figures["answered_coverage"],
        figures["answered_accuracy"],
    )
    return {
        "enabled": True,
        "head": fit_head(table, result.classes, c).to_dict(),
        "rule": rule.to_dict(),
        "views": str(table["views"].iloc[0]).split(",") if "views" in table else None,
        "figures": figures,
    }


def sample_face_sources(samples: pd.DataFrame) -> dict[str, str]:
    """``sample_id -> face source`` of the samples that record one (the synthetic set's; the
    column is empty for real scans, and absent from render sets made before it existed)."""
    if FACE_SOURCE not in samples.columns:
        return {}
    known = samples[samples[FACE_SOURCE].notna()]
    return dict(zip(known["sample_id"].astype(str), known[FACE_SOURCE].astype(str), strict=True))


def fit_final_model(
    prepared: PreparedTraining,
    prompt_bank: pd.DataFrame,
    parameters: dict[str, Any],
    dataset: dict[str, Any],
    last_fold_model: ModelBundle,
    result: CrossValidationResult | None = None,
    runs_dir: str | None = None,
    face_reader: dict[str, Any] | None = None,
) -> ModelBundle:
    """The model the app and ``facevlm predict`` use: the same recipe trained on *every* subject
    of the protocol after cross-validation (which reports the per-fold models). SMILE-VLM's
    bundle also carries a linear probe fitted on all of them. With ``final_fit: false`` the
    last fold's model is kept instead (no extra training).

    ``result`` (the cross-validation result) gives the folds' held-out familiarity scores: the
    bundle then carries the statistics that say how familiar a new input is. Either way the
    bundle carries the temperatures of its heads, fitted on the out-of-fold logits of
    ``result`` (:meth:`CrossValidationResult.calibration_record`): the final model has no
    held-out data of its own, and the folds' models are the same recipe on nearly the same
    data, so their held-out confidence is the best estimate of its own.

    With ``runs_dir`` (``params:caches.training_runs``) the final fit is trained by the runner
    (:func:`facevlm.runner.run.run_final_fit`) into the cross-validation's training-run folder,
    and a run killed during it continues from there.

    ``face_reader`` (:func:`fit_face_reader`): the second reader the bundle carries, which must
    agree before the product answers."""
    reader = face_reader if face_reader and face_reader.get("enabled") else None
    calibration = None if result is None else result.calibration_record()
    if calibration is None:
        logger.warning("no held-out logits: the model's probabilities stay uncalibrated")
    if not parameters.get("final_fit", True):
        logger.info("final_fit is off: the model is the last fold's, no extra training")
        return dataclasses.replace(last_fold_model, calibration=calibration, face_reader=reader)
    # a copy: a recipe may set what its training needs on the config it is given
    cfg, data, fitted = copy.deepcopy(prepared.cfg), prepared.data, None
    if runs_dir is not None:
        from facevlm.runner.run import run_final_fit

        tags = run_tags(parameters, dataset)
        fitted, data = run_final_fit(runs_dir, prepared.recipe, cfg, data, prompt_bank, tags)
    final = fit_final(
        get_recipe(prepared.recipe),
        data,
        prompt_bank,
        cfg,
        familiarity_folds=result.familiarity_folds() if result is not None else None,
        modality=prepared.render_settings.get("modality"),
        fitted=fitted,
    )
    bundle = _bundle(
        final.fitted.model,
        cfg,
        data,
        prompt_bank,
        parameters,
        dataset,
        prepared.render_settings,
        prepared.sample_frames,
        fit="all_subjects",
        n_samples=final.n_samples,
        n_subjects=final.n_subjects,
        **final.extra,
    )
    bundle.calibration = calibration
    bundle.face_reader = reader
    return bundle


def _mean_histories(history: pd.DataFrame) -> dict[str, list[float]]:
    """Per-epoch mean over folds of every recorded value (``history_frame()``), named for MLflow."""
    if history.empty:
        return {}
    means = history.drop(columns=["fold"]).groupby("epoch").mean(numeric_only=True).sort_index()
    renamed = {}
    for column in means.columns:
        name = column if "/" in column and not column.startswith("loss/") else f"train/{column}"
        renamed[name] = means[column].tolist()
    return renamed


def fold_metrics_table(result: CrossValidationResult) -> pd.DataFrame:
    """One row per fold and evaluation: accuracy and macro-F1 (the spread behind mean ± std);
    for an evaluation with logits also its ECE before and after calibration and the
    temperature fitted on the other folds (NaN where there is none)."""
    rows = []
    for evaluation in result.evaluations:
        calibrated = (
            result.fold_calibration(evaluation)
            if evaluation in result.calibrated_evaluations
            else None
        )
        for k, (fold, report) in enumerate(
            zip(result.folds, result.fold_reports(evaluation), strict=True)
        ):
            row = {
                "evaluation": evaluation,
                "fold": fold.fold,
                "accuracy": report["accuracy"],
                "macro_f1": report["macro_f1"],
                "ece": np.nan,
                "ece_uncalibrated": np.nan,
                "temperature": np.nan,
            }
            if calibrated is not None:
                row["ece"] = calibrated.ece_calibrated[k]
                row["ece_uncalibrated"] = calibrated.ece_uncalibrated[k]
                row["temperature"] = calibrated.fold_temperatures[k]
            rows.append(row)
    return pd.DataFrame(rows)


def face_reader_metrics(bundle: ModelBundle) -> dict[str, float]:
    """The face reader's figures on the held-out folds, named for MLflow (``answers/coverage``,
    ``answers/accuracy``: what the product answers with the rule; ``answers/agree_*``: by
    agreement alone; ``answers/best_guess_accuracy``: what ``--always-answer`` labels, every
    face; ``face_reader/accuracy``: the reader by itself). Empty without a reader."""
    figures = (bundle.face_reader or {}).get("figures") or {}
    names = {
        "answered_coverage": "answers/coverage",
        "answered_accuracy": "answers/accuracy",
        "agree_coverage": "answers/agree_coverage",
        "agree_accuracy": "answers/agree_accuracy",
        "reader_accuracy": "face_reader/accuracy",
        "reader_found_face": "face_reader/found_face",
        "best_guess_accuracy": "answers/best_guess_accuracy",
    }
    return {names[k]: float(v) for k, v in figures.items() if k in names and np.isfinite(v)}


def report_model_run(
    result: CrossValidationResult,
    parameters: dict[str, Any],
    bundle: ModelBundle,
    scan_index: pd.DataFrame,
    fold_table: pd.DataFrame,
    dataset: dict[str, Any],
) -> tuple[ModelRunReport, dict[str, Any], Any, Any, pd.DataFrame, Any, Any]:
    """Everything a person looks at after training: the MLflow run (the model logged when its
    catalog entry says so; the scan index recorded as the run's dataset input; parameters flat:
    ``train.lr_head``, ``render.views``), the summary, the figures (confusion, curves,
    embeddings, reliability diagram) and the fold table."""
    aggregate = result.aggregate(PRIMARY)
    # the figures of train_affectvlm and train_affectvlm_4d (or an ablation) must not look alike
    label = " · ".join(
        str(part)
        for part in (result.model, result.tags.get("task"), result.tags.get("variant"))
        if part
    )
    confusion = confusion_matrix_figure(
        np.asarray(aggregate["confusion"]),
        result.classes,
        title=f"{label}: held-out subjects",
    )
    history = result.history_frame()
    curves = training_curves_figure(history, title=f"{label}: per-epoch curves")
    reliability = reliability_figure(
        {e: result.reliability(e) for e in result.calibrated_evaluations},
        title=f"{label}: held-out confidence of all folds pooled, before and after calibration",
    )
    figures = {
        "confusion_matrix": confusion,
        "training_curves": curves,
        "reliability_diagram": reliability,
    }
    embeddings = [f.test_embeddings for f in result.folds if f.test_embeddings is not None]
    if embeddings:
        labels = np.concatenate([f.y_true for f in result.folds])
        figures["embeddings"] = embedding_figure(
            np.concatenate(embeddings),
            [result.classes[i] for i in labels],
            result.classes,
            title=f"{label}: held-out fused embeddings (PCA)",
        )
    metrics = result.final_metrics() | result.training_time_metrics() | face_reader_metrics(bundle)
    per_fold = fold_metrics_table(result)
    run = ModelRunReport(
        run_name=result.tags.get("variant", result.model),
        tags=result.tags,
        params={
            **parameters["experiment"],
            "protocol": parameters["protocol"],
            "prompts": parameters["prompts"],
            "render": bundle.info.get("render", {}),
            # how a sample was made of a sequence's frames: what serving the model repeats
            **({SAMPLE_FRAMES: bundle.info[SAMPLE_FRAMES]} if SAMPLE_FRAMES in bundle.info else {}),
        },
        metrics=metrics,
        dataset_input=DatasetInput.from_scan_index(
            result.tags["dataset"],
            scan_index,
            n_samples=len(fold_table),
            source=str(dataset.get("root", "")),
        ),
        histories=_mean_histories(history),
        figures=figures,
        tables={"fold_metrics": per_fold, "predictions": result.predictions_frame()},
        model=bundle.build()[0],
    )
    summary = {
        "model": result.model,
        "tags": result.tags,
        "classes": result.classes,
        "n_folds": len(result.folds),
        "metrics": metrics,
    }
    held_out_sources = result.held_out_face_sources()
    if held_out_sources:  # how many held-out samples each face source's accuracy rests on
        summary["face_sources"] = held_out_sources
    logger.info(
        "%s: test accuracy %.3f ± %.3f over %d folds; ECE %.3f calibrated, %.3f uncalibrated",
        result.model,
        metrics.get("test/accuracy_mean", float("nan")),
        metrics.get("test/accuracy_std", float("nan")),
        len(result.folds),
        metrics.get("test/ece_mean", float("nan")),
        metrics.get("test/ece_uncalibrated_mean", float("nan")),
    )
    return run, summary, confusion, curves, per_fold, figures["embeddings"], reliability


def tabulate_ablations(**summaries: dict[str, Any]) -> pd.DataFrame:
    """One row per ablation variant (``baseline`` first): its accuracy-like metrics, mean ± std
    over folds, from each variant's ``summary``.

    When a variant has data of its own (its run's ``data`` tag), a ``test_data`` column says
    what each row was tested on: the model's folds, or the variant's own held-out subjects and
    what its set changed. Such a row's accuracy is not measured on the baseline's test faces."""
    for variant, summary in summaries.items():
        logger.info(
            "ablation %s: accuracy %.3f",
            variant,
            summary["metrics"].get("test/accuracy_mean", np.nan),
        )
    runs = [{"variant": variant, **s["metrics"]} for variant, s in summaries.items()]
    table = comparison_table(runs, name_key="variant")
    keep = [
        c for c in table.columns if c.endswith(("accuracy_mean", "accuracy_std", "macro_f1_mean"))
    ]
    table = table[keep].reset_index()
    data = {variant: (s.get("tags") or {}).get("data") for variant, s in summaries.items()}
    if any(data.values()):
        table["test_data"] = [
            f"own folds ({data[v]})" if data[v] else "model's folds" for v in table["variant"]
        ]
    return table
