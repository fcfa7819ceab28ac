"""The ``expression_bank`` nodes: thin calls into :mod:`facevlm.expression_bank`.

Photos and FACS tables are read in nodes of their own, so that Kedro-Viz shows the two sources
apart and a run with no photo set configured never loads MediaPipe. Their files are named by
parameters rather than catalog entries (as the ingest stage reads ``dataset.root``): a photo set
is a folder of any layout and any size, and the bank reports each file it cannot read.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from facevlm.expression_bank.bank import Outcome, bank_table, report_table
from facevlm.expression_bank.config import ExpressionBankConfig
from facevlm.expression_bank.facs_tables import read_facs_tables
from facevlm.expression_bank.photos import read_photo_sets

logger = logging.getLogger(__name__)


def read_photo_expressions(expression_bank: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The configured photo sets read through the Face Landmarker: their rows, and the photos
    left out with their reasons."""
    config = ExpressionBankConfig.from_params(expression_bank)
    outcome = Outcome(fail_fast=config.fail_fast)
    read_photo_sets(config, outcome)
    return bank_table(outcome.expressions), report_table(outcome.skipped)


def read_facs_expressions(expression_bank: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The configured FACS tables mapped to blend-shape weights: their rows, and the rows left
    out (or in part) with their reasons."""
    config = ExpressionBankConfig.from_params(expression_bank)
    outcome = Outcome(fail_fast=config.fail_fast)
    read_facs_tables(config, outcome)
    return bank_table(outcome.expressions), report_table(outcome.skipped)


def assemble_expression_bank(
    photo_rows: pd.DataFrame,
    facs_rows: pd.DataFrame,
    photo_report: pd.DataFrame,
    facs_report: pd.DataFrame,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One bank of every source's rows, and one report of every input left out."""
    bank = pd.concat([photo_rows, facs_rows], ignore_index=True)
    report = pd.concat([photo_report, facs_report], ignore_index=True)
    counts = bank.groupby(["emotion", "source"]).size().unstack(fill_value=0)
    logger.info(
        "expression bank: %d expressions of %d subjects; %d inputs reported (%d left out)\n%s",
        len(bank),
        bank.groupby("source")["subject"].nunique().sum() if len(bank) else 0,
        len(report),
        int((~report["in_bank"].astype(bool)).sum()),
        counts.to_string() if len(counts) else "(no rows)",
    )
    return bank, report
