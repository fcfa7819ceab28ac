"""Write the whole synthetic set under one root, or reuse it when it is already there.

Why a manifest: generating takes tens of seconds and writes hundreds of megabytes, and a Kedro
run calls this on every run. ``manifest.json`` at the root records the configuration (and its
hash), what was written and each subject's metadata and labels; a second call with the same
configuration finds it complete and intact and returns it without touching the files. A
different configuration removes the previous set's folders (only those the manifest names) and
writes a new one. A root that holds other data and no manifest of ours is never touched.

Subjects are written in parallel, one process per core; every subject derives its randomness
from its own seed stream, so the files are byte-identical whatever the number of workers.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from openpyxl import Workbook

from facevlm.data.synthetic.config import GENERATOR_VERSION, LAYOUT_FOLDERS, SyntheticConfig
from facevlm.data.synthetic.expressions import ACTION_UNITS
from facevlm.data.synthetic.files import save_workbook, tree_size, write_json
from facevlm.data.synthetic.layout_writers import BU4DFE_BND_FOLDER, SubjectTask, plan, run_task

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
GENERATOR = "facevlm.data.synthetic"
#: The 4DME label spreadsheet, inside the 4DME folder.
FOURDME_SHEET = "4DME_Labelling_Micro_release v1.xlsx"
#: BU-4DFE's viewer folder, which real distributions ship next to the subjects.
BU4DFE_VIEWER = "BU_WrlViewer_V2"
_MICRO_COLUMNS = ("Positive", "Negative", "Surprise", "Repression", "Others")


def generate_synthetic_dataset(root: str | Path, config: SyntheticConfig | None = None) -> dict:
    """Write (or reuse) the synthetic set described by ``config`` under ``root``.

    Returns:
        the manifest: ``config``, ``config_hash``, per-layout folders, file counts and sizes,
        subject metadata (gender, age, ethnicity) and labels (recipes, sequence profiles, micro
        clips with onset/apex/offset), as also written to ``root/manifest.json``.

    With more than one worker, subjects are written by ``spawn``-ed processes, which re-import
    the main script: a script calling this needs the usual ``if __name__ == "__main__":`` guard.

    Raises:
        FileExistsError: ``root`` holds files but no manifest of this generator.
        RuntimeError: called while a worker process is still importing an unguarded main script
            (raised before anything on disk is touched).
    """
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        raise RuntimeError(
            "generate_synthetic_dataset was called while a worker process imported the main "
            'script; put the call under `if __name__ == "__main__":`'
        )
    root = Path(root)
    config = SyntheticConfig() if config is None else config
    digest = config.content_hash()
    existing = read_manifest(root)
    if existing is not None and existing.get("complete") and existing.get("config_hash") == digest:
        if _intact(root, existing):
            logger.info(
                "synthetic set at %s is up to date (config %s); reusing it", root, digest[:12]
            )
            return existing
        logger.warning("synthetic set at %s is incomplete on disk; writing it again", root)
    _clear(root, existing)

    started = time.perf_counter()
    root.mkdir(parents=True, exist_ok=True)
    folders = {name: LAYOUT_FOLDERS[name] for name in config.layouts}
    header = {
        "generator": GENERATOR,
        "generator_version": GENERATOR_VERSION,
        "config": config.to_dict(),
        "config_hash": digest,
        "layout_folders": sorted(folders.values()),
    }
    write_json(root / MANIFEST, {**header, "complete": False})

    tasks = plan(config)
    records = _run(tasks, root, config)
    layouts: dict[str, dict] = {
        name: {"folder": folder, "subjects": []} for name, folder in folders.items()
    }
    for task, record in zip(tasks, records, strict=True):
        layouts[task.layout]["subjects"].append(record)
    if "bu4dfe" in layouts:
        _write_bu4dfe_extras(root, layouts["bu4dfe"])
    if "4dme" in layouts:
        _write_4dme_sheet(root, layouts["4dme"])
    total_files = total_bytes = 0
    for info in layouts.values():
        n_files, n_bytes = (
            tree_size(root / info["folder"]) if (root / info["folder"]).exists() else (0, 0)
        )
        info["n_files"], info["n_bytes"] = n_files, n_bytes
        total_files += n_files
        total_bytes += n_bytes
    manifest = {
        **header,
        "complete": True,
        "layouts": layouts,
        "n_files": total_files,
        "n_bytes": total_bytes,
    }
    write_json(root / MANIFEST, manifest)
    logger.info(
        "wrote synthetic set to %s: %d files, %.1f MB in %.1f s",
        root,
        total_files,
        total_bytes / 1e6,
        time.perf_counter() - started,
    )
    return json.loads(json.dumps(manifest))  # the same plain types a reused manifest has


def read_manifest(root: str | Path) -> dict | None:
    """The manifest under ``root`` if this generator wrote it, else None."""
    path = Path(root) / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("generator") == GENERATOR else None


def _intact(root: Path, manifest: dict) -> bool:
    """Every layout folder still holds the files the manifest counted, byte for byte in size."""
    for info in manifest.get("layouts", {}).values():
        folder = root / info["folder"]
        if not folder.is_dir() or tree_size(folder) != (info["n_files"], info["n_bytes"]):
            return False
    return True


def _clear(root: Path, existing: dict | None) -> None:
    """Remove a previous synthetic set (only the folders its manifest names)."""
    if existing is None:
        if root.exists() and any(not p.name.startswith(".") for p in root.iterdir()):
            raise FileExistsError(
                f"{root} is not empty and has no synthetic {MANIFEST}; refusing to write the "
                "synthetic set over other data (choose an empty or new folder)"
            )
        return
    for folder in existing.get("layout_folders", []):
        target = (root / folder).resolve()
        if target.parent == root.resolve() and target.is_dir():
            shutil.rmtree(target)
    (root / MANIFEST).unlink(missing_ok=True)


def _available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _cost(task: SubjectTask, config: SyntheticConfig) -> float:
    """Rough relative cost of a subject, to hand the biggest ones out first."""
    frames = {
        "bu3dfe": 25 * config.resolution,
        "bu4dfe": 6 * config.n_frames * config.resolution_4d,
        "bosphorus": 9 * 3 * config.resolution,
        "bp4d": 6 * config.n_frames * config.resolution_4d,
        "4dme": config.clips_per_subject * config.clip_frames * config.resolution_4d,
    }
    return float(frames[task.layout])


def _run(tasks: list[SubjectTask], root: Path, config: SyntheticConfig) -> list[dict]:
    """Run every task (in parallel when there are cores and tasks enough); results in order."""
    workers = min(config.workers or _available_cores(), len(tasks))
    if workers <= 1 or multiprocessing.current_process().daemon:  # daemons may not have children
        return [run_task(str(root), config, task) for task in tasks]
    order = sorted(range(len(tasks)), key=lambda i: -_cost(tasks[i], config))
    # spawn, not fork: the caller may hold threads (Kedro runners, VTK) that fork would copy
    context = multiprocessing.get_context("spawn")
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = {i: pool.submit(run_task, str(root), config, tasks[i]) for i in order}
            return [futures[i].result() for i in range(len(tasks))]
    except BrokenProcessPool as error:
        raise RuntimeError(
            "a synthetic-set worker process died; if this was called from a script, put the call "
            'under `if __name__ == "__main__":`, or pass workers=1'
        ) from error


def _write_bu4dfe_extras(root: Path, info: dict) -> None:
    """The viewer folder real BU-4DFE roots carry (not a subject) and the landmark folder."""
    base = root / info["folder"]
    viewer = base / BU4DFE_VIEWER
    viewer.mkdir(parents=True, exist_ok=True)
    (viewer / "readme.txt").write_text(
        "Stand-in for the VRML viewer shipped with BU-4DFE; not a subject folder.\n",
        encoding="utf-8",
    )
    info["landmarks_folder"] = BU4DFE_BND_FOLDER
    info["viewer_folder"] = BU4DFE_VIEWER


def _write_4dme_sheet(root: Path, info: dict) -> None:
    """``4DME_Labelling_Micro_release v1.xlsx``: one row per clip, as the real release."""
    aus = sorted(ACTION_UNITS)
    book = Workbook()
    sheet = book.active
    sheet.title = "Sheet1"
    sheet.append(
        [
            "sub_ID",
            "fold_name",
            "Onset",
            "Apex",
            "Offset",
            "AUs",
            *[f"AU{a}" for a in aus],
            *_MICRO_COLUMNS,
        ]
    )
    for subject in info["subjects"]:
        for clip in subject["clips"]:
            flags = [int(c.lower() in clip["classes"]) for c in _MICRO_COLUMNS]
            au_flags = [int(a in clip["aus"]) for a in aus]
            sheet.append(
                [
                    clip["sub_ID"],
                    clip["fold_name"],
                    clip["onset"],
                    clip["apex"],
                    clip["offset"],
                    clip["AUs"],
                    *au_flags,
                    *flags,
                ]
            )
    folder = root / info["folder"]
    folder.mkdir(parents=True, exist_ok=True)
    save_workbook(book, folder / FOURDME_SHEET)
    info["labels"] = FOURDME_SHEET
