"""How the page shows a model with a face reader (``facevlm.app.display``), in a real Streamlit
script run: the reader's reading beside the model's, the answer only where the rule gives one,
and "Can't tell" with both readings where it does not."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest


def _page(reader: str, route: str | None, reason: str | None) -> None:
    import numpy as np

    from facevlm.app.display import show_prediction
    from facevlm.face_reader.agreement import Decision
    from facevlm.inference.predictor import STAGES, Prediction

    classes = ["anger", "happiness", "sadness"]
    answer = "sadness" if route else None
    show_prediction(
        Prediction(
            file="pose_5.obj",
            model="affectvlm",
            classes=classes,
            probabilities=np.array([0.1, 0.03, 0.87]),
            method="prompt classifier",
            timings={**dict.fromkeys(STAGES, 0.01), "total": 0.04},
            views=np.full((1, 8, 8, 3), 128, np.uint8),
            view_names=["yaw+0_pitch+0"],
            closest_prompts=[("sadness", "a sad face", 0.4)],
            familiar=False,
            unfamiliar_reason="unlike the training scans' appearance",
            reader_classes=[*classes, "neutral"],
            reader_probabilities=np.array([0.98, 0.0, 0.02, 0.0]),
            decision=Decision(answer, route, reason, reader, 0.98),
        )
    )


def _texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [b.value for kind in ("success", "info", "warning") for b in at.get(kind)]
    return " ".join(parts)


def test_disagreeing_readers_show_can_t_tell_with_both_readings():
    reason = "the model reads sadness (0.87), the face reader reads anger (0.98): they disagree"
    at = AppTest.from_function(_page, args=("anger", None, reason), default_timeout=60).run()
    assert not at.exception, at.exception
    text = _texts(at)
    assert "Can't tell" in text and reason in text
    assert "Face reader (MediaPipe's face landmarks on the views): **anger** (98%)" in text
    assert "the model: **sadness** (87%)" in text
    assert not at.success, "no answer box"
    assert "Unfamiliar input" not in text, "with a reader, familiarity decides nothing"


@pytest.mark.parametrize("route", ["agree", "combined"])
def test_an_answer_says_on_what_grounds(route):
    at = AppTest.from_function(_page, args=("sadness", route, None), default_timeout=60).run()
    assert not at.exception, at.exception
    (answer,) = at.success
    assert "**sadness** — 87%" in answer.value
    grounds = "the face reader agrees" if route == "agree" else "a near miss"
    assert grounds in answer.value
