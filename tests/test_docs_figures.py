"""The pages state the default run's figures as ``docs/generated/results.json`` holds them.

A figure of the default run lives in one place: ``kedro run --pipeline=report`` writes it to
``docs/generated/`` and the results page includes it; other pages link there. Pages still
quote figures, and two kinds are fine: the committed ones, and measurements of another run (an
earlier default, another machine, a setting tried), which carry the date they were measured
on. A figure with neither is a stale copy of the committed one, read by whoever trusts the page.

So this reads every page (``docs/*.md``, ``README.md``) for figures attributed to a model and
fails where an undated one differs from ``results.json``. A figure is a number in the report's
form (``0.914``, ``0.914 ± 0.031``: three decimals); it is attributed to a model when

- in prose, a model's name (the recipes' titles: AffectVLM, SMILE-VLM) precedes it in its
  sentence with no other number between them ("AffectVLM 0.897", "SMILE-VLM's k-NN reads
  0.928");
- in a table, its column's header or its row's first cell names a model, and one of them names
  a measure (accuracy, folds, linear probe, ...): "| AffectVLM accuracy (5 folds) | 0.914 |".

The words around it say which figure: the measure (the report's own names: macro-F1, linear
probe, zero-shot, k-NN, frozen ...; accuracy when none is named) and the task (4D or sequences,
micro-expressions; 3D stills otherwise). It is dated when its sentence, or its table's row,
header or caption (the paragraph just above the table), holds a date (``2026-11-27``). Numbers
no model name claims (an ECE, an AUROC, a ratio) are not figures of the results and are left
alone, as are code, code blocks and the generated files themselves.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from facevlm.evaluation import results_report
from facevlm.experiments.recipes import RECIPE_ENTRIES

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "generated" / "results.json"
PAGES = sorted([*(ROOT / "docs").glob("*.md"), ROOT / "README.md"])

#: How a page names each model (the recipes' titles) -> the model in results.json.
MODEL_TITLES = {entry.title: name for name, entry in RECIPE_ENTRIES.items()}
#: A measure's name on a page -> its key in results.json: the headers of the report's own tables
#: (its ``*_HEADERS``), the training time left out; longest names are looked for first.
MEASURE_NAMES = {
    **{
        header: key
        for name, headers in vars(results_report).items()
        if name.endswith("_HEADERS") and isinstance(headers, dict)
        for key, header in headers.items()
        if key != "fold_time_s"
    },
    "probe": "linear_probe",
}
#: Words that make a table's cell an accuracy-like figure rather than a time or a ratio.
MEASURE_WORDS = (*MEASURE_NAMES, "folds")

_DATE = re.compile(r"\b20\d\d-\d\d-\d\d\b")
_FIGURE = re.compile(r"(?<![\w.])([01]\.\d{3})(?:\s*±\s*([01]\.\d{3}))?(?!\d)")
#: Any number (a figure, a count, a time), not a digit inside a word ("3D", "ViT-B/32" is one).
_NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?(?!\w)")
_MODEL = re.compile("|".join(re.escape(title) for title in MODEL_TITLES))
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\[*])")


@dataclass(frozen=True)
class Figure:
    """A figure a page attributes to a model: where, which one, and what it says."""

    where: str
    model: str
    task: str
    measure: str
    mean: str
    std: str | None
    dated: bool
    context: str


def _digits() -> int:
    params = yaml.safe_load((ROOT / "conf" / "base" / "parameters_report.yml").read_text())
    return int(params["report"]["digits"])


def committed_figures(results: dict, digits: int) -> dict[tuple[str, str, str], tuple[str, str]]:
    """``(task, model, measure) -> (mean, std)`` of the default variant, as the tables print
    them."""
    figures = {}
    for run in results["runs"]:
        if run.get("variant", "default") != "default":
            continue
        for measure, value in run["measures"].items():
            if value.get("mean") is None:
                continue
            std = value.get("std")
            figures[(run["task"], run["model"], measure)] = (
                f"{value['mean']:.{digits}f}",
                None if std is None else f"{std:.{digits}f}",
            )
    return figures


def _task(text: str) -> str:
    if re.search(r"\bmicro", text, re.I):
        return "mer"
    if re.search(r"\b4D\b|\bsequences?\b", text):
        return "fer4d"
    return "fer3d"


def _measure(text: str) -> str:
    text = text.lower()
    frozen = "frozen" in text
    for name in sorted(MEASURE_NAMES, key=len, reverse=True):
        if name.lower() in text:
            key = MEASURE_NAMES[name]
            if frozen and key in ("linear_probe", "zero_shot"):
                return f"baseline_{key}"
            return key
    return "accuracy"


def _prose(text: str) -> str:
    """The text a reader sees: inline code and links' targets masked, emphasis dropped."""
    text = re.sub(r"`[^`]*`", "`code`", text)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    return text.replace("**", "").replace("__", "")


def _blocks(markdown: str) -> list[tuple[int, str, list[str]]]:
    """``(first line number, "table" | "prose" | "heading", lines)`` of a page, without its
    front matter, code blocks, comments and included files (a heading's lines are left out)."""
    lines = markdown.splitlines()
    blocks: list[tuple[int, str, list[str]]] = []
    current: list[str] = []
    kind, start, fenced, front = "prose", 0, False, bool(lines and lines[0] == "---")
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if front:
            front = not (number > 1 and stripped == "---")
            continue
        if stripped.startswith("```"):
            fenced = not fenced
            line = stripped = ""
        if fenced or stripped.startswith(("<!--", "--8<--")):
            line = stripped = ""
        if stripped.startswith("#"):  # a heading ends the block, and a caption's reach
            if current:
                blocks.append((start, kind, current))
            blocks.append((number, "heading", []))
            current, kind, start = [], "prose", number
            continue
        line_kind = "table" if stripped.startswith("|") else "prose"
        if not stripped or line_kind != kind or stripped.startswith(("- ", "* ")):
            if current:
                blocks.append((start, kind, current))
            current, kind, start = [], line_kind, number
        if stripped:
            start = number if not current else start
            current.append(stripped)
    if current:
        blocks.append((start, kind, current))
    return blocks


def _cells(row: str) -> list[str]:
    return [cell.strip() for cell in _prose(row).strip().strip("|").split("|")]


def _table_figures(name: str, start: int, lines: list[str], caption: str) -> list[Figure]:
    header, body = _cells(lines[0]), [_cells(row) for row in lines[2:]]
    table_dated = bool(_DATE.search(caption) or _DATE.search(lines[0]))
    found = []
    for offset, row in enumerate(body, start=2):
        label = row[0] if row else ""
        for column, cell in enumerate(row[1:], start=1):
            heading = header[column] if column < len(header) else ""
            context = f"{heading} {label}"
            models = _MODEL.findall(context)
            if not models or not any(word.lower() in context.lower() for word in MEASURE_WORDS):
                continue
            figure = _FIGURE.search(cell)
            if not figure:
                continue
            found.append(
                Figure(
                    where=f"{name}:{start + offset}",
                    model=MODEL_TITLES[models[0]],
                    task=_task(context),
                    measure=_measure(context),
                    mean=figure[1],
                    std=figure[2],
                    dated=table_dated or bool(_DATE.search(" ".join(row))),
                    context=f"| {label} | {heading}: {cell} |",
                )
            )
    return found


def _prose_figures(page: str, start: int, lines: list[str]) -> list[Figure]:
    found = []
    for sentence in _SENTENCE_END.split(_prose(" ".join(lines))):
        names = list(_MODEL.finditer(sentence))
        for i, name in enumerate(names):
            end = names[i + 1].start() if i + 1 < len(names) else len(sentence)
            after = sentence[name.end() : end]
            number = _NUMBER.search(after)
            figure = _FIGURE.match(after, number.start()) if number else None
            if not figure:
                continue
            # the line of the block that holds the figure, for the message
            line = next(
                (n for n, text in enumerate(lines) if figure[1] in text and name[0] in text),
                next((n for n, text in enumerate(lines) if figure[1] in text), 0),
            )
            found.append(
                Figure(
                    where=f"{page}:{start + line}",
                    model=MODEL_TITLES[name[0]],
                    task=_task(sentence),
                    measure=_measure(after[: figure.start()]),
                    mean=figure[1],
                    std=figure[2],
                    dated=bool(_DATE.search(sentence)),
                    context=(name[0] + after[: figure.end()]).strip(),
                )
            )
    return found


def page_figures(markdown: str, name: str) -> list[Figure]:
    """Every figure a page attributes to a model."""
    found: list[Figure] = []
    caption = ""
    for start, kind, lines in _blocks(markdown):
        if kind == "heading":
            caption = ""
        elif kind == "table" and len(lines) > 2 and set(lines[1]) <= set("|-: "):
            found += _table_figures(name, start, lines, caption)
        else:
            found += _prose_figures(name, start, lines)
            caption = " ".join(lines)
    return found


def stale_figures(markdown: str, name: str, committed: dict, digits: int = 3) -> list[str]:
    """One line for each undated figure that differs from the committed one."""
    stale = []
    for figure in page_figures(markdown, name):
        truth = committed.get((figure.task, figure.model, figure.measure))
        if figure.dated or truth is None:
            continue
        mean, std = truth
        if figure.mean != mean or (figure.std is not None and figure.std != std):
            stated = figure.mean if figure.std is None else f"{figure.mean} ± {figure.std}"
            truth = mean if std is None else f"{mean} ± {std}"
            stale.append(
                f"{figure.where}: {figure.model} {figure.task} {figure.measure} {stated} where "
                f"results.json has {truth} ({figure.context!r}): link to the results page "
                "instead, or date the measurement (YYYY-MM-DD)"
            )
    return stale


# ================================================================ the check on the real pages


def test_no_page_states_a_committed_figure_that_differs_from_results_json():
    digits = _digits()
    committed = committed_figures(json.loads(RESULTS.read_text()), digits)
    assert committed, f"{RESULTS} holds no figures of the default variant"
    stale = [
        line
        for page in PAGES
        for line in stale_figures(page.read_text(), str(page.relative_to(ROOT)), committed, digits)
    ]
    assert not stale, "figures that disagree with docs/generated/results.json:\n" + "\n".join(stale)


# ==================================================== what the check catches and leaves alone

COMMITTED = {
    ("fer3d", "affectvlm", "accuracy"): ("0.914", "0.031"),
    ("fer3d", "smile", "accuracy"): ("0.933", "0.052"),
    ("fer3d", "smile", "linear_probe"): ("0.933", "0.052"),
    ("fer3d", "smile", "knn"): ("0.928", "0.048"),
    ("fer3d", "smile", "baseline_linear_probe"): ("0.928", "0.052"),
    ("fer4d", "affectvlm", "accuracy"): ("0.911", "0.057"),
}


@pytest.mark.parametrize(
    "page",
    [
        "The default reads AffectVLM 0.897 on the built-in folds.",
        "AffectVLM reads the folds at 0.914 ± 0.040.",
        "SMILE-VLM's k-NN reads 0.931 there.",
        "SMILE-VLM's frozen linear probe 0.906, after training more.",
        "On sequences AffectVLM reads 0.914.",
        "Both read AffectVLM 0.914 ± 0.031 and SMILE-VLM 0.928 ± 0.060.",
        "| model | AffectVLM accuracy (5 folds) |\n|---|---:|\n| default | **0.897 ± 0.057** |",
        "| stage | 2 CPU cores |\n|---|---:|\n| SMILE-VLM linear probe | 0.928 ± 0.060 |",
    ],
)
def test_a_stale_figure_is_caught(page):
    assert stale_figures(page, "page.md", COMMITTED), page


@pytest.mark.parametrize(
    "page",
    [
        "The default reads AffectVLM 0.914 ± 0.031 and SMILE-VLM 0.933 ± 0.052.",
        "SMILE-VLM's k-NN reads 0.928, its probe 0.933.",
        "AffectVLM reads sequences at 0.911 ± 0.057.",
        # dated: a measurement of another run
        "Measured 2026-11-27, the default then read AffectVLM 0.897 ± 0.057.",
        "On 2026-11-28:\n\n| stage | H200 |\n|---|---:|\n| AffectVLM accuracy | 0.918 |",
        # the first number after the name is no figure of the results
        "AffectVLM (5 folds of 20 epochs) took 1 min 41 s, its ECE 0.099.",
        "AffectVLM's step took 102.4 ms, a ratio of 0.917 to the bare model's.",
        # no model named, or a model named with no measure in a table
        "The frozen starting point's linear probe 0.906 there, the ECE 0.055.",
        "| config | AffectVLM |\n|---|---:|\n| ViT-B/32, bare / project | 0.857–0.943 |",
        # code and code blocks
        "Set `AffectVLM 0.5` aside.\n\n```bash\necho AffectVLM 0.897\n```",
    ],
)
def test_what_the_check_leaves_alone(page):
    assert not stale_figures(page, "page.md", COMMITTED), page
