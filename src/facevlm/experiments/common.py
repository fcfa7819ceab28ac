"""Pieces both experiments share: seeded model construction, embedding, zero-shot prediction.

AffectVLM and SMILE-VLM train the same :class:`~facevlm.models.multiview_clip.MultiviewCLIP`
with the same loop; they differ in losses, prompts and evaluation. What is common lives here so
that the two experiment modules read as the recipe of their paper and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from facevlm.config import from_dict, to_dict
from facevlm.experiments.config_layout import refuse_execution_in_train
from facevlm.models.augment import AugmentConfig
from facevlm.models.backbone import image_size_of
from facevlm.models.classifier import PromptEnsembleClassifier
from facevlm.models.multiview_clip import (
    EmbeddedSamples,
    MultiviewCLIP,
    MultiviewCLIPConfig,
    build_multiview_clip,
    embed_samples,
)
from facevlm.models.multiview_data import MultiviewDataset, ViewChoices, make_loader
from facevlm.trainer import ExecutionConfig, TrainConfig, resolve_device


@dataclass
class DataConfig:
    classes: list[str] = field(
        default_factory=lambda: ["anger", "disgust", "fear", "happiness", "sadness", "surprise"]
    )  # class names (index ``expression`` values); others are left out
    views: list[int] | None = None  # render views to use (None: all); [0] = frontal only
    max_folds: int | None = None  # train only the first N folds of the protocol (None: all)
    # 4D: each rendered frame is a sample (samples), or a sequence's frames are stacked as extra
    # views of one sample (views: frames x views images per sequence; experiments.sequences)
    frames: str = "samples"


@dataclass
class ExperimentConfig:
    """What every experiment needs besides its loss: data, model, augmentation, training, and
    how the training executes (``execution``: the one block that is no part of any run key)."""

    data: DataConfig = field(default_factory=DataConfig)
    model: MultiviewCLIPConfig = field(default_factory=MultiviewCLIPConfig)
    augment: AugmentConfig | None = field(default_factory=AugmentConfig)  # None: no augmentation
    train: TrainConfig = field(default_factory=TrainConfig)
    eval_batch_size: int = 128  # batch size when embedding held-out samples
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)

    def __post_init__(self) -> None:
        # the fusion head is built for as many views as the data gives it
        if self.data.views is not None:
            self.model.n_views = len(self.data.views)


def experiment_from_params(cls: type, params: dict[str, Any] | None, where: str) -> Any:
    """The typed experiment config ``cls`` of a model's ``experiment`` parameters; an
    execution setting left in ``train`` (its place before ``execution``) is refused by name."""
    refuse_execution_in_train(params, where, "experiment.execution")
    return from_dict(cls, params, where)


def computed_config(cfg: ExperimentConfig) -> dict[str, Any]:
    """What a run computes: the experiment config as a dict without its ``execution`` block
    (device, threads, processes, checkpoints...). The keys of training runs and fold results
    digest this, so the same run is found again however it is launched."""
    config = to_dict(cfg)
    del config["execution"]
    return config


def build_model(cfg: MultiviewCLIPConfig, seed: int) -> tuple[MultiviewCLIP, object]:
    """The model and its tokenizer, with weights initialised from ``seed`` (reproducible)."""
    torch.manual_seed(seed)
    return build_multiview_clip(cfg)


def model_image_size(model: MultiviewCLIP) -> int:
    return image_size_of(model.clip)


def embed_views(
    model: MultiviewCLIP,
    views: np.ndarray | ViewChoices,
    batch_size: int = 128,
    device: str = "auto",
    appearance: bool = False,
) -> EmbeddedSamples:
    """Embed ``(N, V, S, S, 3)`` uint8 views with the model (eval mode, no augmentation); with
    ``appearance``, also their appearance features (what familiarity compares).

    :class:`ViewChoices` (each sample in several modalities) give each sample the mean of its
    modalities' embeddings, renormalised: what a sample looks like to the model whichever way
    it was rendered (SMILE-VLM clusters these for its pseudo-labels), with no random draw. They
    have no appearance features: a mean of two modalities' looks is what no input looks like."""
    if isinstance(views, ViewChoices):
        return _mean_embedding(
            [embed_views(model, a, batch_size, device) for a in views.alternatives]
        )
    model.to(resolve_device(device))
    dataset = MultiviewDataset(views, image_size=model_image_size(model))
    loader = make_loader(dataset, batch_size, shuffle=False)
    return embed_samples(model, loader, appearance=appearance)


def familiarity_features(embedded: EmbeddedSamples) -> dict[str, np.ndarray | None]:
    """The features familiarity compares, by space (:mod:`facevlm.evaluation.familiarity`)."""
    from facevlm.evaluation.familiarity import APPEARANCE, EDGES, EMBEDDING

    appearance = None if embedded.appearance is None else embedded.appearance.numpy()
    edges = None if embedded.edges is None else embedded.edges.numpy()
    return {EMBEDDING: embedded.fused.numpy(), APPEARANCE: appearance, EDGES: edges}


def held_out_familiarity(train: EmbeddedSamples, test: EmbeddedSamples) -> dict:
    """A fold's held-out familiarity scores in every space, against the fold's own training
    samples (what the final model's familiarity is judged by)."""
    from facevlm.evaluation.familiarity import fold_scores_by_space

    return fold_scores_by_space(familiarity_features(train), familiarity_features(test))


def _mean_embedding(parts: Sequence[EmbeddedSamples]) -> EmbeddedSamples:
    """One sample's embeddings averaged over its renderings (normalised ones renormalised)."""
    first = parts[0]
    return EmbeddedSamples(
        views=F.normalize(torch.stack([p.views for p in parts]).mean(0), dim=-1),
        fused=F.normalize(torch.stack([p.fused for p in parts]).mean(0), dim=-1),
        fused_raw=torch.stack([p.fused_raw for p in parts]).mean(0),
        labels=first.labels,
        sample_ids=first.sample_ids,
    )


def zero_shot_predict(
    model: MultiviewCLIP,
    tokenizer,
    fused: torch.Tensor,
    class_prompts: Mapping[str, Sequence[str]],
    classes: Sequence[str],
) -> np.ndarray:
    """Class index of the most similar class prompt ensemble for each ``(N, D)`` embedding."""
    return zero_shot_scores(model, tokenizer, fused, class_prompts, classes)[0]


@torch.no_grad()
def zero_shot_scores(
    model: MultiviewCLIP,
    tokenizer,
    fused: torch.Tensor,
    class_prompts: Mapping[str, Sequence[str]],
    classes: Sequence[str],
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`zero_shot_predict`'s ``(N,)`` class indices and the ``(N, C)`` logits behind them
    (cosine similarities times the model's logit scale, what the app's softmax reads), so
    that held-out logits can calibrate the probabilities."""
    classifier = PromptEnsembleClassifier.from_prompts(model, tokenizer, class_prompts, classes)
    fused = fused.to(classifier.class_embeddings.device)
    return classifier.predict(fused).cpu().numpy(), classifier.logits(fused).cpu().numpy()
