"""The digests name caches and runs stored on users' disks, so their values are pinned here: a
change of algorithm, serialisation or length would miss every cache and restart every resumable
run. Each value below is what the code computed before its digests were gathered in one module."""

from __future__ import annotations

from pathlib import Path

from facevlm.digests import fingerprint_hasher, json_digest, text_digest


def test_text_digests_keep_their_algorithm_and_length():
    assert text_digest("/data/bu3dfe", "sha1", hex_digits=12) == "734a4b09ae60"  # ingest cache
    assert text_digest("F0001_HA01", "blake2b-64") == "06e29d87b2be313b"  # caption seed
    assert len(text_digest("x", "sha1")) == 40 and len(text_digest("x", "sha256")) == 64


def test_json_digests_sort_keys_and_keep_their_default():
    config = {"lr": 0.1, "name": "x", "path": Path("/p")}
    same = {"path": Path("/p"), "name": "x", "lr": 0.1}
    assert json_digest(config, "sha256", hex_digits=24, default=str) == json_digest(
        same, "sha256", hex_digits=24, default=str
    )
    assert json_digest(config, "sha256", hex_digits=24, default=str) == "a450590b9465da6433c9e835"
    assert json_digest(("a", 1), "blake2b-64", default=repr) == "215f544638f2193d"


def test_a_fingerprint_is_a_128_bit_blake2b():
    h = fingerprint_hasher()
    h.update(b"views")
    assert h.hexdigest() == "63fa110838ba07975f4f551db76b8a33"
