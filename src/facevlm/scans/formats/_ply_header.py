"""The PLY header: element and property declarations, the format line, the TextureFile comment,
and the declared counts checked against the size limits before the body is touched.

Separate from the body readers because the header is parsed the same way for ascii and binary
files, and every count is checked here, before anything is allocated (see :mod:`.ply`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facevlm.scans.errors import ScanError
from facevlm.scans.formats._files import ReadScope

_TYPES = {
    "char": "i1",
    "int8": "i1",
    "uchar": "u1",
    "uint8": "u1",
    "short": "i2",
    "int16": "i2",
    "ushort": "u2",
    "uint16": "u2",
    "int": "i4",
    "int32": "i4",
    "uint": "u4",
    "uint32": "u4",
    "float": "f4",
    "float32": "f4",
    "double": "f8",
    "float64": "f8",
}
_FORMATS = {"ascii": None, "binary_little_endian": "<", "binary_big_endian": ">"}
_END_HEADER = re.compile(rb"end_header[ \t]*\r?\n")


@dataclass
class _Property:
    name: str
    dtype: str  # numpy type code without byte order
    count_dtype: str | None = None  # set for list properties

    @property
    def is_list(self) -> bool:
        return self.count_dtype is not None


@dataclass
class _Element:
    name: str
    count: int
    properties: list[_Property] = field(default_factory=list)


def _check_counts(elements: list[_Element], path: Path, scope: ReadScope) -> None:
    """Declared vertex and face counts within the limits (before any array is made)."""
    limits = {"vertex": ("max_vertices", scope.limits.max_vertices),
              "face": ("max_polygons", scope.limits.max_polygons)}  # fmt: skip
    for element in elements:
        name, limit = limits.get(element.name, ("max_vertices", scope.limits.max_vertices))
        if element.count > limit:
            raise ScanError(
                path,
                f"header declares {element.count} {element.name} elements, above the limit of "
                f"{limit} (limits.{name})",
            )


def _parse_header(data: bytes, path: Path) -> tuple[str | None, list[_Element], str | None, int]:
    """(byte order or None for ascii, elements, TextureFile comment, body offset)."""
    if not data.startswith(b"ply") or data[3:4] not in (b"\n", b"\r"):
        raise ScanError(path, "not a PLY file (no 'ply' magic line)")
    end = _END_HEADER.search(data)
    if end is None:
        raise ScanError(path, "truncated: no 'end_header' line")
    try:
        lines = data[: end.start()].decode("ascii").splitlines()[1:]
    except UnicodeDecodeError:
        raise ScanError(path, "PLY header is not ASCII text") from None

    fmt: str | None = "missing"
    elements: list[_Element] = []
    texture = None
    for line in lines:
        words = line.split()
        if not words or words[0] == "obj_info":
            continue
        if words[0] == "comment":
            if len(words) >= 3 and words[1] == "TextureFile":
                texture = line.split("TextureFile", 1)[1].strip()
            continue
        if words[0] == "format":
            if len(words) != 3 or words[1] not in _FORMATS:
                raise ScanError(path, f"unsupported PLY format line {line!r}")
            fmt = _FORMATS[words[1]]
        elif words[0] == "element":
            if len(words) != 3 or not words[2].isdigit():
                raise ScanError(path, f"bad element line {line!r}")
            elements.append(_Element(words[1], int(words[2])))
        elif words[0] == "property":
            if not elements:
                raise ScanError(path, "property before any element")
            elements[-1].properties.append(_parse_property(words, line, path))
        else:
            raise ScanError(path, f"unknown PLY header line {line!r}")
    if fmt == "missing":
        raise ScanError(path, "PLY header has no format line")
    for element in elements:
        names = [p.name for p in element.properties]
        if len(set(names)) != len(names):
            raise ScanError(path, f"element {element.name!r} repeats a property name")
    return fmt, elements, texture, end.end()


def _parse_property(words: list[str], line: str, path: Path) -> _Property:
    if len(words) == 3 and words[1] in _TYPES:
        return _Property(words[2], _TYPES[words[1]])
    if len(words) == 5 and words[1] == "list" and words[2] in _TYPES and words[3] in _TYPES:
        if _TYPES[words[2]][0] == "f":
            raise ScanError(path, f"list count type must be an integer: {line!r}")
        return _Property(words[4], _TYPES[words[3]], _TYPES[words[2]])
    raise ScanError(path, f"bad property line {line!r}")


# A read element: scalar property → (count,) array; list property → (flat values, counts).
_Values = dict[str, dict[str, "np.ndarray | tuple[np.ndarray, np.ndarray]"]]
