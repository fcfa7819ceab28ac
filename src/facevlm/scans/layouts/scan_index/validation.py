"""Validating one scan: read the mesh, choose its texture, count its landmarks and, if asked,
find the face's pose; every failure is returned with its stage, never raised.

This is what a worker process runs (:func:`validate_scan`), in this process or in the pool of
:mod:`facevlm.scans.layouts.scan_index`, and the only part of the index that opens files.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from facevlm.scans.errors import ScanError
from facevlm.scans.layouts.scan_index.jobs import ValidationJob


def validate_scan(job: ValidationJob) -> dict[str, Any]:
    """Read one scan: ``{"stats": {...}}`` and/or ``{"failures": [{stage, reason[, path]}]}``.

    Never raises for a bad file: the caller decides between quarantine and fail-fast. An
    exception other than :class:`ScanError` is a reader bug, reported with its type so it is
    noticed, but it does not stop an ingest of thousands of files either.
    """
    from facevlm.scans import formats  # late: the readers are looked up at call time (patchable)
    from facevlm.scans.formats._files import ReadScope

    scope = ReadScope.around(job.path, job.root, job.limits)
    try:
        mesh = formats.read_mesh(job.path, root=job.root, limits=job.limits)
        texture, problem = _texture(job, mesh, scope)
    except Exception as error:  # noqa: BLE001 - see docstring
        return {"failures": [{"stage": "read", "reason": _reason(error)}]}
    if problem:
        return {"failures": [{"stage": "texture", "reason": problem}]}
    face_pose = None
    if job.pose is not None:
        try:
            face_pose = job.pose.estimate(mesh)
        except ScanError as error:
            return {"failures": [{"stage": "pose", "reason": error.reason}]}

    failures: list[dict[str, str]] = []
    landmarks_path, n_landmarks = None, None
    if job.landmarks_path is not None and not job.check_landmarks:
        landmarks_path = job.landmarks_path
    elif job.landmarks_path is not None:
        try:
            n_landmarks = _count_landmarks(
                formats, Path(job.landmarks_path), mesh.n_vertices, _landmark_scope(job, scope)
            )
            landmarks_path = job.landmarks_path
        except Exception as error:  # noqa: BLE001 - the scan stays usable without landmarks
            failures.append(
                {"stage": "landmarks", "reason": _reason(error), "path": job.landmarks_path}
            )

    stats = {
        "texture_path": None if texture is None else str(texture),
        "landmarks_path": landmarks_path,
        "n_vertices": mesh.n_vertices,
        "n_polygons": mesh.n_polygons,
        "has_uv": bool(mesh.has_uv),
        "has_texture": texture is not None,
        "n_landmarks": n_landmarks,
        "face_pose": face_pose,
    }
    return {"stats": stats, "failures": failures}


def _reason(error: Exception) -> str:
    if isinstance(error, ScanError):
        return error.reason
    return f"unexpected {type(error).__name__}: {error}"


def _texture(job: ValidationJob, mesh: Any, scope: Any) -> tuple[Path | None, str]:
    """The texture file the scan uses (by the layout's policy, resolved inside the root), and
    why it is unusable if so.

    Raises:
        ScanError: a candidate resolves outside the dataset root (refused whatever
            ``allow_missing_texture`` says).
    """
    from facevlm.scans.formats._textures import texture_problem

    if mesh.texture_image is not None and mesh.has_uv:
        # embedded in the scan file and checked against the limits by its reader
        return Path(mesh.texture_path or job.path), ""
    layout_texture = None if job.texture_path is None else Path(job.texture_path)
    mesh_texture = None if mesh.texture_path is None else Path(mesh.texture_path)
    order = [layout_texture, mesh_texture]
    if job.texture_policy == "mesh":
        order.reverse()
    texture, problems = None, []
    for candidate in dict.fromkeys(p for p in order if p is not None):
        found, why = scope.probe(candidate, job.path, "texture")
        if found is None:
            if why != "file not found":
                problems.append(f"texture {candidate.name[:80]}: {why}")
            continue
        why = texture_problem(found, scope)
        if not why:
            texture = found
            break
        problems.append(why)
    if job.allow_missing_texture:
        return texture, ""
    if texture is None:
        if problems:
            return None, "; ".join(problems)
        expected = " or ".join(dict.fromkeys(str(p) for p in order if p is not None))
        return (
            None,
            f"missing texture {expected}" if expected else "no texture: the mesh names none",
        )
    if not mesh.has_uv and mesh.vertex_colors is None:
        return (
            texture,
            "mesh has no texture coordinates (nor vertex colours) to map its texture with",
        )
    return texture, ""


def _landmark_scope(job: ValidationJob, scope: Any) -> Any:
    """Landmarks inside the dataset root are read within it; a separate landmark release the
    user configured (BU-4DFE ``landmarks_root``, e.g. a sibling folder) within the landmark
    file's own folder, so a symlink there still cannot lead elsewhere."""
    from facevlm.scans.formats._files import ReadScope

    if job.root is None or Path(job.landmarks_path).is_relative_to(os.path.abspath(job.root)):
        return scope
    return ReadScope.around(job.landmarks_path, None, job.limits)


def _count_landmarks(formats: Any, path: Path, n_vertices: int, scope: Any) -> int | None:
    suffix = path.suffix.lower()
    if suffix in (".bnd", ".landmark"):
        _, points = formats.read_bnd(path, n_vertices=n_vertices, scope=scope)
        return len(points)
    if suffix == ".lm3":
        return len(formats.read_lm3(path, scope=scope))
    return None
