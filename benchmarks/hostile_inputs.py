"""Time and peak memory of refusing hostile inputs (docs/your-data.md), the way a user meets them.

Each case is written into a scratch folder (the builders of ``tests/scans/formats/hostile_files.py``
and, for the scanner and phone formats, the full-size files of
``tests/scans/formats/hostile_format_files.py``) and given to ``facevlm inspect`` (``render
--modality texture`` for the texture cases) in a fresh interpreter under ``/usr/bin/time -v``,
its address space capped (``resource.setrlimit(RLIMIT_AS)``, 1 GiB by default: a case that needs
more fails with a MemoryError rather than passing unnoticed). One markdown table comes out:
case, outcome (exit code and the one-line message), wall seconds, peak resident memory. Then the
dataset cases are dropped into a small BU-3DFE tree and ingested, and the accounting line and
every quarantine row are printed.

    PYTHONPATH=src python benchmarks/hostile_inputs.py [--cap-mib 1024] [--only glTF]

Cases 9 are the size bombs of the scanner formats (STL, OFF, VRML 1.0), cases 10 what a fuzz of
the newer formats found: each must be refused from a declared count or a structural bound,
within 5 s and under 1 GB (the issue's target, on two cores).

The reference point is main before the fixes: the 640 MB all-zero ``.bnt`` took 4.06 GB of peak
memory in ``inspect``; a FIFO made ``inspect`` hang; a glTF of 31 nodes each holding the next
twice never finished; a 40 MB OFF polygon of 21 million corners took 3.3 GB or more.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import resource
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
from hostile_format_files import REPROS  # noqa: E402


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
    "10 truncated PNG texture (render)": lambda d: truncated_png_obj(_in(d)),
}
CASES.update(
    {
        f"10 {name}": (lambda d, build=build: build(_in(d), big=True))
        for name, (build, _) in REPROS.items()
    }
)


#: Address-space cap of the render cases: VTK cannot even load its libraries under 1 GiB.
RENDER_CAP_MIB = 2048


def truncated_png_obj(folder: Path) -> Path:
    """An OBJ whose texture is the first half of a PNG (its header whole, its pixels cut)."""
    import io

    import numpy as np
    from PIL import Image

    from facevlm.scans.formats import write_obj

    out = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(
        out, format="PNG"
    )
    (folder / "tex.png").write_bytes(out.getvalue()[: len(out.getvalue()) // 2])
    path = folder / "scan.obj"
    write_obj(path, small_mesh(), texture_filename="tex.png")
    return path


def measure(args: list[str], cwd: Path, python: list[str] | None = None, cap_mib: int = 0):
    """(exit code, wall seconds, peak RSS MiB, stderr without /usr/bin/time's report, stdout)
    of ``facevlm ARGS`` (or of ``python PYTHON``), its address space capped at ``cap_mib``
    (0: no cap); a run past 60 s is stopped and reported with exit code -1."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    program = python if python is not None else ["-m", "facevlm.commands", *args]
    command = ["/usr/bin/time", "-v", sys.executable, *program]

    def cap() -> None:
        if cap_mib:
            resource.setrlimit(resource.RLIMIT_AS, (cap_mib * 2**20, cap_mib * 2**20))

    try:
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=60,
                              env=env, preexec_fn=cap)  # fmt: skip
    except subprocess.TimeoutExpired:
        return -1, 60.0, float("nan"), "still running after 60 s (stopped)", ""
    report = done.stderr
    rss = float(re.search(r"Maximum resident set size \(kbytes\): (\d+)", report)[1]) / 1024
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", report)[1]
    seconds = sum(float(p) * 60**i for i, p in enumerate(reversed(wall.split(":"))))
    message = report.split("\tCommand being timed")[0].strip()
    message = re.sub(r"Command exited with non-zero status \d+", "", message).strip()
    return done.returncode, seconds, rss, message, done.stdout


def cli_cases(scratch: Path, cap_mib: int, only: str | None = None) -> None:
    cores = len(os.sched_getaffinity(0))
    print(
        f"`facevlm inspect` (or `render`) per case, address space capped at {cap_mib} MiB "
        f"({RENDER_CAP_MIB} MiB for `render`), {cores} cores:\n"
    )
    print("| case | outcome | seconds | peak MiB |\n| --- | --- | ---: | ---: |")
    for name, build in CASES.items():
        if only and only.lower() not in name.lower():
            continue
        folder = scratch / re.sub(r"\W+", "_", name)
        path = build(folder)
        args = ["inspect", path.name]
        if "render" in name:
            args = ["render", path.name, "--out", "out", "--modality", "texture", "--pose",
                    "as_stored"]  # fmt: skip
        # VTK maps 1.2 GB of shared libraries (address space, not memory) before rendering
        case_cap = max(cap_mib, RENDER_CAP_MIB) if cap_mib and args[0] == "render" else cap_mib
        code, seconds, rss, message, out = measure(args, path.parent, cap_mib=case_cap)
        shown = message.replace("\n", " | ").replace("facevlm: error: ", "")
        if code == 0 and args[0] == "inspect":
            shown = "warnings: " + "; ".join(json.loads(out)["warnings"])
        outcome = f"exit {code}: {_short(shown)}".replace("|", "/")
        print(f"| {name} | {outcome} | {seconds:.2f} | {rss:.0f} |", flush=True)
        _remove(folder)
    if only:
        return
    big = sparse_zero_bnt(scratch / "big.bnt")
    snippet = (
        "from facevlm.scans.formats import read_mesh; from facevlm.scans.formats.limits import "
        "ReadLimits; read_mesh('big.bnt', limits=ReadLimits(max_scan_bytes=2**30))"
    )
    code, seconds, rss, message, _ = measure([], big.parent, ["-c", snippet], cap_mib=cap_mib)
    name = "4 same, max_scan_bytes raised to 1 GiB"
    error = next((line for line in message.splitlines() if "ScanError:" in line), message)
    outcome = f"exit {code}: {_short(error.split('big.bnt: ')[-1])}".replace("|", "/")
    print(f"| {name} | {outcome} | {seconds:.2f} | {rss:.0f} |")


def _remove(folder: Path) -> None:
    """Free the scratch disk of a case (the full-size files are up to 200 MB)."""
    import shutil

    shutil.rmtree(folder, ignore_errors=True)


def _short(text: str, keep: int = 200) -> str:
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
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--cap-mib",
        type=int,
        default=1024,
        help="address-space cap of each run in MiB (0: none; default 1024)",
    )
    parser.add_argument("--only", help="run only the cases whose name contains this text")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="facevlm-hostile-") as scratch:
        cli_cases(Path(scratch) / "cli", args.cap_mib, args.only)
        if not args.only:
            print()
            ingest_cases(Path(scratch) / "ingest")


if __name__ == "__main__":
    main()
