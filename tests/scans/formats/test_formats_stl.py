"""STL, binary and ASCII: welded connectivity, the binary-or-ASCII decision, and bad files.

The files are written by hand (``benchmarks/_scanner_files.py``) the way exporters write them: a binary file
whose 80-byte header begins with ``solid``, an ASCII file with CRLF lines and ``%e`` numbers.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from _scanner_files import face_patch, write_ascii_stl, write_binary_stl

from facevlm.scans.errors import ScanError
from facevlm.scans.formats import inspect_mesh, read_mesh, read_stl
from facevlm.scans.formats.limits import ReadLimits
from facevlm.scans.mesh import FaceMesh


def edges(mesh) -> set[tuple[int, int]]:
    """Undirected edges in coordinates (vertex numbering may differ between readers)."""
    tri = mesh.triangles()
    pairs = np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]])
    return {tuple(sorted((tuple(mesh.vertices[a]), tuple(mesh.vertices[b])))) for a, b in pairs}


@pytest.mark.parametrize("header", [b"solid face scan exported", b"binary STL \x00\x01"])
def test_binary_reads_exactly_and_welds(tmp_path, header):
    mesh = face_patch()
    corners = write_binary_stl(tmp_path / "scan.stl", mesh, header=header)
    back = read_stl(tmp_path / "scan.stl")

    assert back.metadata["encoding"] == "binary"
    assert back.n_vertices == mesh.n_vertices  # every shared vertex welded back into one
    assert back.n_polygons == len(corners) == mesh.n_triangles
    np.testing.assert_array_equal(back.vertices[back.triangles()], corners)
    assert edges(back) == edges(FaceMesh.from_triangles(mesh.vertices, mesh.triangles()))


def test_ascii_reads_exactly_and_welds(tmp_path):
    mesh = face_patch()
    corners = write_ascii_stl(tmp_path / "scan.stl", mesh)
    back = read_mesh(tmp_path / "scan.stl")

    assert back.metadata["encoding"] == "ascii"
    assert back.n_vertices == mesh.n_vertices
    # ASCII holds the decimal text: equal to the written value up to its 10 digits
    np.testing.assert_allclose(back.vertices[back.triangles()], corners, rtol=1e-9)


def test_ascii_with_odd_line_breaks_and_two_solids(tmp_path):
    text = (
        "solid a\nfacet normal 0 0 1 outer loop vertex 0 0 0 vertex 1 0 0\nvertex 0 1 0 "
        "endloop endfacet\nendsolid a\nsolid b\n  FACET NORMAL 0 0 1\n OUTER LOOP\n"
        "  VERTEX 1 0 0\n  VERTEX 1 1 0\n  VERTEX 0 1 0\n ENDLOOP\nENDFACET\nendsolid b\n"
    )
    (tmp_path / "two.stl").write_text(text)
    mesh = read_stl(tmp_path / "two.stl")

    assert mesh.n_vertices == 4 and mesh.n_polygons == 2
    assert mesh.triangles().tolist() == [[0, 1, 2], [1, 3, 2]]


def test_degenerate_facets_are_dropped_with_a_warning(tmp_path):
    mesh = face_patch()
    write_binary_stl(tmp_path / "s.stl", mesh)
    data = bytearray((tmp_path / "s.stl").read_bytes())
    # facet 0: make its second corner equal its first (a sliver with a repeated vertex)
    data[84 + 12 + 12 : 84 + 12 + 24] = data[84 + 12 : 84 + 12 + 12]
    (tmp_path / "s.stl").write_bytes(bytes(data))
    back = read_stl(tmp_path / "s.stl")

    assert back.n_polygons == mesh.n_triangles - 1
    assert "1 facets with repeated corners dropped" in back.metadata["warnings"]


def test_inspect_reports_stl(tmp_path):
    write_binary_stl(tmp_path / "scan.stl", face_patch())
    report = inspect_mesh(tmp_path / "scan.stl")

    assert (report["format"], report["encoding"]) == ("stl", "binary")
    assert report["polygon_arity"] == {"3": 50} and not report["has_vertex_colors"]


# ---------------------------------------------------------------------------------- refused
def _binary(tmp_path: Path) -> bytes:
    write_binary_stl(tmp_path / "ok.stl", face_patch())
    return (tmp_path / "ok.stl").read_bytes()


def _with_float(data: bytes, offset: int, value: float) -> bytes:
    return data[:offset] + struct.pack("<f", value) + data[offset + 4 :]


BAD_BINARY = {
    "truncated": (lambda d: d[:-7], "truncated binary STL"),
    "padded": (lambda d: d + b"\0" * 9, "unexpected bytes"),
    "NaN": (lambda d: _with_float(d, 84 + 12, float("nan")), "NaN"),
    "infinite": (lambda d: _with_float(d, 84 + 16, float("inf")), "NaN or infinite"),
    "absurd": (lambda d: _with_float(d, 84 + 16, 3e20), "absurd"),
    "huge count": (lambda d: d[:80] + struct.pack("<I", 4_000_000_000) + d[84:], "limit"),
    "zero facets": (lambda d: d[:80] + struct.pack("<I", 0), "0 facets"),
    "too short": (lambda d: b"\x01\x02" + d[2:40], "not an STL file"),
    "header only": (lambda d: d[:40], "no facets"),
    "all one point": (
        lambda d: (
            d[:84]
            + b"".join(
                d[84 + 50 * k : 84 + 50 * k + 12] + d[96:108] * 3 + b"\0\0" for k in range(50)
            )
        ),
        "degenerate",
    ),
}


@pytest.mark.parametrize("case", list(BAD_BINARY))
def test_bad_binary_files(tmp_path, case):
    change, reason = BAD_BINARY[case]
    path = tmp_path / "bad.stl"
    path.write_bytes(change(_binary(tmp_path)))
    with pytest.raises(ScanError) as info:
        read_stl(path)
    assert info.value.path == path and reason in info.value.reason, info.value.reason
    assert "\n" not in str(info.value)


GOOD_FACET = "facet normal 0 0 1\nouter loop\nvertex 0 0 0\nvertex 1 0 0\nvertex 0 1 0\n"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (GOOD_FACET + "endloop\nendfacet\n", ""),
        (GOOD_FACET.replace("vertex 0 1 0\n", "") + "endloop\nendfacet\n", "tokens"),
        (GOOD_FACET.replace("1 0 0", "1 0 0 5") + "endloop\nendfacet\n", "tokens"),
        (GOOD_FACET.replace("1 0 0", "1 x 0") + "endloop\nendfacet\n", "unexpected 'x'"),
        (GOOD_FACET.replace("1 0 0", "1 0x1 0") + "endloop\nendfacet\n", "bad number"),
        (GOOD_FACET.replace("1 0 0", "1 nan 0") + "endloop\nendfacet\n", "unexpected 'nan'"),
        (GOOD_FACET.replace("1 0 0", "1 1e999 0") + "endloop\nendfacet\n", "NaN or infinite"),
        (GOOD_FACET.replace("outer", "outre") + "endloop\nendfacet\n", "'outre' where 'outer'"),
        (GOOD_FACET.replace("1 0 0", "1,0,0") + "endloop\nendfacet\n", "','"),
        (GOOD_FACET, "tokens"),
        ("", "no facets"),
    ],
)
def test_bad_ascii_files(tmp_path, body, reason):
    path = tmp_path / "bad.stl"
    path.write_text(f"solid bad\n{body}endsolid bad\n")
    if not reason:
        assert read_stl(path).n_polygons == 1  # the unchanged facet reads
        return
    with pytest.raises(ScanError) as info:
        read_stl(path)
    assert info.value.path == path and reason in info.value.reason, info.value.reason


def test_facet_limit_is_checked_before_parsing(tmp_path):
    write_binary_stl(tmp_path / "s.stl", face_patch())
    with pytest.raises(ScanError, match="limits.max_polygons"):
        read_mesh(tmp_path / "s.stl", limits=ReadLimits(max_polygons=10))
    write_ascii_stl(tmp_path / "a.stl", face_patch())
    with pytest.raises(ScanError, match="limits.max_polygons"):
        read_mesh(tmp_path / "a.stl", limits=ReadLimits(max_polygons=10))


def test_weld_merges_only_bit_equal_points_in_order_of_first_appearance():
    from facevlm.scans.formats.stl import weld

    one_ulp = np.nextafter(1.0, 2.0)
    corners = np.array(
        [
            [[5, 0, 0], [1, 0, 0], [0, 1, 0]],
            [[1, 0, 0], [one_ulp, 0, 0], [0, 1, -0.0]],  # -0.0 is the same point as 0.0
        ]
    )
    vertices, triangles = weld(corners, Path("x.stl"), max_vertices=10)

    assert vertices.tolist() == [[5, 0, 0], [1, 0, 0], [0, 1, 0], [one_ulp, 0, 0]]
    assert triangles.tolist() == [[0, 1, 2], [1, 3, 2]]
