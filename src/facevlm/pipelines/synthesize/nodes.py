"""Nodes of the ``synthesize`` pipeline: thin wrappers around :mod:`facevlm.synthetic`."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from PIL import Image

from facevlm.pipelines.datasets_in_use import datasets_of
from facevlm.scans.labels import BASIC_EMOTIONS, NEUTRAL

logger = logging.getLogger(__name__)

#: ``dataset.name`` that reads nothing (e.g. ``pretraining.dataset.name: none``).
NO_DATASET = "none"


def prepare_raw_scans(
    dataset: dict[str, Any],
    synthetic: dict[str, Any],
    datasets_in_use: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Make sure the raw scans exist and describe them.

    With ``dataset.name = synthetic`` this writes the built-in set under ``dataset.root`` — or
    reuses the files already there when they were made with the same seed and sizes. Only the
    layouts the run's models read are needed (``datasets_in_use``, e.g. ``synthetic-bu3dfe`` →
    the BU-3DFE folder; all datasets: every layout of ``synthetic.layouts``); those already on disk
    are kept and the missing ones added. For a real
    dataset it only checks that the root folder exists, so a typo fails here with a clear message
    rather than as an empty index. ``name: none`` means no dataset at all (how the pretraining
    corpus is switched off): nothing is written and the index will be empty.
    """
    name = dataset["name"]
    if name == NO_DATASET:
        return {"dataset": name, "root": None, "generated": False}
    root = Path(dataset["root"]).expanduser()
    if name != "synthetic":
        if not root.is_dir():
            raise FileNotFoundError(f"dataset.root {root} for dataset {name!r} is not a folder")
        return {"dataset": name, "root": str(root.resolve()), "generated": False}

    from facevlm.synthetic import SyntheticConfig, generate_synthetic_dataset

    config = SyntheticConfig(**synthetic)
    layouts = synthetic_layouts_in_use(config.layouts, datasets_of(datasets_in_use))
    manifest = generate_synthetic_dataset(root, dataclasses.replace(config, layouts=layouts))
    return {"dataset": name, "root": str(root.resolve()), "generated": True, "synthetic": manifest}


def synthetic_layouts_in_use(
    configured: tuple[str, ...], datasets_in_use: list[str] | None
) -> tuple[str, ...]:
    """The synthetic layouts behind the index datasets a run reads (``synthetic-bu4dfe`` →
    ``bu4dfe``), among those ``configured``; all of them when the run reads every dataset or
    names one that is not a synthetic layout (it cannot be told which it needs)."""
    from facevlm.scans.layouts.base import SYNTHETIC_PREFIX, base_dataset

    if not datasets_in_use or not all(
        name.startswith(SYNTHETIC_PREFIX) and base_dataset(name) in configured
        for name in datasets_in_use
    ):
        return configured
    wanted = {base_dataset(name) for name in datasets_in_use}
    return tuple(layout for layout in configured if layout in wanted)


def _sheet_cells(
    raw_scans: dict[str, Any], dataset: dict[str, Any], n_subjects: int
) -> tuple[list[str], list[str], dict[tuple[str, str], Path]]:
    """Subjects, expression columns and the scan to show in each cell, found by the dataset's
    layout (names only, nothing parsed): the highest intensity of a static scan, the middle frame
    of a sequence. For the synthetic set, its BU-3DFE-style scans."""
    from facevlm.scans.layouts.base import ScanRecord, get_layout

    records = [
        r
        for r in get_layout(raw_scans["dataset"]).discover(
            Path(raw_scans["root"]), dataset.get("options") or {}
        )
        if isinstance(r, ScanRecord) and r.expression is not None
    ]
    if any(r.dataset == "synthetic-bu3dfe" for r in records):
        records = [r for r in records if r.dataset == "synthetic-bu3dfe"]
    subjects = sorted({r.subject for r in records})[:n_subjects]
    cells: dict[tuple[str, str], list[ScanRecord]] = {}
    for r in records:
        if r.subject in subjects:
            cells.setdefault((r.subject, r.expression), []).append(r)
    chosen = {}
    for key, group in cells.items():
        if group[0].sequence is not None:  # a sequence: its middle frame
            group = sorted(group, key=lambda r: r.frame or 0)
            chosen[key] = group[len(group) // 2].path
        else:
            chosen[key] = max(group, key=lambda r: r.intensity or 0).path
    found = {expression for _, expression in chosen}
    known = [NEUTRAL, *BASIC_EMOTIONS]
    columns = [e for e in known if e in found] + sorted(found - set(known))
    return subjects, columns, chosen


def make_contact_sheet(
    raw_scans: dict[str, Any],
    dataset: dict[str, Any],
    sheet: dict[str, Any],
    render: dict[str, Any],
) -> Image.Image:
    """Frontal renders of the first subjects (rows) × their expressions (columns: neutral and the
    six emotions at the highest intensity for the synthetic set), so a person can check at a
    glance that the expressions differ. Works for any dataset the layouts know.

    Drawn with the run's own render settings (``params:render``: its pose and its first
    modality), at the sheet's size and from the front only, so that the sheet shows each scan
    as the models see it: turned face-forward and framed by the face pose, a whole head framed
    by its face like a face crop. A scan on which no face is found is left blank and logged
    (ingest quarantines it anyway)."""
    from facevlm.render.contact_sheet import contact_sheet
    from facevlm.render.face_pose import NotAFaceError
    from facevlm.render.renderer import MultiviewRenderer, split_render_params
    from facevlm.render.views import View
    from facevlm.scans.formats import read_mesh

    subjects, columns, chosen = _sheet_cells(raw_scans, dataset, sheet["n_subjects"])
    if not chosen:
        raise ValueError(f"no labelled scan found under {raw_scans['root']} for a contact sheet")
    settings, _ = split_render_params(render)  # texture+shaded: the textured sheet
    settings = dataclasses.replace(settings, size=sheet["size"], views=(View(0.0, 0.0),))
    rows = []
    with MultiviewRenderer(settings) as renderer:
        for subject in subjects:
            row = []
            for expression in columns:
                path = chosen.get((subject, expression))
                try:
                    row.append(None if path is None else renderer.render(read_mesh(path))[0])
                except NotAFaceError as error:
                    logger.warning("contact sheet: %s left blank: %s", path, error)
                    row.append(None)
            rows.append(row)
    grid = contact_sheet(rows, row_labels=subjects, column_labels=columns)
    return Image.fromarray(grid)
