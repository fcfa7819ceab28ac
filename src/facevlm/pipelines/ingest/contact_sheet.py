"""The contact sheet of a dataset: its first subjects × their expressions, each scan drawn as the
models see it, so that a person can check at a glance that the expressions differ."""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from PIL import Image

from facevlm.scans.labels import BASIC_EMOTIONS, NEUTRAL

if TYPE_CHECKING:  # the renderer's modules load VTK: imported where a sheet is drawn
    from facevlm.render.face_pose import FacePose
    from facevlm.render.settings import RenderSettings
    from facevlm.scans.mesh import FaceMesh

logger = logging.getLogger(__name__)


def make_contact_sheet(
    raw_scans: dict[str, Any],
    scan_index: pd.DataFrame,
    dataset: dict[str, Any],
    sheet: dict[str, Any],
    render: dict[str, Any],
) -> Image.Image:
    """Frontal renders of the first subjects (rows) × their expressions (columns: neutral and the
    six emotions at the highest intensity for the synthetic set). Works for any dataset the
    layouts know.

    Drawn with the run's own render settings (``params:render``: its first modality), at the
    sheet's size and from the front only, each scan in the pose the index recorded for it (the
    pose the renders use), so that the sheet shows each scan as the models see it: turned
    face-forward and framed by the face pose, a whole head framed by its face like a face crop.
    Why the recorded pose and not a new estimate: the sheet is drawn on every run, and
    estimating the pose again cost most of its time. A scan the index quarantined (no face on
    it, an unreadable file) is left blank and logged. A scan without a usable texture (its image
    missing, as ``dataset.allow_missing_texture`` lets through) is drawn shaded, as
    ``facevlm predict`` draws it (:func:`~facevlm.inference.scan_files.modality_for`), and
    logged: a real folder missing one atlas still gets its sheet."""
    from facevlm.render.contact_sheet import contact_sheet
    from facevlm.render.face_pose import FacePose, NotAFaceError
    from facevlm.render.settings import split_render_params
    from facevlm.render.views import View
    from facevlm.scans.formats import read_mesh

    subjects, columns, chosen = sheet_cells(raw_scans, dataset, sheet["n_subjects"])
    if not chosen:
        raise ValueError(f"no labelled scan found under {raw_scans['root']} for a contact sheet")
    recorded = _recorded_poses(scan_index)
    settings, _ = split_render_params(render)  # texture+shaded: the textured sheet
    settings = dataclasses.replace(settings, size=sheet["size"], views=(View(0.0, 0.0),))
    rows = []
    with _TileRenderers(settings) as renderer:
        for subject in subjects:
            row = []
            for expression in columns:
                path = chosen.get((subject, expression))
                if path is None:
                    row.append(None)
                    continue
                indexed = os.path.abspath(path)  # as the index writes its paths
                if indexed not in recorded:
                    logger.warning("contact sheet: %s left blank: not in the scan index", path)
                    row.append(None)
                    continue
                # without a recorded pose, the render settings' own (estimated or stored)
                text = recorded[indexed]
                pose = FacePose.from_json(text) if text else None
                try:
                    row.append(renderer.render(read_mesh(path), pose, path))
                except NotAFaceError as error:
                    logger.warning("contact sheet: %s left blank: %s", path, error)
                    row.append(None)
            rows.append(row)
    grid = contact_sheet(rows, row_labels=subjects, column_labels=columns)
    return Image.fromarray(grid)


class _TileRenderers:
    """The sheet's frontal renderers: the run's modality, and the shaded fallback made only when
    a scan cannot be drawn in it (a renderer costs an offscreen window).

    Why a fallback rather than a blank tile or an error: ``allow_missing_texture`` indexes a
    scan whose texture image is missing, and its shape still shows the expression."""

    def __init__(self, settings: RenderSettings) -> None:
        self.settings = settings
        self._renderers: dict[str, Any] = {}

    def render(self, mesh: FaceMesh, pose: FacePose | None, path: Path) -> np.ndarray:
        """The frontal tile of ``mesh`` (read from ``path``) in the pose ``pose`` (``None``: the
        settings' own), in the run's modality or, without a texture to paint, shaded."""
        from facevlm.inference.scan_files import modality_for

        modality, note = modality_for(mesh, self.settings.modality, str(path))
        if note:
            logger.warning("contact sheet: %s", note)
        return self._renderer(modality).render(mesh, pose=pose)[0]

    def _renderer(self, modality: str):
        from facevlm.render.renderer import MultiviewRenderer

        if modality not in self._renderers:
            settings = dataclasses.replace(self.settings, modality=modality)
            self._renderers[modality] = MultiviewRenderer(settings)
        return self._renderers[modality]

    def __enter__(self) -> _TileRenderers:
        return self

    def __exit__(self, *exc: object) -> None:
        for renderer in self._renderers.values():
            renderer.close()


def _recorded_poses(scan_index: pd.DataFrame) -> dict[str, str | None]:
    """Each indexed file's recorded face pose as the index stores it (JSON; ``None`` where it
    recorded none), by its path as the index writes it. Read as a pose only for the few files
    the sheet shows: a 4D dataset's index has a row per frame."""
    if "face_pose" not in scan_index:
        return dict.fromkeys(scan_index["path"])
    return {
        path: pose if isinstance(pose, str) and pose else None
        for path, pose in zip(scan_index["path"], scan_index["face_pose"], strict=True)
    }


def sheet_cells(
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
