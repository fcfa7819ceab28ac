"""Bulk parsing of separated numbers: the hot path of every text mesh format.

A BU-4DFE frame holds about 750,000 numbers and a sequence about 100 frames, so a Python loop
per token (``float(tok)``) would make ingest take hours. Floats are parsed by splitting the block
once and converting the token list in C (``np.array(tokens, float64)``): that is Python's own
``float()`` grammar (exponents, ``nan``, ``inf``) at C speed; numpy-only alternatives measured no
faster for floats.

Indices are two thirds of a VRML file (``a b c -1,`` per polygon, twice). For them numpy's C
text scanner (``np.fromstring(..., sep=" ")``) is about twice as fast as splitting, but it is
lenient in ways a reader cannot be (a lone ``-`` reads as 0, a blank block as ``[0]``, an
overflow clamps). So it is used only after the block is proven to have the strict shape
``-?[0-9]+`` separated by whitespace or commas (one ``bytes.translate`` pass, then checks at the
few minus signs), and a clamped overflow sends it back; anything else goes to the reference
path, which parses it the way Python does or raises. The fast path can therefore only change
the speed, never the result (``tests/scans/formats/test_formats_numbers.py`` checks this).

The grammar is Python's minus two leniencies no scan file needs: ``_`` digit separators
(``int("1_000")`` is 1000, so a corrupted ``1_000`` would silently become a valid index) are
refused, and so are ``inf``/``nan`` (a coordinate that is not a number is corruption, reported
here with the list it was found in). A ``max_count`` bounds the tokens of a list *before* it is
split, because splitting costs about 40 bytes of memory per token.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facevlm.scans.errors import ScanError

_ZERO = np.uint8(48)
_MINUS = 45
_SEPARATORS = b", \t\n\r\x0b\x0c"
_INT_ALPHABET = b"0123456789-" + _SEPARATORS
_INT64 = np.iinfo(np.int64)
_IS_SEPARATOR = np.zeros(256, dtype=bool)
_IS_SEPARATOR[list(_SEPARATORS)] = True
_COUNT_CHUNK = 8 * 2**20


def count_tokens(block: bytes) -> int:
    """Number of separator-delimited tokens in ``block``, in 8 MB chunks (bounded memory)."""
    count, previous_sep = 0, True
    for start in range(0, len(block), _COUNT_CHUNK):
        sep = _IS_SEPARATOR[np.frombuffer(block, np.uint8, min(_COUNT_CHUNK, len(block) - start),
                                          start)]  # fmt: skip
        if len(sep):
            count += int(np.count_nonzero(~sep[1:] & sep[:-1])) + int(previous_sep and not sep[0])
            previous_sep = bool(sep[-1])
    return count


def _check_size(block: bytes, max_count: int | None, path, what: str) -> None:
    """Refuse a block of more than ``max_count`` tokens, counted only when it could be (every
    token takes at least two bytes with its separator)."""
    if max_count is None or len(block) <= 2 * max_count:
        return
    n = count_tokens(block)
    if n > max_count:
        raise ScanError(path, f"{what} holds {n} numbers, above the limit of {max_count}")


def _check_grammar(block: bytes, path, what: str) -> None:
    if b"_" in block:
        raise ScanError(path, f"bad number in {what}: '_' digit separators are not accepted")


def _fast_ints(block: bytes) -> np.ndarray | None:
    """``-?D+`` tokens decoded by numpy's C scanner; ``None`` when anything else is present.

    With only digits, separators and minus signs in the block, and every minus at the start of
    a token and before a digit, each token is exactly ``-?[0-9]+``, which ``fromstring`` reads
    like ``int()``; only its clamping of overflows needs a check afterwards.
    """
    if block.translate(None, _INT_ALPHABET):
        return None  # a byte outside digits, minus, whitespace and comma
    if not block.strip(_SEPARATORS):
        return np.zeros(0, dtype=np.int64)  # fromstring would read a blank block as [0]
    buf = np.frombuffer(block, dtype=np.uint8)
    minus = np.flatnonzero(buf == _MINUS)
    if len(minus):
        if minus[-1] == len(buf) - 1 or not ((buf[minus + 1] - _ZERO) < 10).all():
            return None  # a lone '-' (fromstring would read it as 0)
        before = buf[minus[minus > 0] - 1]
        if ((before - _ZERO) < 10).any() or (before == _MINUS).any():
            return None  # '1-2' or '--1'
    values = np.fromstring(block.replace(b",", b" "), dtype=np.int64, sep=" ")
    if values.max() == _INT64.max or values.min() == _INT64.min:
        return None  # an overflow was clamped: let the reference path report it
    return values


def _reference_numbers(block: bytes, dtype: type, path: Path | str | None, what: str) -> np.ndarray:
    """Python's own number grammar, one token at a time in C; raises ScanError on garbage."""
    try:
        return np.array(block.replace(b",", b" ").split(), dtype=dtype)
    except (ValueError, OverflowError) as exc:
        reason = str(exc).replace("invalid literal for int() with base 10", "not an integer")
        raise ScanError(path, f"bad number in {what}: {reason[:120]}") from None


def parse_floats(
    block: bytes,
    path: Path | str | None = None,
    what: str = "numbers",
    max_count: int | None = None,
) -> np.ndarray:
    """All numbers in ``block`` (whitespace or comma separated) as float64, as ``float()`` reads
    them but without ``_`` separators and with every value finite.

    Raises:
        ScanError: a token is not a number, is ``inf``/``nan`` (or overflows to it), or there are
            more than ``max_count`` of them (the message names ``what`` and ``path``).
    """
    _check_size(block, max_count, path, what)
    _check_grammar(block, path, what)
    values = _reference_numbers(block, np.float64, path, what)
    finite = np.isfinite(values)
    if not finite.all():
        bad = values[~finite]
        raise ScanError(
            path,
            f"bad number in {what}: {len(bad)} value(s) are NaN or infinite (e.g. {bad[0]})",
        )
    return values


def parse_ints(
    block: bytes,
    path: Path | str | None = None,
    what: str = "indices",
    max_count: int | None = None,
) -> np.ndarray:
    """All numbers in ``block`` (whitespace or comma separated) as int64.

    Raises:
        ScanError: a token is not an integer (a fraction, an exponent, a ``_`` separator,
            garbage), does not fit in 64 bits, or there are more than ``max_count`` of them.
    """
    _check_size(block, max_count, path, what)
    fast = _fast_ints(block)
    if fast is None:
        _check_grammar(block, path, what)
    return fast if fast is not None else _reference_numbers(block, np.int64, path, what)
