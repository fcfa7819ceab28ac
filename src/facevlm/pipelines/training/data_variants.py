"""Ablation variants that change the data, not only the model: each makes its own synthetic set.

Why: a model variant (``one_view``, ``plain_prompts``) trains on the model's own data and folds,
so the ablation table compares like with like. A variant that asks what the data adds (faces
that wear real people's expressions from the expression bank instead of the EMFACS prototypes)
needs a synthetic set of its own, written, indexed, rendered and read by the face reader apart
from the model's, the way the pretraining corpus is (:mod:`facevlm.pipelines.pretrain`).

How a variant declares it: a ``synthetic:`` key in its block of ``<model>_ablations``, holding
only the keys of the top-level ``synthetic`` block it changes::

    affectvlm_ablations:
      bank_expressions:
        synthetic: {expressions: bank}

What it then gets, under its namespace ``<model>_ablation.<variant>``:

* the data stages (synthesize → ingest → render) and the face reader's input
  (``read_face_actions``) reused under that namespace: ``<namespace>.raw_scans_manifest``,
  ``.scan_index``, ``.renders`` (versioned by the catalog's ``{corpus}.*`` factories, as the
  pretraining corpus's are) and ``.face_actions`` (kept in memory, read again each run).
  Its raw scans go under ``<namespace>/`` beside ``dataset.root`` (by default
  ``data/01_raw/affectvlm_ablation.bank_expressions/synthetic``), so the model's own set is
  never overwritten; the render and scan-index caches are shared, being keyed by content.
* its own fold table (``<namespace>.fold_table``), made by the model's protocol from its own
  scan index: the variant's figure is measured on its own held-out subjects, whose faces wear
  the variant's expressions, not on the model's test faces. The ablation table says so in its
  ``test_data`` column.
* the MLflow tags of any variant (``variant``) and a ``data`` tag naming what it changed
  (``synthetic.expressions=bank``, :func:`~facevlm.experiments.model_parameters.run_tags`).

The same model parameters apply: the ``synthetic`` key is recorded in the variant's training
parameters (and so in its run) but read by no model code.
"""

from __future__ import annotations

from functools import partial, update_wrapper
from pathlib import Path
from typing import Any

from kedro.pipeline import Node, Pipeline

from facevlm.config import deep_merge
from facevlm.pipelines import face_reader, ingest, render, synthesize

#: The keys of a variant's block that change its data rather than its model.
DATA_OVERRIDE_KEYS = ("synthetic",)
#: The variant's resolved ``dataset`` and ``synthetic`` blocks, datasets of its namespace that
#: its data stages and training nodes read where the model's read ``params:dataset`` and
#: ``params:synthetic``.
VARIANT_DATASET = "dataset_parameters"
VARIANT_SYNTHETIC = "synthetic_parameters"


def declares_data(variant_block: dict[str, Any] | None) -> bool:
    """Whether an ablation variant's block changes the data (any of :data:`DATA_OVERRIDE_KEYS`)."""
    return any((variant_block or {}).get(key) for key in DATA_OVERRIDE_KEYS)


def variant_data_parameters(
    dataset: dict[str, Any],
    synthetic: dict[str, Any],
    variant_block: dict[str, Any],
    namespace: str,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``dataset`` and ``synthetic`` blocks a data variant's stages read: the top-level ones
    with the variant's ``synthetic`` keys merged in, and the raw scans under a folder of the
    variant's ``namespace`` beside ``dataset.root`` (its own set, never the model's).

    Raises ValueError when the run's dataset is not the synthetic set: a variant that changes
    how the synthetic faces are made has nothing to change in a real dataset."""
    if dataset["name"] != "synthetic":
        raise ValueError(
            f"ablation variant {namespace} changes the synthetic set, but this run's dataset is "
            f"{dataset['name']!r}: run it on dataset.name=synthetic or leave the variant out"
        )
    root = Path(dataset["root"])
    own = {**dataset, "root": str(root.parent / namespace / root.name)}
    return own, deep_merge(synthetic, variant_block.get("synthetic") or {})


def create_variant_data_pipeline(model: str, variant: str, namespace: str) -> Pipeline:
    """The variant's data stages and face reader input, *not yet namespaced*: the caller puts
    them under ``namespace`` with the training nodes that read them.

    Only the datasets the variant's model reads are made (its ``protocol.datasets``: the
    model's block with the variant's over it)."""
    block = f"params:{model}_ablations.{variant}"
    uses = {f"{model}_ablations.{variant}": model}
    resolve = Node(
        _bound(variant_data_parameters, namespace),
        {"dataset": "params:dataset", "synthetic": "params:synthetic", "variant_block": block},
        [VARIANT_DATASET, VARIANT_SYNTHETIC],
        name="variant_data_parameters",
    )
    return (
        Pipeline([resolve])
        + synthesize.create_pipeline(
            models=uses, dataset=VARIANT_DATASET, synthetic=VARIANT_SYNTHETIC
        )
        # the contact sheet is the model's own data's picture; the variant's set has none
        + ingest.create_pipeline(
            models=uses, contact_sheet=False, dataset=VARIANT_DATASET, synthetic=VARIANT_SYNTHETIC
        )
        + render.create_pipeline(models=uses)
        + face_reader.create_pipeline()
    )


def _bound(func, namespace: str):
    """``func`` with its ``namespace`` argument bound, keeping its name (Kedro names the node's
    function in logs and Kedro-Viz by it) and picklable for the parallel runner."""
    return update_wrapper(partial(func, namespace=namespace), func)
