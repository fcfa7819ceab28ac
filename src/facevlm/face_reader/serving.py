"""A model's face reader at prediction time: the landmarker reads the rendered views, the head
reads the expression, and the rule decides whether the product answers
(:mod:`facevlm.face_reader.agreement`).

Made once per served model from the bundle's record (``ModelBundle.face_reader``); the
landmarker is made on first use, and serves one call at a time (the predictor holds its lock).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from facevlm.face_reader.agreement import AnswerRule, Decision, decide
from facevlm.face_reader.head import FaceReaderHead
from facevlm.face_reader.landmarker import FaceLandmarker
from facevlm.face_reader.reading import read_views


class ServedFaceReader:
    """The face reader of one served model.

    Args:
        record: the bundle's ``face_reader`` record (head, rule, the views it reads).
        view_names: the names of the views the predictor renders, in their order.
    """

    def __init__(self, record: dict[str, Any], view_names: Sequence[str]) -> None:
        self.head = FaceReaderHead.from_dict(record["head"])
        self.rule = AnswerRule.from_dict(record.get("rule") or {})
        self.figures = dict(record.get("figures") or {})
        names = list(view_names)
        wanted = record.get("views") or names
        unknown = [v for v in wanted if v not in names]
        if unknown:
            raise ValueError(
                f"the face reader reads the views {unknown}, which the model's renders lack "
                f"({names})"
            )
        self.views = [names.index(v) for v in wanted]
        self._landmarker: FaceLandmarker | None = None

    @property
    def classes(self) -> list[str]:
        return list(self.head.classes)

    def read(self, views: np.ndarray) -> np.ndarray | None:
        """One face's ``(V, H, W, 3)`` rendered views → the head's ``(K,)`` probabilities, or
        None when the landmarker finds no face in any view it reads."""
        if self._landmarker is None:
            self._landmarker = FaceLandmarker()
        scores = read_views(self._landmarker, views, self.views)
        if np.isnan(scores).any():
            return None
        return self.head.probabilities(scores[None])[0]

    def decide(
        self, model: np.ndarray, model_classes: Sequence[str], reader: np.ndarray | None
    ) -> Decision:
        return decide(model, list(model_classes), reader, self.classes, self.rule)

    def close(self) -> None:
        if self._landmarker is not None:
            self._landmarker.close()
            self._landmarker = None
