"""Texture loading and validation (orientation is checked by rendering in test_renderer)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from vtkmodules.util.numpy_support import vtk_to_numpy

from facevlm.render.texture import as_rgb, load_texture, to_vtk_image
from facevlm.scans.errors import ScanError


def test_load_texture_returns_rgb_rows_from_the_top(tmp_path):
    image = np.zeros((4, 6, 3), np.uint8)
    image[0] = 255  # top row white
    path = tmp_path / "t.bmp"
    Image.fromarray(image).save(path)
    loaded = load_texture(path)
    assert loaded.shape == (4, 6, 3) and loaded[0].min() == 255 and loaded[1:].max() == 0


def test_load_texture_converts_grey_and_rgba(tmp_path):
    Image.new("L", (5, 3), 100).save(tmp_path / "g.png")
    Image.new("RGBA", (5, 3), (1, 2, 3, 4)).save(tmp_path / "a.png")
    assert load_texture(tmp_path / "g.png").shape == (3, 5, 3)
    assert load_texture(tmp_path / "a.png")[0, 0].tolist() == [1, 2, 3]


def test_unreadable_textures_raise_scan_error_with_the_path(tmp_path):
    with pytest.raises(ScanError, match="nope.jpg"):
        load_texture(tmp_path / "nope.jpg")
    (tmp_path / "junk.bmp").write_bytes(b"not an image")
    with pytest.raises(ScanError, match="junk.bmp"):
        load_texture(tmp_path / "junk.bmp")


def test_as_rgb_accepts_grey_and_rgba_and_refuses_the_rest():
    assert as_rgb(np.zeros((2, 3), np.uint8)).shape == (2, 3, 3)
    assert as_rgb(np.zeros((2, 3, 4), np.uint8)).shape == (2, 3, 3)
    for bad in (np.zeros((2, 3, 2), np.uint8), np.zeros((2, 3, 3)), np.zeros((0, 3, 3), np.uint8)):
        with pytest.raises(ValueError):
            as_rgb(bad)


def test_vtk_image_stores_the_bottom_row_first():
    image = np.zeros((2, 3, 3), np.uint8)
    image[1] = 200  # bottom row
    vtk_image = to_vtk_image(image)
    assert vtk_image.GetDimensions() == (3, 2, 1)
    first_row = vtk_to_numpy(vtk_image.GetPointData().GetScalars())[:3]
    assert (first_row == 200).all()
