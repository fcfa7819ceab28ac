"""The shared prediction path (``facevlm.inference``) on a real tiny project.

Specification:

- a textured scan: the views are the configured ones (three at the project's 224 px), textured
  (not grey), the probabilities cover the bundle's classes and sum to one, the closest prompts
  are the bundle's own with their cosine similarity in [-1, 1], every stage is timed;
- the classifier heads agree with an independent computation from the model's embedding
  (prompt-ensemble zero-shot; SMILE-VLM's linear probe from the bundle's tensors);
- a mesh without its texture is rendered shaded, with a note naming the file;
- a 12-frame sequence: every frame predicted (per-frame probabilities), the sequence-level
  prediction is the mean over the frames ``render.frames`` (``uniform:3``) selects: 2, 6, 10;
  with ``frames: surface_motion`` it is the model's reading of the first-to-middle-frame
  surface-motion map, computed and rendered as in training;
- a model trained on each sequence's frames stacked as views (``smile_4d``) predicts a
  sequence once, from the frames ``uniform:3`` selects, each rendered in the three views and
  stacked frame-major as in training; it has no per-frame prediction, and a static scan is
  refused with a ScanError naming the file; a frame without its texture makes the whole
  sample shaded, with a note naming the frame;
- bad files raise a ScanError naming the file and the reason.
"""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from tiny_project import CLASSES, nan_scan, stacked_frames_bundle, truncated_scan

from facevlm.inference import ModelChoice, Predictor, Project, find_inputs, load_bundle
from facevlm.models.multiview_data import views_to_tensor
from facevlm.scans.errors import ScanError


@pytest.fixture(scope="module")
def project(tiny_project):
    return Project.open(tiny_project)


@pytest.fixture(scope="module")
def affectvlm(project):
    predictor = Predictor(load_bundle(project, ModelChoice("affectvlm")), project.render_params)
    yield predictor
    predictor.close()


@pytest.fixture(scope="module")
def smile(project):
    predictor = Predictor(load_bundle(project, ModelChoice("smile")), project.render_params)
    yield predictor
    predictor.close()


def test_textured_scan(affectvlm, scans):
    (item,) = find_inputs(scans / "scan" / "F0001_HA04WH_F3D.wrl")
    result = affectvlm.predict(item)
    assert result.views.shape == (3, 224, 224, 3) and len(result.view_names) == 3
    colour = result.views.astype(int)
    assert np.abs(colour[..., 0] - colour[..., 2]).max() > 50  # the checker's colours, not grey
    assert result.classes == CLASSES and result.probabilities.sum() == pytest.approx(1, abs=1e-5)
    assert result.prediction == CLASSES[int(result.probabilities.argmax())]
    assert result.method == "prompt classifier" and result.zero_shot is None and not result.notes
    bank = affectvlm.bundle.class_prompts
    for cls, prompt, similarity in result.closest_prompts:
        assert prompt in bank[cls] and -1 <= similarity <= 1
    assert set(result.timings) == {"read", "render", "encode", "classify", "total"}
    assert result.timings["total"] == pytest.approx(
        sum(v for k, v in result.timings.items() if k != "total")
    )
    record = result.to_json()
    assert set(record) >= {"file", "model", "prediction", "probabilities", "timings"}
    assert record["file"].endswith("F0001_HA04WH_F3D.wrl") and record["model"] == "affectvlm"
    assert list(record["probabilities"]) == CLASSES


def test_a_model_trained_on_shaded_renders_reads_a_textured_and_a_bare_scan_alike(
    project, scans, tmp_path
):
    """The built-in default trains on shaded renders: the texture never reaches the model, so a
    scan with its texture and the same mesh without it give the same views and answer."""
    bundle = load_bundle(project, ModelChoice("affectvlm"))
    render = {**project.render_params, "modality": "shaded"}
    bundle = dataclasses.replace(bundle, info={**bundle.info, "render": render})
    predictor = Predictor(bundle, project.render_params)
    try:
        shutil.copy(scans / "scan" / "F0001_HA04WH_F3D.wrl", tmp_path / "bare.wrl")
        (textured,) = find_inputs(scans / "scan" / "F0001_HA04WH_F3D.wrl")
        (bare,) = find_inputs(tmp_path / "bare.wrl")
        with_texture, without = predictor.predict(textured), predictor.predict(bare)
    finally:
        predictor.close()
    grey = with_texture.views.astype(int)
    assert np.abs(grey[..., 0] - grey[..., 2]).max() <= 1  # lit grey, no checker colours
    np.testing.assert_array_equal(with_texture.views, without.views)
    np.testing.assert_allclose(with_texture.probabilities, without.probabilities, atol=1e-6)
    for record in (with_texture.to_json(), without.to_json()):
        assert record["modality"] == "shaded" and not record["notes"]
        assert record["trained_modalities"] == ["shaded"]


def _embedding(predictor: Predictor, views: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        out = predictor.model(views_to_tensor(views, predictor.image_size)[None])
    return out.fused[0], out.fused_raw[0]


def test_heads_match_an_independent_computation(smile, scans):
    (item,) = find_inputs(scans / "scan" / "F0001_HA04WH_F3D.wrl")
    result = smile.predict(item)
    fused, raw = _embedding(smile, result.views)
    model, tokenizer = smile.model, smile.tokenizer
    with torch.no_grad():
        class_embeddings = torch.stack(
            [
                F.normalize(
                    F.normalize(
                        model.encode_text(tokenizer(smile.bundle.class_prompts[c])), dim=-1
                    ).mean(0),
                    dim=0,
                )
                for c in CLASSES
            ]
        )
        zero_shot = (model.logit_scale.exp() * fused @ class_embeddings.T).softmax(-1)
    probe = smile.bundle.linear_probe
    expected_probe = (
        ((raw - probe["mean"]) / probe["scale"]) @ probe["weight"].T + probe["bias"]
    ).softmax(-1)
    assert result.method == "linear probe"
    np.testing.assert_allclose(result.probabilities, expected_probe.numpy(), atol=1e-4)
    np.testing.assert_allclose(result.zero_shot, zero_shot.numpy(), atol=1e-4)
    assert set(result.to_json()["zero_shot"]) == set(CLASSES)


def test_missing_texture_falls_back_to_shaded_with_a_note(affectvlm, scans, tmp_path):
    shutil.copy(scans / "scan" / "F0001_HA04WH_F3D.wrl", tmp_path / "bare.wrl")
    (item,) = find_inputs(tmp_path / "bare.wrl")
    result = affectvlm.predict(item)
    (note,) = result.notes
    assert "bare.wrl" in note and "texture missing" in note and "shaded" in note
    face = result.views[result.views.sum(-1) > 0].astype(int)
    assert np.abs(face[:, 0] - face[:, 2]).max() <= 2  # grey shading, no texture colours


def test_sequence_is_predicted_per_frame_and_as_a_whole(affectvlm, scans):
    (item,) = find_inputs(scans / "F001")
    assert item.name.endswith("F001/Happy") and len(item.frames) == 12
    result = affectvlm.predict(item)
    assert result.frame_numbers == list(range(12))
    assert result.sequence_frames == [2, 6, 10]  # uniform:3 of the project's render params
    assert result.frame_probabilities.shape == (12, len(CLASSES))
    np.testing.assert_allclose(
        result.probabilities, result.frame_probabilities[[2, 6, 10]].mean(0), atol=1e-6
    )
    assert result.frame_strip.shape == (12, 224, 224, 3) and not result.notes  # NNN.jpg found
    assert result.pooled_views is None and result.pooled_kind is None  # uniform:3 pools nothing
    record = result.to_json()
    assert [f["frame"] for f in record["frames"]] == list(range(12))


def test_a_surface_motion_model_classifies_the_first_to_middle_frame_map(project, scans):
    from facevlm.render.renderer import MultiviewRenderer
    from facevlm.render.surface_motion import surface_motion_mesh, surface_motion_settings
    from facevlm.scans.formats import read_mesh

    params = {**project.render_params, "frames": "surface_motion"}
    predictor = Predictor(load_bundle(project, ModelChoice("smile")), params)
    try:
        (item,) = find_inputs(scans / "F001")
        result = predictor.predict(item)
        assert result.sequence_frames == [0, 5]  # no labels: the first and the middle frame
        motion = surface_motion_mesh(read_mesh(item.frames[0]), read_mesh(item.frames[5]))
        with MultiviewRenderer(surface_motion_settings(predictor.settings)) as renderer:
            views = renderer.render(motion)
        _, raw = _embedding(predictor, views)
    finally:
        predictor.close()
    probe = predictor.bundle.linear_probe
    expected = (
        ((raw - probe["mean"]) / probe["scale"]) @ probe["weight"].T + probe["bias"]
    ).softmax(-1)
    np.testing.assert_allclose(result.probabilities, expected.numpy(), atol=1e-4)
    assert result.frame_probabilities.shape == (12, len(CLASSES))  # the timeline as before
    np.testing.assert_array_equal(result.pooled_views, views)  # what the app shows
    assert result.pooled_kind == "surface motion"


@pytest.fixture(scope="module")
def smile_4d(project):
    """A model trained on each sequence's uniform:3 frames stacked as 3 x 3 views."""
    predictor = Predictor(stacked_frames_bundle(project.render_params), project.render_params)
    yield predictor
    predictor.close()


def test_a_stacked_frame_model_reads_a_sequence_once_as_one_sample(smile_4d, scans):
    predictor = smile_4d
    assert len(predictor.settings.views) == 3 and predictor.stacked_frames == 3
    (item,) = find_inputs(scans / "F001")
    result = predictor.predict(item)
    # the sample made independently: every view of frame 2, then of 6, then of 10
    frames = [predictor._render(predictor._read(item.frames[p]), "texture") for p in (2, 6, 10)]
    _, raw = _embedding(predictor, np.concatenate(frames))
    (scan,) = find_inputs(scans / "scan" / "F0001_HA04WH_F3D.wrl")
    with pytest.raises(ScanError, match=r"F0001_HA04WH_F3D\.wrl: this model reads whole 4D"):
        predictor.predict(scan)
    probe = predictor.bundle.linear_probe
    expected = (
        ((raw - probe["mean"]) / probe["scale"]) @ probe["weight"].T + probe["bias"]
    ).softmax(-1)
    np.testing.assert_allclose(result.probabilities, expected.numpy(), atol=1e-4)
    assert result.sequence_frames == result.frame_numbers == [2, 6, 10]
    assert result.frame_probabilities is None, "no frame is predicted alone"
    np.testing.assert_array_equal(result.views, frames[1])  # the middle frame's views
    record = result.to_json()
    assert record["sequence_input"] == "stacked frames"
    assert [f["frame"] for f in record["frames"]] == [2, 6, 10]
    assert all("prediction" not in f for f in record["frames"])


def test_a_frame_without_texture_makes_the_stacked_sample_shaded(smile_4d, scans, tmp_path):
    sequence = shutil.copytree(scans / "F001" / "Happy", tmp_path / "Happy")
    (sequence / "010.jpg").unlink()
    (item,) = find_inputs(sequence)
    result = smile_4d.predict(item)
    (note,) = result.notes
    assert "010.wrl" in note and "shaded" in note
    assert result.modality == "shaded"
    face = result.views[result.views.sum(-1) > 0].astype(int)  # frame 6 has its texture
    assert np.abs(face[:, 0] - face[:, 2]).max() <= 2, "grey shading like the other frames"


def test_bad_scans_raise_a_scan_error_naming_the_file(affectvlm, tmp_path):
    for path in (truncated_scan(tmp_path / "t"), nan_scan(tmp_path / "n")):
        (item,) = find_inputs(path)
        with pytest.raises(ScanError) as caught:
            affectvlm.predict(item)
        assert path.name in str(caught.value)
    images_only = tmp_path / "images"
    images_only.mkdir()
    (images_only / "000.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(ScanError, match="no scan or 4D frame"):
        find_inputs(images_only)


def _obj_scan(folder):
    from PIL import Image

    from facevlm.render.fixtures import checker_texture, face_like_mesh
    from facevlm.scans.formats import write_obj

    Image.fromarray(checker_texture(128)).save(folder / "face.png")
    write_obj(folder / "face.obj", face_like_mesh(n_side=30), texture_filename="face.png")
    return folder / "face.obj"


def _ply_scan(folder):
    import dataclasses

    from facevlm.render.fixtures import face_like_mesh
    from facevlm.scans.formats import write_ply

    mesh = face_like_mesh(n_side=30, seam=False)
    colours = np.zeros((mesh.n_vertices, 3), np.uint8)
    colours[:, 0] = np.linspace(0, 255, mesh.n_vertices)  # a red ramp, no texture image
    colours[:, 2] = 60
    mesh = dataclasses.replace(mesh, uv=None, vertex_colors=colours)
    write_ply(folder / "face.ply", mesh)
    return folder / "face.ply"


@pytest.mark.parametrize("write", [_obj_scan, _ply_scan], ids=["obj+mtl+png", "ply colours"])
def test_other_formats_are_predicted_in_colour(affectvlm, tmp_path, write):
    (item,) = find_inputs(write(tmp_path))
    result = affectvlm.predict(item)
    assert not result.notes and result.prediction in CLASSES
    colour = result.views.astype(int)
    assert np.abs(colour[..., 0] - colour[..., 2]).max() > 50  # texture or vertex colours
