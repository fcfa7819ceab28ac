"""App latency, from upload to prediction: median and 90th percentile of each stage and total.

Runs the app's own code path outside the browser: the uploaded bytes are checked and written
(or unzipped) into a per-session temporary folder (``facevlm.app.uploads``), then predicted by
the warm :class:`facevlm.inference.Predictor` the app caches (read → render → encode →
classify). Two inputs:

- 3D: a BU-3DFE-size scan (a procedural face of 8,100 vertices, one UV a vertex, a 512 px ``.bmp``
  texture), uploaded as ``.wrl`` + ``.bmp``;
- 4D: a 12-frame BU-4DFE-style sequence zipped (``NNN.wrl`` + ``NNN.jpg`` per frame, 8,100
  vertices each), every frame predicted and the sequence prediction from ``render.frames``.

The model is the project's default: the newest ``affectvlm.model`` of the Kedro catalog (run
``kedro run`` first), rendered with the project's ``render`` parameters. Goal, so that the app
feels interactive: 3D total under 1 s median, 4D under 3 s, on 2 CPU cores.

    python benchmarks/app_latency.py                       # from the project root
    python benchmarks/app_latency.py --model smile --repeats 30
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import tempfile
import time
import zipfile
from pathlib import Path

import _results
import numpy as np
from PIL import Image

from facevlm.app.uploads import Upload, UploadFolder, UploadLimits, stage_uploads
from facevlm.inference import ModelChoice, Predictor, Project, load_bundle
from facevlm.render.fixtures import checker_texture
from facevlm.scans.formats import write_vrml
from facevlm.scans.mesh import FaceMesh

STAGES = ("upload", "read", "render", "encode", "classify", "total")


def face_scan() -> FaceMesh:
    """A procedural face of about BU-3DFE's size (a face the face pose accepts: a dome with a
    bump, which the benchmark once used, is refused as no face), with one UV a vertex."""
    import dataclasses

    from facevlm.synthetic.procedural.head import build_head
    from facevlm.synthetic.procedural.identity import sample_identity

    head = build_head(sample_identity(np.random.default_rng(0)), resolution=8100)
    vertices = head.mesh.vertices
    mesh = FaceMesh.from_triangles(vertices, head.mesh.triangles())
    xy = vertices[:, :2]
    return dataclasses.replace(mesh, uv=(xy - xy.min(0)) / np.ptp(xy, axis=0))


def scan_upload(folder: Path) -> list[Upload]:
    Image.fromarray(checker_texture(512)).save(folder / "F0001_HA04WH_F3D.bmp")
    write_vrml(folder / "F0001_HA04WH_F3D.wrl", face_scan(), texture_url="F0001_HA04WH_F3D.bmp")
    return [Upload(p.name, p.read_bytes()) for p in sorted(folder.glob("F0001_*"))]


def sequence_upload(folder: Path, n_frames: int) -> list[Upload]:
    buffer = io.BytesIO()
    texture = Image.fromarray(checker_texture(256))
    mesh = face_scan()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for k in range(n_frames):
            write_vrml(folder / f"{k:03d}.wrl", mesh)
            texture.save(folder / f"{k:03d}.jpg")
            for suffix in (".wrl", ".jpg"):
                archive.write(folder / f"{k:03d}{suffix}", f"F001/Happy/{k:03d}{suffix}")
    return [Upload("F001_Happy.zip", buffer.getvalue())]


def measure(predictor: Predictor, uploads: list[Upload], repeats: int) -> dict[str, list[float]]:
    """Seconds per stage for ``repeats`` uploads (after one unmeasured warm-up)."""
    seconds: dict[str, list[float]] = {stage: [] for stage in STAGES}
    limits = UploadLimits()
    for run in range(repeats + 1):
        with UploadFolder() as folder:
            start = time.perf_counter()
            staged = stage_uploads(uploads, folder, limits)
            upload_s = time.perf_counter() - start
            assert not staged.errors, staged.errors
            (item,) = staged.inputs
            result = predictor.predict(item)
            total_s = time.perf_counter() - start
        if run == 0:
            continue
        seconds["upload"].append(upload_s)
        for stage in ("read", "render", "encode", "classify"):
            seconds[stage].append(result.timings[stage])
        seconds["total"].append(total_s)
    return seconds


def report(title: str, seconds: dict[str, list[float]]) -> list[dict]:
    print(f"\n{title} ({len(seconds['total'])} runs)")
    print(f"  {'stage':<9}{'median ms':>11}{'p90 ms':>10}")
    rows = []
    for stage in STAGES:
        values = seconds[stage]
        median, p90 = statistics.median(values) * 1000, float(np.percentile(values, 90)) * 1000
        print(f"  {stage:<9}{median:>11.1f}{p90:>10.1f}")
        rows.append(
            {
                "upload": title,
                "stage": stage,
                "median ms": round(median, 1),
                "p90 ms": round(p90, 1),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", type=Path, default=Path.cwd())
    parser.add_argument("--model", default="affectvlm", choices=("affectvlm", "smile"))
    parser.add_argument("--repeats", type=int, default=20, help="measured runs per input (20)")
    parser.add_argument("--frames", type=int, default=12, help="frames of the 4D sequence (12)")
    args = parser.parse_args()

    project = Project.open(args.project)
    bundle = load_bundle(project, ModelChoice(args.model))
    start = time.perf_counter()
    predictor = Predictor(bundle, project.render_params)
    predictor.warm_up()
    load_s = time.perf_counter() - start
    backbone = bundle.model_config.get("backbone", {}).get("name")
    setup = (
        f"model {args.model} ({backbone}), render {predictor.settings.size} px x "
        f"{len(predictor.settings.views)} views {predictor.settings.modality}, "
        f"frames {predictor.frames}; model load + warm-up {load_s:.1f} s"
    )
    print(f"{setup}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        (scratch / "scan").mkdir()
        (scratch / "seq").mkdir()
        scan = scan_upload(scratch / "scan")
        sequence = sequence_upload(scratch / "seq", args.frames)
        rows = report(
            "3D scan, 8,100 vertices, .wrl + 512 px .bmp", measure(predictor, scan, args.repeats)
        )
        rows += report(
            f"4D zip, {args.frames} frames of 8,100 vertices + 256 px .jpg",
            measure(predictor, sequence, max(5, args.repeats // 2)),
        )
    predictor.close()
    _results.record(__file__, "latency", rows, notes=setup)


if __name__ == "__main__":
    main()
