"""The ``report`` node: the results tables of ``docs/`` from the store kedro-mlflow points at.

The experiment is ``report.experiment`` when given, else that of the session's MLflow run (the
one ``conf/<env>/mlflow.yml`` names), as in ``compare``. The Markdown goes where the results
page includes it and the JSON beside it (``docs/generated/``, catalog ``results_tables`` and
``results_figures``), so a figure in the documentation is always one a run logged.
"""

from __future__ import annotations

import logging
from typing import Any

from facevlm.evaluation.results_report import results_report
from facevlm.pipelines.compare.nodes import _experiment

logger = logging.getLogger(__name__)


def write_results_report(report: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The results tables (Markdown) and the same figures as JSON, from every model run."""
    experiment = _experiment(report.get("experiment"))
    markdown, document = results_report(experiment, digits=int(report.get("digits", 3)))
    logger.info("results tables from %d model runs:\n%s", len(document["runs"]), markdown)
    return markdown, document
