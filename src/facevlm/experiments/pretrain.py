"""CLIP-style pretraining of a backbone on a captioned corpus: the CPU stand-in for web weights.

The papers fine-tune CLIP towers that web-scale pretraining already taught what faces and
expression words look like. Offline, on a CPU, there are no such weights, so the ``pretrain``
pipeline makes the same kind of starting point on a small scale: image and text towers trained
with the CLIP InfoNCE objective on renders of a *separate* synthetic corpus (other identities)
and their captions (:mod:`facevlm.prompts.captions`). The resulting state dict is a local
weight file that :class:`~facevlm.models.backbone.BackboneConfig` loads like any other.

Captions of one expression describe the same kind of face, so the InfoNCE targets treat every
pair of samples with the same expression as positives (``targets="labels"``); with the diagonal
targets, the few expressions per batch would make most in-batch negatives false ones.
``targets="descriptions"`` keeps that for the facial-action descriptions only: an emotion caption
(a web alt text, which may name the wrong emotion or none) is the positive of its own image alone,
as in CLIP, so its words do not borrow the corpus label.

Kedro-free: :func:`pretrain_backbone` can be called from a notebook, a script or a node.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from facevlm.config import from_dict
from facevlm.experiments.common import build_model, embed_views, model_image_size
from facevlm.experiments.config_layout import refuse_execution_in_train
from facevlm.models.augment import AugmentConfig, MixedViewAugmentation
from facevlm.models.backbone import BackboneConfig
from facevlm.models.classifier import PromptEnsembleClassifier
from facevlm.models.losses.clip_infonce import ClipInfoNCELoss
from facevlm.models.multiview_clip import MultiviewCLIP, MultiviewCLIPConfig
from facevlm.models.multiview_data import MultiviewDataset, MultiviewSample, ViewChoices
from facevlm.trainer import ExecutionConfig, TrainConfig, train

logger = logging.getLogger(__name__)


#: InfoNCE targets of the pretraining (see :class:`PretrainConfig`).
TARGETS: tuple[str, ...] = ("labels", "diagonal", "descriptions")


class CaptionedCorpus(MultiviewDataset):
    """A :class:`MultiviewDataset` whose item label depends on the caption drawn for it.

    A draw of one of ``own_image_captions`` gets a label no other item has (``-2 - row``), so the
    label-aware InfoNCE targets make it the positive of its own image only; any other draw keeps
    the sample's label (its corpus expression). What ``targets="descriptions"`` trains on.
    """

    def __init__(self, *args: Any, own_image_captions: set[str], **kwargs: Any) -> None:
        self._own_image_captions = set(own_image_captions)
        self._own_image_ids: set[int] = set()
        super().__init__(*args, **kwargs)

    def set_prompts(self, prompts: Any, prompt_ids: Any = None) -> None:
        super().set_prompts(prompts, prompt_ids)
        self._own_image_ids = {
            k for k, text in enumerate(self.prompt_texts) if text in self._own_image_captions
        }

    def _item(self, i: int, views: torch.Tensor) -> MultiviewSample:
        item = super()._item(i, views)
        if item.prompt_id in self._own_image_ids:
            return item._replace(label=-2 - i)
        return item


@dataclass
class PretrainConfig:
    """How the backbone is pretrained. The architecture must match the models that load it."""

    backbone: str = "facevlm-tiny"  # open_clip architecture to pretrain (random init)
    classes: list[str] = field(
        default_factory=lambda: [
            "neutral",
            "anger",
            "disgust",
            "fear",
            "happiness",
            "sadness",
            "surprise",
        ]  # fmt: skip
    )  # expressions of the corpus used (captions group by them)
    action_share: float = 0.5  # probability that a draw is a facial-action caption (vs emotion)
    view_weight: float = 0.0  # InfoNCE on single views too (0: fused embedding only)
    # each rendered view its own image-caption pair (as web CLIP sees one photo at a time)
    # instead of one fused sample per scan: the same images per epoch, three times the steps
    single_views: bool = False
    holdout_subjects: int = 4  # corpus subjects kept out of training to check zero-shot on
    # InfoNCE targets: "labels" (same corpus expression = positive pair), "diagonal" (each
    # image with its own caption, as web CLIP is trained; no class label is used at all) or
    # "descriptions" (labels when the drawn caption describes facial actions, diagonal when it
    # is an emotion caption)
    targets: str = "labels"
    # image augmentation of every training image (None: off). Its framing (a crop that zooms in
    # or out, a shift) matters most: the renderer draws every face at the same place and size,
    # and a backbone pretrained on that alone reads expressions off pixel positions
    augment: AugmentConfig | None = None
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            epochs=40, batch_size=32, lr_backbone=1e-3, lr_head=1e-3
        )
    )
    # how the pretraining executes (device, threads, checkpoints, progress), apart from `train`
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)

    def __post_init__(self) -> None:
        if not 0.0 <= self.action_share <= 1.0:
            raise ValueError(f"action_share must be in [0, 1], got {self.action_share}")
        if self.targets not in TARGETS:
            raise ValueError(f"targets must be one of {' | '.join(TARGETS)}, got {self.targets!r}")
        if self.holdout_subjects < 0:
            raise ValueError(f"holdout_subjects must be >= 0, got {self.holdout_subjects}")

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> PretrainConfig:
        refuse_execution_in_train(params, "pretraining.training", "pretraining.training.execution")
        return from_dict(cls, params, "pretraining.training")


@dataclass
class PretrainedBackbone:
    """The pretrained open_clip state dict and what is known about it."""

    state_dict: dict[str, torch.Tensor]
    architecture: str
    history: list[dict[str, float]]
    holdout_zero_shot: float | None  # zero-shot accuracy on held-out corpus subjects


def weighted_captions(
    emotion: Sequence[str], action: Sequence[str], action_share: float
) -> list[str]:
    """One candidate list whose uniform draw picks an action caption with ``action_share``.

    The dataset draws uniformly from a sample's candidates; repeating the smaller kind sets the
    odds without a second sampling mechanism (exact up to integer rounding).
    """
    if not action or action_share == 0.0:
        return list(emotion)
    if not emotion or action_share == 1.0:
        return list(action)
    # n_a * r_a / (n_a * r_a + n_e * r_e) = share, with the smallest integer repeats
    want = action_share / (1.0 - action_share) * len(emotion) / len(action)
    if want >= 1.0:
        return list(emotion) + list(action) * max(1, round(want))
    return list(emotion) * max(1, round(1.0 / want)) + list(action)


def _holdout_rows(subjects: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Rows of ``n`` subjects drawn with ``seed`` (the zero-shot check's held-out people)."""
    unique = np.unique(subjects)
    if n == 0 or len(unique) <= n:
        return np.zeros(0, dtype=np.int64)
    chosen = np.random.default_rng(seed).choice(unique, size=n, replace=False)
    return np.flatnonzero(np.isin(subjects, chosen))


def pretrain_backbone(
    views: np.ndarray,
    expressions: Sequence[str],
    subjects: Sequence[str],
    captions: Sequence[tuple[Sequence[str], Sequence[str]]],
    cfg: PretrainConfig,
) -> PretrainedBackbone:
    """Train a randomly initialised CLIP on captioned multiview renders.

    Args:
        views: ``(N, V, S, S, 3)`` uint8 renders at the architecture's input size, or
            :class:`ViewChoices` of the samples in several modalities (each step shows a sample
            in one, drawn; the held-out zero-shot check scores each).
        expressions: the expression of each sample (a class of ``cfg.classes``).
        subjects: the subject of each sample (the zero-shot check holds some out).
        captions: per sample ``(emotion captions, facial-action captions)``.
        cfg: architecture, caption mix and training settings.
    """
    expressions = np.asarray(expressions, dtype=object)
    unknown = sorted(set(expressions) - set(cfg.classes))
    if unknown:
        raise ValueError(f"expressions {unknown} are not in pretraining classes {cfg.classes}")
    if len(views) == 0:
        raise ValueError("the pretraining corpus has no samples; check pretraining.corpus")
    labels = np.array([cfg.classes.index(e) for e in expressions], dtype=np.int64)
    holdout = _holdout_rows(np.asarray(subjects), cfg.holdout_subjects, cfg.train.seed)
    rows = np.setdiff1d(np.arange(len(views)), holdout)

    train_views, train_rows = views[rows], rows
    if cfg.single_views:
        n_views = views.shape[1]
        single = (-1, 1, *views.shape[2:])
        if isinstance(train_views, ViewChoices):
            train_views = train_views.map(lambda a: a.reshape(single))
        else:
            train_views = train_views.reshape(single)
        train_rows = np.repeat(rows, n_views)
    model_cfg = MultiviewCLIPConfig(
        backbone=BackboneConfig(name=cfg.backbone, pretrained=None),
        fusion="mean",  # the fusion head is not part of the saved backbone
        n_views=train_views.shape[1],
    )
    model, tokenizer = build_model(model_cfg, cfg.train.seed)
    dataset_kwargs: dict[str, Any] = {
        "prompts": [weighted_captions(*captions[i], cfg.action_share) for i in train_rows],
        "tokenizer": tokenizer,
        "image_size": model_image_size(model),
    }
    if cfg.targets == "descriptions":
        emotion_captions = {text for i in train_rows for text in captions[i][0]}
        dataset = CaptionedCorpus(
            train_views, labels[train_rows], own_image_captions=emotion_captions, **dataset_kwargs
        )
    else:
        dataset = MultiviewDataset(train_views, labels[train_rows], **dataset_kwargs)
    logger.info(
        "pretraining %s on %d samples (%d held out), %d epochs",
        cfg.backbone, len(rows), len(holdout), cfg.train.epochs,
    )  # fmt: skip
    targets = "diagonal" if cfg.targets == "diagonal" else "labels"  # descriptions: per draw
    loss = ClipInfoNCELoss(targets=targets, view_weight=cfg.view_weight)
    augment = None if cfg.augment is None else MixedViewAugmentation(cfg.augment)
    history = train(model, loss, dataset, cfg.train, execution=cfg.execution, augment=augment)

    zero_shot = None
    if len(holdout):
        held_views, held_rows = views[holdout], holdout
        if isinstance(held_views, ViewChoices):  # every held-out sample in each modality
            held_views = np.concatenate([np.asarray(a) for a in held_views.alternatives])
            held_rows = np.tile(holdout, len(views.alternatives))
        zero_shot = holdout_zero_shot(
            model, tokenizer, held_views, labels[held_rows], captions, held_rows, cfg
        )
        logger.info("pretrained zero-shot accuracy on held-out corpus subjects: %.3f", zero_shot)
    state = {k: v.detach().cpu().clone() for k, v in model.clip.state_dict().items()}
    return PretrainedBackbone(state, cfg.backbone, history.epochs, zero_shot)


def holdout_zero_shot(
    model: MultiviewCLIP,
    tokenizer: Any,
    views: np.ndarray,
    labels: np.ndarray,
    captions: Sequence[tuple[Sequence[str], Sequence[str]]],
    holdout: np.ndarray,
    cfg: PretrainConfig,
) -> float:
    """Accuracy of the nearest class on held-out subjects.

    Class prompts: the held-out samples' emotion captions when those are clean class prompts
    (a lab corpus); with web captions, which name the emotion only now and then and sometimes
    wrongly, plain class templates (:data:`ZERO_SHOT_TEMPLATES`) instead.
    """
    by_class: dict[str, list[str]] = {c: [] for c in cfg.classes}
    for row, label in zip(holdout, labels, strict=True):
        by_class[cfg.classes[label]].extend(captions[row][0])
    present = [c for c in cfg.classes if by_class[c]]
    prompts = {c: sorted(set(by_class[c])) for c in present}
    if any(set(prompts[a]) & set(prompts[b]) for a in present for b in present if a < b):
        prompts = {c: [t.format(c) for t in ZERO_SHOT_TEMPLATES] for c in present}
    classifier = PromptEnsembleClassifier.from_prompts(model, tokenizer, prompts, present)
    embedded = embed_views(model, views, device=cfg.execution.device)
    predicted = classifier.predict(embedded.fused.to(classifier.class_embeddings.device))
    truth = np.array([present.index(cfg.classes[i]) for i in labels])
    return float(np.mean(predicted.cpu().numpy() == truth))


#: Class prompts of the held-out zero-shot check when the corpus captions are not clean.
ZERO_SHOT_TEMPLATES: tuple[str, ...] = (
    "a photo of a face showing {}",
    "a face expressing {}",
    "a 3D scan of a face with {}",
)
