"""Face poses of sequences: which frames are registered to the mean face (every static scan, the
middle frame of each sequence), and every frame of a sequence given its middle frame's pose.

Separate because one pose per sequence, never one per frame, is a rule of the index (the renders
of a clip must not jump), not of the pose fit in :mod:`facevlm.render.face_pose`.
"""

from __future__ import annotations

from typing import Any

from facevlm.scans.layouts.base import Rejected, ScanRecord
from facevlm.scans.layouts.scan_index.quarantine import _reject


def _pose_reference_frames(records: list[ScanRecord]) -> set[int]:
    """The records whose pose is estimated: every static scan, and the middle frame (by frame
    number) of every sequence."""
    chosen = {i for i, r in enumerate(records) if r.sequence is None}
    sequences: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for i, record in enumerate(records):
        if record.sequence is not None:
            key = (record.dataset, record.sequence)
            sequences.setdefault(key, []).append((record.frame or 0, i))
    for frames in sequences.values():
        frames.sort()
        chosen.add(frames[len(frames) // 2][1])
    return chosen


def _share_sequence_poses(
    records: list[ScanRecord],
    results: dict[int, dict[str, Any]],
    quarantine: list[dict[str, Any]],
    fail_fast: bool,
) -> None:
    """Give every frame of a sequence the pose of its reference frame; quarantine all the
    frames of a sequence whose reference frame has no face (or was not indexed)."""
    sequences: dict[tuple[str, str], list[int]] = {}
    for i, record in enumerate(records):
        if record.sequence is not None and i in results:
            sequences.setdefault((record.dataset, record.sequence), []).append(i)
    for (dataset, sequence), members in sequences.items():
        poses = [results[i].get("face_pose") for i in members if results[i].get("face_pose")]
        if poses:
            for i in members:
                results[i]["face_pose"] = poses[0]
            continue
        for i in members:
            del results[i]
            reason = (
                f"sequence {sequence}: no face pose (its middle frame has no face or could not "
                "be read; see that frame's quarantine row)"
            )
            _reject(quarantine, Rejected(records[i].path, reason, "pose"), dataset, fail_fast)
