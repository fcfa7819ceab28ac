"""The scanner and phone formats keep the promise of the dataset formats: a hostile file is
refused in one line naming it and the reason, from a check made before the work or memory it
bounds, never by the readers' safety net nor with a traceback.

The files are those a fuzz run of glTF, OFF, PLY, VRML 1.0 and STL found costing gigabytes,
minutes or a traceback, at a size that is still refused with default limits
(``benchmarks/_hostile_format_files.py``); ``benchmarks/scan_formats.py hostile`` times their full-size versions.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _hostile_format_files import (
    REPROS,
    gltf_edited,
    gltf_grid,
    off_long_line,
    vrml1_num_vertices,
    write_gltf,
)
from _scanner_files import face_patch, write_off

from facevlm.scans.errors import ScanError
from facevlm.scans.formats import inspect_mesh, read_mesh, write_obj
from facevlm.scans.formats._files import UNEXPECTED
from facevlm.scans.formats.limits import MAX_POLYGON_CORNERS, ReadLimits
from facevlm.scans.mesh import FaceMesh

ROOT = Path(__file__).resolve().parents[3]


def refusal(path: Path, **kwargs) -> str:
    """The one-line reason ``read_mesh`` gives, checked to come from a specific check."""
    with pytest.raises(ScanError) as caught:
        read_mesh(path, **kwargs)
    reason = caught.value.reason
    assert caught.value.path == path
    assert not reason.startswith(UNEXPECTED), reason
    assert "\n" not in reason
    return reason


def cli(*args, cwd: Path) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "facevlm.commands", *map(str, args)],
        cwd=cwd, capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip


def one_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stderr
    assert result.stdout == "" and "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("facevlm: error: "), result.stderr
    return lines[0]


@pytest.mark.parametrize("case", list(REPROS))
def test_each_repro_is_refused_by_the_check_that_names_it(tmp_path, case):
    build, pattern = REPROS[case]
    path = build(tmp_path)
    assert re.search(pattern, refusal(path)), refusal(path)


CHEAP_CLI_CASES = [case for case in REPROS if "60 million" not in case]  # that one is 8 MB


@pytest.mark.parametrize("case", CHEAP_CLI_CASES)
def test_inspect_refuses_each_repro_on_one_line_with_exit_2(tmp_path, case):
    build, pattern = REPROS[case]
    path = build(tmp_path)
    line = one_error_line(cli("inspect", path.name, cwd=path.parent))
    assert path.name in line and re.search(pattern, line), line


# ---------------------------------------------------------------------------------- glTF
def test_a_glb_of_shared_nodes_within_the_limits_places_every_instance(tmp_path):
    """Counting paths refuses multiplication, not sharing: a node reached along two paths is
    placed twice, as the format says."""
    document, blob = gltf_grid(side=4)
    document["nodes"] = [
        {"children": [1, 2]},
        {"children": [3]},
        {"children": [3], "translation": [100.0, 0.0, 0.0]},
        {"mesh": 0},
    ]
    mesh = read_mesh(write_gltf(tmp_path / "shared.gltf", document, blob))
    single = read_mesh(write_gltf(tmp_path / "one.gltf", *gltf_grid(side=4)))
    assert mesh.n_polygons == 2 * single.n_polygons
    assert mesh.n_vertices == 2 * single.n_vertices
    assert np.isclose(mesh.vertices[:, 0].max(), single.vertices[:, 0].max() + 100.0)


def test_placements_are_checked_against_the_callers_limits(tmp_path):
    document, blob = gltf_grid(side=4)  # 32 triangles
    document["scenes"] = [{"nodes": [0, 0, 0]}]
    path = write_gltf(tmp_path / "three.gltf", document, blob)
    assert read_mesh(path).n_polygons == 3 * 32
    reason = refusal(path, limits=ReadLimits(max_polygons=95))
    assert "places 96 triangles" in reason and "nodes reached along many paths" in reason


@pytest.mark.parametrize(
    ("edit", "pattern"),
    [
        (lambda d: d["nodes"][0].__setitem__("children", [[1]]), "children must be a list"),
        (lambda d: d["nodes"][0].__setitem__("mesh", [0]), r"meshes\[\[0\]\], which does not"),
        (lambda d: d["meshes"][0]["primitives"][0].__setitem__("mode", [4]), "mode must be"),
        (lambda d: d["accessors"][0].__setitem__("normalized", "yes"), "normalized must be"),
        (lambda d: d.__setitem__("extensionsRequired", [{"x": 1}]), "list of names"),
        (lambda d: d.pop("scenes") and d["nodes"].append({"children": [[0]]}), "children"),
    ],
)
def test_a_json_value_of_the_wrong_kind_is_named_where_it_is_read(tmp_path, edit, pattern):
    path = gltf_edited(edit)(tmp_path)
    assert re.search(pattern, refusal(path)), refusal(path)


def test_a_json_of_a_million_values_is_refused_before_it_is_parsed(tmp_path):
    document, blob = gltf_grid(side=2)
    document["extras"] = [{}] * 1_000_001
    reason = refusal(write_gltf(tmp_path / "wide.gltf", document, blob))
    assert "values, above the 1000000" in reason


def test_a_buffer_that_escapes_is_called_a_buffer(tmp_path):
    build, _ = REPROS["glTF buffer ../secret.bin"]
    reason = refusal(build(tmp_path))
    assert "buffer reference '../secret.bin' escapes" in reason and "texture" not in reason


# ---------------------------------------------------------------------------------- polygons
def test_a_polygon_at_the_corner_limit_reads_and_one_more_is_refused(tmp_path):
    ring = np.linspace(0, 2 * np.pi, MAX_POLYGON_CORNERS, endpoint=False)
    vertices = np.column_stack([np.cos(ring) * 50, np.sin(ring) * 50, np.zeros_like(ring)])
    mesh = FaceMesh.from_polygons(vertices, [list(range(MAX_POLYGON_CORNERS))])
    write_off(tmp_path / "ring.off", mesh)
    assert read_mesh(tmp_path / "ring.off").arities.tolist() == [MAX_POLYGON_CORNERS]
    head, face, tail = (tmp_path / "ring.off").read_text().rpartition(f"\n{MAX_POLYGON_CORNERS} ")
    text = head + f"\n{MAX_POLYGON_CORNERS + 1} 0 " + tail  # the face line, not the counts
    (tmp_path / "wider.off").write_text(text)
    assert f"has {MAX_POLYGON_CORNERS + 1} corners" in refusal(tmp_path / "wider.off")


def test_polygons_that_fan_into_more_triangles_than_the_limits_are_refused(tmp_path):
    """Corners in all, not only per polygon: 5 hexagons fan into 20 triangles."""
    patch = face_patch(4)
    hexagons = FaceMesh.from_polygons(patch.vertices, [[0, 1, 2, 6, 5, 4]] * 5)
    write_obj(tmp_path / "hex.obj", hexagons)
    assert read_mesh(tmp_path / "hex.obj", limits=ReadLimits(max_polygons=10)).n_triangles == 20
    reason = refusal(tmp_path / "hex.obj", limits=ReadLimits(max_polygons=9))
    assert "fan into 20 triangles, above the limit of 18 (2 x limits.max_polygons)" in reason


def test_off_numbers_are_counted_before_a_line_is_split(tmp_path):
    path = off_long_line(tmp_path)  # 4.1 million numbers on one face line
    reason = refusal(path)
    assert "4100004 numbers on 1 face lines, above the 4000007 they can hold" in reason


def test_a_faceset_is_checked_against_its_points_before_its_corners_are_listed(tmp_path):
    path = vrml1_num_vertices(tmp_path)
    small = path.read_text().replace("400000000", "3000")
    (tmp_path / "past.wrl").write_text(small)
    assert "Coordinate3 has 3" in refusal(tmp_path / "past.wrl")


def test_a_long_run_of_solid_lines_is_refused_whatever_its_line_ends(tmp_path):
    for end in (b"\n", b"\r\n", b"\r"):
        path = tmp_path / f"solids{len(end)}{end[-1]}.stl"
        path.write_bytes(b"solid" + end + b"  solid x" + end * 2 + (b"solid" + end) * 100_001)
        assert "more than 100000 'solid' words" in refusal(path)


# ---------------------------------------------------------------------------------- textures
def _patch_obj(folder: Path, texture: bytes | None, colours: bool) -> Path:
    patch = face_patch(6)
    mesh = FaceMesh.from_polygons(
        patch.vertices,
        [
            patch.polygon_indices[a:b].tolist()
            for a, b in zip(patch.polygon_offsets[:-1], patch.polygon_offsets[1:], strict=True)
        ],  # fmt: skip
        uv=patch.vertices[:, :2] / 100 + 0.5,
        vertex_colors=patch.vertex_colors if colours else None,
    )
    path = folder / "scan.obj"
    write_obj(path, mesh, texture_filename="tex.png" if texture is not None else None)
    if texture is not None:
        (folder / "tex.png").write_bytes(texture)
    return path


def _png_bytes() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32, 3), np.uint8)).save(
        out, format="PNG"
    )
    return out.getvalue()


def test_vertex_colours_stand_in_for_a_missing_obj_image(tmp_path):
    path = _patch_obj(tmp_path, None, colours=True)
    mesh = read_mesh(path)
    assert mesh.uv is None and mesh.texture_path is None
    assert mesh.vertex_colors is not None
    assert "texture coordinates dropped: no texture image, colours kept" in " ".join(
        mesh.metadata["warnings"]
    )
    assert inspect_mesh(path)["has_vertex_colors"] is True


def test_a_truncated_png_is_a_warning_of_inspect_and_the_scans_refusal_in_render(tmp_path):
    png = _png_bytes()
    path = _patch_obj(tmp_path, png[: len(png) // 2], colours=False)
    result = cli("inspect", path.name, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    warnings = json.loads(result.stdout)["warnings"]
    assert any("texture tex.png: not a readable image" in w for w in warnings), warnings

    rendered = cli("render", path.name, "--out", "out", "--modality", "texture", "--pose",
                   "as_stored", cwd=tmp_path)  # fmt: skip
    line = one_error_line(rendered)
    assert line.startswith("facevlm: error: scan.obj: texture tex.png: not a readable image"), line


def test_the_whole_png_still_renders(tmp_path):
    path = _patch_obj(tmp_path, _png_bytes(), colours=False)
    assert inspect_mesh(path)["warnings"] == []
    result = cli("render", path.name, "--out", "out", "--modality", "texture", "--pose",
                 "as_stored", "--views", "0", cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert len(list((tmp_path / "out").glob("*.png"))) == 1
