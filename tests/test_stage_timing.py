"""A run says how long each stage took: a line as each node ends, and the time per stage when
the pipeline ends (a real Kedro runner with the project's hook registered)."""

from __future__ import annotations

import logging
import time

from kedro.framework.hooks.manager import _create_hook_manager
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Node, Pipeline
from kedro.runner import SequentialRunner

from facevlm import settings
from facevlm.stage_timing import StageTimingHooks, format_seconds, stage_of


def _slow(value: int, seconds: float = 0.2) -> int:
    time.sleep(seconds)
    return value + 1


def _run_with_timing(caplog) -> list[str]:
    hooks = _create_hook_manager()
    hooks.register(StageTimingHooks())
    pipeline = Pipeline(
        [
            Node(_slow, "start", "written", name="write_scans"),
            Node(_slow, "written", "first", name="affectvlm.train"),
            Node(_slow, "first", "second", name="affectvlm.evaluate"),
        ]
    )
    catalog = DataCatalog({"start": MemoryDataset(0)})
    with caplog.at_level(logging.INFO, logger="facevlm.stage_timing"):
        hooks.hook.before_pipeline_run(run_params={}, pipeline=pipeline, catalog=catalog)
        SequentialRunner().run(pipeline, catalog, hooks)
        hooks.hook.after_pipeline_run(
            run_params={}, run_result={}, pipeline=pipeline, catalog=catalog
        )
    return [r.getMessage() for r in caplog.records if r.name == "facevlm.stage_timing"]


def test_each_node_is_logged_with_its_time_and_the_run_so_far(caplog):
    lines = _run_with_timing(caplog)

    assert [line.split(" done in ")[0] for line in lines[:3]] == [
        "write_scans",
        "affectvlm.train",
        "affectvlm.evaluate",
    ]
    took = float(lines[0].split(" done in ")[1].split(" s")[0])
    assert 0.2 <= took < 2.0


def test_the_end_of_a_run_gives_the_time_per_stage_longest_first(caplog):
    summary = _run_with_timing(caplog)[-1]

    assert summary.startswith("run finished in ")
    stages = summary.split(": ", 1)[1].split(", ")
    assert [stage.split(" ")[0] for stage in stages] == ["affectvlm", "write_scans"]


def test_stages_are_namespaces_and_times_read_as_people_say_them():
    assert stage_of("pretraining.index_scans") == "pretraining"
    assert stage_of("index_scans") == "index_scans"
    assert format_seconds(42.04) == "42.0 s"
    assert format_seconds(185) == "3 min 05 s"


def test_the_project_registers_the_stage_timing():
    assert any(isinstance(hook, StageTimingHooks) for hook in settings.HOOKS)
