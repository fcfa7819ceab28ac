"""Issue 13: crafted and degenerate inputs are refused with their reason, quickly, in bounded memory.

Every case of the issue is written in a temporary folder (symlinks, a FIFO, a bomb PNG of a few
bytes, a sparse 640 MB ``.bnt``, a swapped ``.bnt`` header, 300-character names, ``1_000``) and
read through :func:`read_mesh` and through the CLI in a separate process (one line on stderr,
exit code 2, no traceback, and it returns: a hang would hit the subprocess timeout). The ingest
side of the same cases is in ``tests/scans/layouts/test_hostile_ingest.py``.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from _hostile_files import (
    OUTSIDE_TARGET,
    bomb_png,
    grid_bnt,
    obj_with_texture_link,
    off_declaring_billions,
    small_mesh,
    sparse_zero_bnt,
    stl_declaring_billions,
    swap_bnt_header,
    vrml1_deep_nesting,
    vrml1_use_doubling,
    vrml_with_bomb_texture,
    vrml_with_text,
    vrml_with_texture_link,
)

from facevlm.scans.errors import ScanError
from facevlm.scans.formats import (
    inspect_mesh,
    read_bnt,
    read_mesh,
    write_obj,
    write_ply,
    write_vrml,
)
from facevlm.scans.formats._files import UNEXPECTED, ReadScope
from facevlm.scans.formats._textures import texture_problem
from facevlm.scans.formats.limits import ReadLimits
from facevlm.scans.mesh import FaceMesh
from preloaded_python import run_preloaded

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")


def refused(path: Path, **kwargs) -> str:
    """The reason ``read_mesh`` gives; it must come from a specific check, not the safety net."""
    with pytest.raises(ScanError) as caught:
        read_mesh(path, **kwargs)
    assert caught.value.path == path
    assert not caught.value.reason.startswith(UNEXPECTED), caught.value.reason
    return caught.value.reason


# ---------------------------------------------------------------------------- 1. symlinks out
def test_a_vrml_texture_symlinked_outside_the_folder_refuses_the_scan(tmp_path):
    reason = refused(vrml_with_texture_link(tmp_path / "s"))
    assert f"resolves to {OUTSIDE_TARGET}, outside the scan's folder" in reason


def test_an_obj_map_kd_symlinked_outside_the_folder_refuses_the_scan(tmp_path):
    reason = refused(obj_with_texture_link(tmp_path / "s"))
    assert OUTSIDE_TARGET in reason and "outside" in reason


def test_an_obj_material_library_symlinked_outside_refuses_the_scan(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "m.mtl").write_text("newmtl face\nmap_Kd tex.png\n")
    folder = tmp_path / "s"
    folder.mkdir()
    write_obj(folder / "scan.obj", small_mesh(), texture_filename="tex.png")
    (folder / "scan.mtl").unlink()
    os.symlink(elsewhere / "m.mtl", folder / "scan.mtl")
    reason = refused(folder / "scan.obj")
    assert "material library scan.mtl resolves to" in reason


def test_a_scan_that_is_a_symlink_out_of_its_folder_or_root_is_refused(tmp_path):
    real = grid_bnt(tmp_path / "real" / "a.bnt")
    folder = tmp_path / "dataset" / "s"
    folder.mkdir(parents=True)
    os.symlink(real, folder / "a.bnt")
    assert "outside the scan's folder" in refused(folder / "a.bnt")
    assert "outside the dataset root" in refused(folder / "a.bnt", root=tmp_path / "dataset")
    # inside the root, a link is followed like any path
    assert read_mesh(folder / "a.bnt", root=tmp_path).n_vertices == 600


def test_a_texture_symlink_that_stays_inside_the_folder_is_used(tmp_path):
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "real.png").write_bytes(bomb_png(4, 4))
    path = folder / "scan.wrl"
    write_vrml(path, small_mesh(), texture_url="tex.png")
    os.symlink("real.png", folder / "tex.png")
    assert read_mesh(path).texture_path == (folder / "real.png").resolve()


# ---------------------------------------------------------------------------- 2. bomb texture
def test_a_decompression_bomb_texture_is_named_from_its_header(tmp_path):
    path = vrml_with_bomb_texture(tmp_path)
    mesh = read_mesh(path)  # the mesh itself is fine; the texture is refused where it is used
    problem = texture_problem(mesh.texture_path)
    assert "10000000000 pixels" in problem and "limits.max_texture_pixels" in problem
    assert any("decompression bomb" in w for w in inspect_mesh(path)["warnings"])


def test_a_texture_above_our_pixel_limit_but_below_pil_s_is_refused_too(tmp_path):
    (tmp_path / "t.png").write_bytes(bomb_png(8000, 8000))  # 64 Mpx: PIL only warns
    problem = texture_problem(tmp_path / "t.png")
    assert "8000 x 8000 pixels, above the limit of 50000000" in problem
    small = ReadScope.around(tmp_path / "t.png", limits=ReadLimits(max_texture_pixels=10**8))
    assert texture_problem(tmp_path / "t.png", small) == ""


def test_load_texture_raises_a_scan_error_for_a_bomb_not_a_pil_error(tmp_path):
    from facevlm.render.texture import load_texture

    (tmp_path / "bomb.png").write_bytes(bomb_png())
    with pytest.raises(ScanError, match="decompression bomb"):
        load_texture(tmp_path / "bomb.png")


def test_a_texture_file_above_the_byte_limit_is_refused_before_decoding(tmp_path):
    (tmp_path / "t.png").write_bytes(bomb_png(4, 4) + bytes(2000))
    scope = ReadScope.around(tmp_path / "t.png", limits=ReadLimits(max_texture_bytes=1000))
    assert "limits.max_texture_bytes" in texture_problem(tmp_path / "t.png", scope)


# ---------------------------------------------------------------------------- 3. special files
@needs_fifo
def test_a_fifo_named_like_a_scan_is_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "x.wrl")
    assert refused(tmp_path / "x.wrl") == "not a regular file: a FIFO (named pipe)"


def test_a_link_to_dev_zero_is_refused_without_reading(tmp_path):
    os.symlink("/dev/zero", tmp_path / "x.wrl")
    assert "resolves to /dev/zero, outside the scan's folder" in refused(tmp_path / "x.wrl")
    # even where /dev is inside the allowed root, a device is not a regular file
    assert refused(tmp_path / "x.wrl", root="/") == "not a regular file: a character device"


def test_a_folder_named_like_a_scan_and_a_dangling_link_are_refused(tmp_path):
    (tmp_path / "F0003_SA02AE_F3D.wrl").mkdir()
    os.symlink(tmp_path / "gone.wrl", tmp_path / "dangling.wrl")
    assert refused(tmp_path / "F0003_SA02AE_F3D.wrl") == "is a directory, not a file"
    assert refused(tmp_path / "dangling.wrl").startswith("dangling symbolic link to ")


# ---------------------------------------------------------------------------- 4. sizes
def test_the_640_mb_all_zero_bnt_is_refused_from_its_size(tmp_path):
    path = sparse_zero_bnt(tmp_path / "big.bnt")
    assert path.stat().st_size > 600 * 2**20
    reason = refused(path)
    assert "above the limit of 256.0 MiB (limits.max_scan_bytes)" in reason


def test_with_a_larger_byte_limit_the_grid_size_still_refuses_it_before_reading(tmp_path):
    path = sparse_zero_bnt(tmp_path / "big.bnt")
    limits = ReadLimits(max_scan_bytes=2**30)
    reason = refused(path, limits=limits)
    assert "4000 x 4000 = 16000000 points" in reason and "limits.max_vertices" in reason


@pytest.mark.parametrize(
    ("limits", "fragment"),
    [
        (ReadLimits(max_vertices=8), "above the limit of 24"),  # coord numbers, before parsing
        (ReadLimits(max_polygons=3), "above the limit of"),
        (ReadLimits(max_scan_bytes=100), "limits.max_scan_bytes"),
    ],
)
def test_every_reader_limit_names_itself(tmp_path, limits, fragment):
    write_vrml(tmp_path / "m.wrl", small_mesh())
    assert fragment in refused(tmp_path / "m.wrl", limits=limits)


def test_obj_and_ply_counts_are_checked_against_the_limits_before_parsing(tmp_path):
    write_obj(tmp_path / "m.obj", small_mesh())
    write_ply(tmp_path / "m.ply", small_mesh(), binary=True)
    limits = ReadLimits(max_vertices=8, max_polygons=3)
    assert "9 'v' lines, above the limit of 8 (limits.max_vertices)" in refused(
        tmp_path / "m.obj", limits=limits
    )
    assert "declares 9 vertex elements, above the limit of 8" in refused(
        tmp_path / "m.ply", limits=limits
    )


@pytest.mark.parametrize(
    ("build", "fragment"),
    [
        (lambda d: stl_declaring_billions(d / "huge.stl"), "limits.max_polygons"),
        (lambda d: off_declaring_billions(d / "huge.off"), "limits.max_vertices"),
        (lambda d: vrml1_use_doubling(d / "doubling.wrl"), "too many node visits"),
        (lambda d: vrml1_deep_nesting(d / "deep.wrl"), "nested deeper than"),
    ],
)
def test_size_bombs_of_the_scanner_formats_are_refused_before_the_work(tmp_path, build, fragment):
    assert fragment in refused(build(tmp_path))


def test_limits_from_params_reject_unknown_keys_and_non_positive_values():
    assert ReadLimits.from_params(None) == ReadLimits()
    with pytest.raises(ValueError, match="unknown key"):
        ReadLimits.from_params({"max_vertex": 5})
    with pytest.raises(ValueError, match="positive integer"):
        ReadLimits.from_params({"max_vertices": 0})


# ---------------------------------------------------------------------------- 5. degenerate
def test_a_swapped_bnt_header_is_refused_and_the_original_reads(tmp_path):
    good = grid_bnt(tmp_path / "good.bnt")
    assert read_bnt(good).x.shape == (30, 20)
    reason = refused(swap_bnt_header(good, tmp_path / "swapped.bnt"))
    assert "not a coherent grid" in reason and "20 x 30 swapped or wrong?" in reason


def test_a_header_wrapping_at_a_multiple_of_the_width_is_refused(tmp_path):
    good = grid_bnt(tmp_path / "good.bnt")  # 30 x 20
    data = bytearray(good.read_bytes())
    data[0:4] = (15).to_bytes(2, "little") + (40).to_bytes(2, "little")
    (tmp_path / "wrapped.bnt").write_bytes(bytes(data))
    reason = refused(tmp_path / "wrapped.bnt")
    assert "x steps back between columns 19 and 20 in most rows" in reason


def test_an_all_zero_grid_is_degenerate(tmp_path):
    from facevlm.scans.formats import write_bnt

    zeros = np.zeros((20, 20))
    write_bnt(tmp_path / "z.bnt", zeros, zeros, zeros, zeros, zeros, -1e9, "z.png")
    assert "all 400 vertices are (nearly) identical" in refused(tmp_path / "z.bnt")


@pytest.mark.parametrize(
    ("vertices", "fragment"),
    [
        ([[0, 0, 5]] * 3 + [[1e-9, 0, 5]], "(nearly) identical"),
        ([[0, 0, 0], [1, 0, 0], [2, 0, 0], [3, 0, 0]], "zero bounding-box extent along y and z"),
        ([[0, 0, 0], [1, 1, 1], [2, 2, 2], [3, 3, 3]], "zero total surface area"),
    ],
)
def test_degenerate_meshes_are_refused_with_the_reason(vertices, fragment):
    mesh = FaceMesh.from_triangles(vertices, [[0, 1, 2], [1, 2, 3]])
    with pytest.raises(ScanError, match="degenerate geometry") as caught:
        mesh.validate("m.wrl")
    assert fragment in caught.value.reason


def test_a_flat_mesh_is_not_degenerate():
    FaceMesh.from_triangles([[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 1, 2]]).validate()


# ---------------------------------------------------------------------------- 6. long names
def test_a_300_character_texture_name_in_a_bnt_is_a_texture_warning(tmp_path):
    mesh = read_mesh(grid_bnt(tmp_path / "a.bnt", image_name="a" * 300 + ".png"))
    assert mesh.texture_path is None
    assert any("name too long" in w for w in mesh.metadata["warnings"])


def test_a_300_character_vrml_url_is_a_texture_warning(tmp_path):
    path = tmp_path / "m.wrl"
    write_vrml(path, small_mesh(), texture_url="b" * 300 + ".bmp")
    mesh = read_mesh(path)
    assert mesh.texture_path is None
    assert any("name too long for the file system" in w for w in mesh.metadata["warnings"])


def test_a_scan_name_the_file_system_refuses_is_a_reason(tmp_path):
    path = tmp_path / ("c" * 300 + ".wrl")
    assert refused(path).startswith("name too long for the file system")


# ---------------------------------------------------------------------------- 8. numbers
@pytest.mark.parametrize(
    ("old", "new", "fragment"),
    [
        ("0 1 4 3 -1", "0 1_000 4 3 -1", "'_' digit separators"),
        ("0.0 0.0 45.0", "0.0 0.0 4_5.0", "'_' digit separators"),
        ("0.0 0.0 45.0", "0.0 inf 45.0", "NaN or infinite"),
        ("0.0 0.0 45.0", "0.0 1e999 45.0", "NaN or infinite"),
        ("0.0 0.0 45.0", "0.0 nan 45.0", "NaN or infinite"),
    ],
)
def test_numbers_python_would_accept_are_refused(tmp_path, old, new, fragment):
    assert fragment in refused(vrml_with_text(tmp_path / "m.wrl", old, new))


def test_obj_face_indices_with_separators_are_refused(tmp_path):
    write_obj(tmp_path / "m.obj", small_mesh())
    text = (tmp_path / "m.obj").read_text()
    assert "\nf 1/1 " in text
    (tmp_path / "m.obj").write_text(text.replace("\nf 1/1 ", "\nf 1_0/1 ", 1))
    assert "'_' digit separators" in refused(tmp_path / "m.obj")


def test_landmark_numbers_with_separators_are_refused(tmp_path):
    from facevlm.scans.formats import read_bnd

    (tmp_path / "m.bnd").write_text("1_0 1 2 3\n")
    with pytest.raises(ScanError, match="not a number"):
        read_bnd(tmp_path / "m.bnd")


# ---------------------------------------------------------------------------- the CLI
def cli(*args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``facevlm ARGS`` in a process of its own, forked from a Python that has imported this
    checkout's package and the libraries (tests/preloaded_python.py); a hang fails here."""
    return run_preloaded("-m", "facevlm.commands", *args, cwd=cwd, timeout=300)


def _fifo(folder: Path) -> Path:
    os.mkfifo(folder / "x.wrl")
    return folder / "x.wrl"


def _dev_zero(folder: Path) -> Path:
    os.symlink("/dev/zero", folder / "z.wrl")
    return folder / "z.wrl"


def _long_scan_name(folder: Path) -> Path:
    return folder / ("c" * 300 + ".wrl")


CLI_CASES = {
    "vrml texture symlink": (vrml_with_texture_link, "resolves to /etc/passwd"),
    "obj map_Kd symlink": (obj_with_texture_link, "resolves to /etc/passwd"),
    "fifo": (_fifo, "a FIFO"),
    "dev zero link": (_dev_zero, "resolves to /dev/zero"),
    "640 MB zero bnt": (lambda d: sparse_zero_bnt(d / "big.bnt"), "limits.max_scan_bytes"),
    "swapped bnt header": (
        lambda d: swap_bnt_header(grid_bnt(d / "g.bnt"), d / "s.bnt"),
        "not a coherent grid",
    ),
    "long scan name": (_long_scan_name, "name too long"),
    "1_000 in coordIndex": (
        lambda d: vrml_with_text(d / "u.wrl", "0 1 4 3 -1", "0 1_000 4 3 -1"),
        "'_' digit separators",
    ),
}


@pytest.mark.parametrize("case", list(CLI_CASES))
def test_inspect_refuses_each_case_on_one_line_with_exit_2(tmp_path, case):
    if case == "fifo" and not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this system")
    build, fragment = CLI_CASES[case]
    path = build(tmp_path)
    result = cli("inspect", path.name, cwd=path.parent)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("facevlm: error: ") and fragment in lines[0], lines[0]


def test_render_refuses_a_bomb_texture_with_exit_2_not_a_traceback(tmp_path):
    path = vrml_with_bomb_texture(tmp_path)
    # the mesh is a token triangle, not a face: keep its axes so that the texture is reached
    result = cli(
        "render",
        path.name,
        "--out",
        "out",
        "--modality",
        "texture",
        "--pose",
        "as_stored",
        cwd=tmp_path,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "decompression bomb" in lines[0] and "limits.max_texture_pixels" in lines[0]
    assert not list((tmp_path / "out").glob("*.png")) if (tmp_path / "out").exists() else True


def test_inspect_of_a_long_texture_name_reports_it_and_exits_0(tmp_path):
    path = grid_bnt(tmp_path / "a.bnt", image_name="a" * 300 + ".png")
    result = cli("inspect", path.name, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "name too long for the file system" in result.stdout
