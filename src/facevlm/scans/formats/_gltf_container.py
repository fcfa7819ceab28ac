"""The glTF 2.0 container: the JSON document, its binary buffers and the typed arrays
(accessors) they hold, each bounded and checked before it is read.

Separate from :mod:`.gltf` (which turns the scene into a :class:`~facevlm.scans.mesh.FaceMesh`)
because this part is only about bytes: a ``.glb`` is a 12-byte header and chunks (the JSON first,
then an optional binary chunk), a ``.gltf`` is the JSON alone with its buffers in files beside
it or in ``data:`` URIs; either way every array the scene uses is an *accessor*: a typed view
(``componentType``, ``type``, ``count``, ``normalized``) into a *buffer view* (a byte range of a
buffer, with an optional stride between elements).

Everything in the JSON is data from a file we do not control. Every index is checked against
its list, every byte range against the bytes it claims to lie in, every count against the read
limits, and a buffer file is read through the reader's :class:`ReadScope` (never outside the
scan's folder). A violation is a :class:`ScanError` naming what is wrong.
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
import sys
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from facevlm.scans.errors import ScanError
from facevlm.scans.formats._files import ReadScope
from facevlm.scans.formats._textures import safe_relative

GLB_MAGIC = b"glTF"
CHUNK_JSON = 0x4E4F534A
CHUNK_BIN = 0x004E4942
#: numpy dtype of each glTF ``componentType`` (all little-endian).
COMPONENT_TYPES = {
    5120: np.dtype("<i1"),
    5121: np.dtype("<u1"),
    5122: np.dtype("<i2"),
    5123: np.dtype("<u2"),
    5125: np.dtype("<u4"),
    5126: np.dtype("<f4"),
}
#: Components of each accessor ``type`` that a mesh reader uses (matrices are never needed).
TYPE_WIDTHS = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}
#: Largest integer a normalised accessor's component type holds, to map it to [0, 1] or [-1, 1]
#: (glTF normalises 8- and 16-bit integers only).
_NORMALISED_MAX = {"i1": 127, "u1": 255, "i2": 32767, "u2": 65535}
#: Values (objects, arrays, and the items separated by commas) a glTF JSON may hold. A scan's
#: JSON describes a few dozen parts in a few kB (its arrays live in binary buffers); parsed, each
#: value costs 50 to 100 bytes, so a 256 MB JSON of ``{},`` would take gigabytes.
MAX_JSON_VALUES = 1_000_000


def parse_glb(data: bytes, path: Path) -> tuple[dict, bytes | None]:
    """The JSON document and the binary chunk (None when absent) of a ``.glb`` file."""
    if len(data) < 20 or data[:4] != GLB_MAGIC:
        raise ScanError(path, "not a binary glTF file (it does not start with 'glTF')")
    version, length = struct.unpack_from("<II", data, 4)
    if version != 2:
        raise ScanError(path, f"glTF version {version} is not supported (only glTF 2.0)")
    if length != len(data):
        raise ScanError(path, f"the header declares {length} bytes, the file holds {len(data)}")
    chunks: list[tuple[int, bytes]] = []
    offset = 12
    while offset < length:
        if offset + 8 > length:
            raise ScanError(path, f"truncated chunk header at byte {offset}")
        size, kind = struct.unpack_from("<II", data, offset)
        if offset + 8 + size > length:
            raise ScanError(path, f"chunk at byte {offset} runs past the end of the file")
        chunks.append((kind, data[offset + 8 : offset + 8 + size]))
        offset += 8 + size
    if not chunks or chunks[0][0] != CHUNK_JSON:
        raise ScanError(path, "the first chunk of a binary glTF file must be its JSON")
    binary = chunks[1][1] if len(chunks) > 1 and chunks[1][0] == CHUNK_BIN else None
    return parse_json(chunks[0][1], path), binary


def parse_json(data: bytes, path: Path) -> dict:
    """The glTF JSON document (an object with an ``asset.version`` of 2.x), its size in values
    bounded before it is parsed."""
    values = data.count(b",") + data.count(b"[") + data.count(b"{")
    if values > MAX_JSON_VALUES:
        raise ScanError(
            path, f"the glTF JSON holds about {values} values, above the {MAX_JSON_VALUES} a "
            "scan's description needs (its arrays belong in binary buffers)",
        )  # fmt: skip
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, RecursionError) as exc:
        raise ScanError(path, f"the glTF JSON does not parse: {str(exc)[:120]}") from None
    except ValueError as exc:  # a syntax error, or an integer of thousands of digits
        reason = str(exc)[:120]
        if "integer string conversion" in reason:  # Python's guard against quadratic parsing
            reason = f"an integer of more than {sys.get_int_max_str_digits()} digits"
        raise ScanError(path, f"the glTF JSON does not parse: {reason}") from None
    if not isinstance(document, dict):
        raise ScanError(path, "the glTF JSON is not an object")
    asset = document.get("asset")
    version = str(asset.get("version", "")) if isinstance(asset, dict) else ""
    if not version.startswith("2."):
        raise ScanError(path, f"glTF asset version {version or 'missing'}: only 2.x is supported")
    return document


@dataclass
class Document:
    """A parsed glTF document and its buffers, with checked access to its parts."""

    json: dict
    buffers: list[bytes]
    path: Path
    #: each image's texture by index (a file, an embedded image, or None when unusable):
    #: primitives that share an image find, decode and warn about it once
    images: dict[int, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ checked lookups
    def items(self, key: str) -> list:
        """The top-level list ``key`` (empty when absent)."""
        value = self.json.get(key, [])
        if not isinstance(value, list):
            raise ScanError(self.path, f"glTF {key!r} is not a list")
        return value

    def item(self, key: str, index: Any, what: str) -> dict:
        """Entry ``index`` of the list ``key``; refused when it is not there or not an object."""
        entries = self.items(key)
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(entries):
            raise ScanError(self.path, f"{what} refers to {key}[{index!r}], which does not exist")
        entry = entries[index]
        if not isinstance(entry, dict):
            raise ScanError(self.path, f"glTF {key}[{index}] is not an object")
        return entry

    def number(self, entry: dict, key: str, what: str, default: int | None = None) -> int:
        """A non-negative integer field of ``entry``."""
        value = entry.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ScanError(
                self.path, f"{what}: {key} must be a non-negative integer, got {value!r}"
            )
        return value

    def declared_count(self, index: Any, what: str, max_count: int, limit_name: str) -> int:
        """The ``count`` accessor ``index`` declares, checked to be a positive integer within
        ``max_count`` (nothing is read: what a scene places is counted before it is built)."""
        label = f"{what} (accessor {index})"
        count = self.number(self.item("accessors", index, what), "count", label)
        if count == 0:
            raise ScanError(self.path, f"{label}: count is 0")
        if count > max_count:
            raise ScanError(
                self.path, f"{label}: {count} elements, above the limit of {max_count} "
                f"(limits.{limit_name})",
            )  # fmt: skip
        return count

    # ------------------------------------------------------------------ arrays
    def accessor(self, index: Any, what: str, max_count: int, limit_name: str) -> np.ndarray:
        """The ``(count, width)`` float64 array of accessor ``index`` (normalised integers
        mapped to [0, 1] or [-1, 1], other integers as they are)."""
        entry = self.item("accessors", index, what)
        label = f"{what} (accessor {index})"
        if "sparse" in entry:
            raise ScanError(self.path, f"{label}: sparse accessors are not supported")
        invalid = f"invalid accessor {index} ({what})"
        component, kind = entry.get("componentType"), entry.get("type")
        if isinstance(component, bool) or not isinstance(component, int):
            raise ScanError(self.path, f"{invalid}: componentType must be an integer")
        if not isinstance(kind, str):
            raise ScanError(self.path, f"{invalid}: type must be a string")
        dtype, width = COMPONENT_TYPES.get(component), TYPE_WIDTHS.get(kind)
        if dtype is None or width is None:
            raise ScanError(
                self.path,
                f"{label}: component type {component!r} / type {kind[:40]!r} is not one a mesh "
                "uses",
            )  # fmt: skip
        normalized = entry.get("normalized", False)
        if not isinstance(normalized, bool):
            raise ScanError(self.path, f"{invalid}: normalized must be true or false")
        if normalized and dtype.str[1:] not in _NORMALISED_MAX:
            raise ScanError(
                self.path, f"{invalid}: only 8- and 16-bit integers can be normalized, "
                f"not component type {component}",
            )  # fmt: skip
        count = self.declared_count(index, what, max_count, limit_name)
        if "bufferView" not in entry:
            raise ScanError(self.path, f"{label}: no bufferView (an accessor of zeros)")
        view = self.item("bufferViews", entry["bufferView"], label)
        window = self._view_window(view, label)
        view_length = len(window)
        element = dtype.itemsize * width
        stride = self.number(view, "byteStride", label, element)
        if stride < element:
            raise ScanError(
                self.path, f"{label}: byte stride {stride} under its element's {element}"
            )
        start = self.number(entry, "byteOffset", label, 0)
        end = start + stride * (count - 1) + element
        if end > view_length:
            raise ScanError(
                self.path, f"{label}: {count} elements need {end} bytes of a {view_length}-byte "
                "buffer view",
            )  # fmt: skip
        raw = window[start:end]
        values = np.ndarray(
            (count, width), dtype=dtype, buffer=raw, strides=(stride, dtype.itemsize)
        ).astype(np.float64)
        if normalized:
            values = np.maximum(values / _NORMALISED_MAX[dtype.str[1:]], -1.0)
        if dtype.kind == "f" and not np.isfinite(values).all():
            raise ScanError(self.path, f"{label}: NaN or infinite values")
        return values

    def view_bytes(self, index: Any, what: str) -> bytes:
        """The bytes of buffer view ``index`` (an embedded image's)."""
        return bytes(self._view_window(self.item("bufferViews", index, what), what))

    def _view_window(self, view: dict, label: str) -> memoryview:
        """The bytes a buffer view spans, checked to lie inside its buffer (not copied)."""
        index = view.get("buffer")
        self.item("buffers", index, label)  # exists and is an object
        buffer = self.buffers[int(index)]
        start = self.number(view, "byteOffset", label, 0)
        end = start + self.number(view, "byteLength", label)
        if end > len(buffer):
            raise ScanError(self.path, f"{label}: its buffer view runs past the end of its buffer")
        return memoryview(buffer)[start:end]


def load_buffers(document: dict, binary: bytes | None, path: Path, scope: ReadScope) -> list[bytes]:
    """Every buffer's bytes: the GLB binary chunk, a ``data:`` URI, or a file beside the scan
    (read through ``scope``); each at least its declared ``byteLength``."""
    buffers = document.get("buffers", [])
    if not isinstance(buffers, list):
        raise ScanError(path, "glTF 'buffers' is not a list")
    loaded = []
    for index, buffer in enumerate(buffers):
        if not isinstance(buffer, dict):
            raise ScanError(path, f"glTF buffers[{index}] is not an object")
        length = buffer.get("byteLength")
        if isinstance(length, bool) or not isinstance(length, int) or length < 1:
            raise ScanError(path, f"buffers[{index}]: byteLength must be a positive integer")
        uri = buffer.get("uri")
        if uri is None:
            if index != 0 or binary is None:
                raise ScanError(path, f"buffers[{index}] has no uri and no binary chunk holds it")
            data = binary
        elif not isinstance(uri, str):
            raise ScanError(path, f"buffers[{index}]: uri is not a string")
        elif uri.startswith("data:"):
            data = data_uri(uri, path, f"buffers[{index}]", scope.limits.max_scan_bytes)
        else:
            name = urllib.parse.unquote(uri)
            data = scope.read_bytes(
                safe_relative(name, path.parent, path, what="buffer"), what="buffer", source=path
            )
        if len(data) < length:
            raise ScanError(path, f"buffers[{index}] declares {length} bytes and holds {len(data)}")
        loaded.append(data)
    return loaded


def data_uri(uri: str, path: Path, what: str, max_bytes: int) -> bytes:
    """The bytes of a base64 ``data:`` URI (a buffer or an image written inside the JSON)."""
    header, _, payload = uri.partition(",")
    if not header.endswith(";base64"):
        raise ScanError(path, f"{what}: a data URI that is not base64")
    if len(payload) * 3 // 4 > max_bytes:
        raise ScanError(path, f"{what}: a data URI above the limit of {max_bytes} bytes")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ScanError(path, f"{what}: its data URI is not valid base64") from None
