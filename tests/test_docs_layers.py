"""The architecture page draws the layers ``tests/test_layers.py`` holds the imports to.

``LAYERS`` is the one order of the package's layers; the page's table under "The layers" lists
them, one row a layer, bottom to top. A layer added to ``LAYERS`` without a row (or a row left
for a layer that went) fails here, not in a reader's head.
"""

from __future__ import annotations

import re
from pathlib import Path

from test_layers import LAYERS

PAGE = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


def layer_table(markdown: str) -> list[str]:
    """The package of each row of the first table under "## The layers", in order: the first
    folder its package column names."""
    section = markdown.split("## The layers", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")][2:]
    packages = []
    for row in rows:
        cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
        folder = re.search(r"`(\w+)/`", cells[1])
        packages.append(folder[1] if folder else cells[1])
    return packages


def test_the_architecture_page_draws_every_layer_in_order():
    drawn = layer_table(PAGE.read_text())
    assert drawn == list(LAYERS), (
        f"docs/architecture.md draws {drawn}; tests/test_layers.py holds {list(LAYERS)}"
    )
