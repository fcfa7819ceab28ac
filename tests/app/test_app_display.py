"""How a sequence's result is shown (``facevlm.app.display``), in a real Streamlit script run.

Specification: when training pooled a sequence's frames into one image (a surface-motion map,
a dynamic image, a magnified apex), the page shows that image beside the frame strip and says
which frames it was made of; a sequence predicted frame by frame shows no such block. A model
trained on a sequence's frames stacked as views shows the frames it read, says it reads the
whole sequence only, and draws no per-frame chart: only the one prediction's.
"""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest


def _page(pooled: bool) -> None:
    import numpy as np

    from facevlm.app.display import show_prediction
    from facevlm.inference.predictor import STAGES, Prediction

    views = np.full((2, 8, 8, 3), 128, np.uint8)
    show_prediction(
        Prediction(
            file="S01/clip1",
            model="smile_mer",
            classes=["positive", "negative"],
            probabilities=np.array([0.3, 0.7]),
            method="linear probe",
            timings={**dict.fromkeys(STAGES, 0.01), "total": 0.04},
            views=views,
            view_names=["0_0", "20_0"],
            closest_prompts=[("negative", "a face with a slight frown", 0.4)],
            frame_numbers=[20, 23, 27],
            frame_files=["020.obj", "023.obj", "027.obj"],
            frame_probabilities=np.full((3, 2), 0.5),
            sequence_frames=[20, 23],
            frame_strip=np.zeros((3, 8, 8, 3), np.uint8),
            pooled_views=views if pooled else None,
            pooled_kind="surface motion" if pooled else None,
        )
    )


@pytest.mark.parametrize("pooled", [True, False])
def test_the_pooled_image_a_sequence_prediction_read_is_shown(pooled):
    at = AppTest.from_function(_page, args=(pooled,), default_timeout=60).run()
    assert not at.exception, at.exception
    text = " ".join(m.value for m in at.markdown)
    said = "What the sequence prediction read**: the surface motion of frames 20, 23" in text
    assert said == pooled
    assert len(at.get("image")) == (3 if pooled else 2)  # views, frame strip (, pooled image)


def _stacked_page() -> None:
    import numpy as np

    from facevlm.app.display import show_prediction
    from facevlm.inference.predictor import STAGES, Prediction

    show_prediction(
        Prediction(
            file="F001/Happy",
            model="affectvlm_4d",
            classes=["happiness", "sadness"],
            probabilities=np.array([0.8, 0.2]),
            method="prompt classifier",
            timings={**dict.fromkeys(STAGES, 0.01), "total": 0.04},
            views=np.full((3, 8, 8, 3), 128, np.uint8),
            view_names=["0_0", "20_0", "-20_0"],
            closest_prompts=[("happiness", "a smiling face", 0.4)],
            frame_numbers=[2, 6, 10],
            frame_files=["002.wrl", "006.wrl", "010.wrl"],
            sequence_frames=[2, 6, 10],
            frame_strip=np.zeros((3, 8, 8, 3), np.uint8),
            stacked_frames=3,
        )
    )


def test_a_stacked_frame_prediction_says_the_model_reads_the_whole_sequence_only():
    at = AppTest.from_function(_stacked_page, default_timeout=60).run()
    assert not at.exception, at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "this model reads the whole sequence only: frames 2, 6, 10" in text
    assert "Per-frame probabilities" not in text
    assert len(at.get("vega_lite_chart")) == 1, "the one prediction's chart, none over time"
    assert len(at.get("image")) == 2  # the middle frame's views, the frames read
