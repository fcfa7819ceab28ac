"""When the product answers: the model and the face reader agree, or two near-miss readings
combine safely; otherwise it cannot tell, and says what each reader read."""

from __future__ import annotations

import numpy as np

from facevlm.face_reader.agreement import (
    AGREE,
    COMBINED,
    AnswerRule,
    calibrate_answer_rule,
    decide,
    near_miss,
)

MODEL = ["anger", "disgust", "happiness"]
READER = ["anger", "disgust", "happiness", "neutral"]
ALWAYS_COMBINE = AnswerRule(reader_weight=1.0, combined_threshold=0.0)


def test_an_answer_both_readers_give_is_given():
    decision = decide(np.array([0.1, 0.1, 0.8]), MODEL, np.array([0.1, 0.1, 0.7, 0.1]), READER,
                      AnswerRule())  # fmt: skip
    assert (decision.answer, decision.route, decision.reason) == ("happiness", AGREE, None)
    assert decision.reader == "happiness" and np.isclose(decision.reader_probability, 0.7)


def test_readings_far_apart_get_no_answer_however_confident_the_model():
    decision = decide(np.array([0.98, 0.01, 0.01]), MODEL, np.array([0.05, 0.05, 0.85, 0.05]),
                      READER, ALWAYS_COMBINE)  # fmt: skip
    assert decision.answer is None
    assert "the model reads anger (0.98)" in decision.reason
    assert "the face reader reads happiness (0.85)" in decision.reason


def test_a_near_miss_is_answered_from_the_combination_only_above_its_threshold():
    model = np.array([0.6, 0.35, 0.05])  # anger, then disgust
    reader = np.array([0.3, 0.5, 0.1, 0.1])  # disgust, then anger
    assert near_miss(model, MODEL, reader, READER)
    combined = decide(model, MODEL, reader, READER, ALWAYS_COMBINE)
    assert combined.route == COMBINED and combined.answer in ("anger", "disgust")
    strict = decide(model, MODEL, reader, READER, AnswerRule(combined_threshold=0.99))
    assert strict.answer is None
    never = decide(model, MODEL, reader, READER, AnswerRule(combined_threshold=None))
    assert never.answer is None


def test_a_resting_face_or_no_face_found_is_no_second_ground():
    model = np.array([0.1, 0.1, 0.8])
    resting = decide(model, MODEL, np.array([0.0, 0.0, 0.3, 0.7]), READER, ALWAYS_COMBINE)
    assert resting.answer is None and "resting face" in resting.reason
    unseen = decide(model, MODEL, None, READER, ALWAYS_COMBINE)
    assert unseen.answer is None and unseen.reader is None
    assert "finds no face" in unseen.reason


def _held_out(n: int, seed: int = 0):
    """Held-out readings: the model right 90% of the time, the reader 80%, independently."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, n)

    def reading(accuracy, k):
        wrong = rng.random(n) > accuracy
        said = np.where(wrong, (truth + rng.integers(1, 3, n)) % 3, truth)
        p = np.full((n, k), 0.05)
        p[np.arange(n), said] = 0.6 + 0.3 * rng.random(n)
        return p / p.sum(axis=1, keepdims=True)

    return reading(0.9, 3), reading(0.8, 4), [MODEL[i] for i in truth]


def test_the_rule_is_calibrated_to_keep_the_target_accuracy_on_the_held_out_faces():
    model, reader, truth = _held_out(600)
    rule, figures = calibrate_answer_rule(model, reader, truth, MODEL, READER, 0.95)
    assert figures["answered_accuracy"] >= 0.95
    assert figures["answered_coverage"] >= figures["agree_coverage"]
    answered = [
        decide(m, MODEL, r, READER, rule).answer for m, r in zip(model, reader, strict=True)
    ]
    given = [(a, t) for a, t in zip(answered, truth, strict=True) if a is not None]
    assert np.isclose(len(given) / len(truth), figures["answered_coverage"])
    assert np.isclose(np.mean([a == t for a, t in given]), figures["answered_accuracy"])


def test_no_threshold_when_no_combination_is_safe():
    model, reader, truth = _held_out(300)
    rule, figures = calibrate_answer_rule(model, reader, truth, MODEL, READER, 1.01)
    assert rule.combined_threshold is None
    assert figures["answered_coverage"] == figures["agree_coverage"]
    assert AnswerRule.from_dict(rule.to_dict()) == rule


def test_where_the_rule_cannot_tell_the_best_guess_weighs_both_readings():
    """A caller that must label every face gets the combined reading's top class: a model
    torn between two expressions is tipped by a reader sure of one of them."""
    torn = np.array([0.45, 0.40, 0.15])  # anger, just ahead of disgust
    sure = np.array([0.02, 0.02, 0.01, 0.95])  # the reader: a resting face, no emotion
    tipped = decide(torn, MODEL, np.array([0.05, 0.9, 0.03, 0.02]), READER, AnswerRule())
    assert tipped.answer is None or tipped.answer == "disgust"
    assert tipped.best_guess == "disgust"
    resting = decide(torn, MODEL, sure, READER, AnswerRule())
    assert resting.answer is None and resting.best_guess in MODEL
    unseen = decide(torn, MODEL, None, READER, AnswerRule())
    assert unseen.best_guess is None, "without a reading there is nothing to combine"


def test_the_best_guesses_held_out_are_right_more_often_than_the_model_alone():
    """Two readers that err independently, as the model and the reader do on real faces (the
    model right 60% of the time, less sure where it is wrong; the reader right 70%): their
    combination is right more often than the model alone."""
    rng = np.random.default_rng(3)
    n = 900
    truth = rng.integers(0, 3, n)

    def reading(accuracy, k, sure_when_right, sure_when_wrong):
        right = rng.random(n) < accuracy
        said = np.where(right, truth, (truth + rng.integers(1, 3, n)) % 3)
        p = np.full((n, k), 0.05)
        p[np.arange(n), said] = np.where(right, sure_when_right, sure_when_wrong)
        return p / p.sum(axis=1, keepdims=True)

    model = reading(0.6, 3, 0.8, 0.1)
    reader = reading(0.7, 4, 0.6, 0.6)
    labels = [MODEL[i] for i in truth]
    _, figures = calibrate_answer_rule(model, reader, labels, MODEL, READER, 0.95)
    model_alone = np.mean(model.argmax(axis=1) == truth)
    assert figures["best_guess_accuracy"] > model_alone + 0.05


def test_a_reader_that_would_spoil_the_guesses_leaves_them_to_the_model():
    """A reader of faint expressions (micro-expressions: right a third of the time, and sure
    of itself) would pull the combined guesses below the model's own: held out, the rule
    finds that and guesses with the model alone."""
    rng = np.random.default_rng(4)
    n = 600
    truth = rng.integers(0, 3, n)
    model = np.full((n, 3), 0.1)
    model[np.arange(n), np.where(rng.random(n) < 0.7, truth, (truth + 1) % 3)] = 0.6
    reader = np.full((n, 4), 0.02)
    reader[np.arange(n), rng.integers(0, 3, n)] = 0.94  # sure, and right by chance only
    labels = [MODEL[i] for i in truth]
    rule, figures = calibrate_answer_rule(model, reader, labels, MODEL, READER, 0.95)
    assert not rule.guess_with_reader
    assert AnswerRule.from_dict(rule.to_dict()) == rule
    model_alone = np.mean(model.argmax(axis=1) == truth)
    assert figures["best_guess_accuracy"] >= model_alone
    guess = decide(model[0], MODEL, reader[0], READER, rule).best_guess
    assert guess == MODEL[int(model[0].argmax())]


def test_a_near_miss_is_answered_from_the_combination_even_where_guesses_are_the_models():
    """Whether the best guess uses the reader is a separate question from the near-miss
    answer, which is always the combined reading's (calibrated on its own threshold)."""
    model = np.array([0.50, 0.45, 0.05])  # anger, just ahead of disgust
    reader = np.array([0.3, 0.6, 0.05, 0.05])  # disgust, then anger
    rule = AnswerRule(combined_threshold=0.0, guess_with_reader=False)
    decision = decide(model, MODEL, reader, READER, rule)
    assert (decision.answer, decision.route) == ("disgust", COMBINED)
    assert decision.best_guess == "anger"
