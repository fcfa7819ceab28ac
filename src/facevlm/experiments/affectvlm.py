"""AffectVLM (Behzad & Zhao 2025): supervised multiview CLIP with augmented prompts.

Per fold of a subject-independent protocol:

1. every training sample gets the augmented prompts that fit its class and recorded metadata
   (one is drawn each time the sample is seen);
2. the multiview CLIP is trained with ``L_mc + L_mt`` (learnable margin) plus the weighted CLIP
   InfoNCE term, on mixed-view-augmented images;
3. the held-out subjects are classified by cosine similarity of the fused embedding to the class
   prompt ensembles (after every epoch for the curves, and at the end).

Kedro-free: :data:`RECIPE` runs in :func:`facevlm.experiments.cross_validation.cross_validate`,
called from a notebook, a script or a node.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from facevlm.config import to_dict
from facevlm.experiments.common import (
    ExperimentConfig,
    build_model,
    embed_views,
    experiment_from_params,
    held_out_familiarity,
    model_image_size,
    zero_shot_predict,
    zero_shot_scores,
)
from facevlm.experiments.cross_validation import FoldEvaluation, Recipe
from facevlm.experiments.experiment_data import ExperimentData
from facevlm.experiments.results import FOLD_FAMILIARITY, PRIMARY
from facevlm.models.augment import MixedViewAugmentation
from facevlm.models.losses import AffectVLMLoss
from facevlm.models.multiview_clip import MultiviewCLIP
from facevlm.models.multiview_data import MultiviewDataset
from facevlm.prompts.augmented import candidate_prompts, class_prompts
from facevlm.trainer import train

logger = logging.getLogger(__name__)


@dataclass
class AffectVLMLossConfig:
    w_mc: float = 1.0  # multiview contrastive L_mc
    w_mt: float = 1.0  # multiview triplet L_mt
    w_infonce: float = 1.0  # DECIDED: CLIP InfoNCE fused image <-> prompt (0 turns it off)
    margin_init: float = 0.2  # initial learnable margin alpha (softplus-parametrised)
    include_prompt_pairs: bool = True  # DECIDED: view-prompt pairs in L_mc (text tower gradient)
    mining: str = "all"  # triplets: all valid triplets | hard (batch-hard)
    infonce_targets: str = (
        "diagonal"  # DECIDED: standard CLIP targets | labels (same class = positive)
    )


@dataclass
class AffectVLMConfig(ExperimentConfig):
    loss: AffectVLMLossConfig = field(default_factory=AffectVLMLossConfig)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> AffectVLMConfig:
        return experiment_from_params(cls, params, "affectvlm")


@dataclass
class FittedModel:
    model: MultiviewCLIP
    tokenizer: Any
    history: list[dict[str, float]]


def fit(
    data: ExperimentData,
    rows: np.ndarray,
    prompt_bank: pd.DataFrame,
    cfg: AffectVLMConfig,
    evaluate_rows: np.ndarray | None = None,
) -> FittedModel:
    """Train AffectVLM on ``rows`` of ``data``; record held-out accuracy on ``evaluate_rows``.
    Rows of one scan in several render modalities are one training sample shown in a modality
    drawn at every step (:meth:`ExperimentData.training_views`)."""
    model, tokenizer = build_model(cfg.model, cfg.train.seed)
    views, rows = data.training_views(rows)
    samples = data.samples.iloc[rows]
    prompts = [candidate_prompts(prompt_bank, row) for row in samples.to_dict("records")]
    dataset = MultiviewDataset(
        views,
        data.labels[rows],
        sample_ids=list(samples["sample_id"]),
        prompts=prompts,
        tokenizer=tokenizer,
        image_size=model_image_size(model),
    )
    class_bank = class_prompts(prompt_bank)
    evaluate = None
    if evaluate_rows is not None and len(evaluate_rows):

        def evaluate(model: MultiviewCLIP, epoch: int) -> dict[str, float]:
            predicted = predict(
                model, tokenizer, data.views[evaluate_rows], class_bank, data.classes, cfg
            )
            return {"accuracy": float(np.mean(predicted == data.labels[evaluate_rows]))}

    loss = AffectVLMLoss(**to_dict(cfg.loss))
    augment = None if cfg.augment is None else MixedViewAugmentation(cfg.augment)
    history = train(
        model,
        loss,
        dataset,
        cfg.train,
        execution=cfg.execution,
        augment=augment,
        evaluate=evaluate,
    )
    return FittedModel(model, tokenizer, history.epochs)


def predict(
    model: MultiviewCLIP,
    tokenizer: Any,
    views: np.ndarray,
    class_bank: dict[str, list[str]],
    classes: list[str],
    cfg: AffectVLMConfig,
) -> np.ndarray:
    """Class indices for ``(N, V, S, S, 3)`` views: nearest class prompt ensemble."""
    embedded = embed_views(model, views, cfg.eval_batch_size, cfg.execution.device)
    return zero_shot_predict(model, tokenizer, embedded.fused, class_bank, classes)


def evaluate(
    fitted: FittedModel,
    data: ExperimentData,
    train_rows: np.ndarray,
    test_rows: np.ndarray,
    prompt_bank: pd.DataFrame,
    cfg: AffectVLMConfig,
) -> FoldEvaluation:
    """The held-out rows classified by their nearest class prompt ensemble (with the logits,
    for calibration), and their familiarity scores against the fold's training embeddings (the
    final model's yardstick)."""
    embedded = embed_views(
        fitted.model, data.views[test_rows], cfg.eval_batch_size, cfg.execution.device, True
    )
    predicted, logits = zero_shot_scores(
        fitted.model, fitted.tokenizer, embedded.fused, class_prompts(prompt_bank), data.classes
    )
    train_emb = embed_views(
        fitted.model, data.views[train_rows], cfg.eval_batch_size, cfg.execution.device, True
    )
    return FoldEvaluation(
        {PRIMARY: predicted},
        embedded.fused.numpy(),
        extra={FOLD_FAMILIARITY: held_out_familiarity(train_emb, embedded)},
        logits={PRIMARY: logits},
    )


#: AffectVLM in the shared cross-validation loop (:mod:`facevlm.experiments.cross_validation`).
RECIPE = Recipe("affectvlm", AffectVLMConfig, AffectVLMLoss, fit, evaluate)
