"""Contact sheets: the grid's geometry, its labels and its empty cells."""

from __future__ import annotations

import numpy as np
import pytest

from facevlm.render.contact_sheet import EMPTY_CELL, SHEET_BACKGROUND, contact_sheet


def _cell(value: int, size: int = 20) -> np.ndarray:
    return np.full((size, size, 3), value, np.uint8)


def test_grid_places_every_image_in_its_cell():
    images = [[_cell(10), _cell(20), _cell(30)], [_cell(40), _cell(50), _cell(60)]]
    sheet = contact_sheet(images, padding=2)
    assert sheet.shape == (2 + 2 * 22, 2 + 3 * 22, 3) and sheet.dtype == np.uint8
    for r in range(2):
        for c in range(3):
            y, x = 2 + r * 22 + 10, 2 + c * 22 + 10
            assert sheet[y, x].tolist() == [10 * (3 * r + c + 1)] * 3


def test_labels_add_margins_and_ink():
    images = [[_cell(0), _cell(0)], [_cell(0), _cell(0)]]
    plain = contact_sheet(images, padding=2)
    labelled = contact_sheet(images, ["F0001", "M0044"], ["anger", "happiness"], padding=2)
    extra_h, extra_w = labelled.shape[0] - plain.shape[0], labelled.shape[1] - plain.shape[1]
    assert extra_h > 5 and extra_w > 15
    top_margin, left_margin = labelled[:extra_h], labelled[extra_h:, :extra_w]
    assert (top_margin != SHEET_BACKGROUND).any(axis=-1).sum() > 20, "column labels not drawn"
    assert (left_margin != SHEET_BACKGROUND).any(axis=-1).sum() > 20, "row labels not drawn"


def test_missing_cells_are_grey_and_other_sizes_are_resized():
    images = [[_cell(100), None], [_cell(100, size=40)]]
    sheet = contact_sheet(images, padding=0)
    assert sheet.shape == (40, 40, 3)
    assert sheet[5, 25].tolist() == list(EMPTY_CELL)  # None
    assert sheet[25, 25].tolist() == list(EMPTY_CELL)  # ragged row
    assert sheet[25, 5].tolist() == [100] * 3  # 40 px image shrunk into a 20 px cell


def test_grey_images_are_accepted():
    sheet = contact_sheet([[np.full((8, 8), 77, np.uint8)]], padding=0)
    assert sheet.shape == (8, 8, 3) and (sheet == 77).all()


@pytest.mark.parametrize(
    ("images", "rows", "cols"),
    [
        ([], None, None),
        ([[None]], None, None),
        ([[_cell(0)]], ["a", "b"], None),
        ([[_cell(0)]], None, ["a", "b"]),
    ],
)
def test_bad_input_is_refused(images, rows, cols):
    with pytest.raises(ValueError):
        contact_sheet(images, rows, cols)


def test_float_images_are_refused():
    with pytest.raises(ValueError, match="uint8"):
        contact_sheet([[np.zeros((4, 4, 3))]])
