"""The face reader's settings are written once, in ``model_defaults.face_reader``: a model block
without them is refused with the keys it lacks, not trained on defaults hidden in the code."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

from facevlm.pipelines.training.nodes import fit_face_reader


def test_a_model_block_without_the_face_readers_settings_is_refused_naming_them():
    result = SimpleNamespace(model="affectvlm")
    with pytest.raises(
        ValueError,
        match=r"lack face_reader\.c, face_reader\.target_accuracy, face_reader\.reader_weight",
    ):
        fit_face_reader(pd.DataFrame(), result, {"face_reader": {"enabled": True}})
    with pytest.raises(ValueError, match=r"lack face_reader\.enabled, face_reader\.c"):
        fit_face_reader(pd.DataFrame(), result, {})


def test_a_disabled_reader_needs_no_other_setting_to_say_so():
    result = SimpleNamespace(model="smile_mer")
    record = fit_face_reader(
        pd.DataFrame(),
        result,
        {"face_reader": {"enabled": False, "c": 1.0, "target_accuracy": 0.9}},
    )
    assert record == {"enabled": False, "reason": "face_reader.enabled is false"}
