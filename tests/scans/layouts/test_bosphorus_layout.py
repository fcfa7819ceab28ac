"""Bosphorus discovery: scan kind and label from ``_``-separated name tokens."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from layout_files import BOSPHORUS_SCANS, bosphorus_tree

from facevlm.scans.errors import ScanError
from facevlm.scans.layouts.base import Rejected, ScanRecord, get_layout
from facevlm.scans.layouts.bosphorus import EMOTIONS, TOKEN_KINDS, parse_name


def discover(root: Path, options: dict | None = None) -> tuple[list[ScanRecord], list[Rejected]]:
    found = list(get_layout("bosphorus").discover(root, options))
    return [c for c in found if isinstance(c, ScanRecord)], [
        c for c in found if isinstance(c, Rejected)
    ]


@pytest.mark.parametrize(
    ("stem", "expression", "label_set", "kind", "value"),
    [
        ("bs000_N_N_0", "neutral", "basic", "neutral", "N"),
        ("bs000_N_N_2", "neutral", "basic", "neutral", "N"),
        ("bs104_E_SURPRISE_0", "surprise", "basic", "emotion", "SURPRISE"),
        ("bs001_E_SADNESS_0", "sadness", "basic", "emotion", "SADNESS"),
        ("bs001_LFAU_12LW_0", "AU12LW", "au", "lower_face_au", "12LW"),
        ("bs001_UFAU_43_0", "AU43", "au", "upper_face_au", "43"),
        ("bs001_CAU_A22_0", "CAU_A22", "au", "combined_au", "A22"),
        ("bs001_YR_R90_0", None, "pose", "yaw_rotation", "R90"),
        ("bs001_PR_SD_0", None, "pose", "pitch_rotation", "SD"),
        ("bs001_CR_RD_0", None, "pose", "cross_rotation", "RD"),
        ("bs001_O_GLASSES_0", None, "occlusion", "occlusion", "GLASSES"),
        ("bs001_O_EYE_LEFT_0", None, "occlusion", "occlusion", "EYE_LEFT"),
    ],
)
def test_tokens_are_parsed_generically(stem, expression, label_set, kind, value) -> None:
    p = parse_name(stem)
    assert (p.expression, p.label_set, p.kind, p.value) == (expression, label_set, kind, value)
    assert p.subject == stem[:5]
    assert p.sample == int(stem.rsplit("_", 1)[1])


@pytest.mark.parametrize(
    ("stem", "reason"),
    [
        ("bs000_E_JOY_0", "unknown emotion"),
        ("bs000_Q_X_0", "unknown token"),
        ("bs000_N_X_0", "_N_N_"),
        ("bs000_E_ANGER_x", "sample number"),
        ("bs000_E_ANGER", "fewer than 4"),
        ("bs00_E_ANGER_0", "subject"),
        ("bs000_E__0", "empty"),
    ],
)
def test_bad_names_say_which_token_is_wrong(stem: str, reason: str) -> None:
    with pytest.raises(ScanError, match=reason):
        parse_name(stem)


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=30))
def test_parser_never_crashes_on_arbitrary_text(stem: str) -> None:
    try:
        parse_name(stem)
    except ScanError as error:
        assert error.reason


@given(st.integers(0, 999), st.sampled_from(sorted(EMOTIONS)), st.integers(0, 9))
def test_emotion_names_round_trip(subject: int, emotion: str, sample: int) -> None:
    p = parse_name(f"bs{subject:03d}_E_{emotion}_{sample}")
    assert (p.subject, p.expression, p.sample) == (f"bs{subject:03d}", EMOTIONS[emotion], sample)


@given(st.sampled_from(sorted(TOKEN_KINDS)), st.from_regex(r"[A-Z0-9]{1,6}", fullmatch=True))
def test_every_token_kind_with_any_value_parses_or_explains(token: str, value: str) -> None:
    try:
        p = parse_name(f"bs001_{token}_{value}_0")
    except ScanError as error:
        assert token in ("N", "E")  # only these restrict their value
        assert "neutral" in error.reason or "emotion" in error.reason
    else:
        assert p.token == token and p.value == value


def test_default_subset_is_neutral_plus_six_emotions(tmp_path: Path) -> None:
    tree = bosphorus_tree(tmp_path / "Bosphorus")
    records, rejected = discover(tree.root)
    assert rejected == []
    expected = {p for p in tree.good if BOSPHORUS_SCANS[p.stem[6:]][3]}
    assert {r.path for r in records} == expected
    assert {r.expression for r in records} == {"neutral", "anger", "happiness"}


def test_subset_all_keeps_every_scan_with_its_metadata(tmp_path: Path) -> None:
    tree = bosphorus_tree(tmp_path / "Bosphorus")
    records, _ = discover(tree.root, {"subset": "all"})
    assert sorted(r.path for r in records) == sorted(tree.good)
    for r in records:
        expression, label_set, token, _ = BOSPHORUS_SCANS[r.path.stem[6:]]
        assert r.dataset == "bosphorus"
        assert r.subject == r.path.parent.name
        assert (r.expression, r.label_set, r.extra["token"]) == (expression, label_set, token)
        assert r.texture_path == r.path.with_suffix(".png")
        assert r.landmarks_path == r.path.with_suffix(".lm3")
        assert r.gender is None and r.sequence is None


def test_bad_subset_option() -> None:
    with pytest.raises(ValueError, match="subset"):
        list(get_layout("bosphorus").discover(Path("."), {"subset": "poses"}))


def test_bad_names_are_rejected_and_strays_ignored(tmp_path: Path) -> None:
    tree = bosphorus_tree(tmp_path / "Bosphorus", corrupt=True)
    records, rejected = discover(tree.root, {"subset": "all"})
    grammar = {p: r for p, r in tree.bad.items() if r}
    assert {r.path for r in rejected} == set(grammar)
    assert all(grammar[r.path] in r.reason for r in rejected)
    assert not ({r.path for r in records} | {r.path for r in rejected}) & set(tree.strays)
