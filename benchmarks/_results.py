"""Where a benchmark writes its figures, and how the Benchmarks page shows them.

A timing read off a terminal and typed into a page loses the machine it was taken on and drifts
from the script that took it. So each script in ``benchmarks/`` ends with :func:`record`, which
writes its table to ``benchmarks/results/<script>.json`` (one file per script; a script with
several tables keeps each under its name) beside the command that made it and the machine it
ran on: CPU model, cores, load, torch and Python versions, the GPU when torch saw one, the date
and the commit. A rerun replaces that table and leaves the script's other tables alone.

The same module is the documentation's MkDocs hook (``mkdocs.yml``: ``hooks``): a line
``<!-- benchmark-results: train_step.json step -->`` on a page becomes that table, with its
command and machine under it, or a note that the script has not written it yet. The format is
written and read here only.

``FACEVLM_BENCHMARK_RESULTS`` names another folder (a smoke run of a script that must not
replace the committed figures).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import re
import shlex
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def results_folder() -> Path:
    return Path(os.environ.get("FACEVLM_BENCHMARK_RESULTS") or RESULTS)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _gpu() -> str | None:
    """The GPU torch trained on, if the script imported torch and torch saw one (this module
    never imports torch itself: a script that measures without it stays without it)."""
    torch = sys.modules.get("torch")
    try:
        if torch is not None and torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
    except Exception:  # a broken CUDA setup is no reason to lose the figures
        return None
    return None


def _commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty", "--abbrev=10"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None


def machine() -> dict[str, Any]:
    """What the figures were measured on and when."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count()
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "load": round(os.getloadavg()[0], 1) if hasattr(os, "getloadavg") else None,
        "gpu": _gpu(),
        "torch": _version("torch"),
        "numpy": _version("numpy"),
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": _commit(),
    }


def command() -> str:
    """The command line that started this process, as run from the repository root."""
    script = Path(sys.argv[0]).resolve()
    if script.is_relative_to(ROOT):
        script = script.relative_to(ROOT)
    return shlex.join(["python", str(script), *sys.argv[1:]])


def record(
    script: str,
    table: str,
    rows: list[dict[str, Any]],
    notes: str | None = None,
) -> Path:
    """Write ``rows`` (one dict a row, the first row's keys the columns) as ``table`` of
    ``script``'s results file, with the command and the machine; returns the file."""
    name = Path(script).stem
    folder = results_folder()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    results = json.loads(path.read_text()) if path.is_file() else {}
    results.setdefault("script", f"benchmarks/{name}.py")
    results.setdefault("tables", {})
    results["tables"][table] = {
        "command": command(),
        "machine": machine(),
        "notes": notes,
        "rows": [{str(key): _plain(value) for key, value in row.items()} for row in rows],
    }
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    os.replace(temporary, path)
    print(f"# {table}: {len(rows)} rows written to {path}", flush=True)
    return path


def _plain(value: Any) -> Any:
    """A JSON value: numpy scalars as Python numbers, anything else unknown as text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    item = getattr(value, "item", None)
    if callable(item):
        return item()
    return str(value)


# ============================================================== the Benchmarks page's tables

#: ``<!-- benchmark-results: <file>.json <table> -->`` on a line of its own.
MARKER = re.compile(r"^<!-- benchmark-results: (\S+\.json) (\S+) -->$", re.M)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:,.0f}"
    return str(value).replace("|", "\\|")


def _machine_line(entry: dict[str, Any]) -> str:
    m = entry["machine"]
    cores = f"{m['cores']} cores" + (
        f" ({m['usable_cores']} usable)" if m.get("usable_cores") not in (None, m["cores"]) else ""
    )
    parts = [m["cpu"], cores]
    if m.get("load") is not None:
        parts.append(f"load {m['load']}")
    if m.get("gpu"):
        parts.append(m["gpu"])
    parts += [f"torch {m['torch']}", f"Python {m['python']}", m["date"]]
    if m.get("commit"):
        parts.append(f"commit `{m['commit']}`")
    return f"`{entry['command']}` on " + ", ".join(str(part) for part in parts)


def render_table(results: dict[str, Any] | None, file: str, table: str) -> str:
    """The Markdown of one recorded table, or a note that it is not recorded yet."""
    entry = (results or {}).get("tables", {}).get(table)
    if entry is None:
        return (
            f"*No `{table}` table in `benchmarks/results/{file}` yet: it appears here once the "
            "script is run.*"
        )
    rows = entry["rows"]
    columns = list(dict.fromkeys(key for row in rows for key in row))
    lines = [
        "| " + " | ".join(columns) + " |",
        "|" + "|".join("---:" if _numeric(rows, c) else "---" for c in columns) + "|",
        *("| " + " | ".join(_cell(row.get(c)) for c in columns) + " |" for row in rows),
        "",
        "Measured by " + _machine_line(entry) + ".",
    ]
    if entry.get("notes"):
        lines += ["", entry["notes"]]
    return "\n".join(lines)


def _numeric(rows: list[dict[str, Any]], column: str) -> bool:
    values = [row.get(column) for row in rows if row.get(column) is not None]
    return bool(values) and all(isinstance(v, int | float) for v in values)


def render_markers(markdown: str, folder: Path | None = None) -> str:
    """``markdown`` with every results marker replaced by its table."""
    folder = folder or results_folder()

    def table(match: re.Match) -> str:
        path = folder / match[1]
        results = json.loads(path.read_text()) if path.is_file() else None
        return render_table(results, match[1], match[2])

    return MARKER.sub(table, markdown)


def on_page_markdown(markdown: str, **_: Any) -> str:
    """MkDocs hook: the Benchmarks page's tables from the results files."""
    return render_markers(markdown, RESULTS)
