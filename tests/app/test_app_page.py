"""The Streamlit page, driven through ``streamlit.testing.v1.AppTest`` on a real tiny project.

Specification:

- picking a built-in sample (a static scan, and a 4D sequence) shows its prediction, the
  probability chart and the timings; a sequence also shows its per-frame chart;
- uploading a textured ``.wrl`` with its texture, or a 4D ``.zip``, shows the prediction;
- every bad input shows a message naming the file and the reason, never an exception, and the
  next good upload in the same session is predicted: unsupported extension, truncated scan, NaN
  coordinates, an upload over ``server.maxUploadSize``, a zip with a ``..`` path, an absolute
  path, a symlink, too many members, a zip bomb, and a 4D zip without frames;
- a mesh whose texture is missing is predicted from a shaded render with a visible note;
- nothing of an upload is left on disk after the prediction;
- a model of the 4D or micro-expression pipelines is offered once it has been trained, and
  predicts a 4D zip with its own classes, showing what it read (the surface-motion map);
- a 4D model trained on a sequence's frames stacked as views predicts a 4D zip once, saying it
  reads the whole sequence only, and refuses a static scan with a message naming the file.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from streamlit import config as streamlit_config
from streamlit.testing.v1 import AppTest
from tiny_project import (
    MER_CLASSES,
    nan_scan,
    stacked_frames_bundle,
    tiny_bundle,
    truncated_scan,
    zip_absolute,
    zip_bomb,
    zip_images_only,
    zip_many,
    zip_slip,
    zip_symlink,
)

from facevlm.app import SCRIPT
from facevlm.app.page import SAMPLE, offered_models
from facevlm.inference.project import PROJECT_ENV, Project

TIMEOUT = 240  # the first run loads the model and warms the renderer on a busy 2-core machine


@pytest.fixture
def app(tiny_project, monkeypatch) -> AppTest:
    monkeypatch.setenv(PROJECT_ENV, str(tiny_project))
    at = AppTest.from_file(str(SCRIPT), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


def _upload(at: AppTest, files: list[tuple[str, bytes]]) -> AppTest:
    at.file_uploader(key="upload").set_value(
        [(name, data, "application/octet-stream") for name, data in files]
    )
    return at.run()


def _predictions(at: AppTest) -> list[str]:
    """The result messages: the answer in green, or "Can't tell" in neutral (info) for an
    input the model cannot tell (an unfamiliar one)."""
    shown = [*at.success, *at.info]
    return [
        s.value for s in shown if s.value.startswith(("Predicted expression", "**Can't tell**"))
    ]


def _scan_files(scans: Path) -> list[tuple[str, bytes]]:
    folder = scans / "scan"
    return [(p.name, p.read_bytes()) for p in sorted(folder.iterdir())]


def _assert_good_upload_works(at: AppTest, scans: Path) -> None:
    _upload(at, _scan_files(scans))
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert len(_predictions(at)) == 1
    assert at.subheader[0].value == "F0001_HA04WH_F3D.wrl"


def test_sample_selection_shows_a_prediction(app):
    app.radio(key="source").set_value(SAMPLE).run()
    labels = app.selectbox(key="sample").options
    static = next(label for label in labels if "bu3dfe" in label)
    sequence = next(label for label in labels if "frames" in label)

    app.selectbox(key="sample").set_value(static).run()
    assert not app.exception and not app.error
    (message,) = _predictions(app)
    assert "(scan)" in message
    assert any(cls in message for cls in ("anger", "disgust", "fear", "happiness", "sadness"))
    assert len(app.get("vega_lite_chart")) == 1  # the probability bar chart
    assert [m.label for m in app.metric] == ["read", "render", "encode", "classify", "total"]

    app.selectbox(key="sample").set_value(sequence).run()
    assert not app.exception and not app.error
    (message,) = _predictions(app)
    assert "(sequence)" in message
    assert len(app.get("vega_lite_chart")) == 2  # probabilities + per-frame over time


def test_textured_scan_and_4d_zip_uploads(app, scans):
    _assert_good_upload_works(app, scans)
    assert not app.warning  # the texture was found: no shaded fallback
    images = app.get("image")
    assert images, "the rendered views are shown"

    _upload(app, [("sequence.zip", (scans / "sequence.zip").read_bytes())])
    assert not app.exception and not app.error, [e.value for e in app.error]
    (message,) = _predictions(app)
    assert "(sequence)" in message
    assert app.subheader[0].value == "sequence.zip/F001/Happy"
    assert "2, 6, 10" in " ".join(m.value for m in app.markdown)  # uniform:3 of 12 frames


def test_missing_texture_is_predicted_shaded_with_a_note(app, scans):
    wrl = scans / "scan" / "F0001_HA04WH_F3D.wrl"
    _upload(app, [(wrl.name, wrl.read_bytes())])
    assert not app.exception and not app.error
    assert len(_predictions(app)) == 1
    assert any("texture missing" in w.value and "shaded" in w.value for w in app.warning)
    # a shaded render for a texture-trained model: unfamiliar, never the green answer box
    assert any("Unfamiliar input" in w.value for w in app.warning) and not app.success
    (message,) = _predictions(app)
    assert message.startswith("**Can't tell** (scan): unfamiliar input: untextured scan")


def _bad_inputs(tmp: Path) -> dict[str, tuple[list[tuple[str, bytes]], str]]:
    """name -> (files, expected fragment of the message)."""

    def read(path: Path) -> bytes:
        return path.read_bytes()

    truncated = truncated_scan(tmp / "t")
    nan = nan_scan(tmp / "n")
    return {
        "extension": ([("notes.txt", b"hello")], "unsupported file type '.txt'"),
        "truncated": (
            [(truncated.name, read(truncated)), ("truncated.bmp", read(tmp / "t/truncated.bmp"))],
            "truncated.wrl",
        ),
        "nan": (
            [(nan.name, read(nan)), ("nan_coords.bmp", read(tmp / "n/nan_coords.bmp"))],
            "nan_coords.wrl",
        ),
        "too_big": ([("big.wrl", bytes(int(1.5 * 1024 * 1024)))], "over the upload limit of 1 MB"),
        "zip_slip": ([("slip.zip", read(zip_slip(tmp / "slip.zip")))], "'..' path"),
        "zip_absolute": ([("abs.zip", read(zip_absolute(tmp / "abs.zip")))], "absolute path"),
        "zip_symlink": ([("link.zip", read(zip_symlink(tmp / "link.zip")))], "symbolic link"),
        "zip_members": ([("many.zip", read(zip_many(tmp / "many.zip", 5001)))], "5001 members"),
        "zip_bomb": ([("bomb.zip", read(zip_bomb(tmp / "bomb.zip")))], "zip bomb"),
        "zip_no_frames": (
            [("frames.zip", read(zip_images_only(tmp / "frames.zip")))],
            "no scan or 4D frame",
        ),
    }


BAD = [
    "extension",
    "truncated",
    "nan",
    "too_big",
    "zip_slip",
    "zip_absolute",
    "zip_symlink",
    "zip_members",
    "zip_bomb",
    "zip_no_frames",
]


@pytest.mark.parametrize("case", BAD)
def test_bad_input_shows_its_message_and_the_next_upload_works(app, scans, tmp_path, case):
    files, expected = _bad_inputs(tmp_path)[case]
    limit = streamlit_config.get_option("server.maxUploadSize")
    if case == "too_big":  # MB; a client can skip the browser's check, so the app checks again
        streamlit_config.set_option("server.maxUploadSize", 1)
    try:
        _upload(app, files)
    finally:
        streamlit_config.set_option("server.maxUploadSize", limit)
    assert not app.exception, app.exception
    messages = [e.value for e in app.error]
    assert len(messages) == 1, messages
    assert expected in messages[0]
    assert files[0][0].split(".")[0] in messages[0] or ", " in messages[0]  # names the file
    assert not _predictions(app)
    _assert_good_upload_works(app, scans)


def test_uploads_leave_nothing_on_disk(app, scans, tmp_path, monkeypatch):
    # a temporary folder of this test's own: other test workers upload at the same time
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    _upload(app, [("sequence.zip", (scans / "sequence.zip").read_bytes())])
    assert len(_predictions(app)) == 1
    assert not list(Path(tempfile.gettempdir()).glob("facevlm-upload-*"))


def test_smile_shows_its_probe_prediction_and_zero_shot(app, scans):
    app.radio(key="model").set_value("smile").run()
    assert not app.exception and not app.error
    assert "linear probe" in app.sidebar.caption[0].value
    _upload(app, _scan_files(scans))
    (message,) = _predictions(app)
    assert "(linear probe)" in message
    assert any(c.value.startswith("Zero-shot against the class prompts") for c in app.caption)


def test_mlflow_origin_without_logged_models_says_so(app):
    app.radio(key="origin").set_value("MLflow run").run()
    assert not app.exception and not app.error
    assert any("No MLflow run of this project logged a model" in i.value for i in app.sidebar.info)


def test_a_trained_micro_expression_model_is_offered_and_reads_surface_motion(
    tiny_project, scans, tmp_path, monkeypatch
):
    root = tmp_path / "project"
    shutil.copytree(tiny_project, root, symlinks=True)
    project = Project.open(root)
    assert offered_models(project) == ["affectvlm", "smile"]  # nothing else trained yet
    render = {**project.render_params, "frames": "surface_motion"}
    bundle = tiny_bundle("smile", 5, probe=True, classes=MER_CLASSES, render=render)
    project.catalog.save("smile_mer.model", bundle)
    assert offered_models(project) == ["affectvlm", "smile", "smile_mer"]

    monkeypatch.setenv(PROJECT_ENV, str(root))
    at = AppTest.from_file(str(SCRIPT), default_timeout=TIMEOUT).run()
    at.radio(key="model").set_value("smile_mer").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "classes: positive, negative" in at.sidebar.caption[0].value
    _upload(at, [("sequence.zip", (scans / "sequence.zip").read_bytes())])
    assert not at.exception and not at.error, [e.value for e in at.error]
    (message,) = _predictions(at)
    assert "(sequence)" in message and any(c in message for c in MER_CLASSES)
    read = " ".join(m.value for m in at.markdown)
    assert "surface motion" in read and "0, 5" in read  # onset and middle frame of 12


def test_a_stacked_frame_4d_model_reads_a_whole_sequence_and_refuses_a_scan(
    tiny_project, scans, tmp_path, monkeypatch
):
    root = tmp_path / "project"
    shutil.copytree(tiny_project, root, symlinks=True)
    project = Project.open(root)
    project.catalog.save("smile_4d.model", stacked_frames_bundle(project.render_params))
    assert offered_models(project) == ["affectvlm", "smile", "smile_4d"]

    monkeypatch.setenv(PROJECT_ENV, str(root))
    at = AppTest.from_file(str(SCRIPT), default_timeout=TIMEOUT).run()
    at.radio(key="model").set_value("smile_4d").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "3 views of 3 frames of a sequence" in at.sidebar.caption[0].value
    _upload(at, [("sequence.zip", (scans / "sequence.zip").read_bytes())])
    assert not at.exception and not at.error, [e.value for e in at.error]
    (message,) = _predictions(at)
    assert "(sequence)" in message and "(linear probe)" in message
    read = " ".join(m.value for m in at.markdown)
    assert "this model reads the whole sequence only: frames 2, 6, 10" in read
    assert len(at.get("vega_lite_chart")) == 1, "the one prediction, no per-frame chart"

    _upload(at, _scan_files(scans))
    assert not at.exception and not _predictions(at)
    (error,) = at.error
    assert error.value.startswith("F0001_HA04WH_F3D.wrl: this model reads whole 4D sequences")
