"""The bulk number parser: same answers as Python's own ``int()``/``float()``, or a ScanError.

Its fast path decodes integers with numpy; these properties pin down that it can change only the
speed, never the result: on any input it must agree with the reference (one token at a time).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facevlm.scans.errors import ScanError
from facevlm.scans.formats._numbers import count_tokens, parse_floats, parse_ints

SEPARATORS = st.sampled_from([" ", ", ", ",\n", "\n", "\t", "  ,  ", "\r\n"])
PROPERTY = settings(max_examples=200, deadline=None, derandomize=True)


@PROPERTY
@given(st.lists(st.integers(-(2**62), 2**62), max_size=50), SEPARATORS)
def test_integers_read_back_exactly(values, separator):
    text = separator.join(map(str, values)).encode()

    assert parse_ints(text).tolist() == values


@PROPERTY
@given(
    st.lists(st.floats(allow_nan=False, allow_infinity=False, width=64), max_size=50), SEPARATORS
)
def test_floats_read_back_exactly(values, separator):
    text = separator.join(map(repr, values)).encode()

    assert parse_floats(text).tolist() == values


@PROPERTY
@given(st.text(alphabet="0123456789-+ ,\n\t.ex", max_size=40))
def test_integer_parser_agrees_with_python_on_any_text(text):
    block = text.encode()
    try:
        expected = [int(token) for token in block.replace(b",", b" ").split()]
    except ValueError:
        with pytest.raises(ScanError):
            parse_ints(block)
        return
    if any(abs(v) >= 2**63 for v in expected):
        with pytest.raises(ScanError):
            parse_ints(block)
        return
    assert parse_ints(block).tolist() == expected


def test_terminators_and_commas_as_vrml_writes_them():
    assert parse_ints(b"0 1 2 -1, 3 4 5 6 -1").tolist() == [0, 1, 2, -1, 3, 4, 5, 6, -1]


@pytest.mark.parametrize("block", [b"1 - 2", b"1-2", b"--1", b"1 2 x", b"1.5", b"\xff", b"1e3"])
def test_malformed_integers_name_the_list(block):
    with pytest.raises(ScanError, match="coordIndex"):
        parse_ints(block, "scan.wrl", "coordIndex")


def test_blank_block_is_empty_not_zero():
    assert parse_ints(b" \n, ").tolist() == []
    assert parse_floats(b" \n, ").tolist() == []


def test_float_spellings():
    np.testing.assert_array_equal(parse_floats(b"1e0, -0.5E-1 2.0 +3"), [1.0, -0.05, 2.0, 3.0])


@pytest.mark.parametrize("token", [b"nan", b"inf", b"-Infinity", b"1e999"])
def test_non_finite_numbers_are_refused_naming_the_list(token):
    with pytest.raises(ScanError, match="coord point: 1 value.* NaN or infinite"):
        parse_floats(b"1 2 " + token, "scan.wrl", "coord point")


@pytest.mark.parametrize("block", [b"1_000 2 3", b"1 2 3_0"])
def test_digit_separators_are_refused(block):
    with pytest.raises(ScanError, match="'_' digit separators"):
        parse_ints(block, "scan.wrl", "coordIndex")
    with pytest.raises(ScanError, match="'_' digit separators"):
        parse_floats(block, "scan.wrl", "coord point")


def test_a_list_longer_than_its_limit_is_refused_before_it_is_split():
    block = b"1 " * 1000
    assert len(parse_floats(block, max_count=1000)) == 1000
    with pytest.raises(ScanError, match="1000 numbers, above the limit of 999"):
        parse_floats(block, "scan.wrl", "coord point", max_count=999)
    with pytest.raises(ScanError, match="above the limit"):
        parse_ints(block, "scan.wrl", "coordIndex", max_count=999)


@PROPERTY
@given(st.text(alphabet="0123456789 ,\n\t-x", max_size=60))
def test_token_count_agrees_with_split(text):
    block = text.encode()
    assert count_tokens(block) == len(block.replace(b",", b" ").split())
