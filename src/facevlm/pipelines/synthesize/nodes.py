"""Nodes of the ``synthesize`` pipeline: thin wrappers around :mod:`facevlm.data.synthetic`."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PIL import Image

from facevlm.data.labels import BASIC_EMOTIONS, NEUTRAL

logger = logging.getLogger(__name__)

#: BU-3DFE expression codes, in the column order of the contact sheet.
_SHEET_COLUMNS = {NEUTRAL: "NE00", **{e: e[:2].upper() + "04" for e in BASIC_EMOTIONS}}


def prepare_raw_scans(dataset: dict[str, Any], synthetic: dict[str, Any]) -> dict[str, Any]:
    """Make sure the raw scans exist and describe them.

    With ``dataset.name = synthetic`` this writes the built-in set under ``dataset.root`` — or
    reuses the files already there when they were made with the same seed and sizes. For a real
    dataset it only checks that the root folder exists, so a typo fails here with a clear message
    rather than as an empty index.
    """
    root = Path(dataset["root"]).expanduser()
    name = dataset["name"]
    if name != "synthetic":
        if not root.is_dir():
            raise FileNotFoundError(f"dataset.root {root} for dataset {name!r} is not a folder")
        return {"dataset": name, "root": str(root.resolve()), "generated": False}

    from facevlm.data.synthetic import SyntheticConfig, generate_synthetic_dataset

    manifest = generate_synthetic_dataset(root, SyntheticConfig(**synthetic))
    return {"dataset": name, "root": str(root.resolve()), "generated": True, "synthetic": manifest}


def make_contact_sheet(
    raw_scans: dict[str, Any], sheet: dict[str, Any], render: dict[str, Any]
) -> Image.Image:
    """Frontal renders of the first subjects (rows) × neutral and the six emotions at the highest
    intensity (columns), so a person can check at a glance that the expressions differ."""
    from facevlm.data.formats import read_mesh
    from facevlm.render.contact_sheet import contact_sheet
    from facevlm.render.renderer import MultiviewRenderer, RenderSettings
    from facevlm.render.views import View

    bu3dfe = Path(raw_scans["root"]) / "BU-3DFE"
    subjects = sorted(p for p in bu3dfe.iterdir() if p.is_dir())[: sheet["n_subjects"]]
    settings = RenderSettings(
        size=sheet["size"], views=[View(0.0, 0.0)], modality=render["modality"]
    )
    renderer = MultiviewRenderer(settings)
    rows = []
    try:
        for subject in subjects:
            row = []
            for code in _SHEET_COLUMNS.values():
                (path,) = subject.glob(f"{subject.name}_{code}??_F3D.wrl")
                row.append(renderer.render(read_mesh(path))[0])
            rows.append(row)
    finally:
        renderer.close()
    labels = {"row_labels": [s.name for s in subjects], "column_labels": list(_SHEET_COLUMNS)}
    grid = contact_sheet(rows, **labels)
    return Image.fromarray(grid)
