"""The digests that name caches, checkpoints and runs: how content becomes a key, in one place.

These digests are stored on users' disks: the names of render cache entries and of the ingest and
pretraining caches, the keys of checkpoint folders, training bundles and resumable folds, the
content digest of a view store. Each one keeps the algorithm, the text it digests and the length
it was first made with, because changing any of them would rename what is already stored: a cache
would be missed and a resumable run would start again. So the differences between them (SHA-1,
SHA-256 or BLAKE2b; whole or truncated) are parameters here, not something to tidy away.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: The algorithms in use, by name. A BLAKE2b's size is part of the hash, not a truncation: the
#: 64-bit BLAKE2b of a text is not the first 16 hex digits of its 128-bit BLAKE2b.
ALGORITHMS: dict[str, Callable[[], Any]] = {
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
    "blake2b-64": lambda: hashlib.blake2b(digest_size=8),
    "blake2b-128": lambda: hashlib.blake2b(digest_size=16),
}


#: The algorithm of every content fingerprint (:func:`fingerprint_hasher`).
FINGERPRINT_ALGORITHM = "blake2b-128"


def fingerprint_hasher() -> Any:
    """A new 128-bit BLAKE2b, the hash of every content fingerprint (views, datasets, tensors,
    model states), to feed with ``update`` piece by piece; ``hexdigest()`` is 32 hex digits."""
    return ALGORITHMS[FINGERPRINT_ALGORITHM]()


def text_digest(text: str | bytes, algorithm: str, hex_digits: int | None = None) -> str:
    """The hex digest of ``text`` (UTF-8) by ``algorithm`` (a key of :data:`ALGORITHMS`), cut to
    its first ``hex_digits`` digits when given."""
    h = ALGORITHMS[algorithm]()
    h.update(text.encode("utf-8") if isinstance(text, str) else text)
    return h.hexdigest()[:hex_digits]


def json_digest(
    value: Any,
    algorithm: str,
    hex_digits: int | None = None,
    default: Callable[[Any], Any] | None = None,
) -> str:
    """:func:`text_digest` of ``value`` as JSON with sorted keys (the order of a dict is no part
    of it); ``default`` turns what JSON cannot hold into what it can, as in ``json.dumps``."""
    text = json.dumps(value, sort_keys=True, default=default)
    return text_digest(text, algorithm, hex_digits)


def file_digest(path: str | Path, algorithm: str) -> str:
    """The hex digest of a file's bytes by ``algorithm``, read a megabyte at a time (weight
    files of tens of megabytes need not be held twice)."""
    h = ALGORITHMS[algorithm]()
    with Path(path).open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
