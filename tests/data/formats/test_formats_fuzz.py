"""Fuzzing every parser with mutated valid files: the only outcomes are a result or a ScanError.

Each example starts from a valid file of the format and applies a few mutations of the kinds
real collections suffer (truncation, flipped bytes, inserted or deleted bytes, stray tokens such
as ``nan``, ``-1``, ``]`` or non-UTF-8 bytes). Beyond "no other exception", every ScanError must
come from a specific check, not from the readers' safety net (whose reasons start with
``UNEXPECTED``): a failure hypothesis finds must have a clear reason for the quarantine report.

Runs are derandomised so the suite is reproducible; raise ``max_examples`` locally to dig deeper.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from facevlm.data.errors import ScanError
from facevlm.data.formats import (
    BntScan,
    read_bnd,
    read_bnt,
    read_bnt_mesh,
    read_lm3,
    read_obj,
    read_ply,
    read_vrml,
    write_bnd,
    write_bnt,
    write_lm3,
    write_obj,
    write_ply,
    write_vrml,
)
from facevlm.data.formats._files import UNEXPECTED
from facevlm.data.mesh import FaceMesh

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
    return path.read_bytes()


READERS: dict[str, tuple[str, Callable, type | tuple]] = {
    "vrml": (".wrl", read_vrml, FaceMesh),
    "obj": (".obj", read_obj, FaceMesh),
    "ply-binary": (".ply", read_ply, FaceMesh),
    "ply-ascii": (".ply", read_ply, FaceMesh),
    "bnt": (".bnt", read_bnt, BntScan),
    "bnt-mesh": (".bnt", read_bnt_mesh, FaceMesh),
    "bnd": (".bnd", lambda p: read_bnd(p, n_vertices=10), tuple),
    "lm3": (".lm3", read_lm3, dict),
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
