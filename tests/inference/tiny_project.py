"""A real, tiny facevlm project in a temporary folder, for the inference and app tests.

It is what a user has after ``kedro run``, made in seconds instead of minutes: the repository's
own ``conf/`` and ``pyproject.toml`` (so the real Kedro session, catalog factories and
``params:render`` resolve as in the project), a small built-in synthetic set (one BU-3DFE and
one BU-4DFE subject) indexed by the real layouts and saved as ``scan_index``, and one
``affectvlm.model`` and one ``smile.model`` saved through the real ``ModelBundleDataset`` — from
a randomly initialised ``facevlm-tiny`` (the tests check the prediction path, not accuracy).
The SMILE bundle carries a linear probe.

Also writes the test inputs a user would drop: a BU-3DFE-size textured ``.wrl`` and a 12-frame
BU-4DFE-style sequence (``NNN.wrl`` + ``NNN.jpg``), as files and as zips, and bad ones.
"""

from __future__ import annotations

import os
import shutil
import struct
import zipfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from facevlm.config import to_dict
from facevlm.inference.project import Project
from facevlm.models.backbone import BackboneConfig
from facevlm.models.model_bundle import ModelBundle
from facevlm.models.multiview_clip import MultiviewCLIPConfig, build_multiview_clip
from facevlm.render.fixtures import checker_texture, face_like_mesh
from facevlm.scans.formats import write_vrml

REPO = Path(__file__).resolve().parents[2]
CLASSES = ["anger", "disgust", "fear", "happiness", "sadness", "surprise"]
N_FRAMES = 12

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


#: 4DME's five classes (what ``smile_mer`` is trained on).
MER_CLASSES = ["positive", "negative", "surprise", "repression", "others"]


def tiny_bundle(
    model_name: str,
    seed: int,
    probe: bool = False,
    classes: list[str] = CLASSES,
    n_views: int = 3,
    **info,
) -> ModelBundle:
    """A randomly initialised ``facevlm-tiny`` bundle of ``model_name`` (the recipe) over
    ``classes`` whose fusion takes ``n_views`` images; ``info`` is recorded as training
    records it (``render={...}``: the render settings of its training data)."""
    config = MultiviewCLIPConfig(
        backbone=BackboneConfig(name="facevlm-tiny", pretrained=None), n_views=n_views
    )
    torch.manual_seed(seed)
    model, _ = build_multiview_clip(config)
    prompts = {c: [f"a photo of a face showing {c}", f"a 3D face scan of {c}"] for c in classes}
    bundle = ModelBundle.from_model(
        model_name,
        model,
        to_dict(config),
        classes,
        prompts,
        fold=np.int64(0),
        tags={"dataset": "synthetic"},
        **info,
    )
    if probe:
        generator = torch.Generator().manual_seed(seed)
        dim = 64
        bundle.linear_probe = {
            "weight": torch.randn(len(classes), dim, generator=generator),
            "bias": torch.zeros(len(classes)),
            "mean": torch.zeros(dim),
            "scale": torch.ones(dim),
        }
    return bundle


def stacked_frames_bundle(render_params: dict, seed: int = 7) -> ModelBundle:
    """A ``smile_4d`` model as ``train_smile_4d`` saves it: trained on each sequence's
    ``uniform:3`` frames stacked as the views of one sample (``experiment.data.frames:
    views``), so its fusion takes 3 frames x 3 views; with a linear probe."""
    render = {**render_params, "frames": "uniform:3"}
    sample_frames = {"frames": "views", "frames_per_sample": 3}
    return tiny_bundle(
        "smile", seed, probe=True, n_views=9, render=render, sample_frames=sample_frames
    )


def make_tiny_project(root: Path, new_mlflow_store=None) -> Path:
    """Write the project under ``root`` (see the module docstring); returns ``root``.
    ``new_mlflow_store``: the fixture of that name, to make the project's ``mlruns.db`` (else
    its first Kedro session does)."""
    from facevlm.scans.layouts import build_scan_index
    from facevlm.synthetic import SyntheticConfig, generate_synthetic_dataset

    shutil.copytree(REPO / "conf" / "base", root / "conf" / "base")
    (root / "conf" / "local").mkdir(parents=True)
    # the real datasets' frame selection (the built-in set's default is dynamic_image): the
    # tests check which frames of a 12-frame upload the app and `predict` pick; the test scans
    # are domes with a bump, no faces, so they are drawn in their own axes (pose: as_stored);
    # textured renders, as the real datasets' profiles train on: the tests check how a texture
    # model answers untextured scans, colours of other formats and missing textures
    (root / "conf" / "local" / "parameters.yml").write_text(
        "render:\n  frames: uniform:3\n  pose: as_stored\n  modality: texture\n"
    )
    for name in ("pyproject.toml", ".kedro.yml", ".streamlit/config.toml"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, root / name)
    (root / "src").mkdir()
    if new_mlflow_store is not None:
        new_mlflow_store(root / "mlruns.db")
    raw = root / "data" / "01_raw" / "synthetic"
    generate_synthetic_dataset(
        raw,
        SyntheticConfig(
            seed=0,
            n_subjects=1,
            n_subjects_4d=1,
            n_frames=5,
            layouts=("bu3dfe", "bu4dfe"),
            resolution=1500,
            resolution_4d=800,
            texture_size=128,
            texture_size_4d=64,
            workers=1,
        ),
    )
    index, _ = build_scan_index("synthetic", raw, n_workers=1, progress=False)
    project = Project.open(root)
    project.catalog.save("scan_index", index)
    project.catalog.save("affectvlm.model", tiny_bundle("affectvlm", seed=0))
    project.catalog.save("smile.model", tiny_bundle("smile", seed=1, probe=True))
    return root


# ------------------------------------------------------------------------------------ familiarity
def built_in_texture_renders(project: Project, predictor, modality: str = "texture") -> np.ndarray:
    """``(N, V, S, S, 3)`` textured (or ``modality``) renders of the project's built-in static
    scans, rendered by ``predictor`` (a :class:`facevlm.inference.Predictor`) as it renders an
    upload."""
    index = project.scan_index()
    static = index[index["sequence"].isna()]
    return np.stack(
        [predictor._render(predictor._read(Path(path)), modality) for path in static["path"]]
    )


def familiarity_features(predictor, views: np.ndarray) -> dict[str, np.ndarray]:
    """The features ``predictor``'s familiarity compares, by space, of ``(N, V, S, S, 3)``
    views: its model's fused embedding and the views' appearance and edges."""
    from facevlm.evaluation.familiarity import EMBEDDING

    images = predictor._model_input(views)
    return {EMBEDDING: predictor._encode(images)[0].numpy(), **predictor._view_features(images)}


def frozen_familiarity(predictor, renders: np.ndarray, modality: str = "texture"):
    """Familiarity statistics of ``predictor``'s model as a frozen feature extractor: two
    folds of ``renders`` give the held-out yardstick, all of them the training features
    (what a final fit stores, without training); ``modality`` is what they record."""
    from facevlm.evaluation.familiarity import build_joint_familiarity, fold_scores_by_space

    features = familiarity_features(predictor, renders)
    half = np.arange(len(renders)) % 2
    folds = [
        fold_scores_by_space(
            {s: x[half != f] for s, x in features.items()},
            {s: x[half == f] for s, x in features.items()},
        )
        for f in (0, 1)
    ]
    return build_joint_familiarity(features, folds, modality=modality)


# ------------------------------------------------------------------------------------ inputs
def write_scan(folder: Path, stem: str = "F0001_HA04WH_F3D", nose: float = 30.0) -> Path:
    """A BU-3DFE-size (8,100 vertices) textured VRML scan and its texture."""
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(checker_texture()).save(folder / f"{stem}.bmp")
    path = folder / f"{stem}.wrl"
    write_vrml(path, face_like_mesh(nose_height=nose), texture_url=f"{stem}.bmp")
    return path


def write_sequence(folder: Path, n_frames: int = N_FRAMES, n_side: int = 90) -> Path:
    """A BU-4DFE-style sequence: ``NNN.wrl`` frames (no url) with their ``NNN.jpg``."""
    folder.mkdir(parents=True, exist_ok=True)
    texture = Image.fromarray(checker_texture(256))
    for k in range(n_frames):
        write_vrml(folder / f"{k:03d}.wrl", face_like_mesh(n_side=n_side, nose_height=10 + 3 * k))
        texture.save(folder / f"{k:03d}.jpg")
    return folder


def write_ball(folder: Path, seed: int = 0) -> Path:
    """A textured ball (a UV sphere of a face's size, random-noise texture) as VRML: a
    well-formed scan of something that is not a face."""
    from facevlm.scans.mesh import FaceMesh

    folder.mkdir(parents=True, exist_ok=True)
    theta, phi = np.meshgrid(np.linspace(0, np.pi, 40), np.linspace(0, 2 * np.pi, 60))
    vertices = 80.0 * np.stack(
        [np.sin(theta) * np.cos(phi), np.sin(theta) * np.sin(phi), np.cos(theta)], -1
    ).reshape(-1, 3)
    idx = np.arange(theta.size).reshape(theta.shape)
    a, b = idx[:-1, :-1].ravel(), idx[:-1, 1:].ravel()
    c, d = idx[1:, :-1].ravel(), idx[1:, 1:].ravel()
    triangles = np.concatenate([np.stack([a, b, d], 1), np.stack([a, d, c], 1)])
    uv = np.stack([phi.ravel() / (2 * np.pi), theta.ravel() / np.pi], 1)
    noise = np.random.default_rng(seed).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    Image.fromarray(noise).save(folder / "ball.png")
    path = folder / "ball.wrl"
    write_vrml(path, FaceMesh.from_triangles(vertices, triangles, uv=uv), texture_url="ball.png")
    return path


def zip_folder(folder: Path, target: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, prefix + path.relative_to(folder).as_posix())
    return target


def zip_slip(target: Path) -> Path:
    """A zip whose member climbs out of the extraction folder."""
    with zipfile.ZipFile(target, "w") as archive:
        archive.writestr("../../evil.wrl", b"#VRML V2.0 utf8\n")
    return target


def zip_absolute(target: Path) -> Path:
    with zipfile.ZipFile(target, "w") as archive:
        archive.writestr("/tmp/evil.wrl", b"#VRML V2.0 utf8\n")
    return target


def zip_symlink(target: Path) -> Path:
    with zipfile.ZipFile(target, "w") as archive:
        info = zipfile.ZipInfo("frames/000.wrl")
        info.external_attr = 0o120777 << 16  # a symlink member, as `zip --symlinks` writes it
        archive.writestr(info, "/etc/passwd")
    return target


def zip_many(target: Path, n_members: int) -> Path:
    with zipfile.ZipFile(target, "w") as archive:
        for k in range(n_members):
            archive.writestr(f"f/{k:05d}.txt", b"")
    return target


def zip_bomb(target: Path, declared: int = 3 * 1024**3) -> Path:
    """A zip declaring ``declared`` uncompressed bytes (the central directory says so), as a
    zip bomb does; writing a real one would take longer than the test."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bomb/000.wrl", bytes(1024 * 1024))
    data = bytearray(target.read_bytes())
    central = data.rindex(b"PK\x01\x02")
    data[central + 24 : central + 28] = struct.pack("<I", min(declared, 0xFFFFFFFE))
    target.write_bytes(bytes(data))
    return target


def zip_images_only(target: Path) -> Path:
    """A "4D zip" with textures and no frame meshes."""
    with zipfile.ZipFile(target, "w") as archive:
        for k in range(3):
            archive.writestr(f"F001/Happy/{k:03d}.jpg", b"\xff\xd8\xff")
    return target


def truncated_scan(folder: Path) -> Path:
    """A textured VRML scan cut in the middle of its coordinates."""
    path = write_scan(folder, "truncated")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    return path


def nan_scan(folder: Path) -> Path:
    path = write_scan(folder, "nan_coords")
    text = path.read_text()
    start = text.index("point [") + len("point [")
    path.write_text(text[:start] + " nan nan nan," + text[start:])
    return path
