"""An ablation variant that changes the synthetic set (``bank_expressions``: the faces wear the
expression bank's real FACS-coded expressions) makes, indexes, renders and reads its own data
under its namespace, trains on folds of its own, and takes its row in the ablation table beside
the baseline, marked as tested on its own folds."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from shared_project_runs import tiny_run_params

from facevlm.experiments.model_parameters import run_tags
from facevlm.pipeline_registry import declared_data_variants, register_pipelines
from facevlm.pipelines.training.nodes import tabulate_ablations
from preloaded_python import run_preloaded

VARIANT = "bank_expressions"
NAMESPACE = f"affectvlm_ablation.{VARIANT}"
#: The stages a data variant runs under its namespace besides the model's training nodes.
DATA_STAGES = (
    "prepare_raw_scans",
    "index_scans",
    "select_render_samples",
    "render_samples",
    "read_face_actions",
    "folds",
)

#: One namespace of a pipeline of the project at argv[1] run in a Kedro session; runtime params
#: on stdin (JSON).
RUN_NAMESPACE = """
import json, sys
from pathlib import Path
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
project, pipeline_name, namespace = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
bootstrap_project(project)
with KedroSession.create(project_path=project, runtime_params=json.load(sys.stdin)) as session:
    session.run(pipeline_name=pipeline_name, namespaces=[namespace])
"""


def test_the_configured_bank_variant_changes_the_data_of_both_models():
    assert declared_data_variants() == {"affectvlm": [VARIANT], "smile": [VARIANT]}


@pytest.mark.parametrize("model", ["affectvlm", "smile"])
def test_the_ablation_pipeline_holds_the_data_variants_own_data_stages(model):
    """The variant's namespace makes everything it trains on: only the pretrained backbone
    comes from outside it, while a model variant reads the model's folds and renders."""
    ablate = register_pipelines()[f"ablate_{model}"]
    namespace = f"{model}_ablation.{VARIANT}"
    own = ablate.only_nodes_with_namespaces([namespace])

    assert {f"{namespace}.{stage}" for stage in DATA_STAGES} <= {n.name for n in own.nodes}
    datasets_read = {name for name in own.inputs() if not name.startswith("params:")}
    assert datasets_read == {"pretrained_backbone"}
    nodes = {n.name: n for n in ablate.nodes}
    prepared = nodes[f"{namespace}.prepare_training_data"].inputs
    assert {f"{namespace}.renders", f"{namespace}.fold_table"} <= set(prepared)
    assert f"{namespace}.face_actions" in nodes[f"{namespace}.fit_face_reader"].inputs
    table = nodes[f"{model}_ablation.table"].inputs
    assert {f"{model}.summary", f"{namespace}.summary"} <= set(table)

    model_variants = [
        node
        for name, node in nodes.items()
        if name.startswith(f"{model}_ablation.") and name.endswith(".prepare_training_data")
    ]
    assert len(model_variants) > 1, "the model variants of conf/base are there too"
    for node in model_variants:
        if node.name != f"{namespace}.prepare_training_data":
            assert {"renders", f"{model}.fold_table"} <= set(node.inputs), node.name


def test_a_data_variants_runs_are_tagged_with_what_it_changed():
    parameters = {
        "recipe": "affectvlm",
        "protocol": {"name": "subject_kfold", "datasets": ["synthetic-bu3dfe"]},
        "variant": VARIANT,
        "synthetic": {"expressions": "bank", "scanner_variety": {"holes": 0.0}},
    }
    tags = run_tags(parameters, {"name": "synthetic"})
    assert tags["variant"] == VARIANT
    assert tags["data"] == "synthetic.expressions=bank,synthetic.scanner_variety.holes=0.0"
    assert "data" not in run_tags({**parameters, "synthetic": None}, {"name": "synthetic"})


def test_the_table_says_which_rows_were_tested_on_their_own_folds():
    table = tabulate_ablations(
        baseline={"metrics": {"test/accuracy_mean": 0.9}, "tags": {}},
        one_view={"metrics": {"test/accuracy_mean": 0.7}, "tags": {"variant": "one_view"}},
        bank_expressions={
            "metrics": {"test/accuracy_mean": 0.6},
            "tags": {"variant": VARIANT, "data": "synthetic.expressions=bank"},
        },
    )
    assert list(table["test_data"]) == [
        "model's folds",
        "model's folds",
        "own folds (synthetic.expressions=bank)",
    ]


def _latest(folder: Path) -> Path:
    """The newest version's file of a versioned dataset's folder."""
    (newest,) = sorted(folder.iterdir())[-1:]
    (path,) = newest.iterdir()
    return path


@pytest.mark.slow
def test_a_kedro_run_of_the_variant_writes_its_own_bank_set_and_its_table_row(
    tiny_project_run_copy, tiny_synthetic_session
):
    """The variant's nodes of ``ablate_affectvlm`` in a Kedro session on the shared tiny run:
    its synthetic set is written apart from the model's, every subject wearing a bank person's
    expressions and no two subjects the same person; it trains on folds of its own subjects;
    its summary makes a row of the ablation table beside the model's own."""
    project = tiny_project_run_copy
    done = run_preloaded(
        "-c",
        RUN_NAMESPACE,
        project,
        "ablate_affectvlm",
        NAMESPACE,
        input=json.dumps(tiny_run_params(project, tiny_synthetic_session)),
        cwd=project,
        env={**os.environ, "COLUMNS": "400"},
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-5000:]

    manifest = json.loads(
        _latest(project / f"data/01_raw/{NAMESPACE}/raw_scans_manifest.json").read_text()
    )
    assert Path(manifest["root"]) == project / f"data/01_raw/{NAMESPACE}/synthetic"
    assert manifest["synthetic"]["config"]["expressions"] == "bank"
    subjects = manifest["synthetic"]["layouts"]["bu3dfe"]["subjects"]
    worn = [{row["subject"] for row in s["bank"].values()} for s in subjects]
    assert all(worn), "every subject wears bank people's expressions"
    for i, people in enumerate(worn):
        for others in worn[i + 1 :]:
            assert people.isdisjoint(others), "a bank person is worn by one subject only"
    model_manifest = json.loads(
        _latest(project / "data/01_raw/raw_scans_manifest.json").read_text()
    )
    assert model_manifest["root"] != manifest["root"], "the model's own set is left alone"
    model_subjects = model_manifest["synthetic"]["layouts"]["bu3dfe"]["subjects"]
    assert not any("bank" in s for s in model_subjects), "the model's faces keep the prototypes"

    folds = pd.read_csv(_latest(project / f"data/05_model_input/{NAMESPACE}/fold_table.csv"))
    assert folds["path"].str.startswith(manifest["root"]).all(), "folds of its own scans"

    summary = json.loads(
        _latest(project / f"data/08_reporting/{NAMESPACE}/summary.json").read_text()
    )
    assert summary["tags"]["data"] == "synthetic.expressions=bank"
    baseline = json.loads(_latest(project / "data/08_reporting/affectvlm/summary.json").read_text())
    table = tabulate_ablations(baseline=baseline, **{VARIANT: summary})
    row = table.set_index("variant").loc[VARIANT]
    assert 0.0 <= row["test/accuracy_mean"] <= 1.0
    assert row["test_data"] == "own folds (synthetic.expressions=bank)"
