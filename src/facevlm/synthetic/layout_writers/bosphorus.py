"""Bosphorus: one subject's neutral, emotion and action-unit scans as range grids (``.bnt`` +
``.png`` + ``.lm3`` labelled landmarks).

Separate, one module per layout as the readers in :mod:`facevlm.scans.layouts` are.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facevlm.scans.formats import write_bnt, write_lm3
from facevlm.scans.labels import NEUTRAL
from facevlm.synthetic.config import LAYOUT_FOLDERS, SyntheticConfig
from facevlm.synthetic.expressions import Activation, scale_activation, subject_recipe
from facevlm.synthetic.files import COORD_DECIMALS, encode_image
from facevlm.synthetic.ict_facekit.head import IctHead
from facevlm.synthetic.layout_writers.faces import _Skin, _subject_face, _subject_record
from facevlm.synthetic.layout_writers.subjects import SubjectTask, _streams
from facevlm.synthetic.procedural.landmarks import bosphorus_vertices
from facevlm.synthetic.raster import BACKGROUND, rasterize
from facevlm.synthetic.sequences import expression_offsets, rigid_motion

#: Bosphorus emotion tokens.
BOSPHORUS_TOKENS: dict[str, str] = {
    "anger": "ANGER",
    "disgust": "DISGUST",
    "fear": "FEAR",
    "happiness": "HAPPY",
    "sadness": "SADNESS",
    "surprise": "SURPRISE",
}
#: Bosphorus action-unit scans we write: file token → activation.
BOSPHORUS_AU_SCANS: dict[str, dict[int, float]] = {"LFAU_12": {12: 1.0}, "UFAU_2": {2: 1.0}}


def write_bosphorus_subject(root: Path, config: SyntheticConfig, task: SubjectTask) -> dict:
    """Neutral, six emotions and two AU scans as range grids: ``.bnt`` + ``.png`` + ``.lm3``."""
    rng_id, rng_recipe, rng_pose, _ = _streams(config.seed, task)
    identity, head = _subject_face(task, config, rng_id, config.resolution)
    skin = _Skin(head, identity, config, config.texture_size)
    if isinstance(head, IctHead):
        marks = head.bosphorus_vertices()
    else:
        marks = bosphorus_vertices(identity, head.sheet, head.lower, ~head.skin)
    folder = root / LAYOUT_FOLDERS["bosphorus"] / task.subject
    folder.mkdir(parents=True, exist_ok=True)
    scans: list[tuple[str, str | None, Activation]] = [("N_N_0", NEUTRAL, {})]
    for emotion, token in BOSPHORUS_TOKENS.items():
        strength = float(rng_recipe.uniform(0.8, 1.0))
        scans.append(
            (
                f"E_{token}_0",
                emotion,
                scale_activation(subject_recipe(emotion, rng_recipe), strength),
            )
        )
    for token, aus in BOSPHORUS_AU_SCANS.items():
        scans.append((f"{token}_0", None, {au: (w, w) for au, w in aus.items()}))
    names = []
    for token, _, activation in scans:
        stem = f"{task.subject}_{token}"
        vertices = head.mesh.vertices + expression_offsets(head, activation)
        vertices = np.round(
            rigid_motion(vertices, rng_pose, rotation_deg=2.0, shift_mm=1.5), COORD_DECIMALS
        )
        grid = rasterize(head.with_vertices(vertices), skin.photo(None, vertices, activation))
        write_bnt(
            folder / f"{stem}.bnt",
            grid.x,
            grid.y,
            grid.z,
            grid.u,
            grid.v,
            BACKGROUND,
            f"{stem}.png",
        )
        (folder / f"{stem}.png").write_bytes(encode_image(grid.image, "PNG"))
        write_lm3(folder / f"{stem}.lm3", {label: vertices[i] for label, i in marks.items()})
        names.append(stem)
    return {**_subject_record(task, identity, head), "scans": names}
