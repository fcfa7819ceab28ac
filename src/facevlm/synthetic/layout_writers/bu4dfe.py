"""BU-4DFE: one subject's six posed sequences (neutral -> apex -> neutral), a ``.wrl`` and a
``.jpg`` per frame, and the landmark release's per-frame ``.bnd`` files.

Separate, one module per layout as the readers in :mod:`facevlm.scans.layouts` are.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facevlm.scans.formats import write_bnd, write_vrml
from facevlm.synthetic.config import LAYOUT_FOLDERS, SyntheticConfig
from facevlm.synthetic.expressions import scale_activation, subject_recipe
from facevlm.synthetic.expressions.bank_recipes import BANK_POOLS, bank_groups, bank_recipe
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
    _bank_record,
    _streams,
)
from facevlm.synthetic.sequences import capture_frames, random_sequence_profile

#: BU-4DFE expression folders.
BU4DFE_FOLDERS: dict[str, str] = {
    "anger": "Angry",
    "disgust": "Disgust",
    "fear": "Fear",
    "happiness": "Happy",
    "sadness": "Sad",
    "surprise": "Surprise",
}
#: Landmark release folder of BU-4DFE, inside the BU-4DFE root.
BU4DFE_BND_FOLDER = "BU4DFE_BND_V1.1"


def write_bu4dfe_subject(root: Path, config: SyntheticConfig, task: SubjectTask) -> dict:
    """Six posed sequences (neutral → apex → neutral), one ``.wrl`` + ``.jpg`` per frame, and
    the landmark release's per-frame ``.bnd`` (the first subject's Surprise uses ``.landmark``,
    as one real sequence does). Each sequence ramps to the subject's apex recipe: its own variant
    of the prototype, or with ``expressions: bank`` a real person's coded expression from the
    subject's bank group."""
    rng_id, rng_recipe, rng_frames, rng_timing = _streams(config.seed, task)
    identity, head = _subject_face(task, config, rng_id, config.resolution_4d)
    skin = _Skin(head, identity, config, config.texture_size_4d)
    rng_light = np.random.default_rng(rng_timing.integers(2**32))
    base = root / LAYOUT_FOLDERS["bu4dfe"]
    sequences = {}
    group = None
    if config.expressions in BANK_POOLS:
        pool = BANK_POOLS[config.expressions]
        group = bank_groups(config.n_subjects_4d, config.seed, task.layout, pool)[task.index]
    for emotion, folder_name in BU4DFE_FOLDERS.items():
        # one session per sequence: its own light, the same for all of its frames
        session = skin.session(rng_light)
        worn = None
        if group is None:
            apex = subject_recipe(emotion, rng_recipe)
        else:
            apex, worn = bank_recipe(group, emotion, rng_recipe, config.seed)
        recipe = scale_activation(apex, float(rng_recipe.uniform(0.85, 1.0)))
        profile = random_sequence_profile(config.n_frames, rng_timing)
        seq = base / task.subject / folder_name
        bnd = base / BU4DFE_BND_FOLDER / task.subject / folder_name
        seq.mkdir(parents=True, exist_ok=True)
        bnd.mkdir(parents=True, exist_ok=True)
        suffix = ".landmark" if task.index == 0 and folder_name == "Surprise" else ".bnd"
        frames = capture_frames(head, recipe, profile, rng_frames)
        for f, (frame, level) in enumerate(zip(frames, profile, strict=True)):
            stem = f"{f:03d}"
            mesh = _mesh(head, frame.scanned)
            write_vrml(seq / f"{stem}.wrl", mesh, texture_url=f"{stem}.jpg")
            photo = skin.photo(session, frame.surface, scale_activation(recipe, float(level)))
            (seq / f"{stem}.jpg").write_bytes(encode_image(photo, "JPEG"))
            write_bnd(bnd / f"{stem}{suffix}", head.landmark_indices, mesh.landmarks)
        sequences[folder_name] = {
            "emotion": emotion,
            "n_frames": config.n_frames,
            "apex_frame": int(np.argmax(profile)),
            "profile": [round(float(p), 4) for p in profile],
            "activation": _activation_record(recipe),
        }
        if worn is not None:
            sequences[folder_name]["bank"] = _bank_record({emotion: (apex, worn)})[emotion]
    return {**_subject_record(task, identity, head), "sequences": sequences}
