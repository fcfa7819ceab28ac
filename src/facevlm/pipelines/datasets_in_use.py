"""Which datasets a run's models read, so that the data stages make only those.

Why: the built-in set has five layouts (BU-3DFE, BU-4DFE, Bosphorus, BP4D, 4DME) and a 3D
pipeline reads one of them, about a fifth of the files and of the rendering. The
``collect_datasets_in_use`` node gathers the ``protocol.datasets`` of every model in the run;
``prepare_raw_scans`` then writes only the synthetic layouts behind them and
``select_render_samples`` renders only their samples. A pipeline without models (``synthesize``,
``data``, ``render``, the pretraining corpus) gets ``None``: everything.

The node reads the models' parameter blocks (``params:affectvlm``, and ``params:affectvlm_4d``
for a model that overrides a base block), not their resolved ``training_parameters``: a data
node fed by a model namespace's output would sit inside that namespace in Kedro-Viz.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from functools import partial, update_wrapper
from typing import Any

from kedro.pipeline import Node

from facevlm.config import deep_merge

#: The dataset the data stages read: ``{"datasets": [index dataset names] or None (all)}`` (a
#: dict, as Kedro does not pass a bare None between nodes).
DATASETS_IN_USE = "datasets_in_use"


def _protocol_datasets(blocks: list[dict[str, Any]]) -> list[str] | None:
    """``protocol.datasets`` of a model whose later parameter blocks override earlier ones,
    merged the way the model's own parameters are (:func:`facevlm.config.deep_merge`)."""
    resolved = functools.reduce(deep_merge, blocks, {})
    return (resolved.get("protocol") or {}).get("datasets")


def collect_datasets_in_use(
    *parameter_blocks: dict[str, Any], blocks_per_model: tuple[int, ...] = ()
) -> dict[str, list[str] | None]:
    """``{"datasets": ...}``: the union of the models' ``protocol.datasets`` in order of first
    mention; ``None`` (every dataset) when there is no model or one of them reads every dataset
    (``datasets: null``).

    ``parameter_blocks`` are the models' blocks in order, ``blocks_per_model[i]`` of them for
    model ``i`` (its base block, then its overrides)."""
    names: dict[str, None] = {}
    start = 0
    for count in blocks_per_model:
        datasets = _protocol_datasets(list(parameter_blocks[start : start + count]))
        start += count
        if not datasets:
            return {"datasets": None}
        names.update(dict.fromkeys(datasets))
    return {"datasets": list(names) or None}


def datasets_of(datasets_in_use: dict[str, Any] | None) -> list[str] | None:
    """The dataset names a data node should make (None: all) from :data:`DATASETS_IN_USE`."""
    return (datasets_in_use or {}).get("datasets")


def datasets_in_use_node(models: Mapping[str, str | None] | None = None) -> Node:
    """The node that says what the data stages of a run must make, for ``models``: each model's
    namespace → the base block it overrides (``{"affectvlm_4d": "affectvlm"}``) or None."""
    inputs: list[str] = []
    counts: list[int] = []
    for namespace, base in (models or {}).items():
        blocks = [namespace] if base is None else [base, namespace]
        inputs += [f"params:{block}" for block in blocks]
        counts.append(len(blocks))
    func = update_wrapper(
        partial(collect_datasets_in_use, blocks_per_model=tuple(counts)), collect_datasets_in_use
    )
    return Node(func, inputs or None, DATASETS_IN_USE, name="collect_datasets_in_use")
