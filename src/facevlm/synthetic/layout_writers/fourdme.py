"""4DME: one subject's micro-expression clips, a folder of ``.obj`` (+ ``.mtl``) and ``.jpg``
frames each, and the spreadsheet rows that describe them (the caller writes the sheet).

Separate, one module per layout as the readers in :mod:`facevlm.scans.layouts` are.
"""

from __future__ import annotations

from pathlib import Path

from facevlm.scans.formats import write_obj
from facevlm.scans.labels import MICRO_EXPRESSION_CLASSES
from facevlm.synthetic.config import LAYOUT_FOLDERS, SyntheticConfig
from facevlm.synthetic.expressions import scale_activation
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
from facevlm.synthetic.sequences import capture_frames, make_micro_clip


def write_4dme_subject(root: Path, config: SyntheticConfig, task: SubjectTask) -> dict:
    """Micro-expression clips, one folder of ``.obj`` (+ ``.mtl``) and ``.jpg`` frames each;
    returns the spreadsheet rows (onset/apex/offset are 0-based frame numbers)."""
    rng_id, rng_clips, rng_frames, _ = _streams(config.seed, task)
    identity, head = _subject_face(task, config, rng_id, config.resolution_4d)
    skin = _Skin(head, identity, config, config.texture_size_4d)
    order = [str(c) for c in rng_clips.permutation(MICRO_EXPRESSION_CLASSES)]
    clips = []
    for c in range(config.clips_per_subject):
        clip = make_micro_clip(order[c % len(order)], rng_clips, config.clip_frames)
        fold = f"{task.subject}_{c + 1:02d}"
        folder = root / LAYOUT_FOLDERS["4dme"] / task.subject / fold
        folder.mkdir(parents=True, exist_ok=True)
        profile = clip.profile()
        captured = capture_frames(head, clip.activation, profile, rng_frames)
        for f, (frame, level) in enumerate(zip(captured, profile, strict=True)):
            mesh = _mesh(head, frame.scanned)
            write_obj(folder / f"{f:03d}.obj", mesh, texture_filename=f"{f:03d}.jpg")
            activation = scale_activation(clip.activation, float(level))
            photo = skin.photo(None, frame.surface, activation)
            (folder / f"{f:03d}.jpg").write_bytes(encode_image(photo, "JPEG"))
        clips.append(
            {
                "sub_ID": task.subject,
                "fold_name": fold,
                "label": clip.label,
                "classes": list(clip.classes),
                "emotion": clip.emotion,
                "onset": clip.onset,
                "apex": clip.apex,
                "offset": clip.offset,
                "n_frames": clip.n_frames,
                "intensity": round(clip.intensity, 4),
                "aus": list(clip.aus),
                "AUs": clip.au_string,
                "activation": _activation_record(clip.activation),
            }
        )
    return {**_subject_record(task, identity, head), "clips": clips}
