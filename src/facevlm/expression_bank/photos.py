"""Labelled face photos read through MediaPipe's Face Landmarker into bank rows.

A photo set is a folder with one sub-folder per emotion (FER2013's ``train/happy/*.png``, CK+48,
a Kaggle copy of RAF-DB with folders ``1``-``7``), or a folder and a labels CSV (``file``,
``emotion``, ``subject``). Each photo is decoded by Pillow (any format it reads: PNG, JPEG,
TIFF, BMP, WebP ...; grey-level photos are made RGB; a camera's EXIF rotation is applied so that
the face is upright, as the landmarker expects), and its 51 blend-shape scores become the row's
weights.

Why every photo left out is reported (:class:`~facevlm.expression_bank.bank.Skipped`): a photo
that is not an image, a face the landmarker does not find, a label the bank does not keep, a
file the labels name that is not there. Hidden files and folders (``.DS_Store``, ``.git``) are
not photos and are passed over.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from facevlm.expression_bank.bank import PHOTO, Expression, Outcome, Skipped
from facevlm.expression_bank.config import ExpressionBankConfig, PhotoSet
from facevlm.expression_bank.emotions import emotion_name
from facevlm.face_reader.landmarker import FaceLandmarker

logger = logging.getLogger(__name__)

#: The reason given for a photo in which the landmarker finds no face.
NO_FACE = "no face found by the Face Landmarker"
#: Log progress every this many photos: a large set takes minutes.
PROGRESS_EVERY = 1000


class PhotoError(ValueError):
    """A file that cannot be read as a photo; the message is the reason."""


@dataclass(frozen=True)
class LabelledPhoto:
    """One photo to read: its file, its name in the bank (``item``: the path under the set's
    folder), its emotion and its subject where a labels file gives it."""

    path: Path
    item: str
    emotion: str
    subject: str | None = None


def load_rgb(path: Path) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB of the image at ``path`` (its first frame), upright.

    Raises :class:`PhotoError` with the reason when it is not an image Pillow can decode.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image)
            rgb = np.asarray(image.convert("RGB"))
    except UnidentifiedImageError as error:
        raise PhotoError("not an image (Pillow cannot identify it)") from error
    # a damaged file fails in whichever decoder it reaches, with whatever that decoder raises;
    # one bad photo must not end the reading of thousands
    except Exception as error:
        raise PhotoError(f"cannot be decoded ({type(error).__name__}: {error})") from error
    if rgb.ndim != 3 or min(rgb.shape[:2]) == 0:
        raise PhotoError(f"an image of shape {rgb.shape}, not a photo")
    return rgb


def find_photos(
    source: str, photo_set: PhotoSet, emotions: tuple[str, ...], outcome: Outcome
) -> list[LabelledPhoto]:
    """The set's photos with their emotion and subject; a file or row that cannot be one
    (a file outside an emotion folder, an emotion not kept, a listed file that is missing) goes
    to ``outcome``'s report.

    Raises FileNotFoundError when the set's folder or labels file is not there, and ValueError
    when the labels file lacks its columns: the set as configured cannot be read at all.
    """
    folder = photo_set.folder()
    labels_path = photo_set.labels_path()
    if labels_path is not None and not labels_path.is_file():
        raise FileNotFoundError(
            f"expression_bank.photo_sets.{source}: no labels file {labels_path}"
        )
    if not folder.is_dir():
        raise FileNotFoundError(f"expression_bank.photo_sets.{source}: no folder {folder}")
    entries = _listed(labels_path, folder) if labels_path else _in_emotion_folders(folder)
    photos = []
    for path, item, label, subject in entries:

        def skip(reason: str, item: str = item) -> None:
            outcome.skip(Skipped(source, PHOTO, item, reason))

        if label is None:
            skip(f"not in an emotion folder (expected {folder}/<emotion>/...)")
            continue
        emotion = emotion_name(label, photo_set.labels)
        if emotion not in emotions:
            skip(f"emotion {label!r} is not one of the bank's emotions {list(emotions)}")
            continue
        if not path.is_file():
            skip("no such file")
            continue
        photos.append(LabelledPhoto(path, item, emotion, subject or None))
    return photos


def subject_of(photo: LabelledPhoto, pattern: re.Pattern | None) -> str | None:
    """The photo's subject: as labelled, else the first group (or the whole match) of
    ``pattern`` in its file name, else (no pattern) its file name's stem; None when the pattern
    does not match."""
    if photo.subject:
        return photo.subject
    if pattern is None:
        return photo.path.stem
    match = pattern.search(photo.path.name)
    if match is None:
        return None
    return match.group(1) if pattern.groups else match.group(0)


def _in_emotion_folders(folder: Path) -> Iterator[tuple[Path, str, str | None, str | None]]:
    """``(path, item, label, subject)`` of each file under ``folder``: its label is the first
    folder below ``folder`` (None for a file directly in it), no subject."""
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts) or not path.is_file():
            continue
        label = relative.parts[0] if len(relative.parts) > 1 else None
        yield path, relative.as_posix(), label, None


def _listed(labels_path: Path, folder: Path) -> Iterator[tuple[Path, str, str, str | None]]:
    """``(path, item, label, subject)`` of each row of a labels CSV."""
    table = pd.read_csv(labels_path, dtype=str, keep_default_na=False)
    missing = {"file", "emotion"} - set(table.columns)
    if missing:
        raise ValueError(
            f"{labels_path}: a labels file needs columns file, emotion (and optionally subject); "
            f"missing {sorted(missing)}"
        )
    subjects = table["subject"] if "subject" in table else [""] * len(table)
    for file, label, subject in zip(table["file"], table["emotion"], subjects, strict=True):
        path = Path(file) if Path(file).is_absolute() else folder / file
        yield path, file, label, subject.strip() or None


def read_photo_sets(
    config: ExpressionBankConfig,
    outcome: Outcome,
    make_landmarker: Callable[..., FaceLandmarker] = FaceLandmarker,
) -> None:
    """Every enabled photo set of ``config`` into ``outcome``: a bank row per photo whose face
    the landmarker reads, a report row per photo it cannot. The landmarker (and MediaPipe) is
    loaded only when a set is enabled."""
    enabled = {name: s for name, s in config.photo_sets.items() if s.enabled}
    if not enabled:
        return
    with make_landmarker(min_detection_confidence=config.min_detection_confidence) as landmarker:
        for source, photo_set in enabled.items():
            photos = find_photos(source, photo_set, config.emotions, outcome)
            pattern = re.compile(photo_set.subject_pattern) if photo_set.subject_pattern else None
            start, read = time.perf_counter(), 0
            for n, photo in enumerate(photos, 1):
                read += _read_photo(source, photo, pattern, landmarker, outcome)
                if n % PROGRESS_EVERY == 0:
                    logger.info("%s: %d of %d photos", source, n, len(photos))
            seconds = time.perf_counter() - start
            logger.info(
                "%s: read %d of %d photos in %.1f s (%.1f ms a photo)",
                source,
                read,
                len(photos),
                seconds,
                1000 * seconds / max(len(photos), 1),
            )


def _read_photo(
    source: str,
    photo: LabelledPhoto,
    pattern: re.Pattern | None,
    landmarker: FaceLandmarker,
    outcome: Outcome,
) -> bool:
    """One photo into ``outcome``; whether it became a row. Read before its subject is looked
    for, so that a file that is no photo is reported as such, not as a name that does not match.
    """
    try:
        rgb = load_rgb(photo.path)
    except PhotoError as error:
        outcome.skip(Skipped(source, PHOTO, photo.item, str(error)))
        return False
    weights = landmarker.blendshapes(rgb)
    if weights is None:
        outcome.skip(Skipped(source, PHOTO, photo.item, NO_FACE))
        return False
    subject = subject_of(photo, pattern)
    if subject is None:
        reason = f"its name does not match subject_pattern {pattern.pattern!r}"
        outcome.skip(Skipped(source, PHOTO, photo.item, reason))
        return False
    outcome.add(Expression(source, PHOTO, photo.item, subject, photo.emotion, weights))
    return True
