"""Real people's expressions as the synthetic subjects' recipes: CK+'s FACS codes from the
expression bank, one coded expression per subject and emotion.

Why: the EMFACS prototypes with their jitter (:mod:`.recipes`) are one hand-written way of
making each emotion, while real people make it in several (which units, how strongly). The
bank's FACS-coded rows say which units real people used; a subject posed from one wears that
person's combination of units. The units go through the project's one FACS mapping
(:data:`~facevlm.expression_bank.facs.AU_SHAPES`, which the ICT-FaceKit heads read), so a
synthetic face and the bank's row of the same units agree on what the units do.

Why each bank person is worn by one synthetic subject only: the protocols' folds split the
synthetic subjects at random (:func:`~facevlm.scans.protocols.subject_kfold`, its own seed), so
the generator cannot know which subjects will be held out together. Dealing the bank's people
into disjoint groups, one group per synthetic subject of a layout, keeps any split of those
subjects (k-fold with any seed, leave-one-subject-out, the final fit against a held-out group)
from showing a held-out subject a person a training subject wears. Each group holds at least
one person who made each of the six emotions; the rarest (fear: 25 people in CK+) bounds how
many subjects a layout can keep apart.

Why some of the bank's people are never dealt (:func:`held_out_people`): a model trained on the
bank's expressions is measured on faces wearing expressions of people it never saw
(``expressions: bank_held_out``), the question the bank exists to answer; any run's seed deals
the same people, so the yardstick stays held out whatever seed trained the model.

Intensities: CK+'s codes carry none, so each unit's weight at the expression's peak is drawn as
the bank draws it (:func:`~facevlm.expression_bank.facs.draw_activation`, keyed by the seed and
the row's id: the same seed gives the bank's own ``au_activation`` of that row), and the
BU-3DFE levels 1-4 scale it as they scale a prototype.

Units the faces do not animate (:data:`~facevlm.expression_bank.facs.CODED_AU_SHAPES`) are
posed by the animated units that move the same channel alone, at the weight the mapping gives
that channel (AU13's smile is AU12 at half weight, AU16's lower lip AU25 at twice its own, AU11
AU10 at 0.3, AU21 AU20 at 0.3): left out, a happiness coded 13+25 would be lips parted and
nothing else. A channel no animated unit moves alone (AU13's cheek puff, AU18's pucker, AU28's
lip suck: 7 of CK+'s codes) is lost.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import cache

import numpy as np

from facevlm.expression_bank.config import FacsTable
from facevlm.expression_bank.emotions import emotion_name
from facevlm.expression_bank.facs import (
    AU_SHAPES,
    CODED_AU_SHAPES,
    CodedUnit,
    draw_activation,
    expression_rng,
    parse_action_units,
)
from facevlm.expression_bank.facs_tables import read_facs_table
from facevlm.scans.labels import BASIC_EMOTIONS
from facevlm.synthetic.config import BANK_HELD_OUT_PER_EMOTION
from facevlm.synthetic.expressions.recipes import Activation

#: The bank's table the faces wear, under the source name the expression bank gives it (the
#: name keys each row's drawn intensities, as in the bank).
BANK_SOURCE = "ckplus_netfacs"
BANK_TABLE = FacsTable(path="package:ckplus_facs_netfacs.csv")
#: The peak intensities drawn for units the codes give none: the bank's default (FACS C to E).
BANK_INTENSITY_RANGE = (0.6, 1.0)
#: Which of the bank's people each bank source deals (``SyntheticConfig.expressions``).
BANK_POOLS = {"bank": "training", "bank_held_out": "held_out"}
#: Seeds the choice of the held-out people: fixed, so that every run leaves out the same ones.
HELD_OUT_PEOPLE_SEED = 20261129
#: Orders of a pool's people tried before :func:`bank_groups` gives up (each order is one deal).
DEAL_ATTEMPTS = 100


def _stand_ins() -> dict[int, tuple[tuple[int, float], ...]]:
    """``coded unit -> ((animated unit, weight per unit), ...)``: for each channel of a unit the
    faces do not animate, the animated unit whose only channel it is (module docstring)."""
    alone = {
        next(iter(s)): (au, g) for au, s in AU_SHAPES.items() for g in s.values() if len(s) == 1
    }
    stand_ins = {}
    for au, shapes in CODED_AU_SHAPES.items():
        stand_ins[au] = tuple(
            (alone[shape][0], gain / alone[shape][1])
            for shape, gain in shapes.items()
            if shape in alone
        )
    return stand_ins


#: How the faces pose each unit they do not animate.
STAND_INS: dict[int, tuple[tuple[int, float], ...]] = _stand_ins()


@dataclass(frozen=True)
class BankExpression:
    """One coded expression of the bank: who made it, the emotion, its units as coded."""

    item: str
    subject: str
    emotion: str
    units: tuple[CodedUnit, ...]


@cache
def bank_expressions() -> tuple[BankExpression, ...]:
    """The shipped CK+ rows of the six basic emotions (contempt and neutral left out)."""
    rows = []
    for row in read_facs_table(BANK_TABLE.file()).itertuples(index=False):
        emotion = emotion_name(row.emotion)
        if emotion not in BASIC_EMOTIONS:
            continue
        units = parse_action_units(row.action_units)
        rows.append(BankExpression(str(row.item), str(row.subject).strip(), emotion, units))
    return tuple(rows)


def _emotions_made(rows: tuple[BankExpression, ...]) -> dict[str, set[str]]:
    """``person -> the basic emotions they made`` among ``rows``."""
    return {
        p: {r.emotion for r in rows if r.subject == p} for p in sorted({r.subject for r in rows})
    }


def _rarest_first(made: dict[str, set[str]]) -> list[str]:
    """The basic emotions, the one fewest people made first."""
    return sorted(BASIC_EMOTIONS, key=lambda e: (sum(e in m for m in made.values()), e))


@cache
def held_out_people() -> frozenset[str]:
    """The bank's people that ``expressions: bank`` never deals and ``bank_held_out`` deals alone:
    at least :data:`~facevlm.synthetic.config.BANK_HELD_OUT_PER_EMOTION` people of each emotion,
    the rarest emotion's chosen first, in an order drawn with a fixed seed."""
    made = _emotions_made(bank_expressions())
    rng = np.random.default_rng(HELD_OUT_PEOPLE_SEED)
    people = list(made)
    free = [people[i] for i in rng.permutation(len(people))]
    held: set[str] = set()
    for emotion in _rarest_first(made):
        while sum(emotion in made[p] for p in held) < BANK_HELD_OUT_PER_EMOTION:
            person = next(p for p in free if emotion in made[p])
            free.remove(person)
            held.add(person)
    return frozenset(held)


def _deal(
    people: list[str], made: dict[str, set[str]], n_groups: int, rng: np.random.Generator
) -> list[list[str]] | None:
    """``people`` in an order drawn by ``rng``, dealt into ``n_groups`` groups that each hold
    every emotion, or None when this order runs out of someone for a group.

    The people who made the rarest emotion are dealt first, one to each group lacking it, then
    the next rarest among those left; the rest are dealt in turn, so a group has more than one
    way of making most emotions."""
    free = [people[i] for i in rng.permutation(len(people))]
    members: list[list[str]] = [[] for _ in range(n_groups)]
    covered: list[set[str]] = [set() for _ in range(n_groups)]
    for emotion in _rarest_first(made):
        for group in range(n_groups):
            if emotion in covered[group]:
                continue
            person = next((p for p in free if emotion in made[p]), None)
            if person is None:
                return None
            free.remove(person)
            members[group].append(person)
            covered[group] |= made[person]
    for turn, person in enumerate(free):
        members[turn % n_groups].append(person)
    return members


@cache
def bank_groups(
    n_groups: int, seed: int, key: str, pool: str = "training"
) -> tuple[dict[str, tuple[BankExpression, ...]], ...]:
    """The people of the bank's ``pool`` (``training``: all but :func:`held_out_people`;
    ``held_out``: those alone) dealt into ``n_groups`` disjoint groups, each holding every basic
    emotion: ``group -> emotion -> rows``. Seeded by ``seed`` and ``key`` (a layout's name).

    A deal (:func:`_deal`) can leave a group without an emotion that another order of the same
    people covers; it is drawn again, up to :data:`DEAL_ATTEMPTS` times.

    Raises ValueError for another pool, or when no deal of the pool covers ``n_groups``.
    """
    if pool not in BANK_POOLS.values():
        raise ValueError(f"bank pool must be one of {sorted(BANK_POOLS.values())}, got {pool!r}")
    held = held_out_people()
    rows = tuple(r for r in bank_expressions() if (r.subject in held) == (pool == "held_out"))
    made = _emotions_made(rows)
    rng = np.random.default_rng([int(seed), zlib.crc32(key.encode())])
    for _ in range(DEAL_ATTEMPTS):
        members = _deal(list(made), made, n_groups, rng)
        if members is not None:
            break
    else:
        raise ValueError(
            f"the expression bank cannot keep {n_groups} synthetic subjects apart: too few of "
            f"its {pool} people made each emotion; use fewer subjects per layout"
        )
    groups = []
    for group in members:
        mine = set(group)
        groups.append(
            {
                e: tuple(r for r in rows if r.subject in mine and r.emotion == e)
                for e in BASIC_EMOTIONS
            }
        )
    return tuple(groups)


def bank_recipe(
    group: dict[str, tuple[BankExpression, ...]],
    emotion: str,
    rng: np.random.Generator,
    seed: int,
    side_bias: float = 0.0,
) -> tuple[Activation, BankExpression]:
    """One subject's ``emotion`` at full intensity from its bank ``group``: a row of that
    emotion drawn by ``rng``, its units at the peak intensities the bank draws for it
    (``seed``), the subject's habitual lopsidedness ``side_bias`` on top (positive: stronger
    on the image left; the codes record no side). Returns the activation and the row."""
    rows = group[emotion]
    row = rows[int(rng.integers(len(rows)))]
    drawn = draw_activation(
        row.units, expression_rng(seed, BANK_SOURCE, row.item), BANK_INTENSITY_RANGE
    )
    posed: dict[int, list[float]] = {}
    for au, (wl, wr) in drawn.items():
        for animated, gain in ((au, 1.0),) if au in AU_SHAPES else STAND_INS.get(au, ()):
            sides = posed.setdefault(animated, [0.0, 0.0])
            sides[0] += gain * wl
            sides[1] += gain * wr
    bias = float(np.clip(side_bias, -0.3, 0.3))
    activation = {au: (wl * (1 + bias), wr * (1 - bias)) for au, (wl, wr) in sorted(posed.items())}
    return activation, row
