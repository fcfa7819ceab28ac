"""The synthetic set: our generated scans, written in the *real* layouts of the five benchmarks.

The generator (:mod:`facevlm.synthetic`) writes ``<root>/BU-3DFE``, ``<root>/BU-4DFE``,
``<root>/Bosphorus``, ``<root>/BP4D`` and ``<root>/4DME``, each in that dataset's folder layout
and name grammar. Indexing them therefore goes through exactly the same layout code as the real
data — which is the point of the synthetic set: it exercises the real-data path end to end. Each
record's ``dataset`` is tagged ``synthetic-<layout>`` (``synthetic-bu3dfe``) so that synthetic and
real rows can never be confused, while :func:`~facevlm.scans.layouts.base.base_dataset`
recovers the layout for protocols.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from facevlm.scans.layouts.base import (
    SYNTHETIC_PREFIX,
    Candidate,
    TexturePolicy,
    canonical_layout_name,
    get_layout,
    list_dir,
    parse_options,
    require_dir,
)

NAME = "synthetic"

#: Layout → folder name the generator writes (any spelling that canonicalises the same is found).
STYLE_FOLDERS: dict[str, str] = {
    "bu3dfe": "BU-3DFE",
    "bu4dfe": "BU-4DFE",
    "bosphorus": "Bosphorus",
    "bp4d": "BP4D",
    "4dme": "4DME",
}


@dataclass(frozen=True)
class Options:
    """``styles``: which sub-folders to index (default: every one present). ``layouts``: options
    per style, e.g. ``{"bosphorus": {"subset": "all"}}``."""

    styles: Sequence[str] | None = None
    layouts: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


class SyntheticLayout:
    """Delegates to the dataset layouts under the synthetic root's style sub-folders.

    Texture policy is that of each style's layout; the index asks
    :func:`~facevlm.scans.layouts.base.texture_policy_for` per record.
    """

    name = NAME
    texture_policy: ClassVar[TexturePolicy] = "mesh"

    def discover(self, root: Path, options: Mapping[str, Any] | None = None) -> Iterator[Candidate]:
        opts = parse_options(Options, options, where=NAME)
        root = require_dir(root, NAME)
        folders = self.style_folders(root)
        styles = (
            list(folders)
            if opts.styles is None
            else [canonical_layout_name(s) for s in opts.styles]
        )
        if NAME in styles:
            raise ValueError(f"{NAME}: a style must be a dataset layout, not {NAME!r}")
        layout_options = {canonical_layout_name(k): v for k, v in opts.layouts.items()}
        for style in styles:
            if style not in folders:
                raise FileNotFoundError(
                    f"{NAME}: style {style} requested but {root}/{STYLE_FOLDERS[style]} is missing"
                )
            layout = get_layout(style)
            for candidate in layout.discover(folders[style], layout_options.get(style)):
                candidate = dataclasses.replace(candidate, dataset=SYNTHETIC_PREFIX + style)
                yield candidate

    @staticmethod
    def style_folders(root: Path) -> dict[str, Path]:
        """Layout → sub-folder, for the style folders present under ``root``."""
        found: dict[str, Path] = {}
        for folder in list_dir(root)[0]:
            try:
                style = canonical_layout_name(folder.name)
            except KeyError:
                continue
            if style != NAME:
                found.setdefault(style, folder)
        return found
