"""The node tree of a VRML 1.0 file, found from its braces without tokenising the numbers.

A VRML 1.0 scan is a few dozen nodes (``Separator``, ``Coordinate3``, ``IndexedFaceSet``...)
wrapped around a few huge number lists. Braces occur only as node delimiters (number lists use
``[ ]``, and braces inside quoted strings are discounted), so one numpy pass over the bytes finds
every node; each node's type and ``DEF`` name are read from the few bytes before its ``{``.
Field values are then cut out of a node's own byte range on demand (:func:`field_value`), and
the number lists among them are parsed in bulk by the caller. No Python code runs per number.

Every count that could make this expensive is bounded: the number of nodes (``max_polygons``)
and the nesting depth (:data:`MAX_DEPTH`), so a crafted file cannot exhaust memory or the
interpreter's stack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facevlm.scans.errors import ScanError
from facevlm.scans.formats._vrml_syntax import WORD_BYTES

#: Deepest nesting of nodes accepted; scanner files nest two or three levels.
MAX_DEPTH = 200

#: How far before a ``{`` the node type and DEF name are looked for.
_HEAD_WINDOW = 512

# The node head read backwards from its "{": type name, then optionally "DEF <name>" before it.
# VRML 1.0 forbids + - . in names, but exporters write "Mesh.001" and "part-1" anyway, so only
# what would break the structure is excluded: control characters, spaces, quotes, commas,
# backslashes, brackets and braces; a leading digit is refused after the match (the pattern
# runs over the reversed bytes). A character class reads the same both ways, so one pattern
# serves forwards and backwards.
_NAME = rb"[^\x00-\x20\"',\\\[\]{}]+"
_HEAD_REV = re.compile(rb"\s*([A-Za-z0-9_]+)(?:\s+(" + _NAME + rb")\s+FED(?![A-Za-z0-9_]))?")
_USE = re.compile(rb"USE\s+(" + _NAME + rb")")


@dataclass(eq=False)
class Node:
    """One node: its type, DEF name, the byte offsets of its braces, and its children in order
    (nodes, or the names of ``USE`` references resolved to the node they point at)."""

    kind: str
    name: str | None
    open: int
    close: int = -1
    children: list[Node] = field(default_factory=list)
    n_nodes: int = 0  # set on the root: nodes in the file

    @property
    def span(self) -> tuple[int, int]:
        """Byte range inside the braces."""
        return self.open + 1, self.close


def build_tree(body: bytes, start: int, path: Path, max_nodes: int) -> Node:
    """The root (an implicit group holding the file's top-level nodes) of ``body[start:]``.

    Raises:
        ScanError: unbalanced braces, an unterminated string, a ``{`` with no node name before
            it, an undefined or malformed ``USE``, more than ``max_nodes`` nodes, or nesting
            deeper than :data:`MAX_DEPTH`.
    """
    buf = np.frombuffer(body, dtype=np.uint8)[start:]
    opens, closes, quotes = _outside_strings(buf, path)
    if len(opens) > max_nodes:
        raise ScanError(
            path, f"{len(opens)} nodes, above the limit of {max_nodes} (limits.max_polygons)"
        )
    opens, closes = opens + start, closes + start
    uses = _use_positions(body, start, quotes + start, path, max_nodes)
    events = sorted(
        [(int(p), 0) for p in opens] + [(int(p), 1) for p in closes] + [(p, 2) for p in uses]
    )
    root = Node("<root>", None, start - 1, len(body))
    root.n_nodes = len(opens)
    stack, names, previous = [root], {}, start
    for pos, kind in events:
        if kind == 0:
            node = _open_node(body, previous, pos, path)
            stack[-1].children.append(node)
            stack.append(node)
            if len(stack) > MAX_DEPTH + 1:
                raise ScanError(path, f"nodes nested deeper than {MAX_DEPTH} levels")
            if node.name is not None:
                names[node.name] = node
        elif kind == 1:
            if len(stack) == 1:
                raise ScanError(path, f"unbalanced '}}' at byte {pos}")
            stack.pop().close = pos
        else:
            name = uses[pos]
            if name not in names:
                raise ScanError(path, f"USE {name[:60]!r} before any DEF of that name")
            stack[-1].children.append(names[name])
        previous = pos + 1
    if len(stack) > 1:
        raise ScanError(path, f"truncated: {stack[-1].kind} node never closed")
    return root


def _outside_strings(buf: np.ndarray, path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Offsets of the ``{`` and ``}`` that are not inside a quoted string, and of the quotes
    that open and close strings (a brace or USE is inside a string when an odd number of
    quotes precede it)."""
    opens, closes = np.flatnonzero(buf == 123), np.flatnonzero(buf == 125)
    quotes = np.flatnonzero(buf == 34)
    if len(quotes):
        escaped = quotes[quotes > 0]
        quotes = quotes[~np.isin(quotes, escaped[buf[escaped - 1] == 92])]
        if len(quotes) % 2:
            raise ScanError(path, "truncated: a quoted string never closed")
        opens = opens[np.searchsorted(quotes, opens) % 2 == 0]
        closes = closes[np.searchsorted(quotes, closes) % 2 == 0]
    return opens, closes, quotes


def _use_positions(
    body: bytes, start: int, quotes: np.ndarray, path: Path, max_nodes: int
) -> dict[int, str]:
    """``{offset: name}`` of every ``USE name`` outside strings (a few per file at most)."""
    found: dict[int, str] = {}
    pos = start
    while (at := body.find(b"USE", pos)) >= 0:
        pos = at + 3
        if at > 0 and body[at - 1] in WORD_BYTES:
            continue
        if len(quotes) and np.searchsorted(quotes, at) % 2:
            continue
        match = _USE.match(body, at)
        if match is None:
            if at + 3 < len(body) and body[at + 3] in WORD_BYTES:
                continue  # a longer word beginning with USE
            raise ScanError(path, f"USE without a name at byte {at}")
        found[at] = match[1].decode("latin-1")
        if len(found) > max_nodes:
            raise ScanError(path, f"more than {max_nodes} USE references (limits.max_polygons)")
    return found


def _open_node(body: bytes, previous: int, brace: int, path: Path) -> Node:
    """The node whose ``{`` is at ``brace``: its type and DEF name, read backwards."""
    low = max(previous, brace - _HEAD_WINDOW)
    match = _HEAD_REV.match(body[low:brace][::-1])
    if match is None or not match[1][-1:].isalpha():
        raise ScanError(path, f"a '{{' without a node type before it at byte {brace}")
    name = None if match[2] is None else match[2][::-1].decode("latin-1")
    if name is not None and name[:1].isdigit():
        raise ScanError(path, f"DEF name {name[:60]!r} starts with a digit")
    return Node(match[1][::-1].decode("ascii"), name, brace)


# ---------------------------------------------------------------------------------- fields
_VALUE_END = re.compile(rb"\s(?=[A-Za-z_])")


def field_value(body: bytes, lo: int, hi: int, name: bytes, path: Path) -> bytes | None:
    """The bytes of field ``name`` in ``body[lo:hi]``: inside its ``[ ]``, or up to the next
    field name for an unbracketed value; None when the field is absent.

    Number lists hold no letters but exponents (never after a space), so the search for the
    name never runs into a list of another field.
    """
    pos = lo
    while (at := body.find(name, pos, hi)) >= 0:
        pos = at + len(name)
        before = body[at - 1] if at > 0 else 32
        after = body[pos] if pos < hi else 32
        if before in WORD_BYTES or after in WORD_BYTES:
            continue
        rest = pos
        while rest < hi and body[rest] in b" \t\r\n,":
            rest += 1
        if rest < hi and body[rest] == 91:  # "["
            close = body.find(b"]", rest + 1, hi)
            if close < 0:
                raise ScanError(path, f"truncated: {name.decode()} list never closed")
            return body[rest + 1 : close]
        end = _VALUE_END.search(body, rest, hi)
        return body[rest : hi if end is None else end.start()]
    return None


_WORD = re.compile(rb"\s*([A-Za-z_][A-Za-z0-9_]*)")
_STRING = re.compile(rb'\s*"((?:[^"\\]|\\.)*)"')


def field_word(body: bytes, lo: int, hi: int, name: bytes, path: Path) -> str | None:
    """An enumerated value (``value PER_VERTEX_INDEXED``); None when the field is absent."""
    value = field_value(body, lo, hi, name, path)
    if value is None:
        return None
    match = _WORD.match(value)
    if match is None:
        raise ScanError(path, f"{name.decode()} is not a name")
    return match[1].decode("ascii")


def field_string(body: bytes, lo: int, hi: int, name: bytes, path: Path) -> str | None:
    """A quoted string value (``filename "face.jpg"``), unescaped; None when absent."""
    pos = lo
    while (at := body.find(name, pos, hi)) >= 0:
        pos = at + len(name)
        if (at > 0 and body[at - 1] in WORD_BYTES) or (pos < hi and body[pos] in WORD_BYTES):
            continue
        match = _STRING.match(body, pos, hi)
        if match is None:
            raise ScanError(path, f"{name.decode()} is not a quoted string")
        try:
            return re.sub(rb"\\(.)", rb"\1", match[1]).decode("utf-8")
        except UnicodeDecodeError:
            raise ScanError(path, f"{name.decode()} is not UTF-8 text") from None
    return None
