"""``facevlm inspect`` and ``facevlm render``, run the way a user runs them: a separate process
on files written by the project's own writers, checked through exit code, stdout, stderr and the
PNG files left behind.

Specification:

- ``inspect FILE`` prints one JSON object whose counts, UV flag, texture, bounds and landmark count
  are those of the file (the landmarks from a same-stem ``.bnd`` beside it);
- ``render FILE --out DIR`` writes one non-blank PNG per view (three by default, one with
  ``--views 0``) of ``--size`` pixels, and the three modalities give different pictures;
- with no ``--modality``, ``render`` chooses as ``predict`` does: texture for a textured scan,
  shaded for one without a texture, with a one-line note on stderr saying so;
- a command that succeeds writes nothing to stderr (the libraries' logging is silenced);
- a file that cannot be read (truncated, NaN coordinates, empty, missing, unknown extension, a
  ``.bnt`` header asking for a huge allocation) gives a non-zero exit, exactly one line on stderr
  naming the file and a specific reason, no traceback and no output files.
"""

from __future__ import annotations

import json
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facevlm.render.fixtures import checker_texture, face_like_mesh
from facevlm.scans.formats import write_bnd, write_bnt, write_obj, write_ply, write_vrml
from facevlm.scans.formats._files import UNEXPECTED
from facevlm.scans.mesh import FaceMesh
from preloaded_python import run_preloaded

#: Small renders: the same code path as 224 px, less pixel work; an unusual size proves
#: ``--size`` is honoured rather than defaulted.
SIZE = 56
N_LANDMARKS = 7
JSON_KEYS = {
    "format",
    "n_vertices",
    "n_polygons",
    "n_triangles",
    "has_uv",
    "texture",
    "bounds",
    "n_landmarks",
}


def facevlm(*args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``facevlm ARGS`` in a process of its own, as the console script does (forked from a
    Python with the libraries imported: tests/preloaded_python.py)."""
    return run_preloaded("-m", "facevlm.commands", *args, cwd=cwd, timeout=120)


def load_json(result: subprocess.CompletedProcess[str]) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# ----------------------------------------------------------------------------------- scans
@pytest.fixture(scope="module")
def mesh() -> FaceMesh:
    """576 vertices, 1,058 triangles, face-varying UVs with a seam (like BU-3DFE)."""
    return face_like_mesh(n_side=24)


@pytest.fixture(scope="module")
def scans(tmp_path_factory: pytest.TempPathFactory, mesh: FaceMesh) -> Path:
    """A folder with the same face as VRML (+ atlas + .bnd), OBJ (+ .mtl), PLY (no texture)
    and a Bosphorus-style ``.bnt`` range grid (+ .png)."""
    folder = tmp_path_factory.mktemp("scans")
    Image.fromarray(checker_texture(128)).save(folder / "face_atlas.png")
    write_vrml(folder / "face.wrl", mesh, texture_url="face_atlas.png")
    write_bnd(folder / "face.bnd", np.arange(N_LANDMARKS) * 3, mesh.vertices[: N_LANDMARKS * 3 : 3])
    write_obj(folder / "face.obj", mesh, texture_filename="face_atlas.png")
    write_ply(folder / "bare.ply", mesh)  # no texture anywhere beside it

    # an 8 x 6 grid with its two top corners in the background: 44 foreground points
    rows, cols = np.mgrid[0:8, 0:6].astype(float)
    z = 40.0 - (rows - 3.5) ** 2 - (cols - 2.5) ** 2
    z[0, 0] = z[0, -1] = -1e9
    write_bnt(folder / "scan.bnt", cols, -rows, z, cols / 5, rows / 7, -1e9, "scan.png")
    Image.fromarray(checker_texture(32)).save(folder / "scan.png")
    return folder


# ----------------------------------------------------------------------------------- inspect
def test_inspect_reports_the_written_vrml_with_its_texture_and_landmarks(scans, mesh):
    done = facevlm("inspect", "face.wrl", cwd=scans)
    assert done.stderr == "", "a successful inspect writes nothing to stderr"
    report = load_json(done)
    assert set(report) >= JSON_KEYS
    assert report["format"] == "vrml"
    assert (report["n_vertices"], report["n_polygons"], report["n_triangles"]) == (
        mesh.n_vertices,
        mesh.n_polygons,
        mesh.n_triangles,
    )
    assert report["has_uv"] is True
    assert Path(report["texture"]).resolve() == (scans / "face_atlas.png").resolve()
    low, high = np.asarray(report["bounds"])
    np.testing.assert_allclose(low, mesh.vertices.min(axis=0))
    np.testing.assert_allclose(high, mesh.vertices.max(axis=0))
    assert report["n_landmarks"] == N_LANDMARKS
    assert Path(report["landmarks_file"]).name == "face.bnd"


def test_inspect_reads_obj_texture_from_its_material_and_reports_null_for_a_bare_ply(scans, mesh):
    obj = load_json(facevlm("inspect", "face.obj", cwd=scans))
    assert obj["format"] == "obj" and obj["n_vertices"] == mesh.n_vertices
    assert Path(obj["texture"]).resolve() == (scans / "face_atlas.png").resolve()
    assert obj["n_landmarks"] == N_LANDMARKS  # face.bnd: same stem

    ply = load_json(facevlm("inspect", "bare.ply", cwd=scans))
    assert ply["format"] == "ply" and ply["n_vertices"] == mesh.n_vertices
    assert ply["n_triangles"] == mesh.n_triangles
    assert ply["texture"] is None
    assert ply["n_landmarks"] is None


def test_inspect_counts_only_the_foreground_points_of_a_bnt_grid(scans):
    report = load_json(facevlm("inspect", "scan.bnt", cwd=scans))
    assert report["format"] == "bnt"
    assert report["n_vertices"] == 8 * 6 - 2
    assert report["has_uv"] is True
    assert Path(report["texture"]).name == "scan.png"


# ----------------------------------------------------------------------------------- render
def read_png(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def assert_not_blank(image: np.ndarray, what: str) -> None:
    """The face covers part of the picture, not none of it and not all of it."""
    background = image[0, 0]
    covered = (image != background).any(axis=-1).mean()
    assert 0.1 < covered < 0.98, f"{what}: the face covers {covered:.0%} of the image"
    assert image.std() > 10, f"{what}: nearly uniform image"


@pytest.fixture(scope="module")
def renders(tmp_path_factory: pytest.TempPathFactory, scans: Path) -> dict[str, tuple]:
    """modality -> (completed process, output folder): texture with the default views, shaded
    and depth with ``--views 0``. The fixture is a dome with a nose, not a face, so these renders
    keep its axes (``--pose as_stored``); the face pose has its own tests below."""
    out = tmp_path_factory.mktemp("renders")
    runs = {
        "texture": ["--size", SIZE],
        "shaded": ["--size", SIZE, "--modality", "shaded", "--views", "0"],
        "depth": ["--size", SIZE, "--modality", "depth", "--views", "0"],
        "untextured": ["--size", SIZE, "--views", "0"],
    }
    done = {}
    for modality, args in runs.items():
        scan = "bare.ply" if modality == "untextured" else "face.wrl"
        result = facevlm(
            "render", scan, "--out", out / modality, "--pose", "as_stored", *args, cwd=scans
        )
        done[modality] = (result, out / modality)
    return done


def test_render_writes_one_png_per_default_view_at_the_requested_size(renders):
    result, folder = renders["texture"]
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", "a successful render writes nothing to stderr"
    written = sorted(folder.glob("*.png"))
    assert len(written) == 3
    assert all("_texture_" in p.name for p in written), "a textured scan renders its texture"
    assert sorted(Path(line).name for line in result.stdout.split()) == [p.name for p in written]
    images = {p.name: read_png(p) for p in written}
    for name, image in images.items():
        assert image.shape == (SIZE, SIZE, 3), name
        assert_not_blank(image, name)
    left, right = (images[n] for n in sorted(images) if "yaw+20" in n or "yaw-20" in n)
    assert np.abs(left.astype(int) - right).mean() > 2, "yaw +20 and -20 gave the same picture"


def test_render_with_one_view_writes_one_png(renders):
    for modality in ("shaded", "depth"):
        result, folder = renders[modality]
        assert result.returncode == 0, result.stderr
        written = list(folder.glob("*.png"))
        assert [p.name for p in written] == [f"face_{modality}_yaw+0_pitch+0.png"]
        image = read_png(written[0])
        assert image.shape == (SIZE, SIZE, 3)
        assert_not_blank(image, modality)


def test_render_without_a_modality_renders_an_untextured_scan_shaded_as_predict_does(renders):
    result, folder = renders["untextured"]
    assert result.returncode == 0, result.stderr
    assert [p.name for p in folder.glob("*.png")] == ["bare_shaded_yaw+0_pitch+0.png"]
    (note,) = result.stderr.splitlines()
    assert note.startswith("facevlm: note: ") and "bare.ply" in note
    assert "texture missing" in note and "shaded" in note
    assert_not_blank(read_png(folder / "bare_shaded_yaw+0_pitch+0.png"), "untextured")


def test_render_modalities_give_different_pictures(renders):
    frontal = {
        modality: read_png(folder / f"face_{modality}_yaw+0_pitch+0.png")
        for modality, (_, folder) in renders.items()
        if modality != "untextured"
    }
    for a, b in (("texture", "shaded"), ("texture", "depth"), ("shaded", "depth")):
        difference = np.abs(frontal[a].astype(int) - frontal[b]).mean()
        assert difference > 5, f"{a} and {b} renders are nearly the same ({difference:.1f})"


def test_render_turns_a_face_in_any_pose_face_forward_and_refuses_a_ball(tmp_path):
    """By default ``render`` estimates the face pose, as the pipelines and ``predict`` do: a
    face turned and rescaled at random renders like the same face stored face-forward, and a
    ball is refused with one line instead of being drawn."""
    from _posed_cases import non_face, pose_case

    from facevlm.scans.formats import write_ply

    case = pose_case(seed=3, source="synthetic")
    write_ply(tmp_path / "turned.ply", case.mesh)
    write_ply(tmp_path / "upright.ply", case.canonical)
    write_ply(tmp_path / "ball.ply", non_face("sphere"))
    for name in ("turned", "upright"):
        done = facevlm(
            "render", f"{name}.ply", "--out", name, "--size", SIZE, "--views", "0", cwd=tmp_path
        )
        assert done.returncode == 0, done.stderr
    turned = read_png(tmp_path / "turned" / "turned_shaded_yaw+0_pitch+0.png")
    upright = read_png(tmp_path / "upright" / "upright_shaded_yaw+0_pitch+0.png")
    silhouettes = [(image > 0).any(axis=-1) for image in (turned, upright)]
    overlap = (silhouettes[0] & silhouettes[1]).sum() / (silhouettes[0] | silhouettes[1]).sum()
    assert overlap > 0.85, f"the turned face's silhouette overlaps the upright one by {overlap:.2f}"
    stored = facevlm(
        "render",
        "turned.ply",
        "--out",
        "stored",
        "--size",
        SIZE,
        "--views",
        "0",
        "--pose",
        "as_stored",
        cwd=tmp_path,
    )
    as_stored = (read_png(tmp_path / "stored" / "turned_shaded_yaw+0_pitch+0.png") > 0).any(-1)
    assert (
        stored.returncode == 0
        and (as_stored & silhouettes[1]).sum() / (as_stored | silhouettes[1]).sum() < overlap
    ), "--pose as_stored keeps the scan's own, turned axes"

    ball = facevlm("render", "ball.ply", "--out", "ball", "--size", SIZE, cwd=tmp_path)
    assert ball.returncode != 0 and ball.stdout == ""
    (line,) = ball.stderr.splitlines()
    assert "ball.ply" in line and "face" in line
    assert not (tmp_path / "ball").exists() or not any((tmp_path / "ball").iterdir())


def test_render_rejects_a_bad_size_before_reading_the_file(tmp_path):
    result = facevlm(
        "render", "nowhere.wrl", "--out", tmp_path / "out", "--size", "2", cwd=tmp_path
    )
    assert result.returncode != 0
    assert "--size" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------------- bad input
def truncated_wrl(folder: Path, mesh: FaceMesh) -> Path:
    write_vrml(folder / "whole.wrl", mesh)
    text = (folder / "whole.wrl").read_text()
    (folder / "cut.wrl").write_text(text[: len(text) // 2])
    return folder / "cut.wrl"


def nan_wrl(folder: Path, mesh: FaceMesh) -> Path:
    """Vertex 5's coordinates replaced by ``nan nan nan`` in an otherwise valid file."""
    write_vrml(folder / "whole.wrl", mesh)
    text = (folder / "whole.wrl").read_text()
    row = " ".join(repr(float(c)) for c in mesh.vertices[5])
    assert text.count(f" {row},") == 1
    (folder / "nan.wrl").write_text(text.replace(f" {row},", " nan nan nan,"))
    return folder / "nan.wrl"


def empty_wrl(folder: Path, mesh: FaceMesh) -> Path:
    (folder / "empty.wrl").write_bytes(b"")
    return folder / "empty.wrl"


def missing_wrl(folder: Path, mesh: FaceMesh) -> Path:
    return folder / "F0001_HA04WH_F3D.wrl"


def unknown_extension(folder: Path, mesh: FaceMesh) -> Path:
    (folder / "face.xyz").write_text("0 0 0\n1 0 0\n")
    return folder / "face.xyz"


HUGE_COUNT = 5 * 20_000 * 20_000  # 2e9 float64 values: 16 GB if believed


def huge_bnt(folder: Path, mesh: FaceMesh) -> Path:
    """A 20,000 x 20,000 grid header whose count field is consistent with it; 80 bytes of data."""
    header = struct.pack("<HHd", 20_000, 20_000, -1e9) + struct.pack("<H", 5) + b"x.png"
    (folder / "huge.bnt").write_bytes(header + struct.pack("<I", HUGE_COUNT) + bytes(80))
    return folder / "huge.bnt"


BAD_FILES: dict[str, tuple[Callable[[Path, FaceMesh], Path], str]] = {
    "truncated wrl": (truncated_wrl, "truncated"),
    "NaN coordinates": (nan_wrl, "NaN"),
    "empty file": (empty_wrl, "empty"),
    "missing file": (missing_wrl, "not found"),
    "unknown extension": (unknown_extension, "unsupported mesh format '.xyz'"),
    "huge bnt count": (huge_bnt, str(HUGE_COUNT)),
}


@pytest.mark.parametrize("command", ["inspect", "render"])
@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_file_gives_one_line_naming_it_and_a_non_zero_exit(tmp_path, mesh, command, case):
    make, reason = BAD_FILES[case]
    path = make(tmp_path, mesh)
    out = tmp_path / "out"
    args = [command, path.name] + (["--out", out, "--size", SIZE] if command == "render" else [])
    result = facevlm(*args, cwd=tmp_path)

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert path.name in lines[0]
    assert reason in lines[0]
    assert UNEXPECTED not in lines[0], "caught by the safety net, not by a specific check"
    assert result.stdout == ""
    assert not out.exists() or not any(out.iterdir())
