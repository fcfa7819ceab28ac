"""FACS-coded expression tables into bank rows: each row's action units through the one FACS
to ARKit mapping (:mod:`facevlm.expression_bank.facs`).

A table is a CSV with ``subject``, ``emotion`` and the units, either as FACS notation in an
``action_units`` column (``1+2+5B+L12C+25``, NetFACS' ``1_2_5_25_27``) or as one 0/1 column per
unit (``AU12`` or ``12``, NetFACS' matrix); ``item`` or ``sequence`` names the expression (else
its row number). The project ships CK+'s codes as NetFACS publishes them
(``package:ckplus_facs_netfacs.csv``).

Why intensities are drawn: most published codes say which units are present, not how strongly
(CK+'s as NetFACS has them carry none), while the bank holds weights. A unit without an
intensity letter gets one drawn from ``intensity_range``, by a generator keyed by the seed, the
table's name and the row's id (:func:`~facevlm.expression_bank.facs.expression_rng`): the same
parameters give the same bank, and a row's weights do not move when other rows are added.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from facevlm.expression_bank.bank import FACS, Expression, Outcome, Skipped
from facevlm.expression_bank.config import ExpressionBankConfig, FacsTable
from facevlm.expression_bank.emotions import emotion_name
from facevlm.expression_bank.facs import (
    ARKIT_AUS,
    activation_json,
    arkit_weights,
    draw_activation,
    expression_rng,
    notation,
    parse_action_units,
)

#: A 0/1 column of one unit in a wide table: ``AU12``, ``au12`` or ``12``.
_UNIT_COLUMN = re.compile(r"^(?:AU)?\s*(\d+)$", re.IGNORECASE)


def read_facs_table(path: Path) -> pd.DataFrame:
    """A FACS table in the long form: ``item``, ``subject``, ``emotion``, ``action_units``
    (a wide table's 0/1 unit columns joined into notation).

    Raises ValueError when the table lacks the columns the bank needs, or a unit column holds
    anything but 0 and 1: the table as a whole cannot be read.
    """
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = {"subject", "emotion"} - set(table.columns)
    if missing:
        raise ValueError(
            f"{path}: a FACS table needs subject and emotion; missing {sorted(missing)}"
        )
    if "item" in table:
        items = table["item"]
    elif "sequence" in table:
        items = table["sequence"]
    else:
        items = pd.Series([f"row {n}" for n in range(1, len(table) + 1)])
    if "action_units" in table:
        units = table["action_units"]
    else:
        unit_columns = {c: int(m.group(1)) for c in table if (m := _UNIT_COLUMN.match(c))}
        if not unit_columns:
            raise ValueError(
                f"{path}: a FACS table needs an action_units column (FACS notation, 1+2+12C) or "
                "one 0/1 column per unit (AU12 or 12)"
            )
        units = _join_unit_columns(path, table, unit_columns)
    return pd.DataFrame(
        {
            "item": items.astype(str).to_numpy(),
            "subject": table["subject"].to_numpy(),
            "emotion": table["emotion"].to_numpy(),
            "action_units": units.to_numpy(),
        }
    )


def _join_unit_columns(path: Path, table: pd.DataFrame, columns: dict[str, int]) -> pd.Series:
    present = {}
    for column, au in columns.items():
        values = pd.to_numeric(table[column].replace("", "0"), errors="coerce")
        if not values.isin([0, 1]).all():
            raise ValueError(
                f"{path}: unit column {column!r} holds values other than 0 and 1; give "
                "intensities as FACS letters in an action_units column (12C)"
            )
        present[au] = values.astype(bool).to_numpy()
    order = sorted(present)
    return pd.Series(
        ["+".join(str(au) for au in order if present[au][i]) for i in range(len(table))]
    )


def facs_expressions(source: str, table: FacsTable, config: ExpressionBankConfig, outcome: Outcome):
    """Every row of one FACS ``table`` into ``outcome``: a bank row with its weights, or a
    report row (a label the bank does not keep, codes that are not FACS notation). A unit with
    no ARKit channel is left out of the row's weights and named in the report, the row kept."""
    rows = read_facs_table(table.file())
    for row in rows.itertuples(index=False):

        def skip(reason: str, in_bank: bool = False, item: str = row.item) -> None:
            outcome.skip(Skipped(source, FACS, item, reason, in_bank))

        emotion = emotion_name(row.emotion, table.labels)
        if emotion not in config.emotions:
            skip(
                f"emotion {row.emotion!r} is not one of the bank's emotions {list(config.emotions)}"
            )
            continue
        if not str(row.subject).strip():
            skip("no subject")
            continue
        try:
            units = parse_action_units(row.action_units)
        except ValueError as error:
            skip(f"action units {row.action_units!r}: {error}")
            continue
        unmapped = sorted({u.au for u in units} - ARKIT_AUS)
        if unmapped:
            names = "+".join(str(au) for au in unmapped)
            skip(f"AU {names}: no ARKit blend shape, left out of its weights", in_bank=True)
        mapped = tuple(u for u in units if u.au in ARKIT_AUS)
        rng = expression_rng(config.seed, source, row.item)
        activation = draw_activation(mapped, rng, config.intensity_range)
        outcome.add(
            Expression(
                source=source,
                kind=FACS,
                item=row.item,
                subject=str(row.subject).strip(),
                emotion=emotion,
                weights=arkit_weights(activation),
                action_units=notation(units),
                au_activation=activation_json(activation),
            )
        )


def read_facs_tables(config: ExpressionBankConfig, outcome: Outcome) -> None:
    """Every FACS table of ``config`` that is switched on into ``outcome``."""
    for source, table in config.facs_tables.items():
        if table.enabled:
            facs_expressions(source, table, config, outcome)
