"""A line per finished stage with its time, and where a run's time went when it ends.

Why: Kedro logs that a node completed, not how long it took, and a first run that feels slow
gives its user no way to tell writing scans from training. So every node's end is logged
with its wall time and the run's time so far, and the pipeline's end with the time per stage
(a model's nodes, ``affectvlm.*``, are one stage; the data nodes are one each), longest
first: the figures the benchmarks page quotes for the default run.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from typing import Any

from kedro.framework.hooks import hook_impl

logger = logging.getLogger(__name__)


def format_seconds(seconds: float) -> str:
    """``42.0 s`` under a minute, ``3 min 05 s`` above."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def stage_of(node_name: str) -> str:
    """The stage a node belongs to: its namespace (``affectvlm.cross_validate`` →
    ``affectvlm``), or the node itself when it has none (``index_scans``)."""
    return node_name.split(".", 1)[0]


class StageTimingHooks:
    """Logs each node's wall time as it ends, and the time per stage when the pipeline ends."""

    def __init__(self) -> None:
        self._run_started = 0.0
        self._node_started: dict[str, float] = {}
        self._stage_seconds: dict[str, float] = defaultdict(float)

    @hook_impl
    def before_pipeline_run(self) -> None:
        self._run_started = time.perf_counter()
        self._node_started.clear()
        self._stage_seconds.clear()

    @hook_impl
    def before_node_run(self, node: Any) -> None:
        self._node_started[node.name] = time.perf_counter()

    @hook_impl
    def after_node_run(self, node: Any) -> None:
        now = time.perf_counter()
        took = now - self._node_started.pop(node.name, now)
        self._stage_seconds[stage_of(node.name)] += took
        logger.info(
            "%s done in %s (run so far: %s)",
            node.name,
            format_seconds(took),
            format_seconds(now - self._run_started),
        )

    @hook_impl
    def after_pipeline_run(self) -> None:
        total = time.perf_counter() - self._run_started
        stages = sorted(self._stage_seconds.items(), key=lambda item: -item[1])
        shown = ", ".join(f"{stage} {format_seconds(seconds)}" for stage, seconds in stages)
        logger.info("run finished in %s: %s", format_seconds(total), shown)
