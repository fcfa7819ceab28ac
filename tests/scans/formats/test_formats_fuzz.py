"""Fuzzing every parser with mutated valid files: the only outcomes are a result or a ScanError.

Each example starts from a valid file of the format and applies a few mutations of the kinds
real collections suffer (truncation, flipped bytes, inserted or deleted bytes, stray tokens such
as ``nan``, ``-1``, ``]`` or non-UTF-8 bytes). Beyond "no other exception", every ScanError must
come from a specific check, not from the readers' safety net (whose reasons start with
``UNEXPECTED``): a failure hypothesis finds must have a clear reason for the quarantine report.

Beyond random bytes, three mutation kinds found real holes (issue 13) and are fuzzed on purpose:
header-consistent dimension swaps of a ``.bnt`` grid (same product, so every size check passes),
long and odd texture names (which the file system may refuse), and numeric extremes (``1_000``,
``1e999``, subnormals, integers past 64 bits).

Runs are derandomised so the suite is reproducible; raise ``max_examples`` locally to dig deeper.
"""

from __future__ import annotations

import atexit
import gzip
import re
import shutil
import struct
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from _scanner_files import (
    face_patch,
    write_ascii_stl,
    write_binary_stl,
    write_colour_ply,
    write_gltf_scan,
    write_laser_vrml1,
    write_off,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from facevlm.scans.errors import ScanError
from facevlm.scans.formats import (
    BntScan,
    read_bnd,
    read_bnt,
    read_bnt_mesh,
    read_gltf,
    read_lm3,
    read_obj,
    read_off,
    read_ply,
    read_stl,
    read_vrml,
    write_bnd,
    write_bnt,
    write_lm3,
    write_obj,
    write_ply,
    write_vrml,
)
from facevlm.scans.formats._files import UNEXPECTED
from facevlm.scans.mesh import FaceMesh

FUZZ = settings(
    max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)

INTERESTING = [
    b"-1",
    b"-2",
    b"nan",
    b"inf",
    b"1e308",
    b"99999999999999999999",
    b"]",
    b"[",
    b"{",
    b"}",
    b"#",
    b"\xff\xfe",
    b",",
    b"\n",
    b"-",
    b"/",
    b"//",
    b"\0",
    b" ",
    b"0",
    b'"',
    b"..",
    b"end_header\n",
    b"point [",
    b"coordIndex [",
    b"f 1 2 3\n",
    b"Separator {",
    b"USE Patch0",
    b"DEF X",
    b"facet normal",
    b"endsolid",
    b"vertex",
    b"COFF\n",
    b"1_000",
    b"1e999",
    b"-1e999",
    b"Infinity",
    b"NaN",
    b"4.9e-324",
    b"18446744073709551616",
    b"-9223372036854775809",
    b"0x10",
    b"+1",
    b"-0",
]


def sample_mesh() -> FaceMesh:
    polygons = [[0, 1, 4], [0, 4, 3], [1, 2, 5, 4], [3, 4, 7, 6], [4, 5, 9, 8, 7]]
    uv_polygons = [[0, 1, 4], [0, 4, 3], [1, 2, 5, 4], [3, 4, 7, 6], [10, 5, 9, 8, 7]]
    grid = [(x, y) for y in range(3) for x in range(3)] + [(3, 1)]
    vertices = np.column_stack([np.array(grid) * 20.5, np.linspace(40, 50, 10)])
    uv = np.array([(x / 3, y / 2) for x, y in grid] + [(0.25, 0.75)])
    return FaceMesh.from_polygons(vertices, polygons, uv=uv, uv_polygons=uv_polygons)


@cache
def folder() -> Path:
    """One scratch folder for all examples (a function-scoped tmp_path would be per test)."""
    path = Path(tempfile.mkdtemp(prefix="facevlm-fuzz-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


@cache
def valid_file(kind: str) -> bytes:
    """A valid file of each kind, written by our writers (and checked to read back)."""
    path = folder() / f"valid-{kind}"
    mesh = sample_mesh()
    if kind == "vrml":
        mesh.landmarks, mesh.landmark_labels = mesh.vertices[:2], ["a # b", 'c "d"']
        write_vrml(path, mesh, texture_url="tex.bmp", landmarks_comment=True)  # with comments
    elif kind == "obj":
        write_obj(path, mesh)
    elif kind in ("ply-binary", "ply-ascii"):
        write_ply(path, mesh, binary=kind == "ply-binary")
    elif kind == "bnt":
        r, c = np.mgrid[0:5, 0:4].astype(float)
        z = np.where((r == 0) & (c == 3), -1e9, 40.0 - r)
        write_bnt(path, c, -r, z, c / 3, r / 4, zmin=-1e9, image_name="x.png")
    elif kind == "bnd":
        write_bnd(path, [0, 4, 9], mesh.vertices[[0, 4, 9]])
    elif kind == "lm3":
        write_lm3(path, {"Nose tip": [0.5, 1.5, 90.0], "Chin middle": [0.0, -70.25, 60.0]})
    else:
        _write_scanner_file(kind, path)
    return path.read_bytes()


def _write_scanner_file(kind: str, path: Path) -> None:
    """The formats we read but do not write, written the way scanners and tools write them."""
    patch = face_patch(side=4)
    if kind == "vrml1":
        write_laser_vrml1(path, patch)
    elif kind == "vrml1-gzip":
        write_laser_vrml1(path, patch)
        path.write_bytes(gzip.compress(path.read_bytes()))
    elif kind == "stl-binary":
        write_binary_stl(path, patch)
    elif kind == "stl-ascii":
        write_ascii_stl(path, patch)
    elif kind == "off":
        write_off(path, patch, colours="uchar")
    elif kind == "ply-colour":
        write_colour_ply(path, patch, "binary_big_endian", "float")
    elif kind == "glb":
        write_gltf_scan(path, patch)


READERS: dict[str, tuple[str, Callable, type | tuple]] = {
    "vrml": (".wrl", read_vrml, FaceMesh),
    "obj": (".obj", read_obj, FaceMesh),
    "ply-binary": (".ply", read_ply, FaceMesh),
    "ply-ascii": (".ply", read_ply, FaceMesh),
    "bnt": (".bnt", read_bnt, BntScan),
    "bnt-mesh": (".bnt", read_bnt_mesh, FaceMesh),
    "bnd": (".bnd", lambda p: read_bnd(p, n_vertices=10), tuple),
    "lm3": (".lm3", read_lm3, dict),
    "vrml1": (".wrl", read_vrml, FaceMesh),
    "vrml1-gzip": (".wrl", read_vrml, FaceMesh),
    "stl-binary": (".stl", read_stl, FaceMesh),
    "stl-ascii": (".stl", read_stl, FaceMesh),
    "off": (".off", read_off, FaceMesh),
    "ply-colour": (".ply", read_ply, FaceMesh),
    "glb": (".glb", read_gltf, FaceMesh),
}

_position = st.integers(min_value=0, max_value=2**31)
_mutation = st.one_of(
    st.tuples(st.just("flip"), _position, st.integers(0, 255)),
    st.tuples(st.just("truncate"), _position),
    st.tuples(
        st.just("insert"),
        _position,
        st.one_of(st.sampled_from(INTERESTING), st.binary(min_size=1, max_size=8)),
    ),
    st.tuples(st.just("delete"), _position, st.integers(1, 16)),
)


def mutate(data: bytes, mutations: list[tuple]) -> bytes:
    for op, position, *arg in mutations:
        at = position % (len(data) + 1)
        if op == "flip" and data:
            at = position % len(data)
            data = data[:at] + bytes([arg[0]]) + data[at + 1 :]
        elif op == "truncate":
            data = data[:at]
        elif op == "insert":
            data = data[:at] + arg[0] + data[at:]
        elif op == "delete":
            data = data[:at] + data[at + arg[0] :]
    return data


@pytest.mark.parametrize("kind", sorted(READERS))
def test_valid_sample_reads(kind):
    suffix, reader, result_type = READERS[kind]
    path = folder() / f"check{suffix}"
    path.write_bytes(valid_file(kind.removesuffix("-mesh")))

    assert isinstance(reader(path), result_type)


@pytest.mark.parametrize("kind", sorted(READERS))
@FUZZ
@given(mutations=st.lists(_mutation, min_size=1, max_size=4))
def test_mutated_file_gives_a_result_or_a_scan_error(kind, mutations):
    suffix, reader, result_type = READERS[kind]
    path = folder() / f"fuzz-{kind}{suffix}"
    path.write_bytes(mutate(valid_file(kind.removesuffix("-mesh")), mutations))
    try:
        result = reader(path)
    except ScanError as error:
        assert error.path == path
        assert not error.reason.startswith(UNEXPECTED), error.reason
        return
    assert isinstance(result, result_type)
    if isinstance(result, FaceMesh):
        result.validate()  # whatever was accepted is a usable mesh


# ---------------------------------------------------------------------------------- issue 13
def _factor_pairs(n: int) -> list[tuple[int, int]]:
    return [(r, n // r) for r in range(1, n + 1) if n % r == 0]


@FUZZ
@given(data=st.data())
def test_a_header_consistent_dimension_swap_never_builds_a_mesh(data):
    """Any other (nrows, ncols) of the same product is refused, with a specific reason."""
    from _hostile_files import grid_bnt

    source = grid_bnt(folder() / "grid-source.bnt")
    raw = bytearray(source.read_bytes())
    rows, cols = struct.unpack_from("<HH", raw)
    pairs = [p for p in _factor_pairs(rows * cols) if p != (rows, cols) and max(p) <= 0xFFFF]
    new_rows, new_cols = data.draw(st.sampled_from(pairs))
    struct.pack_into("<HH", raw, 0, new_rows, new_cols)
    path = folder() / "grid-swapped.bnt"
    path.write_bytes(bytes(raw))
    with pytest.raises(ScanError) as caught:
        read_bnt_mesh(path)
    assert not caught.value.reason.startswith(UNEXPECTED), caught.value.reason


_NAME_CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters='\0"\n\r/\\')


@FUZZ
@given(
    name=st.text(_NAME_CHARS, min_size=1, max_size=400),
    kind=st.sampled_from(["vrml", "obj", "bnt"]),
)
def test_long_and_odd_texture_names_are_warnings_or_reasons_never_the_fallback(name, kind):
    """A texture name the file system refuses (too long, odd bytes) is a texture problem."""
    mesh = sample_mesh()
    path = folder() / f"named.{ {'vrml': 'wrl', 'obj': 'obj', 'bnt': 'bnt'}[kind] }"
    try:
        if kind == "vrml":
            write_vrml(path, mesh, texture_url=name)
        elif kind == "obj":
            write_obj(path, mesh, texture_filename=name)
        else:
            r, c = np.mgrid[0:5, 0:4].astype(float)
            write_bnt(path, c, -r, 40.0 - r, c / 3, r / 4, zmin=-1e9, image_name=name)
    except (ValueError, ScanError, OSError):
        return  # the writer refuses names it could not write back (absolute, '..', too long)
    reader = {"vrml": read_vrml, "obj": read_obj, "bnt": read_bnt_mesh}[kind]
    try:
        result = reader(path)
    except ScanError as error:
        assert not error.reason.startswith(UNEXPECTED), error.reason
        return
    assert result.texture_path is None or result.texture_path.is_file()


_EXTREMES = st.sampled_from(
    ["1e308", "-1e308", "1e999", "4.9e-324", "-0", "1_000", "0x10", "Infinity", "-nan",
     "18446744073709551616", "-9223372036854775809", "9223372036854775807", "1e5", "100001"]
)  # fmt: skip


@FUZZ
@given(
    value=_EXTREMES,
    kind=st.sampled_from(["vrml", "obj", "ply-ascii", "vrml1", "stl-ascii", "off"]),
    at=_position,
)
def test_numeric_extremes_in_any_number_are_accepted_only_when_usable(value, kind, at):
    """One number of a valid file replaced by an extreme: a usable mesh or a specific reason."""
    suffix, reader, _ = READERS[kind]
    text = valid_file(kind)
    numbers = [m for m in re.finditer(rb"(?<![\w.])-?[0-9]+(\.[0-9]+)?(e-?[0-9]+)?(?![\w.])", text)]
    match = numbers[at % len(numbers)]
    path = folder() / f"extreme-{kind}{suffix}"
    path.write_bytes(text[: match.start()] + value.encode() + text[match.end() :])
    try:
        mesh = reader(path)
    except ScanError as error:
        assert not error.reason.startswith(UNEXPECTED), error.reason
        return
    # accepted: the number was outside the parsed lists (a comment, a Viewpoint) or usable
    assert np.isfinite(mesh.vertices).all() and np.abs(mesh.vertices).max() <= 1e5
