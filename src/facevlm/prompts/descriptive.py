"""SMILE-VLM's pseudo-label prompts: what a face *does*, one small group of sentences per class.

SMILE-VLM is self-supervised, so no sample's ground-truth label may reach its text. Following
the sister paper MultiviewVLM, the training loop clusters the fused image embeddings (k-means,
k = number of classes), matches each cluster to one group of this bank by zero-shot similarity
(Hungarian assignment) and gives every sample its cluster's sentence. The bank itself is a
function of the class list only — it never sees the scan index — and its sentences describe
facial actions (brows, eyes, cheeks, lips; roughly the FACS prototypes of each expression)
without naming the emotion, so the match is made on appearance, not on a leaked word.

The ``class_name`` column names the group a sentence was written for; it is what the cluster
gets matched to, and what lets the zero-shot evaluation score the matched groups.

:func:`generic_prompt` is the ablation baseline: the same sentence for every sample.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from facevlm.scans.labels import NEUTRAL

#: Columns of the descriptive bank; a subset of the augmented bank's, so ``class_prompts``
#: from :mod:`facevlm.prompts.augmented` works on both.
DESCRIPTIVE_COLUMNS: tuple[str, ...] = ("prompt_id", "class_name", "prompt", "kind")

#: Facial-action descriptions per class (action units in comments). Must not contain emotion
#: words from the vocabulary; a test checks this.
FACIAL_ACTIONS: dict[str, tuple[str, ...]] = {
    "anger": (  # AU4 + AU5 + AU7 + AU23
        "a face with lowered, drawn-together eyebrows and tightly pressed lips",
        "a face with a furrowed brow, narrowed eyelids and a hard stare",
        "a face with knitted brows, flared nostrils and a tense, closed mouth",
    ),
    "disgust": (  # AU9 + AU10 + AU15
        "a face with a wrinkled nose and a raised upper lip",
        "a face with the nose scrunched up and the lip corners pulled down",
        "a face with a lifted upper lip, narrowed eyes and creases beside the nose",
    ),
    "fear": (  # AU1 + AU2 + AU4 + AU5 + AU20 + AU26
        "a face with raised, drawn-together eyebrows and wide-open eyes",
        "a face with tense raised brows, exposed upper eye whites and lips stretched sideways",
        "a face with widened eyes and a slightly open mouth pulled back at the corners",
    ),
    "happiness": (  # AU6 + AU12
        "a face with raised cheeks and pulled-up lip corners",
        "a face with crinkled eye corners and an upturned, open mouth showing teeth",
        "a face with lifted cheeks, narrowed lower eyelids and a wide curved mouth",
    ),
    "sadness": (  # AU1 + AU4 + AU15 + AU17
        "a face with raised inner eyebrows and lowered lip corners",
        "a face with drooping upper eyelids and a downturned mouth",
        "a face with slanted brows, a pushed-up chin and a trembling lower lip",
    ),
    "surprise": (  # AU1 + AU2 + AU5 + AU26
        "a face with raised eyebrows and a wide-open mouth",
        "a face with arched brows, wide-open eyes and a dropped jaw",
        "a face with a wrinkled forehead, lifted brows and parted lips",
    ),
    NEUTRAL: (
        "a face at rest with smooth brows, open eyes and closed lips",
        "a still face with smooth cheeks and a straight mouth",
    ),
    "positive": (  # brief AU12 / AU6
        "a face with a slight, brief lift of the lip corners",
        "a face with faintly raised cheeks for a moment",
    ),
    "negative": (  # brief AU4 / AU7 / AU15
        "a face with a slight, brief lowering of the eyebrows",
        "a face with momentarily tightened eyelids and lip corners pulled down a little",
    ),
    "repression": (  # AU14 / AU17 / AU24
        "a face with the lips pressed together and the chin pushed up",
        "a face with tightened lip corners and a held, motionless mouth",
    ),
    "others": (
        "a face with a small, brief twitch of the eyebrows or eyelids",
        "a face with a faint movement around the mouth that fits no clear pattern",
    ),
}

#: The one sentence of the "generic prompt" ablation.
GENERIC_PROMPT = "a 3D scan of a human face"


def descriptive_prompt_bank(
    classes: Sequence[str], max_per_class: int | None = None
) -> pd.DataFrame:
    """The pseudo-label bank for ``classes``: one group of facial-action sentences per class.

    Args:
        classes: class names in class-index order; each needs an entry in
            :data:`FACIAL_ACTIONS`.
        max_per_class: keep the first this-many sentences of each group (``None``: all). One
            sentence per class gives k prompts for k clusters.

    Returns:
        A DataFrame with :data:`DESCRIPTIVE_COLUMNS`, ``kind == 'descriptive'``, rows in class
        order, ``prompt_id`` 0..n-1.
    """
    classes = list(classes)
    if not classes:
        raise ValueError("descriptive_prompt_bank needs at least one class")
    if len(set(classes)) != len(classes):
        raise ValueError(f"duplicate class names in {classes}")
    if max_per_class is not None and max_per_class < 1:
        raise ValueError(f"max_per_class must be >= 1 or None, got {max_per_class}")
    missing = [name for name in classes if name not in FACIAL_ACTIONS]
    if missing:
        raise ValueError(
            f"no facial-action descriptions for {missing}; known: {', '.join(FACIAL_ACTIONS)}"
        )
    records = [
        {"class_name": name, "prompt": sentence, "kind": "descriptive"}
        for name in classes
        for sentence in FACIAL_ACTIONS[name][:max_per_class]
    ]
    bank = pd.DataFrame.from_records(records, columns=list(DESCRIPTIVE_COLUMNS[1:]))
    bank.insert(0, "prompt_id", np.arange(len(bank), dtype=np.int64))
    return bank


def generic_prompt() -> str:
    """The single sentence every sample gets in the "one generic prompt" ablation."""
    return GENERIC_PROMPT
