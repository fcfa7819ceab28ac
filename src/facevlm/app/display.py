"""How one prediction is shown in the page: what a researcher needs to judge it at a glance.

The rendered views come first (is this the face I uploaded, the right way up, textured?), then
the predicted expression, or "Can't tell" with the reason and the candidates, with the set of
answers and a probability bar chart over the classes, the prompts the face
embedding is closest to, and the time of each stage. A 4D sequence adds the frames used, the
per-frame prediction over time and, when training pooled the frames into one image (a dynamic
image, a magnified apex, a surface-motion map), that image: what the sequence prediction read.
A model trained on a sequence's frames stacked as views reads the sequence only as a whole: the
page shows the frames it read and says so, with no per-frame prediction.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from facevlm.inference.predictor import STAGES, Prediction


def show_prediction(result: Prediction) -> None:
    """One result block: heading, notes, views, answer and chart, prompts, timings.

    An input unlike the model's training data gets a warning with the reason above the result.
    When the model cannot tell (an unfamiliar input, or more plausible expressions than
    :data:`~facevlm.evaluation.conformal.MAX_ANSWERS`) the answer is "Can't tell" with the
    reason and the candidates, in a neutral box: a large "sadness — 95%" would claim what the
    model has no grounds for. Otherwise the answer is in the green box, with its set of
    answers when the model has one."""
    st.subheader(result.file)
    # with a face reader, agreement decides and familiarity is a caption: on real faces nearly
    # every scan is unfamiliar, and that alone does not tell a right answer from a wrong one
    if result.familiar is False and result.decision is None:
        st.warning(
            f"**Unfamiliar input**: {result.unfamiliar_reason or 'unlike the training scans'}. "
            "The model has no grounds to read its expression.",
            icon=":material/report:",
        )
    for note in result.notes:
        st.warning(note, icon=":material/warning:")
    st.image(
        list(result.views),
        caption=[f"view {name}" for name in result.view_names],
        width=180,
    )
    left, right = st.columns([2, 3])
    with left:
        what = "sequence" if result.is_sequence else "scan"
        if result.abstained:
            st.info(
                f"**Can't tell** ({what}): {result.abstain_reason}. "
                f"Candidates: {', '.join(candidates(result))}",
                icon=":material/help:",
            )
        else:
            answer = result.answer or result.prediction
            confidence = float(result.probabilities[result.classes.index(answer)])
            st.success(
                f"Predicted expression ({what}): **{answer}** — {confidence:.0%} "
                f"({result.method}{answer_grounds(result)})"
            )
        if result.decision is not None:
            st.caption(face_reader_caption(result))
        if result.prediction_set is not None:
            st.caption(answer_set_caption(result))
        st.caption(familiarity_caption(result))
        if result.modality:
            st.caption(modality_caption(result))
        st.markdown("**Closest prompts**")
        st.dataframe(
            pd.DataFrame(result.closest_prompts, columns=["class", "prompt", "similarity"]),
            hide_index=True,
            width="stretch",
        )
    with right:
        chart = pd.DataFrame({"probability": result.probabilities}, index=result.classes)
        chart.index.name = "expression"
        st.bar_chart(chart, y="probability", horizontal=True, height=240)
        if result.zero_shot is not None:
            best = result.classes[int(result.zero_shot.argmax())]
            st.caption(
                f"Zero-shot against the class prompts: {best} ({result.zero_shot.max():.0%})"
            )
    if result.is_sequence:
        show_sequence(result)
    show_timings(result.timings)


def answer_grounds(result: Prediction) -> str:
    """How a face reader's rule reached the answer, for the answer box ("" without a reader)."""
    if result.decision is None:
        return ""
    if result.decision.route == "agree":
        return "; the face reader agrees"
    return f"; combined with the face reader's {result.decision.reader}, a near miss"


def face_reader_caption(result: Prediction) -> str:
    """One line on the second reader's own reading, beside the model's."""
    decision = result.decision
    if decision is None:
        return ""
    # of a sequence the reader reads one still: its apex frame
    read = "the views" if result.reader_frame is None else f"apex frame {result.reader_frame}"
    if decision.reader is None:
        return f"Face reader (MediaPipe's face landmarks on {read}): no face found"
    model_reading = result.prediction
    return (
        f"Face reader (MediaPipe's face landmarks on {read}): **{decision.reader}** "
        f"({decision.reader_probability:.0%}); the model: **{model_reading}** "
        f"({float(result.probabilities.max()):.0%})"
    )


def candidates(result: Prediction) -> list[str]:
    """The expressions the model cannot choose between, most probable first, with their
    probability: its set of answers, or every class when it has none."""
    order = result.probabilities.argsort()[::-1]
    members = result.prediction_set or [result.classes[i] for i in order]
    probability = dict(zip(result.classes, result.probabilities, strict=True))
    return [f"{c} ({probability[c]:.0%})" for c in members]


def answer_set_caption(result: Prediction) -> str:
    """One line on the set of answers: what it holds and what it promises."""
    members = result.prediction_set or []
    held = "every expression" if len(members) == len(result.classes) else ", ".join(members)
    promise = f"holds the true expression {result.coverage:.0%} of the time"
    if result.familiar is False:
        promise = "no promise for an unfamiliar input"
    return f"Set of answers: {held} ({promise})"


def familiarity_caption(result: Prediction) -> str:
    """One line on how familiar the input is: the fraction of held-out scans it beats."""
    if result.familiarity is None:
        if result.familiar is False:
            return "Familiarity: unlike the training scans (no statistics in this model)"
        return "Familiarity unknown: this model was saved without familiarity statistics"
    verdict = "familiar" if result.familiar else "unfamiliar"
    return (
        f"Familiarity {result.familiarity:.2f} ({verdict}): less familiar than "
        f"{1 - result.familiarity:.0%} of held-out training-like scans"
    )


def modality_caption(result: Prediction) -> str:
    """Which render modality answered, and whether the model was trained on it: a model trained
    on textured and shaded renders answers an untextured scan from its shaded render."""
    line = f"Answered from the {result.modality} render"
    trained = list(result.trained_modalities)
    if not trained:
        return line
    seen = "trained on" if result.modality in trained else "not trained on"
    return f"{line}; the model was {seen} {result.modality} renders ({' and '.join(trained)})"


def show_sequence(result: Prediction) -> None:
    """The frames used, the per-frame prediction over time, and the pooled image if any."""
    if result.frame_probabilities is None:
        show_whole_sequence(result)
        return
    st.markdown(
        f"**Frames**: {len(result.frame_numbers)} predicted one by one; the sequence prediction "
        f"uses frames {', '.join(map(str, result.sequence_frames))}"
    )
    st.image(
        list(result.frame_strip),
        caption=[f"frame {n}" for n in result.frame_numbers],
        width=90,
    )
    if result.pooled_views is not None:
        st.markdown(
            f"**What the sequence prediction read**: the {result.pooled_kind} of frames "
            f"{', '.join(map(str, result.sequence_frames))}"
        )
        st.image(
            list(result.pooled_views),
            caption=[f"{result.pooled_kind}, view {name}" for name in result.view_names],
            width=180,
        )
    over_time = pd.DataFrame(
        result.frame_probabilities, columns=result.classes, index=result.frame_numbers
    )
    over_time.index.name = "frame"
    st.markdown("**Per-frame probabilities over time**")
    st.line_chart(over_time, height=240)


def show_whole_sequence(result: Prediction) -> None:
    """The frames a stacked-frame model read together; it has no per-frame prediction."""
    frames = ", ".join(map(str, result.sequence_frames or []))
    st.markdown(
        f"**Frames**: this model reads the whole sequence only: frames {frames}, their "
        f"{len(result.view_names)} views each stacked as one sample, give the one prediction "
        "above (no per-frame prediction)"
    )
    st.image(
        list(result.frame_strip),
        caption=[f"frame {n}" for n in result.frame_numbers],
        width=90,
    )


def show_timings(timings: dict[str, float]) -> None:
    columns = st.columns(len(STAGES) + 1)
    for column, stage in zip(columns, (*STAGES, "total"), strict=True):
        column.metric(stage, f"{timings[stage] * 1000:.0f} ms")
