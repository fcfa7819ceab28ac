"""The body of an ascii PLY file: the numbers parsed once (no more than the declared elements
can hold), then cut into elements, as a table when every list has one length, else record by
record.

Separate from :mod:`._ply_binary` because ascii records are found in a flat array of parsed
numbers, binary ones by byte offsets.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facevlm.scans.errors import ScanError
from facevlm.scans.formats._numbers import parse_floats
from facevlm.scans.formats._ply_header import _Element, _Values

#: Numbers per list property of an ascii record allowed for in the size check (count + items).
_ASCII_LIST_ALLOWANCE = 32


def _read_ascii(body: bytes, elements: list[_Element], path: Path) -> _Values:
    """All elements of an ascii body; the body may hold no more numbers than the declared
    elements can (lists counted generously), checked before it is split."""
    allowed = sum(
        e.count * sum(_ASCII_LIST_ALLOWANCE if p.is_list else 1 for p in e.properties)
        for e in elements
    )
    numbers = parse_floats(body, path, "PLY body", max_count=allowed + 16)
    values: _Values = {}
    pos = 0
    for element in elements:
        n_props = len(element.properties)
        if element.count * n_props > len(numbers) - pos:
            raise ScanError(
                path,
                f"truncated: {element.count} {element.name} records declared, "
                f"only {len(numbers) - pos} numbers left",
            )
        if not any(p.is_list for p in element.properties):
            table = numbers[pos : pos + element.count * n_props].reshape(element.count, n_props)
            values[element.name] = {p.name: table[:, k] for k, p in enumerate(element.properties)}
            pos += element.count * n_props
        else:
            values[element.name], pos = _ascii_lists(numbers, pos, element, path)
    if pos != len(numbers):
        raise ScanError(path, f"{len(numbers) - pos} unexpected numbers after the last element")
    return values


def _ascii_lists(numbers: np.ndarray, pos: int, element: _Element, path: Path):
    """Records with list properties in a flat array of numbers: one reshape if every list has
    the first record's length, else a walk over the records."""
    uniform = _ascii_uniform(numbers, pos, element)
    if uniform is not None:
        return uniform
    counts = {p.name: np.zeros(element.count, np.int64) for p in element.properties if p.is_list}
    starts = {p.name: np.zeros(element.count, np.int64) for p in element.properties}
    total = len(numbers)
    listed = numbers.tolist() if element.count else []
    for r in range(element.count):
        for p in element.properties:
            if pos >= total:
                raise ScanError(path, f"truncated inside {element.name} record {r}")
            if p.is_list:
                n = listed[pos]
                if not float(n).is_integer() or n < 0:
                    raise ScanError(path, f"bad list length {n} in {element.name} record {r}")
                if n > total - pos - 1:
                    raise ScanError(
                        path,
                        f"truncated: list of {n:g} in {element.name} record "
                        f"{r} runs past the end of the file",
                    )
                counts[p.name][r] = n
                starts[p.name][r] = pos + 1
                pos += 1 + int(n)
            else:
                starts[p.name][r] = pos
                pos += 1
        if pos > total:
            raise ScanError(path, f"truncated inside {element.name} record {r}")
    out = {}
    for p in element.properties:
        if p.is_list:
            n = counts[p.name]
            index = np.repeat(starts[p.name], n) + (
                np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
            )
            out[p.name] = (numbers[index], n)
        else:
            out[p.name] = numbers[starts[p.name]]
    return out, pos


def _ascii_uniform(numbers: np.ndarray, pos: int, element: _Element):
    """Records as a table when all lists match the first record's lengths, else None."""
    columns, width, cursor = {}, 0, pos
    for p in element.properties:
        if cursor >= len(numbers):
            return None
        if p.is_list:
            n = numbers[cursor]
            if not (np.isfinite(n) and n >= 0 and n == int(n)):
                return None
            columns[p.name] = (width, int(n))
            width += 1 + int(n)
            cursor += 1 + int(n)
        else:
            columns[p.name] = (width, None)
            width += 1
            cursor += 1
    if element.count * width > len(numbers) - pos:
        return None
    table = numbers[pos : pos + element.count * width].reshape(element.count, width)
    out = {}
    for name, (col, n) in columns.items():
        if n is None:
            out[name] = table[:, col]
            continue
        if not (table[:, col] == n).all():
            return None
        out[name] = (table[:, col + 1 : col + 1 + n].reshape(-1), np.full(element.count, n))
    return out, pos + element.count * width
