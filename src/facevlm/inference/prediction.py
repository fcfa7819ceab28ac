"""What one prediction of a scan or a sequence holds, as the app shows it and ``facevlm predict``
prints it (:meth:`Prediction.to_json`).

Apart from :mod:`facevlm.inference.predictor`, which makes it, so that what is shown can be
built and tested without loading a model or torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from facevlm.evaluation.conformal import MAX_ANSWERS
from facevlm.face_reader.agreement import Decision

#: The timed stages of a prediction (``Prediction.timings`` has each, and their ``total``).
STAGES = ("read", "render", "encode", "classify")


@dataclass
class Prediction:
    """What the app shows and the CLI prints for one scan or one sequence.

    ``probabilities`` belong to the model's main head (``method``): the prompt classifier for
    AffectVLM; for SMILE-VLM the linear probe when the bundle has one, else zero-shot.
    ``zero_shot`` holds SMILE-VLM's zero-shot probabilities when the probe is the main head.
    A model trained on a sequence's frames stacked as views (``stacked_frames``) reads the
    sequence only as a whole: its timeline is the frames it read, with no per-frame
    probabilities (``frame_probabilities`` is None).
    """

    file: str
    model: str
    classes: list[str]
    probabilities: np.ndarray  # (C,)
    method: str  # prompt classifier | zero-shot | linear probe
    timings: dict[str, float]  # seconds per stage, and total
    views: np.ndarray  # (V, S, S, 3) uint8 rendered views (of the middle frame of a sequence)
    view_names: list[str]
    closest_prompts: list[tuple[str, str, float]]  # (class, prompt, cosine similarity)
    notes: list[str] = field(default_factory=list)
    zero_shot: np.ndarray | None = None  # (C,) when method is the linear probe
    temperature: float | None = None  # the main head's calibration temperature; None: none
    # sequences only
    frame_numbers: list[int] | None = None  # frame numbers of the timeline (from file names)
    frame_files: list[str] | None = None
    frame_probabilities: np.ndarray | None = None  # (T, C) per timeline frame; see above
    sequence_frames: list[int] | None = None  # frame numbers the sequence prediction uses
    frame_strip: np.ndarray | None = None  # (T, S, S, 3) frontal view of each timeline frame
    # what a pooled frame selection made of ``sequence_frames``: the sample the model read
    pooled_views: np.ndarray | None = None  # (V, S, S, 3)
    pooled_kind: str | None = None  # dynamic image | magnified apex | surface motion
    # how many frames the model read together as one sample (frames stacked as views)
    stacked_frames: int | None = None
    # how familiar the input is to the model (facevlm.evaluation.familiarity); None: unknown
    familiarity: float | None = None  # fraction of held-out training-like scans less familiar
    familiar: bool | None = None
    unfamiliar_reason: str | None = None  # why, when ``familiar`` is False
    # the render modality the model read (texture, or shaded for a scan without a texture)
    modality: str | None = None
    # the modalities the model was trained on (both of texture+shaded); empty: not recorded
    trained_modalities: list[str] = field(default_factory=list)
    # the classes that hold the true one with probability ``coverage`` (conformal; most
    # probable first); every class for an unfamiliar input; None: the model has no sets
    prediction_set: list[str] | None = None
    coverage: float | None = None
    # the second reader (facevlm.face_reader), when the model has one: its probabilities over
    # its classes (None: it found no face), and what its rule decided with the model's reading
    reader_classes: list[str] | None = None
    reader_probabilities: np.ndarray | None = None
    decision: Decision | None = None
    # the frame number of the sequence's apex frame, which the reader read (None: a scan)
    reader_frame: int | None = None

    @property
    def prediction(self) -> str:
        """The most probable class, whether or not the model can tell (see :attr:`abstained`)."""
        return self.classes[int(np.argmax(self.probabilities))]

    @property
    def answer(self) -> str | None:
        """What the product answers: with a face reader, its rule's answer (the model's reading
        where the two agree, the combined one where a held-out-calibrated combination is safe);
        without one, the model's top class unless it abstains. None: it cannot tell."""
        if self.decision is not None:
            return self.decision.answer
        return None if self.abstained else self.prediction

    @property
    def best_guess(self) -> str:
        """A label for every input, whatever the grounds (``--always-answer``): the answer where
        there is one; else, with a face reader that found a face, the top class of the model's
        and the reader's combined reading (right more often than the model's alone, held out
        and on real faces); else the model's top class."""
        if self.answer is not None:
            return self.answer
        if self.decision is not None and self.decision.best_guess is not None:
            return self.decision.best_guess
        return self.prediction

    @property
    def reader_reading(self) -> str | None:
        """The face reader's own top class (None: no reader, or it found no face)."""
        return None if self.decision is None else self.decision.reader

    @property
    def abstain_reason(self) -> str | None:
        """Why the product cannot tell this input's expression, or None when it can.

        With a face reader, its rule decides (:mod:`facevlm.face_reader.agreement`): the two
        readings disagree, the reader reads a resting face or finds none. Familiarity and the
        size of the set of answers are shown but decide nothing then: on real people's faces
        nearly every scan is unfamiliar, and held out the two readings' agreement is what tells
        a right answer from a wrong one. Without a reader: the input is unlike the training
        scans (its probabilities then have no grounds), or the set of answers holds more than
        :data:`MAX_ANSWERS` classes (too ambiguous to name one)."""
        if self.decision is not None:
            return self.decision.reason
        if self.familiar is False:
            return f"unfamiliar input: {self.unfamiliar_reason or 'unlike the training scans'}"
        if self.prediction_set is not None and len(self.prediction_set) > MAX_ANSWERS:
            return (
                f"too ambiguous: {len(self.prediction_set)} of the {len(self.classes)} "
                f"expressions are plausible at {self.coverage:.0%} coverage"
            )
        return None

    @property
    def abstained(self) -> bool:
        return self.abstain_reason is not None

    @property
    def is_sequence(self) -> bool:
        return self.frame_numbers is not None

    def to_json(self, always_answer: bool = False) -> dict[str, Any]:
        """``file, model, prediction, abstained, probabilities {class: p}, timings`` and the
        details. ``prediction`` is None when the model cannot tell (``abstained``, with
        ``abstain_reason``), unless ``always_answer`` asks for a label whatever the grounds
        (:attr:`best_guess`; what scripts that need a label had before sets existed)."""
        abstained = self.abstained and not always_answer
        out: dict[str, Any] = {
            "file": self.file,
            "model": self.model,
            "prediction": None if abstained else self.best_guess,
            "abstained": abstained,
            "abstain_reason": self.abstain_reason if abstained else None,
            "prediction_set": None if self.prediction_set is None else list(self.prediction_set),
            "coverage": self.coverage,
            "probabilities": _by_class(self.classes, self.probabilities),
            "method": self.method,
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
            "closest_prompts": [
                {"class": c, "prompt": p, "similarity": round(s, 4)}
                for c, p, s in self.closest_prompts
            ],
            "notes": list(self.notes),
            "familiar": self.familiar,
            "familiarity": None if self.familiarity is None else round(self.familiarity, 4),
            "unfamiliar_reason": self.unfamiliar_reason,
            "modality": self.modality,
            "trained_modalities": list(self.trained_modalities),
        }
        out["face_reader"] = self._reader_json()
        out["calibrated"] = self.temperature is not None
        if self.temperature is not None:
            out["temperature"] = round(self.temperature, 4)
        if self.zero_shot is not None:
            out["zero_shot"] = _by_class(self.classes, self.zero_shot)
        if self.is_sequence:
            out["frames"] = [
                {"frame": n, "file": f}
                for n, f in zip(self.frame_numbers, self.frame_files or [], strict=True)
            ]
            if self.frame_probabilities is not None:  # none: the model reads no frame alone
                for frame, p in zip(out["frames"], self.frame_probabilities, strict=True):
                    frame["prediction"] = self.classes[int(np.argmax(p))]
            out["sequence_frames"] = list(self.sequence_frames or [])
            # what the model read of them: one pooled image (surface motion ...), each frame
            # on its own, or the frames stacked as the views of one sample
            out["sequence_input"] = self.pooled_kind or (
                "stacked frames" if self.stacked_frames else "frames"
            )
        return out

    def _reader_json(self) -> dict[str, Any] | None:
        """The second reader's reading and how the answer was decided (None: no reader)."""
        if self.decision is None:
            return None
        probabilities = self.reader_probabilities
        return {
            "reading": self.decision.reader,
            "probability": None
            if self.decision.reader_probability is None
            else round(self.decision.reader_probability, 4),
            "probabilities": None
            if probabilities is None
            else _by_class(self.reader_classes or [], probabilities),
            "route": self.decision.route,
            **({} if self.reader_frame is None else {"frame": self.reader_frame}),
        }


def _by_class(classes: list[str], probabilities: np.ndarray) -> dict[str, float]:
    return {c: round(float(p), 4) for c, p in zip(classes, probabilities, strict=True)}
