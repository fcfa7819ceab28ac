"""How big the synthetic set is and what it contains: :class:`SyntheticConfig`.

Why a frozen dataclass with a content hash: the generated folder records the configuration that
made it (``manifest.json``), so a pipeline can ask for "the synthetic set with seed 0 and 16
subjects" and get the files already on disk when they match — and a fresh set when anything that
changes the bytes (seed, sizes, resolution, layouts, generator version) differs. Settings that
change only *how* the set is made (``workers``) are left out of the hash.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

#: Bumped whenever a change to the generator changes the bytes it writes.
GENERATOR_VERSION = 1

#: Layouts the generator can write, and the folder each lives in under the root.
LAYOUT_FOLDERS: dict[str, str] = {
    "bu3dfe": "BU-3DFE",
    "bu4dfe": "BU-4DFE",
    "bosphorus": "Bosphorus",
    "bp4d": "BP4D",
    "4dme": "4DME",
}
ALL_LAYOUTS: tuple[str, ...] = tuple(LAYOUT_FOLDERS)


@dataclass(frozen=True)
class SyntheticConfig:
    """Sizes and options of the built-in synthetic 3D/4D set.

    Attributes:
        seed: everything random derives from it; same config → byte-identical files.
        n_subjects: BU-3DFE style subjects (25 scans each: 6 emotions × 4 intensities + neutral).
        n_subjects_4d: BU-4DFE style subjects (6 sequences each).
        n_frames: frames per BU-4DFE / BP4D sequence.
        n_bosphorus: Bosphorus style subjects (neutral, 6 emotions and 2 AU scans each).
        n_bp4d_subjects: BP4D style subjects (tasks T1 T2 T3 T5 T7 T8 each).
        n_micro_subjects: 4DME style subjects.
        clips_per_subject: micro-expression clips per 4DME subject (classes cycle through the
            five 4DME classes, so 5 gives each subject one of each).
        clip_frames: frames per micro-expression clip.
        resolution: vertex budget of a static scan (BU-3DFE, Bosphorus).
        resolution_4d: vertex budget of a 4D frame (BU-4DFE, BP4D, 4DME); lower, as frames are many.
        texture_size: pixel size of a static scan's texture atlas.
        texture_size_4d: pixel size of a 4D frame's texture.
        layouts: which dataset layouts to write (names of :data:`LAYOUT_FOLDERS`).
        workers: processes to write with (None: all cores); does not change the output.
    """

    seed: int = 0
    n_subjects: int = 16
    n_subjects_4d: int = 4
    n_frames: int = 12
    n_bosphorus: int = 2
    n_bp4d_subjects: int = 2
    n_micro_subjects: int = 4
    clips_per_subject: int = 5
    clip_frames: int = 10
    resolution: int = 4500
    resolution_4d: int = 2000
    texture_size: int = 256
    texture_size_4d: int = 256
    layouts: tuple[str, ...] = ALL_LAYOUTS
    workers: int | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        layouts = (self.layouts,) if isinstance(self.layouts, str) else tuple(self.layouts)
        layouts = tuple(str(name).lower().replace("-", "") for name in layouts)
        unknown = sorted(set(layouts) - set(LAYOUT_FOLDERS))
        if unknown:
            raise ValueError(
                f"unknown synthetic layouts {unknown}; expected some of {list(LAYOUT_FOLDERS)}"
            )
        # canonical order and no duplicates, so equal sets hash equally
        object.__setattr__(self, "layouts", tuple(n for n in ALL_LAYOUTS if n in layouts))
        counts = {
            "n_subjects": self.n_subjects,
            "n_subjects_4d": self.n_subjects_4d,
            "n_bosphorus": self.n_bosphorus,
            "n_bp4d_subjects": self.n_bp4d_subjects,
            "n_micro_subjects": self.n_micro_subjects,
            "clips_per_subject": self.clips_per_subject,
        }
        for name, value in counts.items():
            if int(value) != value or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        if (
            self.n_subjects > 9999
            or max(self.n_subjects_4d, self.n_bp4d_subjects) > 999
            or self.n_bosphorus > 999
        ):
            raise ValueError("too many subjects for the datasets' subject id widths")
        if self.n_frames < 5:
            raise ValueError(f"n_frames must be at least 5, got {self.n_frames}")
        if self.clip_frames < 6:
            raise ValueError(f"clip_frames must be at least 6, got {self.clip_frames}")
        for name in ("resolution", "resolution_4d"):
            if getattr(self, name) < 500:
                raise ValueError(f"{name} must be at least 500 vertices, got {getattr(self, name)}")
        for name in ("texture_size", "texture_size_4d"):
            if getattr(self, name) < 64:
                raise ValueError(f"{name} must be at least 64 pixels, got {getattr(self, name)}")
        if self.workers is not None and self.workers < 1:
            raise ValueError(
                f"workers must be at least 1 (or None for all cores), got {self.workers}"
            )

    def to_dict(self) -> dict:
        """The settings that determine the output (``workers`` left out)."""
        data = asdict(self)
        data.pop("workers")
        data["layouts"] = list(self.layouts)
        return data

    def content_hash(self) -> str:
        """SHA-256 of the output-determining settings and :data:`GENERATOR_VERSION`."""
        payload = json.dumps(
            {"config": self.to_dict(), "generator": GENERATOR_VERSION}, sort_keys=True
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()
