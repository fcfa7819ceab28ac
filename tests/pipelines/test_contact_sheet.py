"""The synthetic set's contact sheet shows the scans as the models see them: in the poses the
index recorded, which the renders use."""

from __future__ import annotations

import numpy as np

from facevlm.pipelines.ingest import contact_sheet
from facevlm.pipelines.ingest.nodes import index_scans
from facevlm.render.renderer import MultiviewRenderer
from facevlm.render.settings import split_render_params
from facevlm.scans.formats import read_mesh
from facevlm.synthetic import SyntheticConfig, generate_synthetic_dataset

RENDER = {
    "size": 64,
    "views": [[0, 0], [20, 0], [-20, 0]],
    "modality": "shaded",
    "pose": "estimate",
    "frames": "uniform:2",
    "n_workers": 1,
    "datasets": None,
}


def test_each_tile_is_the_models_frontal_render_of_its_scan(tmp_path, monkeypatch, tiny_synthetic):
    """Scans stored turned far from face-forward: each tile is the frontal view the run's own
    render settings draw (the face pose turns it face-forward), not the scan's stored axes."""
    root = tmp_path / "synthetic"
    config = {**tiny_synthetic, "n_subjects": 1, "layouts": ["bu3dfe"], "pose_deg": 60.0}
    generate_synthetic_dataset(root, SyntheticConfig(**{**config, "workers": 1}))
    drawn = {}

    def keep_rows(rows, **labels):
        drawn["rows"], drawn["columns"] = rows, labels["column_labels"]
        return np.zeros((8, 8, 3), dtype=np.uint8)

    monkeypatch.setattr("facevlm.render.contact_sheet.contact_sheet", keep_rows)
    raw = {"dataset": "synthetic", "root": str(root.resolve())}  # as prepare_raw_scans gives it
    dataset = {"name": "synthetic", "n_workers": 1, "options": {}}
    index, _ = index_scans(raw, dataset, str(tmp_path / "cache"), RENDER)
    _, _, chosen = contact_sheet.sheet_cells(raw, {}, 1)
    quarantined = next(iter(chosen.values()))  # the index lost it: its tile is left blank
    index = index[index["path"] != str(quarantined)]
    contact_sheet.make_contact_sheet(raw, index, dataset, {"n_subjects": 1, "size": 64}, RENDER)

    (subject,) = {s for s, _ in chosen}
    settings, _ = split_render_params(RENDER)
    stored = split_render_params({**RENDER, "pose": "as_stored"})[0]
    with MultiviewRenderer(settings) as models, MultiviewRenderer(stored) as as_stored:
        for column, tile in zip(drawn["columns"], drawn["rows"][0], strict=True):
            if chosen[(subject, column)] == quarantined:
                assert tile is None, column
                continue
            mesh = read_mesh(chosen[(subject, column)])
            assert np.array_equal(tile, models.render(mesh)[0]), column
            turned = np.abs(tile.astype(int) - as_stored.render(mesh)[0].astype(int)).mean()
            assert turned > 2.0, f"{column}: the stored axes draw the same tile"
