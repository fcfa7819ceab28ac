"""Synthetic discovery: the real layouts under style sub-folders, tagged ``synthetic-<layout>``."""

from __future__ import annotations

from pathlib import Path

import pytest
from layout_files import bosphorus_tree, bu3dfe_tree, bu4dfe_tree

from facevlm.scans.layouts.base import Rejected, ScanRecord, get_layout


def discover(root: Path, options: dict | None = None) -> list:
    return list(get_layout("synthetic").discover(root, options))


def test_each_style_folder_goes_through_its_real_layout(tmp_path: Path) -> None:
    a = bu3dfe_tree(tmp_path / "BU-3DFE")
    b = bu4dfe_tree(tmp_path / "BU-4DFE")
    (tmp_path / "renders").mkdir()  # not a style: ignored
    found = discover(tmp_path)
    records = [c for c in found if isinstance(c, ScanRecord)]
    assert not [c for c in found if isinstance(c, Rejected)]
    assert {r.path for r in records} == set(a.good) | set(b.good)
    for r in records:
        expected = "synthetic-bu3dfe" if r.path.is_relative_to(a.root) else "synthetic-bu4dfe"
        assert r.dataset == expected
    real = {r.path: r for r in get_layout("bu3dfe").discover(a.root)}
    for r in records:  # same metadata as the real layout gives, only the tag differs
        if r.dataset == "synthetic-bu3dfe":
            assert (r.subject, r.expression, r.intensity) == (
                real[r.path].subject,
                real[r.path].expression,
                real[r.path].intensity,
            )


def test_styles_and_per_style_options(tmp_path: Path) -> None:
    bu3dfe_tree(tmp_path / "BU-3DFE")
    tree = bosphorus_tree(tmp_path / "Bosphorus")
    records = discover(
        tmp_path, {"styles": ["bosphorus"], "layouts": {"Bosphorus": {"subset": "all"}}}
    )
    assert {r.path for r in records} == set(tree.good)
    assert {r.dataset for r in records} == {"synthetic-bosphorus"}


def test_rejections_carry_the_style(tmp_path: Path) -> None:
    tree = bu3dfe_tree(tmp_path / "BU-3DFE", corrupt=True)
    rejected = [c for c in discover(tmp_path) if isinstance(c, Rejected)]
    assert rejected and all(r.dataset == "synthetic-bu3dfe" for r in rejected)
    assert {r.path for r in rejected} <= set(tree.bad)


def test_requesting_an_absent_style_is_an_error(tmp_path: Path) -> None:
    bu3dfe_tree(tmp_path / "BU-3DFE")
    with pytest.raises(FileNotFoundError, match="BP4D"):
        discover(tmp_path, {"styles": ["bp4d"]})
