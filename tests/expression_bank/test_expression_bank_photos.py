"""Photo sets into the bank: every face the Face Landmarker reads is a row of blend-shape weights with its
emotion and subject, every file it cannot read is in the report with its reason, and the
weights say what the faces do."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from face_photos import EMOTIONS, SUBJECTS, render_faces

from facevlm.expression_bank.bank import (
    BANK_COLUMNS,
    PHOTO,
    WEIGHT_COLUMNS,
    ExpressionBankError,
    Outcome,
    bank_table,
    report_table,
)
from facevlm.expression_bank.config import ExpressionBankConfig
from facevlm.expression_bank.facs import arkit_weights
from facevlm.expression_bank.photos import NO_FACE, load_rgb, read_photo_sets
from facevlm.face_reader.landmarker import BLENDSHAPE_NAMES, FaceLandmarker


def _bank(photo_sets: dict, **settings) -> tuple[pd.DataFrame, pd.DataFrame]:
    config = ExpressionBankConfig.from_params({"photo_sets": photo_sets, **settings})
    outcome = Outcome(fail_fast=config.fail_fast)
    read_photo_sets(config, outcome)
    return bank_table(outcome.expressions), report_table(outcome.skipped)


@pytest.fixture(scope="module")
def folder_bank(face_photo_set):
    root, _ = face_photo_set
    return _bank({"rendered": {"root": str(root), "subject_pattern": r"^(S\d+)_"}})


def test_every_face_is_a_row_of_weights_with_its_emotion_and_subject(folder_bank, face_photo_set):
    bank, _ = folder_bank
    _, items = face_photo_set
    assert list(bank.columns) == list(BANK_COLUMNS)
    assert sorted(bank["item"]) == sorted(items["faces"])
    assert set(bank["source"]) == {"rendered"} and set(bank["kind"]) == {PHOTO}
    assert (bank["emotion"] == bank["item"].str.split("/").str[0]).all()
    assert sorted(set(bank["subject"])) == list(SUBJECTS)
    weights = bank[list(WEIGHT_COLUMNS)].to_numpy()
    assert (
        weights.shape == (len(items["faces"]), len(BLENDSHAPE_NAMES))
        and weights.dtype == np.float32
    )
    assert np.isfinite(weights).all() and weights.min() >= 0.0 and weights.max() <= 1.0
    assert bank["action_units"].isna().all()  # photos carry no codes


def test_every_file_it_cannot_read_is_reported_with_its_reason(folder_bank, face_photo_set):
    bank, report = folder_bank
    _, items = face_photo_set
    reasons = dict(zip(report["item"], report["reason"], strict=True))
    for item in items["not_an_image"]:
        assert reasons[item].startswith("not an image"), reasons[item]
    for item in items["damaged"]:
        assert reasons[item].startswith("cannot be decoded"), reasons[item]
    for item in items["no_face"]:
        assert reasons[item] == NO_FACE
    for item in items["stray"]:
        assert reasons[item].startswith("not in an emotion folder"), reasons[item]
    not_faces = items["not_an_image"] + items["damaged"] + items["no_face"] + items["stray"]
    assert sorted(reasons) == sorted(not_faces)  # the hidden file is no photo: neither
    assert not report["in_bank"].any() and set(report["kind"]) == {PHOTO}
    assert not set(bank["item"]) & set(reasons)


def test_the_weights_say_what_each_face_does(folder_bank):
    bank, _ = folder_bank
    mean = bank.groupby("emotion")[list(WEIGHT_COLUMNS)].mean()
    smile = mean[["mouthSmileLeft", "mouthSmileRight"]].mean(axis=1)
    assert smile["happiness"] > 0.5 > 0.2 > smile["neutral"], smile
    assert mean.loc["surprise", "jawOpen"] > mean.loc["neutral", "jawOpen"] + 0.3
    # the grey-level JPEG of a smile reads as the colour PNG it was made from does
    grey = bank.set_index("item").loc[f"happiness/{SUBJECTS[0]}_happiness_grey.jpg"]
    colour = bank.set_index("item").loc[f"happiness/{SUBJECTS[0]}_happiness.png"]
    assert abs(grey["mouthSmileLeft"] - colour["mouthSmileLeft"]) < 0.15


def test_a_labels_file_gives_emotion_and_subject_and_its_misses_are_reported(
    face_photo_set, tmp_path
):
    root, items = face_photo_set
    rows = [(item, item.split("/")[0], f"person{n}") for n, item in enumerate(items["faces"])]
    rows += [("gone/missing.png", "happy", "p9"), (items["faces"][0], "awe", "p9")]
    labels = tmp_path / "labels.csv"
    pd.DataFrame(rows, columns=["file", "emotion", "subject"]).to_csv(labels, index=False)

    bank, report = _bank({"listed": {"root": str(root), "labels_file": str(labels)}})

    assert len(bank) == len(items["faces"])
    expected = {item: f"person{n}" for n, item in enumerate(items["faces"])}
    assert dict(zip(bank["item"], bank["subject"], strict=True)) == expected
    reasons = dict(zip(report["item"], report["reason"], strict=True))
    assert reasons["gone/missing.png"] == "no such file"
    assert "'awe' is not one of the bank's emotions" in reasons[items["faces"][0]]


def test_a_sets_own_labels_name_its_folders_and_without_a_pattern_each_photo_is_its_subject(
    face_photo_set, tmp_path
):
    root, _ = face_photo_set
    for number, emotion in (("4", "happiness"), ("7", "neutral")):
        shutil.copytree(root / emotion, tmp_path / number)
    labels = {4: "happiness", 7: "neutral"}  # YAML reads RAF-DB's codes as numbers

    bank, _ = _bank({"rafdb_like": {"root": str(tmp_path), "labels": labels}})

    assert set(bank["emotion"]) == {"happiness", "neutral"}
    assert (bank["subject"] == bank["item"].str.rsplit("/", n=1).str[1].str.split(".").str[0]).all()


def test_a_name_the_subject_pattern_does_not_match_is_reported(face_photo_set):
    root, items = face_photo_set
    bank, report = _bank({"rendered": {"root": str(root), "subject_pattern": r"^S01_"}})
    assert set(bank["subject"]) == {"S01_"}  # no group: the whole match
    unmatched = report[report["reason"].str.contains("does not match subject_pattern")]
    assert sorted(unmatched["item"]) == sorted(i for i in items["faces"] if "/S02_" in i)


def test_fail_fast_stops_at_the_first_photo_it_cannot_read(face_photo_set, tmp_path):
    root, items = face_photo_set
    listed = [(items["faces"][0], "neutral"), ("happiness/notes.txt", "happiness")]
    labels = tmp_path / "labels.csv"
    pd.DataFrame(listed, columns=["file", "emotion"]).to_csv(labels, index=False)
    photo_sets = {"rendered": {"root": str(root), "labels_file": str(labels)}}

    with pytest.raises(ExpressionBankError, match="rendered: happiness/notes.txt: not an image"):
        _bank(photo_sets, fail_fast=True)
    bank, report = _bank(photo_sets)  # without it, the run goes on past the file
    assert list(bank["item"]) == [items["faces"][0]] and list(report["item"]) == [listed[1][0]]


def test_a_set_switched_off_loads_no_landmarker_and_a_missing_folder_is_an_error(tmp_path):
    def no_landmarker(**_):
        raise AssertionError("no photo set is on: the landmarker should not load")

    config = ExpressionBankConfig.from_params({"photo_sets": {"fer2013": {"root": None}}})
    outcome = Outcome()
    read_photo_sets(config, outcome, make_landmarker=no_landmarker)
    assert outcome.expressions == [] and outcome.skipped == []

    with pytest.raises(FileNotFoundError, match="photo_sets.gone"):
        _bank({"gone": {"root": str(tmp_path / "nowhere")}})
    with pytest.raises(ValueError, match="subject_patern"):
        ExpressionBankConfig.from_params({"photo_sets": {"x": {"subject_patern": "S"}}})


def test_a_cameras_rotation_is_undone_before_reading(tmp_path):
    from PIL import Image

    upright = np.zeros((20, 10, 3), np.uint8)
    upright[:5] = 255  # white at the top
    # stored on its side (turned a quarter anticlockwise), as a camera held sideways stores it
    image = Image.fromarray(np.rot90(upright).copy())
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: turn a quarter clockwise to view
    image.save(tmp_path / "phone.jpg", exif=exif, quality=95)
    rgb = load_rgb(tmp_path / "phone.jpg")
    assert rgb.shape == (20, 10, 3)
    assert rgb[:5].mean() > 200 > 50 > rgb[10:].mean()


def test_sides_agree_between_the_landmarker_and_the_facs_mapping():
    """A smile on the image-left corner only: the landmarker reads it as ``mouthSmileRight``
    (the subject's right), and the mapping puts the coded unit there too, so that photographed
    and coded rows of the bank name sides alike."""
    faces = render_faces({"left": {12: (1.0, 0.0)}, "right": {12: (0.0, 1.0)}})
    right, left = (
        BLENDSHAPE_NAMES.index("mouthSmileRight"),
        BLENDSHAPE_NAMES.index("mouthSmileLeft"),
    )
    with FaceLandmarker() as landmarker:
        read = {name: landmarker.blendshapes(image) for name, image in faces.items()}
    assert read["left"][right] > read["left"][left] + 0.2
    assert read["right"][left] > read["right"][right] + 0.2
    coded = arkit_weights({12: (1.0, 0.0)})
    assert coded[right] == 1.0 and coded[left] == 0.0


def test_the_emotions_photographed_are_kept_by_default():
    assert set(EMOTIONS) <= set(ExpressionBankConfig().emotions)
