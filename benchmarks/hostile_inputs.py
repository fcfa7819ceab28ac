"""Time and peak memory of refusing hostile inputs (docs/your-data.md), the way a user meets them.

Each case is written into a scratch folder (the builders of ``tests/scans/formats/hostile_files.py``)
and given to ``facevlm inspect`` (``render --modality texture`` for the bomb texture) in a fresh
interpreter under ``/usr/bin/time -v``; the script prints exit code, wall time, peak resident
memory and the one-line message. Then the same cases are dropped into a small BU-3DFE tree and
ingested, and the accounting line and every quarantine row are printed.

    PYTHONPATH=src python benchmarks/hostile_inputs.py

Cases 9 are the size bombs of the scanner formats (STL, OFF, VRML 1.0): each must be refused
from a declared count or a structural bound, in about the time of starting the interpreter.

The reference point is main before the fix: the 640 MB all-zero ``.bnt`` took 4.06 GB of peak
memory in ``inspect``; a FIFO made ``inspect`` hang.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "scans" / "formats"))  # the shared hostile-file builders

from hostile_files import (  # noqa: E402
    bomb_png,
    grid_bnt,
    obj_with_texture_link,
    off_declaring_billions,
    small_mesh,
    sparse_zero_bnt,
    stl_declaring_billions,
    swap_bnt_header,
    vrml1_deep_nesting,
    vrml1_use_doubling,
    vrml_with_bomb_texture,
    vrml_with_text,
    vrml_with_texture_link,
)


def _in(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


CASES = {
    "1 VRML url -> symlink to /etc/passwd": lambda d: vrml_with_texture_link(_in(d)),
    "1 OBJ map_Kd -> symlink to /etc/passwd": lambda d: obj_with_texture_link(_in(d)),
    "2 bomb PNG texture (render)": lambda d: vrml_with_bomb_texture(_in(d)),
    "3 FIFO named x.wrl": lambda d: (os.mkfifo(_in(d) / "x.wrl"), d / "x.wrl")[1],
    "3 x.wrl -> /dev/zero": lambda d: (os.symlink("/dev/zero", _in(d) / "x.wrl"), d / "x.wrl")[1],
    "4 640 MB all-zero 4000x4000 .bnt": lambda d: sparse_zero_bnt(_in(d) / "big.bnt"),
    "5 .bnt with nrows/ncols swapped": lambda d: swap_bnt_header(
        grid_bnt(_in(d) / "g.bnt"), d / "swapped.bnt"
    ),
    "6 300-char texture name in .bnt": lambda d: grid_bnt(
        _in(d) / "a.bnt", image_name="a" * 300 + ".png"
    ),
    "6 300-char scan file name": lambda d: _in(d) / ("c" * 300 + ".wrl"),
    "8 1_000 in coordIndex": lambda d: vrml_with_text(
        _in(d) / "u.wrl", "0 1 4 3 -1", "0 1_000 4 3 -1"
    ),
    "8 inf coordinate": lambda d: vrml_with_text(_in(d) / "i.wrl", "0.0 0.0 45.0", "0.0 inf 45.0"),
    "9 binary STL declaring 4e9 facets": lambda d: stl_declaring_billions(_in(d) / "h.stl"),
    "9 OFF declaring 2e9 vertices": lambda d: off_declaring_billions(_in(d) / "h.off"),
    "9 VRML 1.0 USE doubling x60": lambda d: vrml1_use_doubling(_in(d) / "u.wrl"),
    "9 VRML 1.0 100k nested Separators": lambda d: vrml1_deep_nesting(_in(d) / "n.wrl"),
}


def measure(args: list[str], cwd: Path, python: list[str] | None = None):
    """(exit code, wall seconds, peak RSS MiB, stderr without /usr/bin/time's report, stdout)
    of ``facevlm ARGS`` (or of ``python PYTHON``)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    program = python if python is not None else ["-m", "facevlm.commands", *args]
    command = ["/usr/bin/time", "-v", sys.executable, *program]
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120, env=env)
    report = done.stderr
    rss = float(re.search(r"Maximum resident set size \(kbytes\): (\d+)", report)[1]) / 1024
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", report)[1]
    seconds = sum(float(p) * 60**i for i, p in enumerate(reversed(wall.split(":"))))
    message = report.split("\tCommand being timed")[0].strip()
    message = message.replace("Command exited with non-zero status 2", "").strip()
    return done.returncode, seconds, rss, message, done.stdout


def cli_cases(scratch: Path) -> None:
    print(f"{'case':40s} {'exit':>4s} {'wall s':>7s} {'peak MiB':>9s}  message")
    for name, build in CASES.items():
        folder = scratch / re.sub(r"\W+", "_", name)
        path = build(folder)
        args = ["inspect", path.name]
        if "render" in name:
            args = ["render", path.name, "--out", "out", "--modality", "texture"]
        code, seconds, rss, message, out = measure(args, path.parent)
        shown = message.replace("\n", " | ")
        if code == 0:
            shown = "warnings: " + "; ".join(json.loads(out)["warnings"])
        print(f"{name:40s} {code:4d} {seconds:7.2f} {rss:9.0f}  {_short(shown)}")
    big = sparse_zero_bnt(scratch / "big.bnt")
    snippet = (
        "from facevlm.scans.formats import read_mesh; from facevlm.scans.formats.limits import "
        "ReadLimits; read_mesh('big.bnt', limits=ReadLimits(max_scan_bytes=2**30))"
    )
    code, seconds, rss, message, _ = measure([], big.parent, ["-c", snippet])
    name = "4 same, max_scan_bytes raised to 1 GiB"
    error = next((line for line in message.splitlines() if "ScanError:" in line), message)
    print(f"{name:40s} {code:4d} {seconds:7.2f} {rss:9.0f}  {_short(error.split('big.bnt: ')[-1])}")


def _short(text: str, keep: int = 230) -> str:
    """Long names (300 characters) shortened in the middle for the table."""
    text = re.sub(r"(\w)\1{20,}", lambda m: m[1] * 5 + f"...({len(m[0])} x {m[1]})", text)
    return text[:keep]


def ingest_cases(scratch: Path) -> None:
    from PIL import Image

    from facevlm.scans.formats import write_vrml
    from facevlm.scans.layouts import build_scan_index

    root = scratch / "BU-3DFE"
    f, m = root / "F0001", root / "M0002"
    for folder, code in [(f, "F0001_AN01WH"), (m, "M0002_AN01AE")]:
        folder.mkdir(parents=True)
        write_vrml(folder / f"{code}_F3D.wrl", small_mesh(), texture_url=f"{code}_F3D.bmp")
        Image.new("RGB", (8, 8)).save(folder / f"{code}_F3D.bmp")
    write_vrml(f / "F0001_SA01WH_F3D.wrl", small_mesh(), texture_url="F0001_SA01WH_F3D.bmp")
    os.symlink("/etc/passwd", f / "F0001_SA01WH_F3D.bmp")
    write_vrml(f / "F0001_FE01WH_F3D.wrl", small_mesh(), texture_url="F0001_FE01WH_F3D.bmp")
    (f / "F0001_FE01WH_F3D.bmp").write_bytes(bomb_png())
    os.mkfifo(f / "F0001_DI01WH_F3D.wrl")
    os.symlink("/dev/zero", f / "F0001_DI02WH_F3D.wrl")
    os.symlink(root / "nowhere.wrl", m / "M0002_DI01AE_F3D.wrl")
    (f / "F0003_SA02AE_F3D.wrl").mkdir()
    (m / "M0002_SU01AE_F3D.wrl").mkdir()
    vrml_with_text(m / "M0002_SU02AE_F3D.wrl", "0 1 4 3 -1", "0 1_000 4 3 -1")
    sparse_zero_bnt(m / "big.bnt")
    logging.basicConfig(level=logging.INFO, format="ingest log: %(message)s")
    index, quarantine = build_scan_index("bu3dfe", root, progress=False)
    print(f"indexed: {sorted(Path(p).name for p in index['path'])}")
    for row in quarantine.itertuples():
        print(f"  [{row.stage:8s}] {Path(row.path).name[:40]}: {row.reason[:160]}")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="facevlm-hostile-") as scratch:
        cli_cases(Path(scratch) / "cli")
        print()
        ingest_cases(Path(scratch) / "ingest")


if __name__ == "__main__":
    main()
