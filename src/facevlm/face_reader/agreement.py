"""When the product answers: the model and the face reader must agree, or their combination must
be one that held-out folds showed to be safe.

Why: on real people's faces the model is right about half the time, and nothing in its own
features (confidence, familiarity, the fold models' agreement) tells which half. The face reader
(:mod:`facevlm.face_reader.head`) reads the same render through a landmarker trained on real
photographs, so its mistakes have other causes than the model's; where the two readings agree, the
answer rests on two grounds. Where they disagree, an answer may still be given from their
combined probabilities (the model's times the reader's to a weight, renormalised over the model's
classes), but only between two readings that each hold the other as their second choice, and only
if that combination, at its threshold, was right at least ``target_accuracy`` of the time on the
held-out folds (:func:`calibrate_answer_rule`); otherwise the product says it cannot tell, showing
both readings.

Why each second choice must be the other's: the combined probability leans on the model's
confidence, which on real faces is no grounds (it is as confident when wrong). Two readings that
are each other's runner-up are a near miss between two plausible expressions (anger or disgust);
two readings far apart (surprise against sadness, on a resting face) are not, however confident
the model. Measured on the real resting faces of docs/methods.md, the combination without that
condition answered twice as many of them (all wrongly) as agreement alone; with it, about as
many.

A face the reader reads as resting (``neutral``) gets no emotion, and a render in which the reader
finds no face gets none either: neither gives a second ground.

Where the rule cannot tell, a script that needs a label for every face (``--always-answer``)
gets the *best guess*: the combined reading's top class. It is a guess, not an answer, but a
better one than the model's alone: on the held-out built-in folds, on held-out ICT-FaceKit
identities and on real people's scans the combination is right more often than either reader
by itself (docs/methods.md, "When the product answers"). Where the held-out folds say otherwise
(a reader of faint micro-expressions, right less than half the time), the best guess is the
model's own top class: :func:`calibrate_answer_rule` keeps the combination only where it was
right more often than the model alone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from facevlm.face_reader.head import NEUTRAL

#: How an answer was reached (``Decision.route``).
AGREE, COMBINED = "agree", "combined"
#: The floor of tiny probabilities in the combination's logarithms.
_EPS = 1e-6
#: The reader's exponent in the combination (a run's ``face_reader.reader_weight``). Why half
#: the model's weight: the reader is trained on a few hundred renders and its head is linear, so
#: on the built-in folds it is the weaker of the two; on real faces, where the model is weak too,
#: weights from 0.5 to 0.7 read best, and 0.5 was as good as any higher weight on the held-out
#: folds and held-out identities.
READER_WEIGHT = 0.5


@dataclass(frozen=True)
class AnswerRule:
    """The rule :func:`decide` applies, with what calibrated it.

    ``combined_threshold``: the combined top probability from which a disagreement is answered
    (None: a disagreement is never answered). ``reader_weight``: the reader's exponent in the
    combination. ``target_accuracy``: what the threshold was chosen to keep on held-out folds.
    ``guess_with_reader``: whether the best guess combines the two readings (else it is the
    model's top class), as the held-out folds decided.
    """

    reader_weight: float = READER_WEIGHT
    combined_threshold: float | None = None
    target_accuracy: float = 0.95
    guess_with_reader: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> AnswerRule:
        threshold = record.get("combined_threshold")
        return cls(
            # a rule recorded before the weight was chosen combined at 1.0
            float(record.get("reader_weight", 1.0)),
            None if threshold is None else float(threshold),
            float(record.get("target_accuracy", 0.95)),
            bool(record.get("guess_with_reader", True)),
        )


@dataclass(frozen=True)
class Decision:
    """What is answered for one face, and why.

    ``answer``: the expression, or None ("can't tell", with ``reason``). ``route``: :data:`AGREE`
    or :data:`COMBINED` when answered. ``reader``/``reader_probability``: the face reader's own
    reading (None: it found no face). ``best_guess``: the combined reading's top class, what a
    caller that must have a label gets where the rule cannot tell (None: the reader found no
    face, so there is nothing to combine).
    """

    answer: str | None
    route: str | None
    reason: str | None
    reader: str | None
    reader_probability: float | None
    best_guess: str | None = None


def combined_probabilities(
    model: np.ndarray,
    reader: np.ndarray,
    model_classes: list[str],
    reader_classes: list[str],
    weight: float,
) -> np.ndarray:
    """``(N, C)`` model and ``(N, K)`` reader probabilities → ``(N, C)``: the model's times the
    reader's (over the same classes, to ``weight``), renormalised over the model's classes."""
    columns = [reader_classes.index(c) for c in model_classes]
    logits = np.log(np.asarray(model) + _EPS) + weight * np.log(
        np.asarray(reader)[:, columns] + _EPS
    )
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True)


def decide(
    model: np.ndarray,
    model_classes: list[str],
    reader: np.ndarray | None,
    reader_classes: list[str],
    rule: AnswerRule,
) -> Decision:
    """One face: the model's ``(C,)`` and the reader's ``(K,)`` probabilities (None: the reader
    found no face) → the :class:`Decision` of ``rule`` (see the module docstring)."""
    model = np.asarray(model, np.float64)
    said = model_classes[int(np.argmax(model))]
    model_reading = f"the model reads {said} ({model.max():.2f})"
    if reader is None or np.isnan(reader).any():
        reason = f"the face reader finds no face in the frontal render; {model_reading}"
        return Decision(None, None, reason, None, None)
    reader = np.asarray(reader, np.float64)
    read = reader_classes[int(np.argmax(reader))]
    reading = f"the face reader reads {read} ({reader.max():.2f})"
    comparable = all(c in reader_classes for c in model_classes)
    combined = (
        combined_probabilities(
            model[None], reader[None], model_classes, reader_classes, rule.reader_weight
        )[0]
        if comparable
        else model
    )
    combined_answer = model_classes[int(np.argmax(combined))]
    best_guess = combined_answer if rule.guess_with_reader else said
    decision = {
        "reader": read,
        "reader_probability": float(reader.max()),
        "best_guess": best_guess,
    }
    if read == NEUTRAL:
        return Decision(None, None, f"{reading}: a resting face; {model_reading}", **decision)
    if read == said:
        return Decision(said, AGREE, None, **decision)
    if (
        rule.combined_threshold is not None
        and comparable
        and near_miss(model, model_classes, reader, reader_classes)
        and combined.max() >= rule.combined_threshold
        and combined_answer in (said, read)
    ):
        return Decision(combined_answer, COMBINED, None, **decision)
    return Decision(None, None, f"{model_reading}, {reading}: they disagree", **decision)


def runner_up(probabilities: np.ndarray, classes: list[str]) -> str:
    """The second most probable class."""
    return classes[int(np.argsort(-np.asarray(probabilities), kind="stable")[1])]


def near_miss(
    model: np.ndarray, model_classes: list[str], reader: np.ndarray, reader_classes: list[str]
) -> bool:
    """Whether two disagreeing readings are each other's second choice (see the module
    docstring): the model's runner-up is the reader's reading and the reader's the model's."""
    said = model_classes[int(np.argmax(model))]
    read = reader_classes[int(np.argmax(reader))]
    return runner_up(model, model_classes) == read and runner_up(reader, reader_classes) == said


def answer_figures(answers: list[str | None], truth: list[str]) -> dict[str, float]:
    """``coverage`` (share of faces answered) and ``accuracy`` of the answers (NaN: none)."""
    answered = [(a, t) for a, t in zip(answers, truth, strict=True) if a is not None]
    return {
        "coverage": len(answered) / max(len(truth), 1),
        "accuracy": float(np.mean([a == t for a, t in answered])) if answered else float("nan"),
        "n": float(len(truth)),
    }


def calibrate_answer_rule(
    model: np.ndarray,
    reader: np.ndarray,
    truth: list[str],
    model_classes: list[str],
    reader_classes: list[str],
    target_accuracy: float = 0.95,
    reader_weight: float = READER_WEIGHT,
) -> tuple[AnswerRule, dict[str, float]]:
    """The rule for held-out ``(N, C)`` model and ``(N, K)`` reader probabilities of faces whose
    expression is ``truth`` (each row predicted by models that did not see its subject).

    The threshold is the lowest at which the near misses it answers (:func:`near_miss`) are
    themselves right at least ``target_accuracy`` of the time, so that the combination never
    lowers the accuracy of what is answered below the target; None when no threshold does. Returns the rule and its
    figures on these faces: coverage and accuracy of agreement alone (``agree_*``) and of the
    rule (``answered_*``), the reader's own accuracy, and the accuracy of the best guesses a
    caller that must label every face gets (``best_guess_accuracy``; the model's top class where
    the reader found no face). The rule's best guess combines the two readings only if that
    combination was right more often than the model alone on these faces.
    """
    model, reader = np.asarray(model, np.float64), np.asarray(reader, np.float64)
    found = ~np.isnan(reader).any(axis=1)
    said = np.array([model_classes[i] for i in model.argmax(axis=1)], dtype=object)
    read = np.array(
        [
            reader_classes[i] if f else None
            for i, f in zip(np.nan_to_num(reader).argmax(axis=1), found, strict=True)
        ],
        dtype=object,
    )
    truth_array = np.array(truth, dtype=object)
    # the two readings combined, once for every face the reader found (NaN rows elsewhere)
    comparable = all(c in reader_classes for c in model_classes)
    combined = np.full(model.shape, np.nan)
    if comparable and found.any():
        combined[found] = combined_probabilities(
            model[found], reader[found], model_classes, reader_classes, reader_weight
        )
    open_question = found & (read != said) & (read != NEUTRAL)
    for i in np.nonzero(open_question)[0]:
        open_question[i] = near_miss(model[i], model_classes, reader[i], reader_classes)
    threshold = None
    if open_question.any() and comparable:
        disputed = combined[open_question]
        answer = np.array([model_classes[i] for i in disputed.argmax(axis=1)], dtype=object)
        # an answer is one of the two readings (decide); a third class is never given
        either = (answer == said[open_question]) | (answer == read[open_question])
        top = np.where(either, disputed.max(axis=1), -np.inf)
        right = answer == truth_array[open_question]
        order = np.argsort(-top, kind="stable")
        order = order[np.isfinite(top[order])]
        # precision of the k most confident disagreements, for every k: the lowest threshold
        # whose answers keep the target
        precision = np.cumsum(right[order]) / np.arange(1, len(order) + 1)
        safe = np.nonzero(precision >= target_accuracy)[0]
        if len(safe):
            threshold = float(top[order][safe.max()])
    # the best guess combines the readings only where that was right more often held out
    guesses = said.copy()
    if comparable and found.any():
        guesses[found] = [model_classes[i] for i in combined[found].argmax(axis=1)]
    model_accuracy = float(np.mean(said == truth_array)) if len(truth) else float("nan")
    guess_accuracy = float(np.mean(guesses == truth_array)) if len(truth) else float("nan")
    guess_with_reader = bool(guess_accuracy > model_accuracy)
    rule = AnswerRule(float(reader_weight), threshold, float(target_accuracy), guess_with_reader)
    decisions = [
        decide(m, model_classes, r if f else None, reader_classes, rule)
        for m, r, f in zip(model, reader, found, strict=True)
    ]
    agree = [d.answer if d.route == AGREE else None for d in decisions]
    figures = {
        **{f"agree_{k}": v for k, v in answer_figures(agree, truth).items() if k != "n"},
        **{
            f"answered_{k}": v
            for k, v in answer_figures([d.answer for d in decisions], truth).items()
        },
        "reader_accuracy": float(np.mean(read[found] == truth_array[found]))
        if found.any()
        else float("nan"),
        "reader_found_face": float(found.mean()) if len(found) else float("nan"),
        "best_guess_accuracy": float(
            np.mean(
                [
                    (d.answer or d.best_guess or s) == t
                    for d, s, t in zip(decisions, said, truth_array, strict=True)
                ]
            )
        )
        if len(decisions)
        else float("nan"),
    }
    return rule, figures
