"""The bank's two tables: one row per real expression, and one row per input not read as one.

An expression row holds where it came from (``source``: the photo set or FACS table's name in
the parameters; ``kind``: ``photo`` or ``facs``; ``item``: the photo's path under its set's
root, or the coded expression's id), who made it (``subject``), the ``emotion``, and the 51
ARKit-named blend-shape weights in [0, 1] (:data:`WEIGHT_COLUMNS`: ARKit's 52 but ``tongueOut``,
which the Face Landmarker does not score). A FACS row also keeps its
units as coded (``action_units``) and the weights they were given (``au_activation``, JSON
``{"12": [image-left, image-right]}``), so that a face can be posed from the units themselves.

Why a report beside it: an input that is left out silently makes a bank that looks complete
and is not, and a researcher pointing the bank at 30,000 photos needs to know which did not
count and why. Every input not in the bank is in the report with its reason; an input that is
in the bank with part of it left out (a unit with no ARKit channel) is there too, with
``in_bank`` true.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from facevlm.face_reader.landmarker import BLENDSHAPE_NAMES

PHOTO, FACS = "photo", "facs"
#: The blend-shape weight columns, in the Face Landmarker's order.
WEIGHT_COLUMNS: tuple[str, ...] = BLENDSHAPE_NAMES
#: The columns that say what each row is.
ID_COLUMNS = ("source", "kind", "item", "subject", "emotion", "action_units", "au_activation")
BANK_COLUMNS = (*ID_COLUMNS, *WEIGHT_COLUMNS)
REPORT_COLUMNS = ("source", "kind", "item", "in_bank", "reason")


class ExpressionBankError(ValueError):
    """An input the bank could not read, raised at once when the run is to fail fast."""


@dataclass(frozen=True)
class Expression:
    """One real expression: who, which emotion, and its ``(51,)`` weights (:data:`WEIGHT_COLUMNS`)."""

    source: str
    kind: str
    item: str
    subject: str
    emotion: str
    weights: np.ndarray
    action_units: str | None = None
    au_activation: str | None = None


@dataclass(frozen=True)
class Skipped:
    """An input not read as an expression (or read in part: ``in_bank``), and why."""

    source: str
    kind: str
    item: str
    reason: str
    in_bank: bool = False


@dataclass
class Outcome:
    """What reading some inputs gave: the expressions, and the inputs left out with their
    reasons. With ``fail_fast`` the first input left out raises instead."""

    fail_fast: bool = False
    expressions: list[Expression] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def add(self, expression: Expression) -> None:
        self.expressions.append(expression)

    def skip(self, skipped: Skipped) -> None:
        if self.fail_fast and not skipped.in_bank:
            raise ExpressionBankError(
                f"{skipped.source}: {skipped.item}: {skipped.reason} (expression_bank.fail_fast "
                "is set; unset it to report such inputs and go on)"
            )
        self.skipped.append(skipped)


def bank_table(expressions: Iterable[Expression]) -> pd.DataFrame:
    """The expressions as one table of :data:`BANK_COLUMNS` (weights as float32)."""
    expressions = list(expressions)
    ids = pd.DataFrame(
        [[getattr(e, column) for column in ID_COLUMNS] for e in expressions],
        columns=list(ID_COLUMNS),
        dtype=object,
    )
    weights = np.stack([e.weights for e in expressions]) if expressions else None
    weights = pd.DataFrame(
        np.zeros((0, len(WEIGHT_COLUMNS)), np.float32) if weights is None else weights,
        columns=list(WEIGHT_COLUMNS),
        dtype=np.float32,
    )
    return pd.concat([ids, weights], axis=1)


def report_table(skipped: Iterable[Skipped]) -> pd.DataFrame:
    """The inputs left out (or in part) as one table of :data:`REPORT_COLUMNS`."""
    rows = [[s.source, s.kind, s.item, s.in_bank, s.reason] for s in skipped]
    return pd.DataFrame(rows, columns=list(REPORT_COLUMNS)).astype({"in_bank": bool})
