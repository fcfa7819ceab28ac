"""One subject of one dataset layout, written in that dataset's real formats and folder grammar.

Why per subject: a subject is the natural unit of work — one identity, one head, one texture,
reused by all of its scans or frames — and subjects are independent, so they can be written in
parallel. Each subject draws its randomness from its own seed stream
(``SeedSequence([seed, layout, index])``), so the bytes do not depend on which process writes
it, or in which order.

Every writer returns a JSON-ready record for the manifest (metadata, labels, counts). Names and
folders follow ``docs/your-data.md``:

- BU-3DFE   ``BU-3DFE/F0001/F0001_HA04WH_F3D.{wrl,bmp,bnd}``
- BU-4DFE   ``BU-4DFE/F001/Happy/000.{wrl,jpg}``, ``BU-4DFE/BU4DFE_BND_V1.1/F001/Happy/000.bnd``
- Bosphorus ``Bosphorus/bs000/bs000_E_HAPPY_0.{bnt,png,lm3}``
- BP4D      ``BP4D/Sequences(2D+3D)/F001/T1/0000.{obj,mtl,jpg}``,
            ``BP4D/AUCoding/AU_OCC/F001_T1.csv``
- 4DME      ``4DME/S01/S01_01/000.{obj,mtl,jpg}`` (the spreadsheet is written by the caller)
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facevlm.data.formats import write_bnd, write_bnt, write_lm3, write_obj, write_vrml
from facevlm.data.labels import BASIC_EMOTIONS, MICRO_EXPRESSION_CLASSES, NEUTRAL
from facevlm.data.synthetic.config import LAYOUT_FOLDERS, SyntheticConfig
from facevlm.data.synthetic.expressions import (
    ACTION_UNITS,
    Activation,
    emotion_activation,
    scale_activation,
    subject_recipe,
    web_activation,
)
from facevlm.data.synthetic.files import COORD_DECIMALS, encode_image, rounded
from facevlm.data.synthetic.head import SyntheticHead, build_head
from facevlm.data.synthetic.ict_head import IctHead, build_ict_head, relight_photo
from facevlm.data.synthetic.identity import Identity, sample_identity
from facevlm.data.synthetic.landmarks import bosphorus_vertices
from facevlm.data.synthetic.photo_shading import bake_capture_light
from facevlm.data.synthetic.raster import BACKGROUND, rasterize
from facevlm.data.synthetic.sequences import (
    capture_frames,
    expression_offsets,
    make_micro_clip,
    random_sequence_profile,
    rigid_motion,
)
from facevlm.data.synthetic.texture import paint_texture, relight

#: Seed-stream tag of each layout (part of every subject's seed).
LAYOUT_CODES: dict[str, int] = {"bu3dfe": 1, "bu4dfe": 2, "bosphorus": 3, "bp4d": 4, "4dme": 5}
#: BU-3DFE expression codes.
BU3DFE_CODES: dict[str, str] = {
    NEUTRAL: "NE",
    "anger": "AN",
    "disgust": "DI",
    "fear": "FE",
    "happiness": "HA",
    "sadness": "SA",
    "surprise": "SU",
}
#: BU-4DFE expression folders.
BU4DFE_FOLDERS: dict[str, str] = {
    "anger": "Angry",
    "disgust": "Disgust",
    "fear": "Fear",
    "happiness": "Happy",
    "sadness": "Sad",
    "surprise": "Surprise",
}
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
#: Landmark release folder of BU-4DFE, inside the BU-4DFE root.
BU4DFE_BND_FOLDER = "BU4DFE_BND_V1.1"
#: Share of female subjects (BU-3DFE has 56 of 100).
FEMALE_SHARE = 0.56


@dataclass(frozen=True)
class SubjectTask:
    """One unit of work: subject ``index`` (0-based, across genders) of ``layout``."""

    layout: str
    index: int
    subject: str
    gender: str


def _subject_ids(layout: str, n: int, offset: int = 0) -> list[tuple[str, str]]:
    """``(subject id, gender)`` of ``n`` subjects, women first, numbered per gender from
    ``offset + 1`` (BU-3DFE only; the other layouts' ids are too narrow to offset)."""
    n_f = int(round(FEMALE_SHARE * n))
    genders = ["F"] * n_f + ["M"] * (n - n_f)
    start = offset if layout == "bu3dfe" else 0
    ids, counters = [], {"F": start, "M": start}
    for g in genders:
        counters[g] += 1
        k = counters[g]
        if layout == "bu3dfe":
            ids.append((f"{g}{k:04d}", g))
        elif layout in ("bu4dfe", "bp4d"):
            ids.append((f"{g}{k:03d}", g))
        elif layout == "bosphorus":
            ids.append((f"bs{len(ids):03d}", g))
        else:
            ids.append((f"S{len(ids) + 1:02d}", g))
    return ids


def plan(config: SyntheticConfig) -> list[SubjectTask]:
    """Every subject task of ``config``, in a fixed order."""
    counts = {
        "bu3dfe": config.n_subjects,
        "bu4dfe": config.n_subjects_4d,
        "bosphorus": config.n_bosphorus,
        "bp4d": config.n_bp4d_subjects,
        "4dme": config.n_micro_subjects,
    }
    tasks = []
    for layout in config.layouts:
        ids = _subject_ids(layout, counts[layout], config.subject_offset)
        for index, (subject, gender) in enumerate(ids):
            tasks.append(SubjectTask(layout, index, subject, gender))
    return tasks


def _streams(seed: int, task: SubjectTask, n: int = 4) -> list[np.random.Generator]:
    """Independent generators of one subject: identity, recipes, poses/frames, extras."""
    children = np.random.SeedSequence([seed, LAYOUT_CODES[task.layout], task.index]).spawn(n)
    return [np.random.default_rng(child) for child in children]


def _activation_record(activation: Activation) -> dict[str, list[float]]:
    return {f"AU{au}": [round(wl, 4), round(wr, 4)] for au, (wl, wr) in sorted(activation.items())}


def _subject_record(task: SubjectTask, identity: Identity, head: Head) -> dict:
    record = {
        "subject": task.subject,
        "face_source": "ict" if isinstance(head, IctHead) else "procedural",
        **identity.metadata(),
        "identity_seed": identity.texture_seed,
        "n_vertices": head.mesh.n_vertices,
    }
    if isinstance(head, IctHead):
        record["ict"] = {
            "region": head.region,
            "identity_weights": [round(float(w), 4) for w in head.identity_weights],
        }
    return record


def _mesh(head: Head, vertices: np.ndarray):
    return rounded(head.with_vertices(vertices))


# ---------------------------------------------------------------------------------- faces
#: A subject's neutral face, from either face source.
Head = SyntheticHead | IctHead


def face_source(config: SyntheticConfig, task: SubjectTask) -> str:
    """Where subject ``task`` gets its face: the layout's subjects take
    :attr:`SyntheticConfig.face_sources` in turn, so every source is in every fold."""
    return config.face_sources[task.index % len(config.face_sources)]


def _subject_face(
    task: SubjectTask, config: SyntheticConfig, rng: np.random.Generator, resolution: int
) -> tuple[Identity, Head]:
    """The subject's metadata and neutral face. An ICT-FaceKit face keeps its own density
    (``resolution`` sets the procedural mesh's) and shows one of ``config.ict_regions``."""
    identity = sample_identity(rng, task.gender)
    if face_source(config, task) == "ict":
        region = config.ict_regions[int(rng.integers(len(config.ict_regions)))]
        return identity, build_ict_head(identity, rng, region)
    return identity, build_head(identity, resolution)


class _Skin:
    """A subject's texture photographs, whichever the face source.

    A capture session (a static scan, a 4D sequence) has its own light (:meth:`session`); each
    surface of the session is then photographed in it (:meth:`photo`): the folds and furrows of
    the expression shaded in, as in a real scanner's photograph.
    """

    def __init__(self, head: Head, identity: Identity, config: SyntheticConfig, size: int):
        self.head, self.identity, self.config, self.size = head, identity, config, size
        # a procedural face's skin is painted once; an ICT face's is repainted per expression
        self.atlas = None if isinstance(head, IctHead) else paint_texture(identity, size)

    def session(self, rng: np.random.Generator) -> object:
        """One session's light, drawn from ``rng``."""
        if self.atlas is not None:
            return _scan_texture(self.atlas, self.identity, self.config, rng)
        grey = self.config.grayscale_share > 0 and rng.random() < self.config.grayscale_share
        return int(rng.integers(2**32)), bool(grey)

    def photo(self, session: object, surface: np.ndarray, activation: Activation) -> np.ndarray:
        """The photograph of ``surface`` (the face showing ``activation``) in ``session``
        (None: in the light of the paint itself)."""
        if self.atlas is not None:
            texture = self.atlas if session is None else session
            return _photograph(texture, self.head, surface, self.config)
        image = self.head.texture(self.size, activation if self.config.photo_shading > 0 else None)
        if session is None:
            return image
        seed, grey = session
        return relight_photo(image, np.random.default_rng(seed), self.config.lighting, grey)


# ---------------------------------------------------------------------------------- BU-3DFE
def _capture(vertices: np.ndarray, config: SyntheticConfig, rng: np.random.Generator) -> np.ndarray:
    """``vertices`` as one capture placed them: head pose, position and size of this scan."""
    moved = rigid_motion(vertices, rng, rotation_deg=config.pose_deg, shift_mm=config.shift_mm)
    if config.scale_jitter > 0:
        centre = moved.mean(axis=0)
        factor = float(np.exp(rng.normal(0.0, config.scale_jitter)))
        moved = centre + (moved - centre) * factor
    return moved


def _scan_texture(
    atlas: np.ndarray, identity: Identity, config: SyntheticConfig, rng: np.random.Generator
) -> np.ndarray:
    """This scan's photograph of the subject's skin (:func:`relight`)."""
    grey = config.grayscale_share > 0 and rng.random() < config.grayscale_share
    return relight(atlas, identity, rng, config.lighting, grayscale=grey)


def _photograph(
    texture: np.ndarray, head: SyntheticHead, vertices: np.ndarray, config: SyntheticConfig
) -> np.ndarray:
    """``texture`` with the folds and furrows of this capture's face shaded in
    (:func:`bake_capture_light`): what the scanner's camera saw."""
    return bake_capture_light(texture, head, vertices, config.photo_shading)


def write_bu3dfe_subject(root: Path, config: SyntheticConfig, task: SubjectTask) -> dict:
    """25 scans: ``NE00`` and the six emotions at intensities 01–04, each ``.wrl`` + ``.bmp``
    texture atlas + ``.bnd`` landmarks. Between scans the head pose, position (and size) and
    the light of the texture change a little (``pose_deg``, ``shift_mm``, ``scale_jitter``,
    ``lighting``).

    ``lab`` style: the subject has one way of making each emotion (:func:`subject_recipe`:
    a variant, their own weights, their habitual lopsidedness, their overall expressiveness),
    scaled by the level. ``web`` style: every scan is drawn afresh (:func:`web_activation`).
    The activation actually applied to each scan is recorded in the manifest."""
    rng_id, rng_recipe, rng_pose, rng_light = _streams(config.seed, task)
    identity, head = _subject_face(task, config, rng_id, config.resolution)
    skin = _Skin(head, identity, config, config.texture_size)
    folder = root / LAYOUT_FOLDERS["bu3dfe"] / task.subject
    folder.mkdir(parents=True, exist_ok=True)
    idio = config.idiosyncrasy
    expressive = float(np.exp(idio * rng_recipe.normal(0.0, 0.15)))
    bias = float(idio * rng_recipe.normal(0.0, 0.08))
    recipes = {
        e: scale_activation(
            subject_recipe(e, rng_recipe, side_bias=bias, idiosyncrasy=idio), expressive
        )
        for e in BASIC_EMOTIONS
    }
    scans = [(NEUTRAL, 0)] + [(e, i) for e in BASIC_EMOTIONS for i in (1, 2, 3, 4)]
    names, applied = [], {}
    for emotion, intensity in scans:
        stem = f"{task.subject}_{BU3DFE_CODES[emotion]}{intensity:02d}{identity.race}_F3D"
        if config.style == "web":
            activation = web_activation(emotion, intensity, rng_recipe)
        else:
            activation = emotion_activation(emotion, intensity, recipes.get(emotion))
        vertices = head.mesh.vertices + expression_offsets(head, activation)
        mesh = _mesh(head, _capture(vertices, config, rng_pose))
        photo = skin.photo(skin.session(rng_light), mesh.vertices, activation)
        bmp = encode_image(photo, "BMP")
        write_vrml(folder / f"{stem}.wrl", mesh, texture_url=f"{stem}.bmp")
        (folder / f"{stem}.bmp").write_bytes(bmp)
        write_bnd(folder / f"{stem}.bnd", head.landmark_indices, mesh.landmarks)
        names.append(stem)
        applied[stem] = _activation_record(activation)
    record = {
        **_subject_record(task, identity, head),
        "style": config.style,
        "scans": names,
        "activations": applied,
    }
    if config.style == "lab":
        record["recipes"] = {e: _activation_record(r) for e, r in recipes.items()}
    return record


# ---------------------------------------------------------------------------------- BU-4DFE
def write_bu4dfe_subject(root: Path, config: SyntheticConfig, task: SubjectTask) -> dict:
    """Six posed sequences (neutral → apex → neutral), one ``.wrl`` + ``.jpg`` per frame, and
    the landmark release's per-frame ``.bnd`` (the first subject's Surprise uses ``.landmark``,
    as one real sequence does)."""
    rng_id, rng_recipe, rng_frames, rng_timing = _streams(config.seed, task)
    identity, head = _subject_face(task, config, rng_id, config.resolution_4d)
    skin = _Skin(head, identity, config, config.texture_size_4d)
    rng_light = np.random.default_rng(rng_timing.integers(2**32))
    base = root / LAYOUT_FOLDERS["bu4dfe"]
    sequences = {}
    for emotion, folder_name in BU4DFE_FOLDERS.items():
        # one session per sequence: its own light, the same for all of its frames
        session = skin.session(rng_light)
        recipe = scale_activation(
            subject_recipe(emotion, rng_recipe), float(rng_recipe.uniform(0.85, 1.0))
        )
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
    return {**_subject_record(task, identity, head), "sequences": sequences}


# ---------------------------------------------------------------------------------- Bosphorus
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


# ---------------------------------------------------------------------------------- BP4D
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


# ---------------------------------------------------------------------------------- 4DME
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


WRITERS = {
    "bu3dfe": write_bu3dfe_subject,
    "bu4dfe": write_bu4dfe_subject,
    "bosphorus": write_bosphorus_subject,
    "bp4d": write_bp4d_subject,
    "4dme": write_4dme_subject,
}


def run_task(root: str, config: SyntheticConfig, task: SubjectTask) -> dict:
    """Write one subject (the unit a worker process runs); returns its manifest record."""
    return WRITERS[task.layout](Path(root), config, task)
