"""How big the synthetic set is and what it contains: :class:`SyntheticConfig`.

Why a frozen dataclass with a content hash: the generated folder records the configuration that
made it (``manifest.json``), so a pipeline can ask for "the synthetic set with seed 0 and 16
subjects" and get the files already on disk when they match — and a fresh set when anything that
changes the bytes (seed, sizes, resolution, generator version) differs. Settings that change only
*how* the set is made (``workers``) are left out of the hash, and so is ``layouts``: each
layout's subjects draw from their own seed streams, so a layout's files are the same whichever
other layouts are written with it, and a run that needs one more layout adds it beside the ones
already on disk (:func:`~facevlm.synthetic.writer.generate_synthetic_dataset`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from facevlm.digests import json_digest
from facevlm.synthetic.scanner_variety import ScannerVariety

#: Bumped whenever a change to the generator changes the bytes it writes.
GENERATOR_VERSION = 7

#: Layouts the generator can write, and the folder each lives in under the root.
LAYOUT_FOLDERS: dict[str, str] = {
    "bu3dfe": "BU-3DFE",
    "bu4dfe": "BU-4DFE",
    "bosphorus": "Bosphorus",
    "bp4d": "BP4D",
    "4dme": "4DME",
}
ALL_LAYOUTS: tuple[str, ...] = tuple(LAYOUT_FOLDERS)
#: How the BU-3DFE-style expressions are made: ``lab`` (each subject's own, consistent way of
#: posing each emotion, like a lab capture) or ``web`` (every scan drawn afresh: partial, blended
#: and off-prototype renditions at any strength, like faces in web photos; the pretraining
#: corpus).
STYLES: tuple[str, ...] = ("lab", "web")
#: How captions describe the set (:func:`facevlm.prompts.captions.caption_samples`): ``lab``
#: (clean emotion prompts, exact action sentences) or ``web`` (alt texts that name the emotion
#: only now and then, loose descriptions).
CAPTION_STYLES: tuple[str, ...] = ("lab", "web")
#: Where a subject's face comes from: ``procedural`` (:mod:`~facevlm.synthetic.procedural`,
#: made by this project) or ``ict`` (:mod:`~facevlm.synthetic.ict_facekit`, a morphable model
#: measured on real people).
FACE_SOURCES: tuple[str, ...] = ("procedural", "ict")
#: What an ICT-FaceKit scan shows (:data:`~facevlm.synthetic.ict_facekit.REGIONS`): what a
#: face scanner captures, the face from ear to ear, or the whole head with the neck.
ICT_REGIONS: tuple[str, ...] = ("narrow_face", "face", "head")
#: Where a lab-style subject's way of making each emotion comes from: ``prototypes`` (the EMFACS
#: recipes with a subject's own variant and jitter), ``bank`` (a real person's FACS-coded
#: expression from the expression bank, :mod:`~facevlm.synthetic.expressions.bank_recipes`) or
#: ``bank_held_out`` (the same from the bank's people that ``bank`` never deals: a yardstick of
#: real people's expressions that no run learned from).
EXPRESSION_SOURCES: tuple[str, ...] = ("prototypes", "bank", "bank_held_out")
#: How many of the bank's people of each emotion ``bank`` leaves to ``bank_held_out``
#: (:func:`~facevlm.synthetic.expressions.bank_recipes.held_out_people`): enough to keep a
#: yardstick of six subjects apart, few enough that ``bank`` still keeps the default's 16 apart
#: (CK+ has 25 people who made fear; ``bank`` keeps at most 18).
BANK_HELD_OUT_PER_EMOTION = 7


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
        layouts: which dataset layouts must be on disk (names of :data:`LAYOUT_FOLDERS`); those
            already written with the same settings are kept, the others added.
        style: ``lab`` or ``web`` expressions (:data:`STYLES`).
        pose_deg: spread of the head pose between scans (degrees; each axis has a standard
            deviation of half of it).
        shift_mm: spread of the head position between scans (mm).
        scale_jitter: spread of the head size between scans (relative; a tighter or looser
            crop once rendered).
        lighting: strength of the per-scan change of the texture's light (brightness, colour
            temperature, a side light); 0 keeps the same texture for every scan.
        grayscale_share: share of scans whose texture is a grey-level photograph.
        photo_shading: strength of the capture's studio light baked into each scan's texture
            photograph (:mod:`~facevlm.synthetic.procedural.photo_shading`): the folds and
            furrows of the expression as shading, as in a real scanner's photo; 0 gives the
            painted skin only, the same for every scan of a person.
        captions: how captions of this set are worded (:data:`CAPTION_STYLES`); recorded in
            the manifest for the pretraining captions, the files do not depend on it.
        idiosyncrasy: how much each BU-3DFE-style subject's way of posing an emotion departs
            from the prototype (1: the full spread of :func:`subject_recipe`, the other EMFACS
            variants included; 0: everyone poses the prototype).
        face_sources: where the subjects' faces come from (:data:`FACE_SOURCES`): each
            layout's subjects take them in turn (subject 0 the first, subject 1 the second...),
            so a mixed set has every source in every fold of subjects.
        ict_regions: what each ICT-FaceKit subject's scans show, one drawn per subject
            (:data:`ICT_REGIONS`).
        expressions: where a lab-style BU-3DFE or BU-4DFE subject's emotions come from
            (:data:`EXPRESSION_SOURCES`): the EMFACS prototypes, or CK+'s coded expressions from
            the expression bank, each bank person worn by one subject of a layout only (``bank``
            from the bank's training people, ``bank_held_out`` from the people it leaves out).
            The other layouts pose prototypes either way.
        scanner_variety: how the BU-3DFE-style scans differ the way real scanners' meshes do
            (:class:`~facevlm.synthetic.scanner_variety.ScannerVariety`: density,
            smoothing, noise, holes, ragged borders, units; a dict of its fields in
            parameters), drawn per scan and recorded in the manifest; off by default. 4D frames
            keep the subject's mesh (a sequence's frames share one topology).
        subject_offset: added to the subject numbers (F0001 → F5001 with 5000), so two sets
            never share a subject id.
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
    style: str = "lab"
    pose_deg: float = 5.0
    shift_mm: float = 2.0
    scale_jitter: float = 0.0
    lighting: float = 1.0
    grayscale_share: float = 0.0
    photo_shading: float = 1.0
    captions: str = "lab"
    subject_offset: int = 0
    idiosyncrasy: float = 1.0
    face_sources: tuple[str, ...] = ("procedural",)
    ict_regions: tuple[str, ...] = ICT_REGIONS
    expressions: str = "prototypes"
    scanner_variety: ScannerVariety = field(default_factory=ScannerVariety)
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
        for name, known in (("face_sources", FACE_SOURCES), ("ict_regions", ICT_REGIONS)):
            value = getattr(self, name)
            value = (value,) if isinstance(value, str) else tuple(str(v) for v in value)
            if not value or set(value) - set(known):
                raise ValueError(f"{name} must be a non-empty list of {list(known)}, got {value}")
            object.__setattr__(self, name, value)
        if not isinstance(self.scanner_variety, ScannerVariety):
            object.__setattr__(
                self, "scanner_variety", ScannerVariety.from_params(self.scanner_variety)
            )
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
        if self.style not in STYLES:
            raise ValueError(f"style must be one of {list(STYLES)}, got {self.style!r}")
        if self.expressions not in EXPRESSION_SOURCES:
            raise ValueError(
                f"expressions must be one of {list(EXPRESSION_SOURCES)}, got {self.expressions!r}"
            )
        if self.expressions != "prototypes" and self.style != "lab":
            raise ValueError(
                "expressions: bank poses each subject's own way of making an emotion, which only "
                "the lab style has (web draws every scan afresh)"
            )
        if self.captions not in CAPTION_STYLES:
            raise ValueError(
                f"captions must be one of {list(CAPTION_STYLES)}, got {self.captions!r}"
            )
        for name in ("pose_deg", "shift_mm", "scale_jitter", "lighting", "photo_shading"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be non-negative, got {getattr(self, name)}")
        if self.idiosyncrasy < 0:
            raise ValueError(f"idiosyncrasy must be non-negative, got {self.idiosyncrasy}")
        if not 0.0 <= self.grayscale_share <= 1.0:
            raise ValueError(f"grayscale_share must be in [0, 1], got {self.grayscale_share}")
        if self.subject_offset < 0 or self.subject_offset + self.n_subjects > 9999:
            raise ValueError(
                f"subject_offset {self.subject_offset} + n_subjects must stay within 0-9999"
            )
        if self.workers is not None and self.workers < 1:
            raise ValueError(
                f"workers must be at least 1 (or None for all cores), got {self.workers}"
            )

    def to_dict(self) -> dict:
        """The settings that determine the output (``workers`` left out)."""
        data = asdict(self)
        data.pop("workers")
        data["layouts"] = list(self.layouts)
        data["face_sources"] = list(self.face_sources)
        data["ict_regions"] = list(self.ict_regions)
        data["scanner_variety"] = json.loads(json.dumps(data["scanner_variety"]))  # plain lists
        if self.expressions == "prototypes":
            # the sets written before the option existed keep their hash and manifest
            data.pop("expressions")
        else:
            # which of the bank's people a bank set may wear changes its bytes
            data["bank_held_out_per_emotion"] = BANK_HELD_OUT_PER_EMOTION
        return data

    def content_hash(self) -> str:
        """SHA-256 of the settings that determine a layout's bytes and :data:`GENERATOR_VERSION`:
        everything but ``workers`` and ``layouts`` (which layouts are written does not change
        what any one of them holds)."""
        settings = self.to_dict()
        settings.pop("layouts")
        return json_digest({"config": settings, "generator": GENERATOR_VERSION}, "sha256")
