"""BU-3DFE: one subject's 25 static scans (``.wrl`` + ``.bmp`` texture + ``.bnd`` landmarks),
each captured in its own pose and light and, with ``scanner_variety`` on, as a different
scanner's mesh.

Separate, one module per layout as the readers in :mod:`facevlm.scans.layouts` are: each knows
its dataset's file names, formats and what a subject holds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facevlm.scans.formats import write_bnd, write_vrml
from facevlm.scans.labels import BASIC_EMOTIONS, NEUTRAL
from facevlm.scans.mesh import FaceMesh
from facevlm.synthetic.config import LAYOUT_FOLDERS, SyntheticConfig
from facevlm.synthetic.expressions import (
    emotion_activation,
    scale_activation,
    subject_recipe,
    web_activation,
)
from facevlm.synthetic.expressions.bank_recipes import BANK_POOLS, bank_groups, bank_recipe
from facevlm.synthetic.files import encode_image, rounded
from facevlm.synthetic.layout_writers.faces import (
    Head,
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
from facevlm.synthetic.scanner_variety import apply_scanner_variety
from facevlm.synthetic.sequences import expression_offsets, rigid_motion

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


def _capture(vertices: np.ndarray, config: SyntheticConfig, rng: np.random.Generator) -> np.ndarray:
    """``vertices`` as one capture placed them: head pose, position and size of this scan."""
    moved = rigid_motion(vertices, rng, rotation_deg=config.pose_deg, shift_mm=config.shift_mm)
    if config.scale_jitter > 0:
        centre = moved.mean(axis=0)
        factor = float(np.exp(rng.normal(0.0, config.scale_jitter)))
        moved = centre + (moved - centre) * factor
    return moved


def _scanned(
    head: Head, vertices: np.ndarray, config: SyntheticConfig, rng: np.random.Generator
) -> tuple[FaceMesh, dict | None]:
    """The mesh a scanner writes of the face at ``vertices``: as it is (rounded to the file's
    precision) or, with ``config.scanner_variety`` on, remeshed, smoothed, noisy, holed, cut
    raggedly and in its own unit (:func:`apply_scanner_variety`), with the record of what was
    drawn."""
    variety = config.scanner_variety
    if not variety.active:
        return _mesh(head, vertices), None
    mesh, record = apply_scanner_variety(head.with_vertices(vertices), variety, rng)
    return rounded(mesh, record["unit"]), record


def write_bu3dfe_subject(root: Path, config: SyntheticConfig, task: SubjectTask) -> dict:
    """25 scans: ``NE00`` and the six emotions at intensities 01–04, each ``.wrl`` + ``.bmp``
    texture atlas + ``.bnd`` landmarks. Between scans the head pose, position (and size) and
    the light of the texture change a little (``pose_deg``, ``shift_mm``, ``scale_jitter``,
    ``lighting``).

    ``lab`` style: the subject has one way of making each emotion (:func:`subject_recipe`:
    a variant, their own weights, their habitual lopsidedness, their overall expressiveness;
    with ``expressions: bank`` a real person's coded expression from the subject's bank group
    instead, with the same lopsidedness and expressiveness), scaled by the level. ``web`` style: every scan is drawn afresh (:func:`web_activation`).
    The activation actually applied to each scan is recorded in the manifest."""
    rng_id, rng_recipe, rng_pose, rng_light, rng_scanner = _streams(config.seed, task, 5)
    identity, head = _subject_face(task, config, rng_id, config.resolution)
    skin = _Skin(head, identity, config, config.texture_size)
    folder = root / LAYOUT_FOLDERS["bu3dfe"] / task.subject
    folder.mkdir(parents=True, exist_ok=True)
    idio = config.idiosyncrasy
    expressive = float(np.exp(idio * rng_recipe.normal(0.0, 0.15)))
    bias = float(idio * rng_recipe.normal(0.0, 0.08))
    worn = {}
    if config.expressions in BANK_POOLS:
        pool = BANK_POOLS[config.expressions]
        group = bank_groups(config.n_subjects, config.seed, task.layout, pool)[task.index]
        for e in BASIC_EMOTIONS:
            worn[e] = bank_recipe(group, e, rng_recipe, config.seed, side_bias=bias)
    recipes = {
        e: scale_activation(
            worn[e][0]
            if worn
            else subject_recipe(e, rng_recipe, side_bias=bias, idiosyncrasy=idio),
            expressive,
        )
        for e in BASIC_EMOTIONS
    }
    scans = [(NEUTRAL, 0)] + [(e, i) for e in BASIC_EMOTIONS for i in (1, 2, 3, 4)]
    names, applied, scanned = [], {}, {}
    for emotion, intensity in scans:
        stem = f"{task.subject}_{BU3DFE_CODES[emotion]}{intensity:02d}{identity.race}_F3D"
        if config.style == "web":
            activation = web_activation(emotion, intensity, rng_recipe)
        else:
            activation = emotion_activation(emotion, intensity, recipes.get(emotion))
        vertices = _capture(
            head.mesh.vertices + expression_offsets(head, activation), config, rng_pose
        )
        # the camera photographs the face itself; the scanner's artefacts are in the mesh only
        photo = skin.photo(skin.session(rng_light), _mesh(head, vertices).vertices, activation)
        mesh, scanner = _scanned(head, vertices, config, rng_scanner)
        bmp = encode_image(photo, "BMP")
        write_vrml(folder / f"{stem}.wrl", mesh, texture_url=f"{stem}.bmp")
        (folder / f"{stem}.bmp").write_bytes(bmp)
        write_bnd(folder / f"{stem}.bnd", mesh.metadata["landmark_indices"], mesh.landmarks)
        names.append(stem)
        applied[stem] = _activation_record(activation)
        if scanner is not None:
            scanned[stem] = scanner
    record = {
        **_subject_record(task, identity, head),
        "style": config.style,
        "scans": names,
        "activations": applied,
    }
    if scanned:
        record["scanner"] = scanned
    if config.style == "lab":
        record["recipes"] = {e: _activation_record(r) for e, r in recipes.items()}
    if worn:
        record["bank"] = _bank_record(worn)
    return record
