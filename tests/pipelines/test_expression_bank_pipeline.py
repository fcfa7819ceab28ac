"""``kedro run --pipeline=expression_bank``: the shipped parameters give CK+'s coded expressions
with no photo and no download, and a real Kedro session pointed at a folder of photos writes the
versioned bank and report through the catalog."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from shared_project_runs import run_session
from toy_model_run import KeptMemoryDataset

from facevlm.expression_bank.bank import BANK_COLUMNS, FACS, PHOTO, REPORT_COLUMNS
from facevlm.pipelines.expression_bank import create_pipeline

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "expression_bank"))
from face_photos import write_face_photos  # noqa: E402  (the bank tests' rendered photos)

ROOT = Path(__file__).resolve().parents[2]


def _shipped_parameters() -> dict:
    text = (ROOT / "conf" / "base" / "parameters_expression_bank.yml").read_text()
    return yaml.safe_load(text)["expression_bank"]


def test_the_shipped_parameters_bank_ckplus_codes_and_read_no_photo():
    pipeline = create_pipeline()
    catalog = DataCatalog(
        {
            "params:expression_bank": MemoryDataset(_shipped_parameters()),
            **{name: KeptMemoryDataset() for name in pipeline.all_outputs()},
        }
    )
    SequentialRunner().run(pipeline, catalog)

    bank, report = catalog.load("expression_bank"), catalog.load("expression_bank_report")
    assert list(bank.columns) == list(BANK_COLUMNS)
    assert len(bank) == 327 and set(bank["kind"]) == {FACS}
    assert list(report.columns) == list(REPORT_COLUMNS) and report.empty


def test_the_pipeline_is_registered_apart_from_the_default_run():
    from facevlm.pipeline_registry import register_pipelines

    pipelines = register_pipelines()
    bank_nodes = {node.name for node in pipelines["expression_bank"].nodes}
    assert bank_nodes == {
        "read_photo_expressions",
        "read_facs_expressions",
        "assemble_expression_bank",
    }
    assert not bank_nodes & {node.name for node in pipelines["__default__"].nodes}


def _versions(dataset_folder: Path) -> list[Path]:
    """The files of each version Kedro wrote of a versioned dataset (``<name>/<version>/<name>``)."""
    return sorted(dataset_folder.glob(f"*/{dataset_folder.name}"))


@pytest.mark.slow
def test_a_kedro_session_writes_the_versioned_bank_and_report(
    project_config_copy, new_mlflow_store, tmp_path
):
    project = project_config_copy
    new_mlflow_store(project / "mlruns.db")
    photos = tmp_path / "photos"
    items = write_face_photos(photos)
    # a photo set the shipped parameters hold switched off, pointed at a folder as a user does
    # (`--params expression_bank.photo_sets.mine.root=...`)
    params = {
        "expression_bank": {
            "photo_sets": {"mine": {"root": str(photos), "subject_pattern": r"^(S\d+)_"}}
        }
    }

    log = run_session(project, "expression_bank", params)

    banks = _versions(project / "data" / "03_primary" / "expression_bank.parquet")
    reports = _versions(project / "data" / "08_reporting" / "expression_bank_report.csv")
    assert len(banks) == len(reports) == 1, log[-3000:]
    assert banks[0].parent.name == reports[0].parent.name  # one save version for the run
    bank, report = pd.read_parquet(banks[0]), pd.read_csv(reports[0])

    photo_rows = bank[bank["kind"] == PHOTO]
    assert sorted(photo_rows["item"]) == sorted(items["faces"])
    assert set(photo_rows["source"]) == {"mine"} and set(photo_rows["subject"]) == {"S01", "S02"}
    assert (bank["kind"] == FACS).sum() == 327
    unreadable = items["not_an_image"] + items["damaged"] + items["no_face"] + items["stray"]
    assert sorted(report["item"]) == sorted(unreadable)
    assert set(report["source"]) == {"mine"} and report["reason"].notna().all()
    assert "expression bank: 334 expressions" in log
