"""Convert NetFACS' CK+ codes (``data/emotions_set.RData``) into the CSV the expression bank ships.

The NetFACS R package (https://github.com/NetFACS/NetFACS, Apache-2.0) publishes the FACS codes
of the 327 emotion-labelled CK+ peak frames as an R list: a 0/1 matrix of 23 action units and a
table of subject, video, AU combination and emotion. This writes them as
``src/facevlm/expression_bank/data/ckplus_facs_netfacs.csv``: subject, sequence, emotion (CK+'s
labels as NetFACS spells them) and action_units (FACS notation, ``6+12+25``).

The units are the matrix's, plus any unit of the row's combination string that the matrix has
no column for (CK+ codes AU13 and AU28 a few times, NetFACS' matrix keeps 23 units); a token of
the string that is not a unit number (``1.7`` once) is left out and printed.

Needs ``rdata`` (``uv pip install rdata``), which the package itself does not:

    git --git-dir=<NetFACS mirror> show HEAD:data/emotions_set.RData > /tmp/emotions_set.RData
    python tools/netfacs_to_csv.py /tmp/emotions_set.RData
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

OUT = (
    Path(__file__).resolve().parents[1]
    / "src"
    / "facevlm"
    / "expression_bank"
    / "data"
    / "ckplus_facs_netfacs.csv"
)


def netfacs_rows(matrix: pd.DataFrame, info: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The CSV's rows from NetFACS' unit matrix (rows in ``info``'s order, one column per unit
    number) and its ``info`` table; and the tokens of the combination strings left out."""
    if len(matrix) != len(info):
        raise ValueError(f"{len(matrix)} matrix rows but {len(info)} info rows")
    left_out = []
    rows = []
    for (_, present), (_, meta) in zip(matrix.iterrows(), info.iterrows(), strict=True):
        units = {int(au) for au, value in present.items() if value}
        for token in str(meta["AU.combination"]).split("_"):
            if token.isdigit():
                units.add(int(token))
            else:
                left_out.append(f"{meta['video']}: {token!r}")
        rows.append(
            {
                "subject": meta["subject"],
                "sequence": meta["video"],
                "emotion": meta["emotion"],
                "action_units": "+".join(str(au) for au in sorted(units)),
            }
        )
    return pd.DataFrame(rows), left_out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rdata", type=Path, help="NetFACS' data/emotions_set.RData")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    import rdata

    matrix, info = rdata.read_rda(str(args.rdata))["emotions_set"]
    table, left_out = netfacs_rows(matrix.to_pandas(), info)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False, lineterminator="\n")
    print(f"wrote {len(table)} rows of {table['subject'].nunique()} subjects to {args.out}")
    for token in left_out:
        print(f"left out, not a unit: {token}")


if __name__ == "__main__":
    main()
