"""The documentation's results tables, written from the MLflow store rather than typed by hand.

A figure typed into a page drifts from the run it came from; a figure generated from the run
store is the run. :func:`results_report` reads the latest finished model run of every task ×
dataset × protocol × model × variant (:func:`facevlm.evaluation.comparison.collect_model_runs`)
and returns the same figures twice:

- as Markdown (one table per task: 3D expressions, 4D expressions, micro-expressions, then the
  frozen starting point of each run and any ablation variants), which the documentation's
  results page includes;
- as a JSON-ready dict (full precision, the run ids, the dataset digest and the pretraining
  seed), which a script can compare with a fresh run's figures.

Each row says which pretraining seed its backbone came from: the tiny CPU backbone is pretrained
by the ``pretrain`` pipeline, and its seed moves the figures by a few points, so a figure without
its seed cannot be reproduced. The seed is read from the parameters kedro-mlflow logged on the
model run's parent (the Kedro session's run).

Kedro-free: the ``report`` pipeline wraps it; a notebook can call it on any tracking URI.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from mlflow.tracking import MlflowClient

from facevlm.evaluation.comparison import DEFAULT_VARIANT, KEYS, MEASURES, collect_model_runs
from facevlm.numerics import NUMERICS_TAG

#: The parameter (as kedro-mlflow flattens it on the session's run) holding the pretraining seed.
PRETRAINING_SEED_PARAM = "pretraining.training.train.seed"

#: Tasks in the order the page shows them, with their headings; other tasks follow, by name.
TASK_TITLES = {
    "fer3d": "3D expressions",
    "fer4d": "4D expressions (sequences)",
    "mer": "Micro-expressions",
}

#: Measure column → table header, in the order the tables show them.
MEASURE_HEADERS = {
    "accuracy": "accuracy",
    "macro_f1": "macro-F1",
    "linear_probe": "linear probe",
    "zero_shot": "zero-shot",
    "knn": "k-NN",
    "fold_time_s": "s / fold",  # training time
}

#: The frozen starting point's measures (the ``baseline`` of every run).
BASELINE_HEADERS = {
    "baseline_linear_probe": "frozen linear probe",
    "baseline_zero_shot": "frozen zero-shot",
    "accuracy": "after training (accuracy)",
}

#: What the product answers with its face reader (docs/methods.md#when-the-product-answers),
#: on the held-out folds pooled.
ANSWER_HEADERS = {
    "answered_coverage": "answered",
    "answered_accuracy": "right when answered",
    "face_reader_accuracy": "face reader alone",
    "accuracy": "model alone (accuracy)",
    "best_guess_accuracy": "every face labelled (--always-answer)",
}

_MISSING = "—"


def _number(value: Any) -> float | None:
    """A float for JSON, ``None`` for a missing value (NaN is not JSON)."""
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def _cell(mean: Any, std: Any, digits: int) -> str:
    mean, std = _number(mean), _number(std)
    if mean is None:
        return _MISSING
    return f"{mean:.{digits}f}" if std is None else f"{mean:.{digits}f} ± {std:.{digits}f}"


def session_numerics(client: MlflowClient, parent_run_id: str | None) -> str | None:
    """How a model run's session computed (its parent run's ``facevlm.numerics`` tag: code path
    and threads); ``None`` when not recorded."""
    if not parent_run_id:
        return None
    return client.get_run(parent_run_id).data.tags.get(NUMERICS_TAG)


def pretraining_seed(client: MlflowClient, parent_run_id: str | None) -> int | None:
    """The pretraining seed logged on a model run's parent run (``None`` when not logged: a run
    with pretraining switched off, or one logged outside a Kedro session)."""
    if not parent_run_id:
        return None
    value = client.get_run(parent_run_id).data.params.get(PRETRAINING_SEED_PARAM)
    try:
        return None if value is None else int(float(value))
    except ValueError:
        return None


def latest_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The latest run of each :data:`KEYS` group, sorted by task order, then the keys."""
    if runs.empty:
        raise ValueError("no finished model runs in the store: train a model first (kedro run)")
    latest = runs.sort_values("start_time").drop_duplicates(KEYS, keep="last")
    order = {task: i for i, task in enumerate(TASK_TITLES)}
    latest = latest.assign(_task_order=latest["task"].map(order).fillna(len(order)))
    latest = latest.assign(_is_variant=latest["variant"] != DEFAULT_VARIANT)
    sort = ["_task_order", "task", "_is_variant", "dataset", "protocol", "model", "variant"]
    return latest.sort_values(sort).drop(columns=["_task_order", "_is_variant"])


def _run_record(row: pd.Series, seed: int | None, numerics: str | None) -> dict[str, Any]:
    measures = {
        column: {"mean": _number(row[f"{column}_mean"]), "std": _number(row[f"{column}_std"])}
        for column in MEASURES
        if _number(row[f"{column}_mean"]) is not None
    }
    return {
        **{key: str(row[key]) for key in KEYS},
        "pretraining_seed": seed,
        "numerics": numerics,
        "n_samples": None if _number(row["n_samples"]) is None else int(row["n_samples"]),
        "dataset_digest": row["dataset_digest"],
        "run_id": row["run_id"],
        "start_time": pd.Timestamp(row["start_time"]).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "measures": measures,
    }


def _markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _measure_table(
    records: list[dict[str, Any]], headers: dict[str, str], digits: int, variants: bool = False
) -> str:
    """One row per run: its identity, the measures any of them has, seed and run id."""
    present = [m for m in headers if any(m in r["measures"] for r in records)]
    head = ["model"] + (["variant"] if variants else []) + ["dataset", "protocol", "samples"]
    head += [headers[m] for m in present] + ["pretraining seed", "run"]
    rows = []
    for r in records:
        cells = [r["model"]] + ([r["variant"]] if variants else [])
        cells += [r["dataset"], r["protocol"]]
        cells.append(_MISSING if r["n_samples"] is None else str(r["n_samples"]))
        for m in present:
            value = r["measures"].get(m, {})
            places = 1 if m == "fold_time_s" else digits  # seconds: a tenth is plenty
            cells.append(_cell(value.get("mean"), value.get("std"), places))
        cells.append(_MISSING if r["pretraining_seed"] is None else str(r["pretraining_seed"]))
        cells.append(f"`{r['run_id'][:8]}`")
        rows.append(cells)
    return _markdown_table(head, rows)


def results_markdown(records: list[dict[str, Any]], experiment: str, digits: int = 3) -> str:
    """The results page's tables: one per task, the frozen starting points, the ablations."""
    parts = [
        "<!-- Generated by `kedro run --pipeline=report` from the MLflow store: do not edit. -->",
        "",
        f"MLflow experiment `{experiment}`, the latest finished run of each group; mean ± std "
        f"over the evaluation folds. `accuracy` is each model's primary measure (AffectVLM's "
        f"prompt classifier, SMILE-VLM's linear probe).",
    ]
    tasks = list(dict.fromkeys(r["task"] for r in records))
    for task in tasks:
        main = [r for r in records if r["task"] == task and r["variant"] == DEFAULT_VARIANT]
        if main:
            title = TASK_TITLES.get(task, f"Task `{task or 'untagged'}`")
            parts += ["", f"## {title}", "", _measure_table(main, MEASURE_HEADERS, digits)]
    with_baseline = [
        r
        for r in records
        if r["variant"] == DEFAULT_VARIANT
        and any(m in r["measures"] for m in ("baseline_linear_probe", "baseline_zero_shot"))
    ]
    if with_baseline:
        parts += [
            "",
            "## The frozen starting point",
            "",
            "The pretrained backbone before any training, scored on the same folds: what "
            "training added is the difference to the last column.",
            "",
            _measure_table(with_baseline, BASELINE_HEADERS, digits),
        ]
    with_reader = [
        r
        for r in records
        if r["variant"] == DEFAULT_VARIANT and "answered_coverage" in r["measures"]
    ]
    if with_reader:
        parts += [
            "",
            "## When the product answers",
            "",
            "The held-out faces of all folds pooled: the share the product answers (the model "
            "and its face reader agree, or two near-miss readings combine safely), how many "
            "of those answers are right, each reader alone, and the accuracy of the labels "
            "`--always-answer` gives every face (the answer, else both readings' best guess).",
            "",
            _measure_table(with_reader, ANSWER_HEADERS, digits),
        ]
    variants = [r for r in records if r["variant"] != DEFAULT_VARIANT]
    if variants:
        table = _measure_table(variants, MEASURE_HEADERS, digits, variants=True)
        parts += ["", "## Ablations", "", table]
    return "\n".join(parts) + "\n"


def results_report(
    experiment: str, tracking_uri: str | None = None, digits: int = 3
) -> tuple[str, dict[str, Any]]:
    """The results tables as Markdown and as a JSON-ready dict, from an MLflow experiment.

    Args:
        experiment: the experiment's name or id (``facevlm`` in ``conf/base/mlflow.yml``).
        tracking_uri: the store to read; ``None``: MLflow's current one.
        digits: decimals in the Markdown tables (the dict keeps full precision).

    Raises:
        ValueError: no such experiment, or no finished model run in it.
    """
    client = MlflowClient(tracking_uri)
    runs = latest_runs(collect_model_runs(experiment, tracking_uri))
    found = client.get_experiment_by_name(experiment) or client.get_experiment(experiment)
    experiment = found.name  # a name, also when given the id of the session run's experiment
    records = []
    for _, row in runs.iterrows():
        parent = client.get_run(row["run_id"]).data.tags.get("mlflow.parentRunId")
        records.append(
            _run_record(row, pretraining_seed(client, parent), session_numerics(client, parent))
        )
    document = {
        "generated_by": "kedro run --pipeline=report",
        "experiment": experiment,
        "measures": "mean and std over evaluation folds; accuracy is each model's primary one",
        "runs": records,
    }
    return results_markdown(records, experiment, digits), document


#: Measures that are timings: they depend on the machine and its load, not on the code.
TIMING_MEASURES = ("fold_time_s",)


def _run_key(run: dict[str, Any]) -> str:
    return " · ".join(str(run[key]) for key in KEYS)


def figure_differences(
    committed: dict[str, Any],
    fresh: dict[str, Any],
    digits: int = 3,
    other_path_spread: float | None = None,
) -> list[str]:
    """Where a fresh run's figures differ from the committed ones, to ``digits`` decimals.

    Compares every run of ``committed`` (the file ``report`` wrote) with the run of the same
    task × dataset × protocol × model × variant in ``fresh``: its pretraining seed and the mean
    and std of every measure, rounded as the tables show them. Timings are left out. Runs only
    ``fresh`` has are not differences (a new pipeline was run). Returns one line per
    difference; empty when the figures reproduce.

    When both runs recorded how they computed (code path and threads,
    :data:`~facevlm.numerics.NUMERICS_TAG`) and that differs, the figures are not expected to
    agree to the digit: with ``other_path_spread`` each mean must lie within it of the
    committed one (the spread measured between numerical paths and training seeds,
    docs/results.md) and the stds are not compared; without it the first line of the run says
    that it was computed otherwise, then the figures that moved are listed.
    """
    fresh_runs = {_run_key(run): run for run in fresh.get("runs", [])}
    differences = []
    for run in committed.get("runs", []):
        key = _run_key(run)
        if key not in fresh_runs:
            differences.append(f"{key}: no fresh run")
            continue
        other = fresh_runs[key]
        committed_path, fresh_path = run.get("numerics"), other.get("numerics")
        otherwise = bool(committed_path and fresh_path and committed_path != fresh_path)
        if otherwise and other_path_spread is None:
            differences.append(
                f"{key}: computed {fresh_path} (fresh), not {committed_path} (committed): the "
                "same figures need the same numerical path and thread count (docs/results.md)"
            )
        if run.get("pretraining_seed") != other.get("pretraining_seed"):
            differences.append(
                f"{key}: pretraining seed {run.get('pretraining_seed')} (committed) "
                f"!= {other.get('pretraining_seed')} (fresh)"
            )
        for measure, value in run["measures"].items():
            if measure in TIMING_MEASURES:
                continue
            new = other["measures"].get(measure, {})
            if otherwise and other_path_spread is not None:
                differences += _beyond_spread(
                    key, measure, value, new, other_path_spread, fresh_path, digits
                )
                continue
            for part in ("mean", "std"):
                was, now = value.get(part), new.get(part)
                was_text = "missing" if was is None else f"{was:.{digits}f}"
                now_text = "missing" if now is None else f"{now:.{digits}f}"
                if was_text != now_text:
                    differences.append(
                        f"{key}: {measure} {part} {was_text} (committed) != {now_text} (fresh)"
                    )
    return differences


def _beyond_spread(
    key: str, measure: str, committed: dict, fresh: dict, spread: float, path: str, digits: int
) -> list[str]:
    """The line for a measure whose fresh mean lies more than ``spread`` from the committed
    one, computed on another numerical path (``path``); none when it lies within."""
    was, now = committed.get("mean"), fresh.get("mean")
    if was is None or (now is not None and abs(now - was) <= spread):
        return []
    now_text = "missing" if now is None else f"{now:.{digits}f}"
    return [
        f"{key}: {measure} mean {was:.{digits}f} (committed), {now_text} (fresh, computed "
        f"{path}): "
        f"further apart than {spread}, the spread between numerical paths and seeds"
    ]
