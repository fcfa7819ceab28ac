"""Report figures drawn to PNG once, however many places keep them.

Why: a model report's figures go to two places, the catalog's versioned PNG files (which
Kedro-Viz previews) and the model's MLflow run, and matplotlib draws a figure afresh on every
save: its constrained layout solved and every tick label laid out again, a quarter to most of
a second a figure on one CPU core, for each of a report's four figures. The first save draws
the figure and keeps its bytes with it; every later save of the same figure writes those bytes.

A figure is drawn once only if it is not changed after its first save: the nodes that make
report figures return finished figures, and the datasets below are all that save them.
"""

from __future__ import annotations

import io
import weakref
from typing import Any

from kedro_datasets.matplotlib import MatplotlibDataset
from matplotlib.figure import Figure

#: Each figure's drawn files by save arguments; a figure's entry goes with the figure.
_DRAWN: weakref.WeakKeyDictionary[Figure, dict[str, bytes]] = weakref.WeakKeyDictionary()


def figure_file_bytes(figure: Figure, **save_args: Any) -> bytes:
    """The file ``figure.savefig`` writes with ``save_args`` (PNG unless ``format`` says
    otherwise): drawn on the first call, the same bytes on every later call with the same
    figure and arguments."""
    save_args = {"format": "png", **save_args}
    key = repr(sorted(save_args.items()))
    drawn = _DRAWN.setdefault(figure, {})
    if key not in drawn:
        buffer = io.BytesIO()
        figure.savefig(buffer, **save_args)
        drawn[key] = buffer.getvalue()
    return drawn[key]


class FigureDataset(MatplotlibDataset):
    """kedro-datasets' ``matplotlib.MatplotlibDataset`` (versioned PNG files, previewed in
    Kedro-Viz) that writes :func:`figure_file_bytes`: a figure already logged to the model's
    MLflow run is not drawn again."""

    def _save_to_fs(self, full_key_path: str, plot: Figure) -> None:
        with self._fs.open(full_key_path, **self._fs_open_args_save) as file:
            file.write(figure_file_bytes(plot, **self._save_args))
