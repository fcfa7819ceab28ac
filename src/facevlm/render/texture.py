"""Texture images: load them from disk and hand them to VTK the right way up.

The one subtle point is orientation. :class:`FaceMesh` UVs follow VRML/OpenGL, ``v`` measured
from the *bottom* of the image; an image array (PIL, numpy) has row 0 at the *top*; a
``vtkImageData`` stores its first row at the bottom and VTK samples it with ``v`` from the bottom.
So the array is flipped upside down once, here, and nowhere else.

Loading is guarded like reading a scan: the file must be a regular file within
``limits.max_texture_bytes`` and its header must declare at most ``limits.max_texture_pixels``
(:func:`facevlm.scans.formats._textures.texture_problem`), checked before a pixel is decoded, so a
few-hundred-byte PNG declaring 100,000 x 100,000 pixels is a :class:`ScanError`, not a
``DecompressionBombError`` traceback or gigabytes of memory.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from vtkmodules.util.numpy_support import numpy_to_vtk
from vtkmodules.vtkCommonDataModel import vtkImageData

from facevlm.scans.errors import ScanError
from facevlm.scans.formats._files import ReadScope
from facevlm.scans.formats._textures import texture_problem
from facevlm.scans.formats.limits import ReadLimits


def load_texture(path: str | Path, limits: ReadLimits | None = None) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB, row 0 at the top; raise :class:`ScanError` if unreadable or
    above the limits (default limits when ``limits`` is None)."""
    problem = texture_problem(path, ReadScope.around(path, limits=limits))
    if problem:
        raise ScanError(path, problem)
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as exc:
        raise ScanError(path, f"cannot read texture image: {exc}") from exc


def as_rgb(texture: np.ndarray) -> np.ndarray:
    """Validate a texture array and return it as ``(H, W, 3)`` uint8 (grey and RGBA accepted)."""
    texture = np.asarray(texture)
    if texture.ndim == 2:
        texture = np.repeat(texture[..., None], 3, axis=2)
    if texture.ndim != 3 or texture.shape[2] not in (3, 4) or min(texture.shape[:2]) == 0:
        raise ValueError(f"texture must be (H, W), (H, W, 3) or (H, W, 4), got {texture.shape}")
    if texture.dtype != np.uint8:
        raise ValueError(f"texture must be uint8, got {texture.dtype}")
    return texture[..., :3]


def to_vtk_image(texture: np.ndarray) -> vtkImageData:
    """A ``vtkImageData`` of the texture, flipped so that VRML ``v`` (from the bottom) is right."""
    rgb = as_rgb(texture)
    height, width = rgb.shape[:2]
    flipped = np.ascontiguousarray(rgb[::-1]).reshape(-1, 3)
    image = vtkImageData()
    image.SetDimensions(width, height, 1)
    image.GetPointData().SetScalars(numpy_to_vtk(flipped, deep=True))
    return image
