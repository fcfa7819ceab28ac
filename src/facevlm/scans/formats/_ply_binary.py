"""The body of a binary PLY file (either byte order): fixed-size records with one
``np.frombuffer``, records with lists of one length likewise, mixed lengths walked record by record.

Separate from :mod:`._ply_ascii` because binary records are found by byte offsets and struct
codes, ascii ones in a flat array of parsed numbers.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from facevlm.scans.errors import ScanError
from facevlm.scans.formats._ply_header import _Element, _Values
from facevlm.scans.formats.limits import (
    MAX_POLYGON_CORNERS,
    ReadLimits,
    check_polygon_corners,
    max_fan_triangles,
)

#: Names of the list of a face's corners.
CORNER_LISTS = ("vertex_indices", "vertex_index")


def check_list_lengths(
    element: _Element, counts: dict[str, np.ndarray], limits: ReadLimits, path: Path
) -> None:
    """Refuse lists longer than a polygon's corners allow (a face's corner list, or another list
    of up to two numbers a corner, such as ``texcoord``), from their lengths alone: before the
    items are gathered, and long before the polygons are drawn."""
    for name, n in counts.items():
        if name in CORNER_LISTS:
            check_polygon_corners(n, limits, path)
            continue
        allowed = 2 * MAX_POLYGON_CORNERS
        total_allowed = 2 * (max_fan_triangles(limits) + 2 * len(n))
        if len(n) and (n.max() > allowed or int(n.sum()) > total_allowed):
            raise ScanError(
                path, f"{element.name} lists {name} hold {int(n.max())} numbers in one record "
                f"and {int(n.sum())} in all, above the {allowed} and {total_allowed} the "
                "polygons' corners allow",
            )  # fmt: skip


def _read_binary(
    data: bytes, pos: int, elements: list[_Element], order: str, path: Path, limits: ReadLimits
) -> _Values:
    values: _Values = {}
    for element in elements:
        left = len(data) - pos
        min_size = sum(np.dtype(p.count_dtype or p.dtype).itemsize for p in element.properties)
        if element.count * min_size > left:
            raise ScanError(
                path,
                f"truncated: {element.count} {element.name} records need at "
                f"least {element.count * min_size} bytes, {left} left",
            )
        if any(p.is_list for p in element.properties):
            values[element.name], pos = _binary_lists(data, pos, element, order, path, limits)
        else:
            dtype = np.dtype([(p.name, order + p.dtype) for p in element.properties])
            records = np.frombuffer(data, dtype=dtype, count=element.count, offset=pos)
            values[element.name] = {p.name: records[p.name] for p in element.properties}
            pos += element.count * dtype.itemsize
    if pos != len(data) and data[pos:].strip():
        raise ScanError(path, f"{len(data) - pos} unexpected bytes after the last element")
    return values


def _binary_lists(
    data: bytes, pos: int, element: _Element, order: str, path: Path, limits: ReadLimits
):
    """Records with list properties: one frombuffer if all lists match the first record's
    lengths, else a walk over the records."""
    if element.count == 0:
        return {
            p.name: (np.zeros(0), np.zeros(0, np.int64)) if p.is_list else np.zeros(0)
            for p in element.properties
        }, pos
    first_counts, _, _ = _walk(data, pos, element, order, path, limit=1)
    check_list_lengths(element, first_counts, limits, path)
    fields = []
    for p in element.properties:
        if p.is_list:
            fields += [
                (p.name + " count", order + p.count_dtype),
                (p.name, order + p.dtype, (int(first_counts[p.name][0]),)),
            ]
        else:
            fields.append((p.name, order + p.dtype))
    dtype = np.dtype(fields)
    if element.count * dtype.itemsize <= len(data) - pos:
        records = np.frombuffer(data, dtype=dtype, count=element.count, offset=pos)
        if all(
            (records[p.name + " count"] == first_counts[p.name][0]).all()
            for p in element.properties
            if p.is_list
        ):
            lengths = {name: np.full(element.count, n[0]) for name, n in first_counts.items()}
            check_list_lengths(element, lengths, limits, path)
            out = {}
            for p in element.properties:
                if p.is_list:
                    flat = records[p.name].reshape(-1)
                    out[p.name] = (flat, np.full(element.count, flat.size // element.count))
                else:
                    out[p.name] = records[p.name]
            return out, pos + element.count * dtype.itemsize
    counts, starts, end = _walk(data, pos, element, order, path, limit=element.count)
    check_list_lengths(element, counts, limits, path)
    out = {}
    for p in element.properties:
        item = np.dtype(order + p.dtype)
        n = counts[p.name] if p.is_list else np.ones(element.count, np.int64)
        byte_pos = np.repeat(starts[p.name], n) + item.itemsize * (
            np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
        )
        raw = np.frombuffer(data, np.uint8)[byte_pos[:, None] + np.arange(item.itemsize)]
        flat = raw.reshape(-1).view(item)
        out[p.name] = (flat, n) if p.is_list else flat
    return out, end


def _walk(data: bytes, pos: int, element: _Element, order: str, path: Path, limit: int):
    """Length of every list, start offset of every property, and the offset after the last
    of ``limit`` records."""
    counts = {p.name: np.zeros(limit, np.int64) for p in element.properties if p.is_list}
    starts = {p.name: np.zeros(limit, np.int64) for p in element.properties}
    layout = []
    for p in element.properties:
        if p.is_list:
            fmt = struct.Struct(order + _struct_code(p.count_dtype))
            layout.append((p.name, fmt, np.dtype(p.dtype).itemsize))
        else:
            layout.append((p.name, None, np.dtype(p.dtype).itemsize))
    size = len(data)
    for r in range(limit):
        for name, count_fmt, item in layout:
            if count_fmt is None:
                starts[name][r] = pos
                pos += item
                continue
            if pos + count_fmt.size > size:
                raise ScanError(path, f"truncated inside {element.name} record {r}")
            (n,) = count_fmt.unpack_from(data, pos)
            if n < 0:
                raise ScanError(path, f"negative list length in {element.name} record {r}")
            counts[name][r] = n
            starts[name][r] = pos + count_fmt.size
            pos += count_fmt.size + n * item
        if pos > size:
            raise ScanError(path, f"truncated inside {element.name} record {r}")
    return counts, starts, pos


def _struct_code(dtype: str) -> str:
    return {"i1": "b", "u1": "B", "i2": "h", "u2": "H", "i4": "i", "u4": "I"}[dtype]
