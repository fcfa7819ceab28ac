"""The ``report`` node: the results tables of ``docs/`` from the store kedro-mlflow points at.

The experiment is ``report.experiment`` when given, else that of the session's MLflow run (the
one ``conf/<env>/mlflow.yml`` names), as in ``compare``. The Markdown goes where the results
page includes it and the JSON beside it (``docs/generated/``, catalog ``results_tables`` and
``results_figures``), so a figure in the documentation is always one a run logged. The check
(``report_check``) compares the store's figures with the committed JSON instead of writing.
"""

from __future__ import annotations

import logging
from typing import Any

from facevlm.evaluation.results_report import figure_differences, results_report
from facevlm.pipelines.compare.nodes import _experiment

logger = logging.getLogger(__name__)


def write_results_report(report: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The results tables (Markdown) and the same figures as JSON, from every model run."""
    experiment = _experiment(report.get("experiment"))
    markdown, document = results_report(experiment, digits=int(report.get("digits", 3)))
    logger.info("results tables from %d model runs:\n%s", len(document["runs"]), markdown)
    return markdown, document


def check_results_report(committed: dict[str, Any], report: dict[str, Any]) -> None:
    """Fail, listing the differences, unless the store's figures equal the committed ones to
    ``report.digits`` decimals (timings left out), or, for a run computed on another
    numerical path (another CPU vendor's MKL), lie within ``report.other_path_spread`` of
    them. Writes nothing."""
    if not committed.get("runs"):
        raise ValueError(
            "docs/generated/results.json holds no figures to check against: generate it first "
            "(kedro run --pipeline=report)"
        )
    experiment = _experiment(report.get("experiment"))
    digits = int(report.get("digits", 3))
    _, fresh = results_report(experiment, digits=digits)
    spread = report.get("other_path_spread")
    differences = figure_differences(
        committed, fresh, digits, None if spread is None else float(spread)
    )
    if differences:
        raise ValueError(
            f"{len(differences)} figure(s) differ from docs/generated/results.json:\n"
            + "\n".join(differences)
        )
    logger.info(
        "the figures of %d runs equal docs/generated/results.json to %d decimals, or lie "
        "within %s of them where a run was computed on another numerical path",
        len(committed["runs"]),
        digits,
        spread,
    )
