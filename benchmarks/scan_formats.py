"""The scan readers: how fast they read, and what refusing bad input costs.

One subcommand a measurement; each writes its table to ``benchmarks/results/scan_formats.json``.
The files are written by the builders the format tests use (``_scanner_files.py``,
``_hostile_files.py``, ``_hostile_format_files.py`` in this folder). Run from the repository root::

    python benchmarks/scan_formats.py speed [--repeats 7] [--side 187]
    python benchmarks/scan_formats.py hostile [--cap-mib 1024] [--only glTF]
    python benchmarks/scan_formats.py fuzz [--files 2000] [--seed 0] [--cap-mib 2048] [--seconds 30]

**speed**: BU-4DFE is about 60,000 VRML frames of ~35,000 vertices, so the reader sets the pace
of ingest and rendering. The goal is that our reader -- which keeps shared vertices and
face-varying UVs -- is at least as fast (MB/s) as VTK's importer, which does neither. It builds a
BU-4DFE-like frame (a ~35,000-vertex grid of triangles with a UV seam, so the UVs are
face-varying), writes it with :func:`write_vrml` and times :func:`read_vrml` against
``pyvista.read`` on that file, alternating, best of ``--repeats`` runs each; then how many
240 x 180 Bosphorus-like ``.bnt`` scans a second :func:`read_bnt` reads and
:func:`read_bnt_mesh` turns into meshes; then the same frame in the scanner formats (VRML 1.0,
binary and ASCII STL, COFF, binary PLY with vertex colours, a glTF binary as phone apps write
it, and its points alone as a depth camera's PLY, which the reader triangulates), against
``pyvista.read`` where VTK reads the format (STL, PLY, glTF; it reads no VRML 1.0 and no OFF).

**hostile**: time and peak memory of refusing hostile inputs (docs/your-data.md), the way a user
meets them. Each case is written into a scratch folder and given to ``facevlm inspect``
(``render --modality texture`` for the texture cases) in a fresh interpreter under
``/usr/bin/time -v``, its address space capped (``resource.setrlimit(RLIMIT_AS)``, 1 GiB by
default: a case that needs more fails with a MemoryError rather than passing unnoticed): case,
outcome (exit code and the one-line message), wall seconds, peak resident memory. Then the
dataset cases are dropped into a small BU-3DFE tree and ingested, and every quarantine row is
listed. Cases 9 are the size bombs of the scanner formats (STL, OFF, VRML 1.0), cases 10 what a
fuzz of the newer formats found: each must be refused from a declared count or a structural
bound, within 5 s and under 1 GB on two cores. Before the readers' limits, the 640 MB
all-zero ``.bnt`` took 4.06 GB of peak memory in ``inspect``; a FIFO made ``inspect`` hang; a
glTF of 31 nodes each holding the next twice never finished; a 40 MB OFF polygon of 21 million
corners took 3.3 GB or more.

**fuzz**: a fresh fuzz of the scanner and phone formats: mutated files through
``inspect_mesh``, each in a fresh process with its address space capped, checked for the
hostile-input promise. Every file starts from a valid one (glTF ``.glb`` and ``.gltf``, OFF,
binary and ascii PLY, VRML 1.0, binary and ascii STL) and gets one to four mutations: flipped,
inserted, deleted bytes, truncation, count lies (a number replaced by a huge one); a ``.gltf``
instead gets its JSON edited: a field replaced by a value of the wrong kind (a list, an object,
a 400-digit integer, a negative or huge count...), node graphs that share nodes along many
paths, primitives repeated. The promise, checked for each file: a result or a ScanError from a
specific check (not the readers' safety net, not another exception), within ``--seconds`` and
the address-space cap. It prints the outcomes per format, the slowest and largest file, and
every file that broke the promise.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import _results
import numpy as np
from _hostile_files import (
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
from _hostile_format_files import REPROS, gltf_grid, write_gltf
from _scanner_files import (
    face_patch,
    write_ascii_stl,
    write_binary_stl,
    write_colour_ply,
    write_gltf_scan,
    write_laser_vrml1,
    write_off,
    write_point_ply,
)

from facevlm.scans.formats import read_bnt, read_bnt_mesh, read_vrml, write_bnt, write_vrml
from facevlm.scans.mesh import FaceMesh

ROOT = Path(__file__).resolve().parents[1]


# ================================================================================== speed


def grid_frame(side: int) -> FaceMesh:
    """A ``side x side`` vertex grid face (mm), triangulated, with a UV seam down the middle."""
    rng = np.random.default_rng(0)
    r, c = np.divmod(np.arange(side * side), side)
    x, y = (c - side / 2) * 0.9, (side / 2 - r) * 0.9
    z = 60.0 - 0.004 * (x**2 + y**2) + rng.normal(scale=0.05, size=x.shape)
    vertices = np.column_stack([x, y, z]).round(6)

    cells = (np.arange(side - 1)[:, None] * side + np.arange(side - 1)[None, :]).ravel()
    triangles = np.concatenate(
        [
            np.stack([cells + side, cells + side + 1, cells + 1], axis=1),
            np.stack([cells + side, cells + 1, cells], axis=1),
        ]
    )
    uv = np.column_stack([c / (side - 1), 1 - r / (side - 1)]).round(6)
    # The seam: right of the middle column, corners on that column use a second UV.
    middle = side // 2
    seam = np.flatnonzero(c == middle)
    uv = np.vstack([uv, uv[seam] + [0.01, 0.0]])
    second_uv = np.full(side * side, -1)
    second_uv[seam] = side * side + np.arange(len(seam))
    uv_triangles = triangles.copy()
    right = (c[triangles].min(axis=1) >= middle)[:, None] & (c[triangles] == middle)
    uv_triangles[right] = second_uv[triangles[right]]
    return FaceMesh.from_triangles(vertices, triangles, uv=uv, uv_triangles=uv_triangles)


def best_of(repeats: int, *functions: Callable[[], object]) -> list[float]:
    """Best wall time of each function, running them alternately so load affects all alike."""
    best = [float("inf")] * len(functions)
    for _ in range(repeats):
        for k, function in enumerate(functions):
            start = time.perf_counter()
            function()
            best[k] = min(best[k], time.perf_counter() - start)
    return best


def rate(function: Callable[[], object], seconds: float = 2.0) -> float:
    """Calls per second of ``function`` over about ``seconds``."""
    function()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        function()
        count += 1
    return count / (time.perf_counter() - start)


def vrml_benchmark(folder: Path, side: int, repeats: int) -> list[dict]:
    path = folder / "000.wrl"
    mesh = grid_frame(side)
    write_vrml(path, mesh)
    size_mb = path.stat().st_size / 1e6
    ours = read_vrml(path)
    print(
        f"VRML frame: {path.stat().st_size:,} bytes, {mesh.n_vertices:,} vertices, "
        f"{len(mesh.uv):,} UVs, {mesh.n_polygons:,} triangles"
    )
    print(
        f"  read_vrml:    {ours.n_vertices:,} vertices (shared), face-varying UVs: "
        f"{ours.uv_indices is not None}"
    )
    try:
        import pyvista
    except ImportError:
        (ours_s,) = best_of(repeats, lambda: read_vrml(path))
        print(f"  read_vrml     {size_mb / ours_s:8.1f} MB/s  ({ours_s * 1e3:.0f} ms)")
        print("  pyvista is not installed: no comparison")
        return [_speed_row("VRML 2.0", size_mb, ours_s, ours.n_vertices)]
    pyvista.OFF_SCREEN = True
    theirs = pyvista.read(path)
    points = theirs.combine().n_points if hasattr(theirs, "combine") else theirs.n_points
    print(f"  pyvista.read: {points:,} points (one per polygon corner)")
    ours_s, theirs_s = best_of(repeats, lambda: read_vrml(path), lambda: pyvista.read(path))
    print(
        f"  read_vrml     {size_mb / ours_s:8.1f} MB/s  ({ours_s * 1e3:.0f} ms, best of {repeats})"
    )
    print(
        f"  pyvista.read  {size_mb / theirs_s:8.1f} MB/s  ({theirs_s * 1e3:.0f} ms, best of "
        f"{repeats})"
    )
    print(f"  ratio (ours / pyvista): {theirs_s / ours_s:.2f}x")
    return [_speed_row("VRML 2.0", size_mb, ours_s, ours.n_vertices, theirs_s, points)]


def _speed_row(
    name: str,
    size_mb: float,
    ours_s: float,
    vertices: int,
    theirs_s: float | None = None,
    points: int | None = None,
) -> dict:
    """A row of the speed table: our reader, and ``pyvista.read`` where it reads the format."""
    return {
        "format": name,
        "MB": round(size_mb, 1),
        "ours ms": round(ours_s * 1e3, 1),
        "ours MB/s": round(size_mb / ours_s, 1),
        "vertices": vertices,
        "pyvista.read ms": None if theirs_s is None else round(theirs_s * 1e3, 1),
        "pyvista.read MB/s": None if theirs_s is None else round(size_mb / theirs_s, 1),
        "pyvista points": points,
    }


def bnt_benchmark(folder: Path, rows: int = 240, cols: int = 180) -> list[dict]:
    path = folder / "bs000_N_N_0.bnt"
    r, c = np.mgrid[0:rows, 0:cols].astype(float)
    x, y = (c - cols / 2) * 0.75, (rows / 2 - r) * 0.75
    inside = (x / (0.52 * cols * 0.75)) ** 2 + (y / (0.52 * rows * 0.75)) ** 2 < 1
    z = 60.0 - 0.004 * (x**2 + y**2)
    zmin = -1e9
    x, y, z = (np.where(inside, g, zmin) for g in (x, y, z))
    write_bnt(path, x, y, z, c / (cols - 1), r / (rows - 1), zmin, path.with_suffix(".png").name)
    print(
        f".bnt scan: {rows} x {cols} grid, {inside.mean():.0%} foreground, "
        f"{path.stat().st_size:,} bytes"
    )
    scans, meshes = rate(lambda: read_bnt(path)), rate(lambda: read_bnt_mesh(path))
    print(f"  read_bnt:      {scans:8.1f} scans/s")
    print(f"  read_bnt_mesh: {meshes:8.1f} meshes/s")
    size_mb = path.stat().st_size / 1e6
    return [
        {"format": f".bnt {rows} x {cols}, read_bnt", "MB": round(size_mb, 1),
         "ours ms": round(1e3 / scans, 1), "ours MB/s": round(size_mb * scans, 1)},
        {"format": f".bnt {rows} x {cols}, read_bnt_mesh", "MB": round(size_mb, 1),
         "ours ms": round(1e3 / meshes, 1), "ours MB/s": round(size_mb * meshes, 1)},
    ]  # fmt: skip


def scanner_formats_benchmark(folder: Path, side: int, repeats: int) -> list[dict]:
    """MB/s of the readers of the formats scanners write, on one BU-4DFE-sized frame."""
    from facevlm.scans.formats import read_mesh

    mesh = grid_frame(side)
    rng = np.random.default_rng(1)
    mesh = FaceMesh.from_triangles(
        mesh.vertices.astype(np.float32).astype(np.float64), mesh.triangles(),
        vertex_colors=rng.integers(0, 256, (mesh.n_vertices, 3)).astype(np.uint8),
    )  # fmt: skip
    files = {
        "VRML 1.0": (folder / "scan1.wrl", lambda p: write_laser_vrml1(p, mesh, texture=None)),
        "STL binary": (folder / "scan_b.stl", lambda p: write_binary_stl(p, mesh)),
        "STL ascii": (folder / "scan_a.stl", lambda p: write_ascii_stl(p, mesh)),
        "COFF": (folder / "scan.off", lambda p: write_off(p, mesh, colours="uchar")),
        "PLY colour": (folder / "scan_c.ply", lambda p: write_colour_ply(p, mesh)),
        "glTF binary": (folder / "scan.glb", lambda p: write_gltf_scan(p, mesh)),
        # the same frame's points alone, as a depth camera exports them (triangulated on reading)
        "PLY points": (
            folder / "scan_p.ply",
            lambda p: write_point_ply(p, mesh.vertices, mesh.vertex_colors),
        ),
    }
    try:
        import pyvista
    except ImportError:
        pyvista = None
    print(f"Scanner formats, {mesh.n_vertices:,} vertices, {mesh.n_polygons:,} triangles:")
    rows = []
    for name, (path, write) in files.items():
        write(path)
        size_mb = path.stat().st_size / 1e6
        ours = read_mesh(path)
        (ours_s,) = best_of(repeats, lambda path=path: read_mesh(path))
        line = (
            f"  {name:11s} {size_mb:6.1f} MB  ours {size_mb / ours_s:7.1f} MB/s "
            f"({ours_s * 1e3:5.0f} ms, {ours.n_vertices:,} vertices)"
        )
        theirs_s = points = None
        if pyvista is not None and path.suffix in (".stl", ".ply", ".glb") and name != "PLY points":
            theirs = pyvista.read(path)
            if isinstance(theirs, pyvista.MultiBlock):  # glTF: one block a primitive
                theirs = theirs.combine()
            (theirs_s,) = best_of(repeats, lambda path=path: pyvista.read(path))
            points = theirs.n_points
            line += (
                f"  pyvista.read {size_mb / theirs_s:7.1f} MB/s ({theirs_s * 1e3:5.0f} ms, "
                f"{theirs.n_points:,} points)"
            )
        print(line)
        rows.append(_speed_row(name, size_mb, ours_s, ours.n_vertices, theirs_s, points))
    return rows


def speed(args: argparse.Namespace) -> None:
    print(f"{os.cpu_count()} CPUs, numpy {np.__version__}")
    with tempfile.TemporaryDirectory() as folder:
        rows = vrml_benchmark(Path(folder), args.side, args.repeats)
        rows += bnt_benchmark(Path(folder))
        rows += scanner_formats_benchmark(Path(folder), args.side, args.repeats)
    _results.record(
        __file__,
        "speed",
        rows,
        notes=f"A BU-4DFE-like frame ({args.side} x {args.side} vertices) in each format; best "
        f"of {args.repeats} reads (.bnt: reads a second over 2 s).",
    )


# ================================================================================== hostile


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


def cli_cases(scratch: Path, cap_mib: int, only: str | None = None) -> list[dict]:
    cores = len(os.sched_getaffinity(0))
    print(
        f"`facevlm inspect` (or `render`) per case, address space capped at {cap_mib} MiB "
        f"({RENDER_CAP_MIB} MiB for `render`), {cores} cores:\n"
    )
    print("| case | outcome | seconds | peak MiB |\n| --- | --- | ---: | ---: |")
    rows = []
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
        rows.append(_hostile_row(name, outcome, seconds, rss))
        _remove(folder)
    if only:
        return rows
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
    return [*rows, _hostile_row(name, outcome, seconds, rss)]


def _hostile_row(name: str, outcome: str, seconds: float, rss: float) -> dict:
    return {
        "case": name,
        "outcome": outcome,
        "seconds": round(seconds, 2),
        "peak MiB": None if rss != rss else round(rss),  # NaN: stopped before its report
    }


def _remove(folder: Path) -> None:
    """Free the scratch disk of a case (the full-size files are up to 200 MB)."""
    import shutil

    shutil.rmtree(folder, ignore_errors=True)


def _short(text: str, keep: int = 200) -> str:
    """Long names (300 characters) shortened in the middle for the table."""
    text = re.sub(r"(\w)\1{20,}", lambda m: m[1] * 5 + f"...({len(m[0])} x {m[1]})", text)
    return text[:keep]


def ingest_cases(scratch: Path) -> list[dict]:
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
    rows = [{"file": Path(p).name, "stage": "indexed", "reason": ""} for p in index["path"]]
    for row in quarantine.itertuples():
        print(f"  [{row.stage:8s}] {Path(row.path).name[:40]}: {row.reason[:160]}")
        rows.append({"file": Path(row.path).name[:40], "stage": row.stage,
                     "reason": row.reason[:160]})  # fmt: skip
    return rows


def hostile(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="facevlm-hostile-") as scratch:
        rows = cli_cases(Path(scratch) / "cli", args.cap_mib, args.only)
        if not args.only:
            print()
            ingested = ingest_cases(Path(scratch) / "ingest")
    cores = len(os.sched_getaffinity(0))
    if args.only:  # a part of the table: not the one the page shows
        return
    _results.record(
        __file__,
        "hostile",
        rows,
        notes=f"`facevlm inspect` (or `render`) per case, address space capped at "
        f"{args.cap_mib} MiB ({RENDER_CAP_MIB} MiB for `render`), {cores} cores.",
    )
    _results.record(__file__, "hostile-ingest", ingested, notes="The same cases, ingested.")


# ================================================================================== fuzz

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


def fuzz(args: argparse.Namespace) -> None:
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
    broken = []
    for _, path, outcome, seconds, _ in results:
        if outcome not in ("read", "refused") or seconds > args.seconds:
            print(f"BROKE {Path(path).name}: {outcome} ({seconds:.1f} s)")
            broken.append(f"{Path(path).name}: {outcome} ({seconds:.1f} s)")
    _results.record(
        __file__,
        "fuzz",
        [{"format": kind, "read": row["read"], "refused": row["refused"],
          "broke the promise": row["broke"]} for kind, row in sorted(table.items())],
        notes=f"{args.files} mutated files, seed {args.seed}, each in a process capped at "
        f"{args.cap_mib} MiB and {args.seconds} s; the slowest took {slowest[3]:.1f} s, the "
        f"largest peaked at {largest[4]:.0f} MiB"
        + (f"; broke the promise: {'; '.join(broken)}" if broken else "."),
    )  # fmt: skip


# ================================================================================== the command


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    part = commands.add_parser("speed", help="the readers' throughput")
    part.add_argument("--repeats", type=int, default=7, help="timed runs per reader")
    part.add_argument("--side", type=int, default=187, help="grid side (187^2 ~ 35,000)")
    part.set_defaults(run=speed)
    part = commands.add_parser("hostile", help="time and memory of refusing hostile inputs")
    part.add_argument(
        "--cap-mib",
        type=int,
        default=1024,
        help="address-space cap of each run in MiB (0: none; default 1024)",
    )
    part.add_argument("--only", help="run only the cases whose name contains this text")
    part.set_defaults(run=hostile)
    part = commands.add_parser("fuzz", help="mutated scanner and phone files, each capped")
    part.add_argument("--files", type=int, default=2000)
    part.add_argument("--seed", type=int, default=0)
    part.add_argument("--cap-mib", type=int, default=2048, help="address-space cap per file")
    part.add_argument("--seconds", type=int, default=30, help="time allowed per file")
    part.set_defaults(run=fuzz)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
