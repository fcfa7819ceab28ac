"""The benchmark scripts stay few, standalone, and write their figures where the page reads them.

``benchmarks/`` holds at most ten scripts (``*.py`` not starting with ``_``); each records its
tables with ``_results.record`` into ``benchmarks/results/<script>.json`` beside the machine
and the command; the Benchmarks page shows every script's tables; no script reaches into the
test tree (the generators the tests share with the scripts live in ``benchmarks/``).
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
SCRIPTS = sorted(p for p in BENCHMARKS.glob("*.py") if not p.name.startswith("_"))
PAGE = ROOT / "docs" / "benchmarks.md"


def _results_module():
    spec = importlib.util.spec_from_file_location("_results", BENCHMARKS / "_results.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_at_most_ten_scripts():
    assert 0 < len(SCRIPTS) <= 10, [p.name for p in SCRIPTS]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_a_script_records_its_figures_and_stays_out_of_the_tests(script):
    source = script.read_text()
    assert "_results.record(" in source, f"{script.name} writes no results file"
    reaching = [
        line.strip()
        for line in source.splitlines()
        if re.search(r"sys\.path.*tests|from tests\b|import tests\b", line)
    ]
    assert not reaching, f"{script.name} imports from the test tree: {reaching}"


def test_the_page_shows_every_scripts_tables_and_names_no_other():
    results = _results_module()
    markers = results.MARKER.findall(PAGE.read_text())
    shown = {Path(file).stem for file, _ in markers}
    scripts = {p.stem for p in SCRIPTS}
    assert shown <= scripts, f"tables of scripts that are gone: {sorted(shown - scripts)}"
    assert scripts <= shown, f"scripts whose tables the page does not show: {scripts - shown}"


def test_every_results_file_names_its_machine_and_command():
    for path in sorted((BENCHMARKS / "results").glob("*.json")):
        results = json.loads(path.read_text())
        assert (BENCHMARKS / f"{path.stem}.py").is_file(), f"{path.name}: no such script"
        for name, table in results["tables"].items():
            where = f"{path.name} {name}"
            assert table["command"].startswith(f"python benchmarks/{path.stem}.py"), where
            for key in ("cpu", "cores", "torch", "python", "date"):
                assert table["machine"].get(key), f"{where}: no {key}"
            assert table["rows"], f"{where}: no rows"


def test_record_writes_a_table_beside_the_machine_and_the_page_renders_it(tmp_path, monkeypatch):
    results = _results_module()
    monkeypatch.setenv("FACEVLM_BENCHMARK_RESULTS", str(tmp_path))
    monkeypatch.setattr("sys.argv", [str(BENCHMARKS / "toy.py"), "--fast"])
    results.record("benchmarks/toy.py", "speed", [{"reader": "ours", "ms": 1.5}], notes="Why.")
    results.record("benchmarks/toy.py", "memory", [{"set": "x20", "MB": 1127}])
    written = json.loads((tmp_path / "toy.json").read_text())
    assert set(written["tables"]) == {"speed", "memory"}, "a second table replaced the first"
    speed = written["tables"]["speed"]
    command = " ".join(["python", "benchmarks/toy.py", "--fast"])  # run from the repository root
    assert speed["command"] == command
    assert speed["machine"]["cores"] >= 1 and speed["machine"]["date"]
    page = "Before.\n\n<!-- benchmark-results: toy.json speed -->\n\nAfter.\n"
    rendered = results.render_markers(page, tmp_path)
    assert "| reader | ms |" in rendered and "| ours | 1.5 |" in rendered
    assert f"Measured by `{command}` on " in rendered and "Why." in rendered
    missing = results.render_markers("<!-- benchmark-results: toy.json nothing -->", tmp_path)
    assert "appears here once the script is run" in missing
