"""Landmark files: index-based ``.bnd``/``.landmark`` and label-based ``.lm3``."""

from __future__ import annotations

import numpy as np
import pytest

from facevlm.scans.errors import ScanError
from facevlm.scans.formats import read_bnd, read_lm3, write_bnd, write_lm3


# ------------------------------------------------------------------------ .bnd
def test_bnd_lines_with_tabs_and_spaces(tmp_path):
    path = tmp_path / "F0001_AN01WH_F3D.bnd"
    path.write_text("12\t-38.5\t37.25\t73.0\n  7   1e1 -2 3  \n\n0 0 0 0\n")
    indices, points = read_bnd(path)

    assert indices.dtype == np.int64
    assert indices.tolist() == [12, 7, 0]  # 0-based, in file order
    np.testing.assert_array_equal(points, [[-38.5, 37.25, 73.0], [10.0, -2.0, 3.0], [0, 0, 0]])


def test_bnd_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    indices = rng.integers(0, 7968, size=83)
    points = rng.normal(scale=50, size=(83, 3))
    write_bnd(tmp_path / "a.bnd", indices, points)
    back_indices, back_points = read_bnd(tmp_path / "a.bnd", n_vertices=7968)

    np.testing.assert_array_equal(back_indices, indices)
    np.testing.assert_array_equal(back_points, points)


def test_bu4dfe_landmark_extension_reads_the_same(tmp_path):
    write_bnd(tmp_path / "000.landmark", [1, 2], [[0, 1, 2], [3, 4, 5]])

    assert read_bnd(tmp_path / "000.landmark")[0].tolist() == [1, 2]


def test_bnd_index_beyond_the_mesh(tmp_path):
    write_bnd(tmp_path / "a.bnd", [3, 10], [[0, 0, 0], [1, 1, 1]])

    assert len(read_bnd(tmp_path / "a.bnd", n_vertices=11)[0]) == 2
    with pytest.raises(ScanError, match="out of range"):
        read_bnd(tmp_path / "a.bnd", n_vertices=10)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("1 2 3\n", "fields"),
        ("1 2 3 4 5\n", "fields"),
        ("x 2 3 4\n", "not a number"),
        ("1.5 2 3 4\n", "integer"),
        ("-1 2 3 4\n", "out of range"),
        ("1 2 nan 4\n", "NaN"),
        ("1 2 y 4\n", "not numbers"),
    ],
)
def test_bnd_bad_lines(tmp_path, text, reason):
    path = tmp_path / "a.bnd"
    path.write_text(text)
    with pytest.raises(ScanError, match=reason) as info:
        read_bnd(path)
    assert info.value.path == path


def test_bnd_not_text(tmp_path):
    path = tmp_path / "a.bnd"
    path.write_bytes(b"1 2 3 4\n\xff\xfe\n")
    with pytest.raises(ScanError, match="UTF-8"):
        read_bnd(path)


# ------------------------------------------------------------------------ .lm3
LM3 = """# LANDMARKS 3D

3 landmarks:
Outer left eyebrow
-57.2 35.3 -7.38
# an occluded landmark is simply absent
Nose tip
0.5 -1.25e1 102
Left mouth corner
-25 -40 70
"""


def test_lm3_is_parsed_by_label(tmp_path):
    path = tmp_path / "bs000_N_N_0.lm3"
    path.write_text(LM3)
    landmarks = read_lm3(path)

    assert list(landmarks) == ["Outer left eyebrow", "Nose tip", "Left mouth corner"]
    np.testing.assert_array_equal(landmarks["Nose tip"], [0.5, -12.5, 102.0])
    assert "Right mouth corner" not in landmarks


def test_lm3_round_trip(tmp_path):
    points = {"Nose tip": np.array([0.1, 0.2, 0.3]), "Chin middle": np.array([-1.0, -80.5, 60.0])}
    write_lm3(tmp_path / "a.lm3", points)
    back = read_lm3(tmp_path / "a.lm3")

    assert back.keys() == points.keys()
    for label, point in points.items():
        np.testing.assert_array_equal(back[label], point)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Nose tip\n1 2 3\n", "header"),
        ("2 landmarks:\nNose tip\n1 2 3\n", "declares 2"),
        ("1 landmarks:\nNose tip\n", "truncated"),
        ("2 landmarks:\nNose tip\nChin\n1 2 3\n", "no coordinates"),
        ("1 landmarks:\n1 2 3\n", "without a label"),
        ("2 landmarks:\nA\n1 2 3\nA\n4 5 6\n", "twice"),
        ("1 landmarks:\nA\n1 nan 3\n", "NaN"),
    ],
)
def test_lm3_bad_files(tmp_path, text, reason):
    path = tmp_path / "a.lm3"
    path.write_text(text)
    with pytest.raises(ScanError, match=reason):
        read_lm3(path)


@pytest.mark.parametrize("label", ["", " padded", "two\nlines", "# comment", "1 2 3"])
def test_lm3_writer_refuses_labels_that_cannot_be_read_back(tmp_path, label):
    with pytest.raises(ValueError):
        write_lm3(tmp_path / "a.lm3", {label: [0, 0, 0]})
