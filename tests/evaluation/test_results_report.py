"""The documentation's results tables come from the runs of a real SQLite MLflow store."""

from __future__ import annotations

import json
import time

import mlflow
import pandas as pd
import pytest

from facevlm.datasets import DatasetInput, MlflowModelRunDataset, ModelRunReport
from facevlm.evaluation.results_report import (
    PRETRAINING_SEED_PARAM,
    figure_differences,
    results_report,
)
from facevlm.numerics import NUMERICS_TAG

SCAN_INDEX = pd.DataFrame({"subject": ["F0001", "F0002"], "expression": ["anger", "happiness"]})


@pytest.fixture
def store(tmp_path, monkeypatch, new_mlflow_store):
    """A fresh SQLite tracking store with experiment ``facevlm``."""
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{new_mlflow_store(tmp_path / 'mlruns.db')}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("facevlm")
    yield uri
    while mlflow.active_run():
        mlflow.end_run()


def _report(model: str, task: str, metrics: dict[str, float], variant: str | None = None):
    tags = {"model": model, "dataset": "synthetic", "protocol": "subject_kfold", "task": task}
    if variant:
        tags["variant"] = variant
    return ModelRunReport(
        run_name=variant or model,
        tags=tags,
        params={"train": {"epochs": 2}},
        metrics=metrics,
        dataset_input=DatasetInput.from_scan_index("synthetic", SCAN_INDEX, 2),
    )


def _session(seed: int | None, *reports: ModelRunReport, numerics: str | None = None) -> None:
    """A Kedro-session-like parent run (the pretraining seed as kedro-mlflow logs it, the
    numerics tag as the project's hook sets it) holding the model runs, as ``kedro run`` nests
    them."""
    with mlflow.start_run(run_name="session"):
        if numerics is not None:
            mlflow.set_tag(NUMERICS_TAG, numerics)
        if seed is not None:
            mlflow.log_param(PRETRAINING_SEED_PARAM, seed)
        MlflowModelRunDataset(log_model=False).save(list(reports))


AFFECTVLM = {
    "test/accuracy_mean": 0.91234,
    "test/accuracy_std": 0.0649,
    "test/macro_f1_mean": 0.9,
    "test/macro_f1_std": 0.07,
    "baseline/linear_probe/accuracy_mean": 0.88,
    "baseline/linear_probe/accuracy_std": 0.05,
    "baseline/zero_shot/accuracy_mean": 0.8,
    "baseline/zero_shot/accuracy_std": 0.04,
    "train/fold_time_s_mean": 12.34,
    "train/fold_time_s_std": 1.0,
}
SMILE = {
    "test/accuracy_mean": 0.85,
    "test/accuracy_std": 0.05,
    "test/linear_probe/accuracy_mean": 0.85,
    "test/linear_probe/accuracy_std": 0.05,
    "test/zero_shot/accuracy_mean": 0.7,
    "test/zero_shot/accuracy_std": 0.1,
}


def test_tables_per_task_with_std_seed_baselines_and_ablations(store):
    _session(0, _report("affectvlm", "fer3d", {"test/accuracy_mean": 0.5}))
    time.sleep(0.01)  # distinct start times: the latest run of a group is the one shown
    _session(
        7,
        _report("affectvlm", "fer3d", AFFECTVLM),
        _report("smile", "fer3d", SMILE),
        _report("affectvlm", "fer3d", {"test/accuracy_mean": 0.6}, variant="one_view"),
    )
    _session(None, _report("smile", "mer", {"test/accuracy_mean": 0.4, "test/accuracy_std": 0.2}))
    _session(3, _report("affectvlm", "fer4d", {"test/accuracy_mean": 0.75}))

    markdown, document = results_report("facevlm", store)

    runs = document["runs"]
    assert [(r["task"], r["model"], r["variant"]) for r in runs] == [
        ("fer3d", "affectvlm", "default"),
        ("fer3d", "smile", "default"),
        ("fer3d", "affectvlm", "one_view"),
        ("fer4d", "affectvlm", "default"),
        ("mer", "smile", "default"),
    ]
    affectvlm = runs[0]
    assert affectvlm["measures"]["accuracy"] == {"mean": 0.91234, "std": 0.0649}, "full precision"
    assert affectvlm["pretraining_seed"] == 7, "the seed of the session that logged the run"
    assert runs[3]["pretraining_seed"] == 3
    assert runs[4]["pretraining_seed"] is None, "no seed logged: none claimed"
    assert runs[3]["measures"]["accuracy"] == {"mean": 0.75, "std": None}
    assert affectvlm["n_samples"] == 2 and affectvlm["dataset_digest"]
    json.dumps(document, allow_nan=False)  # strict JSON: a missing std is null, not NaN

    sections = markdown.split("\n## ")[1:]
    assert [s.splitlines()[0] for s in sections] == [
        "3D expressions",
        "4D expressions (sequences)",
        "Micro-expressions",
        "The frozen starting point",
        "Ablations",
    ]
    three_d = sections[0]
    row = "| affectvlm | synthetic | subject_kfold | 2 | 0.912 ± 0.065 | 0.900 ± 0.070 |"
    assert row in three_d
    assert "| 12.3 ± 1.0 | 7 |" in three_d, "training time in tenths of a second, then the seed"
    assert "0.700 ± 0.100" in three_d, "SMILE-VLM's zero-shot"
    assert "0.500" not in markdown, "an older run of a group is not shown"
    assert "| 0.400 ± 0.200 |" in sections[2] and "| — |" in sections[2]
    assert "| 0.880 ± 0.050 | 0.800 ± 0.040 | 0.912 ± 0.065 |" in sections[3]
    assert "smile" not in sections[3], "a run without baseline figures is left out there"
    assert "| affectvlm | one_view | synthetic |" in sections[4] and "one_view" not in three_d
    assert "experiment `facevlm`" in markdown


def test_what_the_product_answers_has_a_table_of_its_own(store):
    """The face reader's figures are pooled over the folds: one number each, no spread, and
    not among the 3D table's accuracies."""
    answers = {
        "answers/coverage": 0.906,
        "answers/accuracy": 0.971,
        "face_reader/accuracy": 0.885,
        "answers/best_guess_accuracy": 0.932,
    }
    _session(0, _report("affectvlm", "fer3d", {**AFFECTVLM, **answers}))
    markdown, document = results_report("facevlm", store)
    (run,) = document["runs"]
    assert run["measures"]["answered_coverage"] == {"mean": 0.906, "std": None}
    sections = markdown.split("\n## ")[1:]
    titles = [s.splitlines()[0] for s in sections]
    assert "When the product answers" in titles
    table = sections[titles.index("When the product answers")]
    assert "| 0.906 | 0.971 | 0.885 | 0.912 ± 0.065 | 0.932 |" in table
    assert "0.906" not in sections[titles.index("3D expressions")]


def test_digits_set_the_tables_decimals(store):
    _session(0, _report("affectvlm", "fer3d", AFFECTVLM))
    markdown, _ = results_report("facevlm", store, digits=2)
    assert "| 0.91 ± 0.06 |" in markdown


def test_an_empty_or_missing_experiment_says_what_to_do(store):
    with pytest.raises(ValueError, match="no MLflow experiment 'nope'"):
        results_report("nope", store)
    with pytest.raises(ValueError, match="train a model first"):
        results_report("facevlm", store)


def test_a_fresh_run_reproduces_the_committed_figures_or_says_where_not(store):
    _session(0, _report("affectvlm", "fer3d", AFFECTVLM), _report("smile", "fer3d", SMILE))
    _, committed = results_report("facevlm", store)
    committed = json.loads(json.dumps(committed))  # as the file holds it

    time.sleep(0.01)
    slower = AFFECTVLM | {"train/fold_time_s_mean": 99.0, "test/accuracy_mean": 0.91236}
    _session(0, _report("affectvlm", "fer3d", slower), _report("smile", "fer3d", SMILE))
    _session(0, _report("smile", "mer", {"test/accuracy_mean": 0.4}))  # a run only fresh has
    _, fresh = results_report("facevlm", store)
    assert figure_differences(committed, fresh) == [], "equal to 3 decimals; timings left out"

    time.sleep(0.01)
    moved = AFFECTVLM | {"test/accuracy_mean": 0.9136, "test/macro_f1_std": float("nan")}
    _session(1, _report("affectvlm", "fer3d", moved))
    _, fresh = results_report("facevlm", store)
    assert figure_differences(committed, fresh) == [
        "fer3d · synthetic · subject_kfold · affectvlm · default: pretraining seed 0 (committed) "
        "!= 1 (fresh)",
        "fer3d · synthetic · subject_kfold · affectvlm · default: accuracy mean 0.912 (committed) "
        "!= 0.914 (fresh)",
        "fer3d · synthetic · subject_kfold · affectvlm · default: macro_f1 std 0.070 (committed) "
        "!= missing (fresh)",
    ]
    assert figure_differences(committed, {"runs": []})[0].endswith(": no fresh run")


PINNED = "torch AVX2, oneDNN AVX2, MKL AVX2, OpenBLAS Haswell, 2 threads"


def test_a_run_computed_another_way_is_named_as_the_reason(store):
    """Figures agree to the digit only on the same numerical path and thread count: a check
    against a run computed otherwise says so first, then lists the figures that moved."""
    _session(0, _report("affectvlm", "fer3d", AFFECTVLM), numerics=PINNED)
    _, committed = results_report("facevlm", store)
    committed = json.loads(json.dumps(committed))
    assert committed["runs"][0]["numerics"] == PINNED

    time.sleep(0.01)
    _session(0, _report("affectvlm", "fer3d", AFFECTVLM), numerics=PINNED)
    _, fresh = results_report("facevlm", store)
    assert figure_differences(committed, fresh) == [], "same path, same figures: a pass"

    time.sleep(0.01)
    native = "torch AVX512, oneDNN native, MKL native, OpenBLAS SkylakeX, 16 threads"
    moved = AFFECTVLM | {"test/accuracy_mean": 0.95}
    _session(0, _report("affectvlm", "fer3d", moved), numerics=native)
    _, fresh = results_report("facevlm", store)
    key = "fer3d · synthetic · subject_kfold · affectvlm · default"
    differences = figure_differences(committed, fresh)
    assert differences[0].startswith(f"{key}: computed {native} (fresh), not {PINNED} (committed)")
    assert differences[1:] == [f"{key}: accuracy mean 0.912 (committed) != 0.950 (fresh)"]

    del committed["runs"][0]["numerics"]  # a file written before runs recorded it
    assert figure_differences(committed, fresh) == [differences[1]]


def test_a_run_computed_another_way_passes_within_the_measured_spread(store):
    """On another numerical path (another CPU vendor's MKL) the figures cannot agree to the
    digit: given the spread measured between paths and seeds, each mean must lie within it of
    the committed one, and a figure further off (the code changed) still fails."""
    _session(0, _report("affectvlm", "fer3d", AFFECTVLM), numerics=PINNED)
    _, committed = results_report("facevlm", store)
    committed = json.loads(json.dumps(committed))

    time.sleep(0.01)
    amd = "torch AVX2, oneDNN AVX2, MKL auto on AuthenticAMD, OpenBLAS Haswell, 2 threads"
    close = AFFECTVLM | {"test/accuracy_mean": 0.93, "test/accuracy_std": 0.2}
    _session(0, _report("affectvlm", "fer3d", close), numerics=amd)
    _, fresh = results_report("facevlm", store)
    assert figure_differences(committed, fresh, other_path_spread=0.03) == []
    assert len(figure_differences(committed, fresh)) == 3, "without a spread: to the digit"

    time.sleep(0.01)
    broken = AFFECTVLM | {"test/accuracy_mean": 0.5}
    _session(0, _report("affectvlm", "fer3d", broken), numerics=amd)
    _, fresh = results_report("facevlm", store)
    key = "fer3d · synthetic · subject_kfold · affectvlm · default"
    assert figure_differences(committed, fresh, other_path_spread=0.03) == [
        f"{key}: accuracy mean 0.912 (committed), 0.500 (fresh, computed {amd}): further apart "
        "than 0.03, the spread between numerical paths and seeds"
    ]
    _session(0, _report("affectvlm", "fer3d", AFFECTVLM), numerics=PINNED)
    _, fresh = results_report("facevlm", store)
    assert figure_differences(committed, fresh, other_path_spread=0.03) == [], "same path"
