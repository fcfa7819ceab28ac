"""The parameters a model namespace trains with, and the MLflow tags that say what its run is.

Why here and not in the training nodes: the app and ``facevlm predict`` resolve a namespace's
parameters and tags as ``kedro run`` does (to tell an ``affectvlm_4d`` run from an
``affectvlm`` one) and must not import a Kedro node to do it.
"""

from __future__ import annotations

from typing import Any

from facevlm.config import deep_merge
from facevlm.experiments.recipes import get_recipe
from facevlm.scans.tasks import task_of


def resolve_model_parameters(
    model: dict[str, Any], overrides: dict[str, Any] | None = None, variant: str | None = None
) -> dict[str, Any]:
    """The parameters a model namespace trains with: its base block (``params:smile``) with
    ``overrides`` merged in (``smile_mer`` lists only what differs from ``smile``; an ablation
    variant only what it changes), saved as the namespace's ``parameters`` so a run records
    exactly what it used. ``variant`` names an ablation variant in the run's tags.

    ``training_result`` (a result trained elsewhere) is not inherited: it belongs to the
    namespace that names it (``smile``'s result is not ``smile_mer``'s). Nor is ``final_fit``
    by an ablation variant: it is off unless the variant's override turns it on, since an
    ablation asks what a component adds under cross-validation, not which model to deploy."""
    resolved = deep_merge(model, overrides or {})
    if overrides is not None:
        resolved["training_result"] = overrides.get("training_result")
    if variant is not None:
        resolved["variant"] = variant
        resolved["final_fit"] = bool((overrides or {}).get("final_fit", False))
    missing = [
        key for key in ("recipe", "protocol", "prompts", "experiment") if key not in resolved
    ]
    if missing:
        raise ValueError(f"model parameters lack {', '.join(missing)}: {sorted(resolved)}")
    get_recipe(resolved["recipe"])  # an unknown recipe fails here, before any work
    return resolved


def run_tags(parameters: dict[str, Any], dataset: dict[str, Any]) -> dict[str, str]:
    """What a model run is, as MLflow tags: model, task, dataset, protocol (and variant; and
    ``data``, what a data ablation variant changed of the synthetic set, e.g.
    ``synthetic.expressions=bank``)."""
    protocol = parameters["protocol"]
    tags = {
        "model": str(parameters["recipe"]),
        "task": str(
            parameters.get("task") or task_of(protocol.get("datasets") or [dataset["name"]])
        ),
        "dataset": str(dataset.get("name")),
        "protocol": str(protocol.get("name")),
    }
    if protocol.get("datasets"):
        tags["dataset"] += ":" + ",".join(protocol["datasets"])
    if parameters.get("variant"):
        tags["variant"] = str(parameters["variant"])
    if parameters.get("synthetic"):  # a data ablation variant: its own synthetic set
        tags["data"] = ",".join(
            f"{key}={value}" for key, value in _flat(parameters["synthetic"], "synthetic")
        )
    return tags


def _flat(block: dict[str, Any], prefix: str) -> list[tuple[str, Any]]:
    """``block``'s leaves as ``(dotted.key, value)``, in order."""
    leaves = []
    for key, value in block.items():
        if isinstance(value, dict):
            leaves += _flat(value, f"{prefix}.{key}")
        else:
            leaves.append((f"{prefix}.{key}", value))
    return leaves
