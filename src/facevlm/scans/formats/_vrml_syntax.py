"""The lexical pieces shared by the VRML 2.0 and VRML 1.0 readers.

Both versions write the same syntax around their geometry: ``#`` comments (outside quoted
strings), whole-word node and field names, bracketed number lists, and polygons as corner
indices ended by ``-1``. Each reader keeps its own node grammar (VRML 2.0 nests geometry inside
``Shape`` fields, VRML 1.0 is a sequence of state-changing nodes); these helpers are the part
that must behave identically, so it lives in one place.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from facevlm.scans.errors import ScanError

LEADING_SPACE = re.compile(rb"\s*")
WORD_BYTES = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def strip_comments(data: bytes, start: int) -> tuple[bytes, int]:
    """Blank out ``#`` comments outside quoted strings; no copy when there are none.

    A Python loop over comment and string positions only: files carry a handful of them.
    """
    if data.find(b"#", start) < 0:
        return data, start
    view = memoryview(data)  # slices of a view are not copies: the join copies once
    pieces, pos = [], start
    while (hash_at := data.find(b"#", pos)) >= 0:
        quote_at = data.find(b'"', pos, hash_at)
        if quote_at >= 0:  # a string before the '#': keep it whole, it may contain '#'
            close = data.find(b'"', quote_at + 1)
            if close < 0:
                break
            pieces.append(view[pos : close + 1])
            pos = close + 1
            continue
        newline = data.find(b"\n", hash_at)
        newline = len(data) if newline < 0 else newline
        carriage = data.find(b"\r", hash_at, newline)  # a comment also ends at a lone CR
        pieces += [view[pos:hash_at], b" "]
        pos = newline if carriage < 0 else carriage
    pieces.append(view[pos:])
    return b"".join(pieces), 0


def find_field(
    body: bytes, field: tuple[bytes, re.Pattern], start: int, end: int
) -> re.Match | None:
    """The first ``<keyword><tail>`` in ``body[start:end]`` whose keyword is a whole word."""
    keyword, tail = field
    pos = start
    while (at := body.find(keyword, pos, end)) >= 0:
        if at == 0 or body[at - 1] not in WORD_BYTES:
            match = tail.match(body, at + len(keyword), end)
            if match is not None:
                return match
        pos = at + 1
    return None


def find_all(body: bytes, field: tuple[bytes, re.Pattern], start: int) -> list[int]:
    """Start offsets of every ``<keyword><tail>`` from ``start`` on."""
    found = []
    while (match := find_field(body, field, start, len(body))) is not None:
        found.append(match.start() - len(field[0]))
        start = match.end()
    return found


def split_polygons(tokens: np.ndarray, path: Path, what: str) -> tuple[np.ndarray, np.ndarray]:
    """``a b c -1 d e f g -1 ...`` → (offsets, corner indices); the last ``-1`` is optional.

    Empty polygons (``-1 -1``) are dropped, as VRML browsers do.
    """
    if len(tokens) and tokens.min() < -1:
        raise ScanError(path, f"{what} holds the negative index {int(tokens.min())}")
    ends = np.flatnonzero(tokens == -1)
    if len(tokens) and (len(ends) == 0 or ends[-1] != len(tokens) - 1):
        ends = np.append(ends, len(tokens))
    starts = np.concatenate([[0], ends[:-1] + 1]) if len(ends) else ends
    lengths = (ends - starts)[ends > starts]
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return offsets, tokens[tokens >= 0]
