"""Throughput of the scan readers: our VRML reader against ``pyvista.read``, and ``.bnt`` scans/s.

Why: BU-4DFE is about 60,000 VRML frames of ~35,000 vertices, so the reader sets the pace of
ingest and rendering. The goal is that our reader — which keeps shared vertices and face-varying
UVs — is at least as fast (MB/s) as VTK's importer, which does neither.

What it does, in one run:

1. builds a BU-4DFE-like frame procedurally (a ~35,000-vertex grid of triangles with a UV seam,
   so the UVs are face-varying) and writes it with :func:`write_vrml`;
2. times :func:`read_vrml` and ``pyvista.read`` on that same file, alternating, best of
   ``--repeats`` runs each, and prints MB/s of each and their ratio;
3. writes a 240 x 180 Bosphorus-like ``.bnt`` grid (about 82% foreground) and prints how many
   scans per second :func:`read_bnt` reads, and :func:`read_bnt_mesh` turns into meshes;
4. writes the same frame in the scanner formats (VRML 1.0, binary and ASCII STL, COFF, binary
   PLY with vertex colours, a glTF binary as phone apps write it, and its points alone as a
   depth camera's PLY, which the reader triangulates; written by hand with
   ``tests/scans/formats/scanner_files.py``) and prints MB/s and milliseconds of each reader,
   against ``pyvista.read`` where VTK reads the format (STL, PLY, glTF); VTK reads no VRML 1.0
   and no OFF.

Run from the repository root::

    PYTHONPATH=src python benchmarks/reader_throughput.py [--repeats 7] [--side 187]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from facevlm.scans.formats import read_bnt, read_bnt_mesh, read_vrml, write_bnt, write_vrml
from facevlm.scans.mesh import FaceMesh


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


def vrml_benchmark(folder: Path, side: int, repeats: int) -> None:
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
        return
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


def bnt_benchmark(folder: Path, rows: int = 240, cols: int = 180) -> None:
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
    print(f"  read_bnt:      {rate(lambda: read_bnt(path)):8.1f} scans/s")
    print(f"  read_bnt_mesh: {rate(lambda: read_bnt_mesh(path)):8.1f} meshes/s")


def scanner_formats_benchmark(folder: Path, side: int, repeats: int) -> None:
    """MB/s of the readers of the formats scanners write, on one BU-4DFE-sized frame."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "scans" / "formats"))
    from scanner_files import (
        write_ascii_stl,
        write_binary_stl,
        write_colour_ply,
        write_gltf_scan,
        write_laser_vrml1,
        write_off,
        write_point_ply,
    )

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
    for name, (path, write) in files.items():
        write(path)
        size_mb = path.stat().st_size / 1e6
        ours = read_mesh(path)
        (ours_s,) = best_of(repeats, lambda path=path: read_mesh(path))
        line = (
            f"  {name:11s} {size_mb:6.1f} MB  ours {size_mb / ours_s:7.1f} MB/s "
            f"({ours_s * 1e3:5.0f} ms, {ours.n_vertices:,} vertices)"
        )
        if pyvista is not None and path.suffix in (".stl", ".ply", ".glb") and name != "PLY points":
            theirs = pyvista.read(path)
            if isinstance(theirs, pyvista.MultiBlock):  # glTF: one block a primitive
                theirs = theirs.combine()
            (theirs_s,) = best_of(repeats, lambda path=path: pyvista.read(path))
            line += (
                f"  pyvista.read {size_mb / theirs_s:7.1f} MB/s ({theirs_s * 1e3:5.0f} ms, "
                f"{theirs.n_points:,} points)"
            )
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per reader")
    parser.add_argument("--side", type=int, default=187, help="grid side (187^2 ~ 35,000)")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, numpy {np.__version__}")
    with tempfile.TemporaryDirectory() as folder:
        vrml_benchmark(Path(folder), args.side, args.repeats)
        bnt_benchmark(Path(folder))
        scanner_formats_benchmark(Path(folder), args.side, args.repeats)


if __name__ == "__main__":
    main()
