"""Write the synthetic set under one root, or reuse what is already there, layout by layout.

Why a manifest: generating takes tens of seconds and writes hundreds of megabytes, and a Kedro
run calls this on every run. ``manifest.json`` at the root records the configuration (and its
hash), what was written and each subject's metadata and labels; a second call with the same
configuration finds it complete and intact and returns it without touching the files. Why layout
by layout: a run needs only the layouts its models read (the 3D pipelines only BU-3DFE, a fifth
of the files), and a layout's bytes do not depend on the others, so a call writes only the
layouts it needs that are not there yet. A different configuration removes the previous set's
folders (only those the manifest names) and writes a new one. A root that holds other data and
no manifest of ours is never touched.

Subjects are written in parallel, one process per core; every subject derives its randomness
from its own seed stream, so the files are byte-identical whatever the number of workers.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from pathlib import Path

from openpyxl import Workbook

from facevlm.cores import one_thread_per_worker, worker_processes
from facevlm.synthetic.config import (
    ALL_LAYOUTS,
    GENERATOR_VERSION,
    LAYOUT_FOLDERS,
    SyntheticConfig,
)
from facevlm.synthetic.expressions import ACTION_UNITS
from facevlm.synthetic.files import save_workbook, tree_size, write_json
from facevlm.synthetic.layout_writers import BU4DFE_BND_FOLDER, SubjectTask, plan, run_task

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
# The generator's name, written into every manifest and compared when one is read (a set on disk
# is reused only when it matches): a fixed name, not the package's import path, so that renaming
# a package never makes every user's synthetic set look foreign.
GENERATOR = "facevlm.data.synthetic"
#: The 4DME label spreadsheet, inside the 4DME folder.
FOURDME_SHEET = "4DME_Labelling_Micro_release v1.xlsx"
#: BU-4DFE's viewer folder, which real distributions ship next to the subjects.
BU4DFE_VIEWER = "BU_WrlViewer_V2"
_MICRO_COLUMNS = ("Positive", "Negative", "Surprise", "Repression", "Others")


def generate_synthetic_dataset(root: str | Path, config: SyntheticConfig | None = None) -> dict:
    """Make sure the synthetic set described by ``config`` is under ``root``: reuse what is there,
    write what is missing.

    Layouts are cached one by one: with the same settings (:meth:`SyntheticConfig.content_hash`),
    a layout already on disk and intact is kept untouched, and only the layouts ``config`` asks
    for that are missing (or damaged) are written. So a 3D-only run writes only the BU-3DFE
    folder, and a later 4D run adds BU-4DFE beside it, byte-identical to writing both at once.
    Other settings remove the previous set (only the folders its manifest names) first.

    Returns:
        the manifest: ``config`` (with ``layouts`` = every layout now on disk), ``config_hash``,
        per-layout folders, file counts and sizes, subject metadata (gender, age, ethnicity) and
        labels (recipes, sequence profiles, micro clips with onset/apex/offset), as also written
        to ``root/manifest.json``.

    With more than one worker, subjects are written by ``spawn``-ed processes, which re-import
    the main script: a script calling this needs the usual ``if __name__ == "__main__":`` guard.

    Raises:
        FileExistsError: ``root`` holds files but no manifest of this generator, or a folder
            this call would write exists and the manifest does not name it.
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
    kept: dict[str, dict] = {}
    same_settings = existing is not None and existing.get("config_hash") == digest
    if same_settings:
        kept = _intact_layouts(root, existing)
        if (
            existing.get("complete")
            and kept == existing.get("layouts")
            and set(config.layouts) <= set(kept)
        ):
            logger.info(
                "synthetic set at %s is up to date (config %s, layouts %s); reusing it",
                root,
                digest[:12],
                ", ".join(kept),
            )
            return existing
        if kept != existing.get("layouts", {}):
            logger.warning("synthetic set at %s is incomplete on disk; writing it again", root)
    else:
        _clear(root, existing)
    missing = [name for name in config.layouts if name not in kept]
    _remove_unrecorded(root, existing if same_settings else None, kept, missing)

    started = time.perf_counter()
    root.mkdir(parents=True, exist_ok=True)
    present = [name for name in ALL_LAYOUTS if name in kept or name in missing]
    header = {
        "generator": GENERATOR,
        "generator_version": GENERATOR_VERSION,
        "config": {**config.to_dict(), "layouts": present},
        "config_hash": digest,
        "layout_folders": sorted(LAYOUT_FOLDERS[name] for name in present),
    }
    # until the new layouts are complete, the manifest records only the kept ones, and names
    # every folder being written so that an interrupted write is cleared next time
    write_json(root / MANIFEST, {**header, "complete": False, "layouts": kept})

    tasks = plan(replace(config, layouts=tuple(missing)))
    records = _run(tasks, root, config)
    written: dict[str, dict] = {
        name: {"folder": LAYOUT_FOLDERS[name], "subjects": []} for name in missing
    }
    for task, record in zip(tasks, records, strict=True):
        written[task.layout]["subjects"].append(record)
    if "bu4dfe" in written:
        _write_bu4dfe_extras(root, written["bu4dfe"])
    if "4dme" in written:
        _write_4dme_sheet(root, written["4dme"])
    for info in written.values():
        folder = root / info["folder"]
        info["n_files"], info["n_bytes"] = tree_size(folder) if folder.exists() else (0, 0)
    layouts = {name: (kept.get(name) or written[name]) for name in present}
    manifest = {
        **header,
        "complete": True,
        "layouts": layouts,
        "n_files": sum(info["n_files"] for info in layouts.values()),
        "n_bytes": sum(info["n_bytes"] for info in layouts.values()),
    }
    write_json(root / MANIFEST, manifest)
    logger.info(
        "wrote synthetic layouts %s to %s: %d files, %.1f MB in %.1f s",
        ", ".join(missing) or "(none)",
        root,
        sum(info["n_files"] for info in written.values()),
        sum(info["n_bytes"] for info in written.values()) / 1e6,
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


def _intact_layouts(root: Path, manifest: dict) -> dict[str, dict]:
    """The manifest's layouts whose folder still holds the files it counted, byte for byte in
    size (a truncated or deleted file makes its layout be written again)."""
    intact = {}
    for name, info in (manifest.get("layouts") or {}).items():
        folder = root / info["folder"]
        if folder.is_dir() and tree_size(folder) == (info["n_files"], info["n_bytes"]):
            intact[name] = info
    return intact


def _remove_unrecorded(
    root: Path, existing: dict | None, kept: dict[str, dict], missing: list[str]
) -> None:
    """Clear the folders about to be written, and those of damaged layouts, before writing.

    Only folders the previous manifest named (``layout_folders``: written or being written) are
    removed; a folder this call would write that no manifest of ours names is someone else's.
    """
    ours = set(existing.get("layout_folders", [])) if existing else set()
    kept_folders = {info["folder"] for info in kept.values()}
    for folder in sorted(ours - kept_folders):
        target = (root / folder).resolve()
        if target.parent == root.resolve() and target.is_dir():
            shutil.rmtree(target)
    for name in missing:
        folder = root / LAYOUT_FOLDERS[name]
        if folder.exists():
            raise FileExistsError(
                f"{folder} exists but {root / MANIFEST} does not name it; refusing to write the "
                f"synthetic {name} layout over it (move it away or choose another root)"
            )


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
    workers = min(worker_processes(config.workers), len(tasks))
    if workers <= 1 or multiprocessing.current_process().daemon:  # daemons may not have children
        return [run_task(str(root), config, task) for task in tasks]
    order = sorted(range(len(tasks)), key=lambda i: -_cost(tasks[i], config))
    # spawn, not fork: the caller may hold threads (Kedro runners, VTK) that fork would copy
    context = multiprocessing.get_context("spawn")
    try:
        with ProcessPoolExecutor(
            max_workers=workers, mp_context=context, initializer=one_thread_per_worker
        ) as pool:
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
