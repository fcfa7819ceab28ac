"""A fresh fuzz of the scanner and phone formats: mutated files through ``inspect_mesh``, each in
a fresh process with its address space capped, checked for the hostile-input promise.

Every file starts from a valid one (glTF ``.glb`` and ``.gltf``, OFF, binary and ascii PLY,
VRML 1.0, binary and ascii STL, written by ``tests/scans/formats/scanner_files.py``) and gets one
to four mutations: flipped, inserted, deleted bytes, truncation, count lies (a number replaced
by a huge one); a ``.gltf`` instead gets its JSON edited: a field replaced by a value of the
wrong kind (a list, an object, a 400-digit integer, a negative or huge count...), node graphs
that share nodes along many paths, primitives repeated. The promise, checked for each file:
a result or a ScanError from a specific check (not the readers' safety net, not another
exception), within ``--seconds`` and the address-space cap.

    PYTHONPATH=src python benchmarks/fuzz_newer_formats.py [--files 2000] [--seed 0]
        [--cap-mib 2048] [--seconds 30]

Prints the outcomes per format, the slowest and largest file, and every file that broke the
promise (none on the run in docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import resource
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "scans" / "formats"))  # the shared file writers

from hostile_format_files import gltf_grid, write_gltf  # noqa: E402
from scanner_files import (  # noqa: E402
    face_patch,
    write_ascii_stl,
    write_binary_stl,
    write_colour_ply,
    write_gltf_scan,
    write_laser_vrml1,
    write_off,
)

KINDS = {
    "glb": (".glb", lambda p: write_gltf_scan(p, face_patch(5))),
    "gltf": (".gltf", lambda p: write_gltf(p, *gltf_grid(side=6))),
    "off": (".off", lambda p: write_off(p, face_patch(5), colours="uchar")),
    "ply-binary": (".ply", lambda p: write_colour_ply(p, face_patch(5), "binary_little_endian", "uchar")),
    "ply-ascii": (".ply", lambda p: write_colour_ply(p, face_patch(5), "ascii", "float")),
    "vrml1": (".wrl", lambda p: write_laser_vrml1(p, face_patch(5))),
    "stl-binary": (".stl", lambda p: write_binary_stl(p, face_patch(5))),
    "stl-ascii": (".stl", lambda p: write_ascii_stl(p, face_patch(5))),
}  # fmt: skip
INSERTS = [b"nan", b"-1", b"]", b"}", b"{", b"[", b",", b"99999999999", b"4294967295", b"1e999",
           b"\xff\xfe", b"solid", b"-1 -1", b" 0" * 50, b"USE", b"DEF"]  # fmt: skip
HUGE = [10**6, 4 * 10**8, 2**31 - 1, 2**32 + 5, 10**30]
WRONG_KINDS = [lambda v: [v], lambda v: {"a": v}, lambda v: 10**400, lambda v: -1,
               lambda v: 2**31, lambda v: "VEC3", lambda v: None, lambda v: True, lambda v: 1.5,
               lambda v: [0] * 5000, lambda v: "../x.bin"]  # fmt: skip


def mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    for _ in range(rng.randint(1, 4)):
        op, at = (
            rng.choice(["flip", "truncate", "insert", "delete", "lie"]),
            rng.randrange(len(data) + 1),
        )
        if op == "flip" and data:
            at = rng.randrange(len(data))
            data = data[:at] + bytes([rng.randrange(256)]) + data[at + 1 :]
        elif op == "truncate":
            data = data[:at]
        elif op == "insert":
            data = data[:at] + rng.choice(INSERTS) + data[at:]
        elif op == "delete":
            data = data[:at] + data[at + rng.randint(1, 16) :]
        elif numbers := list(re.finditer(rb"\d+", data[:4000])):
            number = rng.choice(numbers)
            data = data[: number.start()] + str(rng.choice(HUGE)).encode() + data[number.end() :]
    return data


def mutate_json(rng: random.Random, document: dict) -> dict:
    for _ in range(rng.randint(1, 3)):
        draw = rng.random()
        if draw < 0.15:  # nodes that each hold the next one up to three times
            levels = rng.randint(2, 40)
            document["nodes"] = [
                {"children": [k + 1] * rng.randint(1, 3)} for k in range(levels - 1)
            ]
            document["nodes"].append({"mesh": 0})
            document["scenes"] = [{"nodes": [0] * rng.randint(1, 3000)}]
        elif draw < 0.2 and len(document["meshes"][0]["primitives"]) == 1:
            document["meshes"][0]["primitives"] *= rng.randint(2, 20_000)
        else:
            fields = []
            _fields(document, fields)
            parent, key = rng.choice(fields)
            parent[key] = rng.choice(WRONG_KINDS)(parent[key])
    return document


def _fields(value, out: list) -> None:
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value[:50])
        if isinstance(value, list)
        else ()
    )
    for key, inner in items:
        out.append((value, key))
        _fields(inner, out)


def make_file(folder: Path, index: int, seed: int) -> tuple[str, str]:
    rng = random.Random(seed * 1_000_003 + index)
    kind = rng.choice(sorted(KINDS))
    suffix, write = KINDS[kind]
    path = folder / f"{index}-{kind}{suffix}"
    write(path)
    data = path.read_bytes()
    if kind == "gltf" and rng.random() < 0.7:
        data = json.dumps(mutate_json(rng, json.loads(data))).encode()
    else:
        data = mutate_bytes(rng, data)
    path.write_bytes(data)
    return kind, str(path)


def inspect_one(path: str, cap_mib: int, seconds: int, reply) -> None:
    """In a forked child: read ``path`` under the caps and send (outcome, seconds, peak MiB)."""
    import warnings

    from facevlm.scans.errors import ScanError
    from facevlm.scans.formats import inspect_mesh
    from facevlm.scans.formats._files import UNEXPECTED

    resource.setrlimit(resource.RLIMIT_AS, (cap_mib * 2**20, cap_mib * 2**20))
    warnings.simplefilter("ignore")  # numpy's overflow notes on absurd numbers: not the point
    signal.alarm(seconds)  # a hang ends as an exception, reported below
    start = time.perf_counter()
    try:
        inspect_mesh(path)
        outcome = "read"
    except ScanError as error:
        outcome = (
            "SAFETY NET: " + error.reason if error.reason.startswith(UNEXPECTED) else "refused"
        )
    except BaseException as error:  # noqa: BLE001 - anything else breaks the promise
        outcome = f"BROKE: {type(error).__name__}: {str(error)[:160]}"
    signal.alarm(0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    reply.send((outcome, time.perf_counter() - start, peak))


def run_all(jobs: list[tuple[str, str]], cap_mib: int, seconds: int) -> list[tuple]:
    """Each file in a child forked for it, two at a time: its peak memory is its own, and a
    child that dies (a crash, the kernel's OOM killer) is reported instead of hanging the run."""
    import multiprocessing

    from facevlm.scans.formats import inspect_mesh  # noqa: F401 - imported once, before forking

    context = multiprocessing.get_context("fork")
    results, running, queue = [], [], list(jobs)
    while queue or running:
        while queue and len(running) < 2:
            kind, path = queue.pop(0)
            receive, send = context.Pipe(duplex=False)
            child = context.Process(target=inspect_one, args=(path, cap_mib, seconds, send))
            child.start()
            running.append((kind, path, child, receive, time.perf_counter()))
        kind, path, child, receive, started = running.pop(0)
        child.join(seconds + 30)
        if receive.poll():
            results.append((kind, path, *receive.recv()))
        else:
            child.kill()
            child.join()
            why = f"exit code {child.exitcode}" if child.exitcode is not None else "no answer"
            results.append((kind, path, f"BROKE: the reader's process died ({why})",
                            time.perf_counter() - started, float("nan")))  # fmt: skip
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cap-mib", type=int, default=2048, help="address-space cap per file")
    parser.add_argument("--seconds", type=int, default=30, help="time allowed per file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="facevlm-fuzz-") as scratch:
        jobs = [make_file(Path(scratch), i, args.seed) for i in range(args.files)]
        results = run_all(jobs, args.cap_mib, args.seconds)
    table: dict[str, dict[str, int]] = {}
    for kind, _, outcome, _, _ in results:
        row = table.setdefault(kind, {"read": 0, "refused": 0, "broke": 0})
        row[outcome if outcome in ("read", "refused") else "broke"] += 1
    print(
        f"{args.files} mutated files, seed {args.seed}, address space capped at {args.cap_mib} MiB\n"
    )
    print("| format | read | refused | broke the promise |\n| --- | ---: | ---: | ---: |")
    for kind, row in sorted(table.items()):
        print(f"| {kind} | {row['read']} | {row['refused']} | {row['broke']} |")
    slowest = max(results, key=lambda r: r[3])
    largest = max(results, key=lambda r: r[4])
    print(f"\nslowest: {slowest[3]:.2f} s ({Path(slowest[1]).name}, {slowest[2]})")
    print(f"largest: {largest[4]:.0f} MiB peak ({Path(largest[1]).name}, {largest[2]})")
    for _, path, outcome, seconds, _ in results:
        if outcome not in ("read", "refused") or seconds > args.seconds:
            print(f"BROKE {Path(path).name}: {outcome} ({seconds:.1f} s)")


if __name__ == "__main__":
    main()
