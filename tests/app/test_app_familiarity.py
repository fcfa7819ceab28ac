"""How the page shows an input unlike the model's training data, in real Streamlit script runs.

Specification: an unfamiliar input gets a warning above the result naming the reason (an
untextured scan asked of a texture-trained model; an input unlike the training scans), and the
result is "Can't tell" with the reason and the candidates in a neutral box, never the green
"this is the answer" box with a large top answer; so is a scan whose set of answers holds more
than three expressions; a familiar input with a small set keeps the green box and says what
its set holds; a model without familiarity statistics says familiarity is unknown.
"""

from __future__ import annotations

import shutil

import pytest
from streamlit.testing.v1 import AppTest
from tiny_project import built_in_texture_renders, frozen_familiarity, write_ball

from facevlm.app import SCRIPT
from facevlm.evaluation import familiarity as fam
from facevlm.inference import ModelChoice, Predictor, load_bundle
from facevlm.inference.project import PROJECT_ENV, Project
from facevlm.models.model_bundle import plain

TIMEOUT = 240  # the first run loads the model and warms the renderer on a busy 2-core machine
UNTEXTURED = "untextured scan, model trained on textured scans"
UNLIKE = "unlike the scans the model was trained on"


def _page(familiar, familiarity, reason, prediction_set=None) -> None:
    import numpy as np

    from facevlm.app.display import show_prediction
    from facevlm.inference.predictor import STAGES, Prediction

    show_prediction(
        Prediction(
            file="scan.wrl",
            model="affectvlm",
            classes=["happiness", "surprise", "anger", "fear", "sadness"],
            probabilities=np.array([0.02, 0.9, 0.04, 0.03, 0.01]),
            method="prompt classifier",
            timings={**dict.fromkeys(STAGES, 0.01), "total": 0.04},
            views=np.full((1, 8, 8, 3), 128, np.uint8),
            view_names=["0_0"],
            closest_prompts=[("surprise", "a surprised face", 0.4)],
            familiar=familiar,
            familiarity=familiarity,
            unfamiliar_reason=reason,
            prediction_set=prediction_set,
            coverage=None if prediction_set is None else 0.9,
        )
    )


def _results(at: AppTest) -> tuple[list[str], list[str]]:
    """The answers drawn green (success) and the "Can't tell" drawn neutral (info)."""
    green = [s.value for s in at.success if s.value.startswith("Predicted expression")]
    neutral = [i.value for i in at.info if i.value.startswith("**Can't tell**")]
    return green, neutral


@pytest.mark.parametrize("reason", [UNTEXTURED, UNLIKE])
def test_an_unfamiliar_result_is_warned_about_and_not_green(reason):
    at = AppTest.from_function(_page, args=(False, 0.0, reason), default_timeout=60).run()
    assert not at.exception, at.exception
    (warning,) = [w.value for w in at.warning if "Unfamiliar input" in w.value]
    assert reason in warning
    green, neutral = _results(at)
    assert not green and len(neutral) == 1
    assert f"unfamiliar input: {reason}" in neutral[0]
    # every class is a candidate, most probable first
    assert neutral[0].endswith(
        "Candidates: surprise (90%), anger (4%), fear (3%), happiness (2%), sadness (1%)"
    )
    # the warning comes before the result
    kinds = [type(element).__name__ for element in at.main]
    assert kinds.index("Warning") < kinds.index("Info")


def test_too_large_a_set_is_cant_tell_with_its_candidates():
    members = ["surprise", "anger", "fear", "happiness"]
    at = AppTest.from_function(_page, args=(True, 0.4, None, members), default_timeout=60).run()
    assert not at.exception, at.exception
    assert not at.warning, "a familiar input is not warned about"
    green, (neutral,) = _results(at)
    assert not green
    assert "too ambiguous: 4 of the 5 expressions are plausible at 90% coverage" in neutral
    assert neutral.endswith("Candidates: surprise (90%), anger (4%), fear (3%), happiness (2%)")


def test_a_small_set_is_answered_in_green_with_the_set():
    at = AppTest.from_function(
        _page, args=(True, 0.4, None, ["surprise", "anger"]), default_timeout=60
    ).run()
    assert not at.exception, at.exception
    (green,), neutral = _results(at)
    assert "**surprise** — 90%" in green and not neutral
    assert any(
        c.value == "Set of answers: surprise, anger (holds the true expression 90% of the time)"
        for c in at.caption
    )


def test_a_familiar_result_is_green_with_its_familiarity():
    at = AppTest.from_function(_page, args=(True, 0.42, None), default_timeout=60).run()
    assert not at.exception, at.exception
    assert not at.warning
    green, neutral = _results(at)
    assert len(green) == 1 and not neutral
    assert any(c.value.startswith("Familiarity 0.42 (familiar)") for c in at.caption)


def test_unknown_familiarity_is_said():
    at = AppTest.from_function(_page, args=(None, None, None), default_timeout=60).run()
    assert not at.exception, at.exception
    assert len(_results(at)[0]) == 1
    assert any(c.value.startswith("Familiarity unknown") for c in at.caption)


@pytest.fixture(scope="module")
def project_with_statistics(tiny_project, tmp_path_factory):
    """The tiny project whose AffectVLM bundle carries familiarity statistics (its frozen
    random model's, over the built-in textured renders)."""
    root = tmp_path_factory.mktemp("familiar") / "project"
    shutil.copytree(tiny_project, root, symlinks=True)
    project = Project.open(root)
    bundle = load_bundle(project, ModelChoice("affectvlm"))
    predictor = Predictor(bundle, project.render_params)
    try:
        statistics = frozen_familiarity(predictor, built_in_texture_renders(project, predictor))
    finally:
        predictor.close()
    bundle.familiarity = plain(statistics.as_dict())
    project.catalog.save("affectvlm.model", bundle)
    return root


@pytest.mark.parametrize("case", ["untextured", "ball"])
def test_the_page_warns_about_an_unfamiliar_upload(
    project_with_statistics, scans, tmp_path, monkeypatch, case
):
    if case == "untextured":
        wrl = scans / "scan" / "F0001_HA04WH_F3D.wrl"  # uploaded without its texture
        files, reason = [wrl], UNTEXTURED
    else:
        ball = write_ball(tmp_path)
        files, reason = [ball, ball.with_suffix(".png")], None  # either space may say why
    monkeypatch.setenv(PROJECT_ENV, str(project_with_statistics))
    at = AppTest.from_file(str(SCRIPT), default_timeout=TIMEOUT).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    at.file_uploader(key="upload").set_value(
        [(p.name, p.read_bytes(), "application/octet-stream") for p in files]
    )
    at.run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    reasons = [reason] if reason else list(fam.UNLIKE.values())
    assert any(
        "Unfamiliar input" in w.value and any(r in w.value for r in reasons) for w in at.warning
    )
    green, neutral = _results(at)
    assert not green and len(neutral) == 1


def _answered_page(modality: str, trained: list[str]) -> None:
    import numpy as np

    from facevlm.app.display import show_prediction
    from facevlm.inference.predictor import STAGES, Prediction

    show_prediction(
        Prediction(
            file="bare.wrl",
            model="affectvlm",
            classes=["happiness", "surprise"],
            probabilities=np.array([0.2, 0.8]),
            method="prompt classifier",
            timings={**dict.fromkeys(STAGES, 0.01), "total": 0.04},
            views=np.full((1, 8, 8, 3), 128, np.uint8),
            view_names=["0_0"],
            closest_prompts=[("surprise", "a surprised face", 0.4)],
            familiar=True,
            familiarity=0.5,
            modality=modality,
            trained_modalities=trained,
        )
    )


@pytest.mark.parametrize(
    ("trained", "expected"),
    [
        (["texture", "shaded"], "the model was trained on shaded renders (texture and shaded)"),
        (["texture"], "the model was not trained on shaded renders (texture)"),
    ],
)
def test_the_page_says_which_render_answered(trained, expected):
    at = AppTest.from_function(_answered_page, args=("shaded", trained), default_timeout=60).run()
    assert not at.exception, at.exception
    (line,) = [c.value for c in at.caption if c.value.startswith("Answered from")]
    assert line == f"Answered from the shaded render; {expected}"
