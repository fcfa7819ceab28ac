"""BP4D-Spontaneous: one subject's six tasks as per-frame ``.obj`` (+ ``.mtl``) and ``.jpg``,
with an action-unit occurrence CSV per task.

Separate, one module per layout as the readers in :mod:`facevlm.scans.layouts` are.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from facevlm.scans.formats import write_obj
from facevlm.synthetic.config import LAYOUT_FOLDERS, SyntheticConfig
from facevlm.synthetic.expressions import (
    ACTION_UNITS,
    Activation,
    scale_activation,
    subject_recipe,
)
from facevlm.synthetic.files import encode_image
from facevlm.synthetic.layout_writers.faces import (
    _mesh,
    _Skin,
    _subject_face,
    _subject_record,
)
from facevlm.synthetic.layout_writers.subjects import (
    SubjectTask,
    _activation_record,
    _streams,
)
from facevlm.synthetic.sequences import capture_frames, random_sequence_profile

#: BP4D tasks of the six basic emotions.
BP4D_TASKS: dict[str, str] = {
    "T1": "happiness",
    "T2": "sadness",
    "T3": "surprise",
    "T5": "fear",
    "T7": "anger",
    "T8": "disgust",
}
#: Columns of the BP4D AU occurrence CSVs (column i = AU i); AUs we do not model are 9.
BP4D_AU_COLUMNS = 27


def _au_csv(frames: list[int], profile: np.ndarray, activation: Activation, coded: range) -> str:
    """AU occurrence table: header ``0..27``; 1 where an AU of the task is active (the frame's
    profile at least 0.3), 0 otherwise, 9 for AUs we do not model; only ``coded`` frames."""
    active = {au for au, (wl, wr) in activation.items() if max(wl, wr) > 0.1}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(range(BP4D_AU_COLUMNS + 1))
    for k in coded:
        row = [frames[k]]
        for au in range(1, BP4D_AU_COLUMNS + 1):
            if au not in ACTION_UNITS:
                row.append(9)
            else:
                row.append(int(au in active and profile[k] >= 0.3))
        writer.writerow(row)
    return out.getvalue()


def write_bp4d_subject(root: Path, config: SyntheticConfig, task: SubjectTask) -> dict:
    """Six spontaneous-style tasks: per-frame ``.obj`` (+ ``.mtl``) and ``.jpg``, frame numbers
    starting anywhere and zero-padded to 4 digits (3 for every second subject, as in the real
    release), plus an AU occurrence CSV per task coding a frame range."""
    rng_id, rng_recipe, rng_frames, rng_timing = _streams(config.seed, task)
    identity, head = _subject_face(task, config, rng_id, config.resolution_4d)
    skin = _Skin(head, identity, config, config.texture_size_4d)
    base = root / LAYOUT_FOLDERS["bp4d"]
    au_dir = base / "AUCoding" / "AU_OCC"
    au_dir.mkdir(parents=True, exist_ok=True)
    digits = 4 if task.index % 2 == 0 else 3
    tasks = {}
    for tid, emotion in BP4D_TASKS.items():
        strength = float(rng_recipe.uniform(0.5, 0.9))
        recipe = scale_activation(subject_recipe(emotion, rng_recipe), strength)
        profile = random_sequence_profile(config.n_frames, rng_timing)
        start = int(rng_timing.integers(0, 30))
        frames = [start + f for f in range(config.n_frames)]
        seq = base / "Sequences(2D+3D)" / task.subject / tid
        seq.mkdir(parents=True, exist_ok=True)
        captured = capture_frames(head, recipe, profile, rng_frames)
        for number, frame, level in zip(frames, captured, profile, strict=True):
            stem = f"{number:0{digits}d}"
            mesh = _mesh(head, frame.scanned)
            write_obj(seq / f"{stem}.obj", mesh, texture_filename=f"{stem}.jpg")
            photo = skin.photo(None, frame.surface, scale_activation(recipe, float(level)))
            (seq / f"{stem}.jpg").write_bytes(encode_image(photo, "JPEG"))
        coded = range(1, config.n_frames - 1)
        (au_dir / f"{task.subject}_{tid}.csv").write_text(
            _au_csv(frames, profile, recipe, coded), encoding="utf-8", newline=""
        )
        tasks[tid] = {
            "emotion": emotion,
            "frames": [frames[0], frames[-1]],
            "coded_frames": [frames[coded[0]], frames[coded[-1]]],
            "apex_frame": frames[int(np.argmax(profile))],
            "activation": _activation_record(recipe),
        }
    return {**_subject_record(task, identity, head), "digits": digits, "tasks": tasks}
