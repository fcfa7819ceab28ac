"""A labelled grid of images, e.g. the "subjects x expressions" sheet that shows at a glance
whether the renders look right (orientation, texture, framing) across a dataset.

Pure PIL and numpy: no plotting library, so it runs in a worker or a Kedro node and the result
is an ordinary ``(H, W, 3)`` uint8 array that any image dataset can save.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

#: Colour of the margins and of empty cells, and of the label text.
SHEET_BACKGROUND = (255, 255, 255)
EMPTY_CELL = (200, 200, 200)
TEXT_COLOUR = (0, 0, 0)


def _as_rgb_image(image: np.ndarray) -> Image.Image:
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.dtype != np.uint8:
        raise ValueError(f"contact sheet images must be uint8, got {array.dtype}")
    return Image.fromarray(array).convert("RGB")


def contact_sheet(
    images: Sequence[Sequence[np.ndarray | None]],
    row_labels: Sequence[str] | None = None,
    column_labels: Sequence[str] | None = None,
    cell_size: tuple[int, int] | None = None,
    padding: int = 4,
    font_size: int = 14,
) -> np.ndarray:
    """Compose ``images[row][column]`` into one ``(H, W, 3)`` uint8 grid with labels.

    Args:
        images: rows of images (``(h, w)``, ``(h, w, 1|3|4)`` uint8); ``None`` leaves a grey cell.
            Rows may be ragged; missing cells are grey.
        row_labels: one label per row, drawn in a left margin.
        column_labels: one label per column, drawn in a top margin.
        cell_size: ``(width, height)`` of every cell; default the first image's size. Images of
            another size are resized to it.
        padding: pixels between cells and around the grid.
        font_size: label size in pixels (PIL's built-in scalable font).
    """
    n_rows = len(images)
    n_cols = max((len(row) for row in images), default=0)
    if n_rows == 0 or n_cols == 0:
        raise ValueError("contact sheet needs at least one image")
    if row_labels is not None and len(row_labels) != n_rows:
        raise ValueError(f"{len(row_labels)} row labels for {n_rows} rows")
    if column_labels is not None and len(column_labels) != n_cols:
        raise ValueError(f"{len(column_labels)} column labels for {n_cols} columns")
    if cell_size is None:
        first = next((im for row in images for im in row if im is not None), None)
        if first is None:
            raise ValueError("contact sheet needs at least one image")
        cell_size = (int(np.shape(first)[1]), int(np.shape(first)[0]))
    cell_w, cell_h = cell_size

    font = ImageFont.load_default(size=font_size)
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))

    def text_size(text: str) -> tuple[int, int]:
        left, top, right, bottom = measure.textbbox((0, 0), text, font=font)
        return right - left, bottom - top

    left_margin = (
        max(text_size(label)[0] for label in row_labels) + 2 * padding if row_labels else 0
    )
    top_margin = (
        max(text_size(label)[1] for label in column_labels) + 2 * padding if column_labels else 0
    )
    width = left_margin + padding + n_cols * (cell_w + padding)
    height = top_margin + padding + n_rows * (cell_h + padding)
    sheet = Image.new("RGB", (width, height), SHEET_BACKGROUND)
    draw = ImageDraw.Draw(sheet)

    for r in range(n_rows):
        y = top_margin + padding + r * (cell_h + padding)
        for c in range(n_cols):
            x = left_margin + padding + c * (cell_w + padding)
            image = images[r][c] if c < len(images[r]) else None
            if image is None:
                draw.rectangle([x, y, x + cell_w - 1, y + cell_h - 1], fill=EMPTY_CELL)
                continue
            cell = _as_rgb_image(image)
            if cell.size != (cell_w, cell_h):
                cell = cell.resize((cell_w, cell_h), Image.Resampling.BILINEAR)
            sheet.paste(cell, (x, y))
        if row_labels:
            text_w, text_h = text_size(row_labels[r])
            draw.text(
                (left_margin - padding - text_w, y + (cell_h - text_h) // 2),
                row_labels[r],
                fill=TEXT_COLOUR,
                font=font,
            )
    for c, label in enumerate(column_labels or []):
        text_w, _ = text_size(label)
        x = left_margin + padding + c * (cell_w + padding)
        draw.text((x + (cell_w - text_w) // 2, padding), label, fill=TEXT_COLOUR, font=font)
    return np.asarray(sheet)
