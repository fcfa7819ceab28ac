"""Which recognition task a dataset serves: static 3D, dynamic 4D, or micro-expressions.

Runs are compared within a task (a 4DME accuracy over five micro-expression classes says nothing
next to a BU-3DFE accuracy over six emotions), so every model run is tagged with one:

- ``fer3d``: static 3D facial-expression recognition (BU-3DFE, Bosphorus);
- ``fer4d``: dynamic 4D facial-expression recognition (BU-4DFE, BP4D-Spontaneous);
- ``mer``: micro-expression recognition (4DME).

The synthetic set's records carry their layout (``synthetic-bu3dfe``), so they map the same way.
"""

from __future__ import annotations

from collections.abc import Iterable

from facevlm.scans.layouts.base import base_dataset, canonical_layout_name

TASKS = ("fer3d", "fer4d", "mer")

_TASK_OF_LAYOUT = {
    "bu3dfe": "fer3d",
    "bosphorus": "fer3d",
    "bu4dfe": "fer4d",
    "bp4d": "fer4d",
    "4dme": "mer",
}


def task_of(datasets: str | Iterable[str]) -> str:
    """The task of one dataset tag, or of several that must agree.

    >>> task_of(["synthetic-bu3dfe"])
    'fer3d'

    Raises:
        ValueError: an unknown dataset, no dataset at all, or datasets of different tasks.
    """
    names = [datasets] if isinstance(datasets, str) else list(datasets)
    if not names:
        raise ValueError("task_of needs at least one dataset name")
    tasks = set()
    for name in names:
        try:
            layout = canonical_layout_name(base_dataset(str(name)))
        except KeyError as error:
            raise ValueError(f"no task for dataset {name!r}: {error.args[0]}") from None
        if layout not in _TASK_OF_LAYOUT:  # the bare synthetic set: its layouts mix tasks
            raise ValueError(
                f"no task for dataset {name!r}: name one layout (e.g. synthetic-bu3dfe)"
            )
        tasks.add(_TASK_OF_LAYOUT[layout])
    if len(tasks) > 1:
        raise ValueError(f"datasets {names} belong to different tasks: {sorted(tasks)}")
    return tasks.pop()
