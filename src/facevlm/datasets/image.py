"""A versioned PIL image dataset that Kedro-Viz can preview.

``kedro_datasets.pillow.ImageDataset`` saves and versions images but has no ``preview()``, so the
contact sheet and other report images would show as blank nodes in Kedro-Viz. This subclass adds
the preview (the saved file itself, base64-encoded) and nothing else.
"""

from __future__ import annotations

import base64

from kedro.io.core import get_filepath_str
from kedro_datasets._typing import ImagePreview
from kedro_datasets.pillow import ImageDataset


class PreviewableImageDataset(ImageDataset):
    """``pillow.ImageDataset`` with a Kedro-Viz image preview of the latest saved version."""

    def preview(self) -> ImagePreview:
        load_path = get_filepath_str(self._get_load_path(), self._protocol)
        with self._fs.open(load_path, mode="rb") as image_file:
            return ImagePreview(base64.b64encode(image_file.read()).decode("utf-8"))
