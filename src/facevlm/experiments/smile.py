"""SMILE-VLM (Behzad 2025): self-supervised multiview vision-language learning.

Training sees no ground-truth label. Its text side comes from pseudo-labelled prompts
(docs/methods.md,
DECIDED after MultiviewVLM): every ``refresh_every`` epochs the current encoder embeds the
training views, k-means clusters the fused embeddings (k = number of classes), the clusters are
matched to groups of descriptive prompts by Hungarian assignment on cosine similarity, and each
sample is given its cluster's prompts. The loss is ``L_BT + λ1 L_vl + λ2 L_red``.

Labels are used only after training, to evaluate the frozen embeddings on held-out subjects:
a linear probe (the primary metric), zero-shot classification against the class prompts and k-NN.

Kedro-free: :data:`RECIPE` runs in :func:`facevlm.experiments.cross_validation.cross_validate`,
called from a notebook, a script or a node.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
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
    zero_shot_scores,
)
from facevlm.experiments.cross_validation import FoldEvaluation, Recipe
from facevlm.experiments.experiment_data import ExperimentData
from facevlm.experiments.results import FOLD_FAMILIARITY, FOLD_METRICS, PRIMARY
from facevlm.models.augment import MixedViewAugmentation
from facevlm.models.classifier import PromptEnsembleClassifier
from facevlm.models.losses import SmileVLMLoss
from facevlm.models.multiview_clip import MultiviewCLIP
from facevlm.models.multiview_data import MultiviewDataset
from facevlm.models.probes import fit_linear_probe, knn_predict
from facevlm.models.pseudo_labels import assign_pseudo_prompts
from facevlm.prompts.augmented import class_prompts
from facevlm.prompts.descriptive import generic_prompt
from facevlm.trainer import TrainConfig, train

logger = logging.getLogger(__name__)


@dataclass
class SmileLossConfig:
    lambda1: float = 1.0  # weight of the vision-language alignment L_vl (0 removes it)
    lambda2: float = 1.0  # weight of the cross-modal redundancy term L_red (0 removes it)
    w_bt: float = 1.0  # weight of the multiview Barlow Twins term L_BT (0 removes it)
    lambda_offdiag: float = 5e-3  # Barlow Twins off-diagonal weight (λ in the paper)
    view_weight: float = 1.0  # single-view alignment weight inside L_vl (fused has weight 1)
    # 0: L_BT on the view embeddings themselves; N: on a trained projection of them to N dims
    # (Barlow Twins' projector; training only, the model keeps no part of it)
    bt_projector_dim: int = 0


@dataclass
class PseudoLabelConfig:
    prompts: str = "descriptive"  # descriptive (pseudo-labelled) | generic (one prompt, ablation)
    refresh_every: int = 2  # re-cluster and re-assign prompts every N epochs
    n_init: int = 4  # k-means restarts


@dataclass
class ProbeConfig:
    C: float = 1.0  # inverse L2 strength of the logistic-regression linear probe
    knn_k: int = 10  # neighbours of the k-NN evaluation


@dataclass
class SmileConfig(ExperimentConfig):
    loss: SmileLossConfig = field(default_factory=SmileLossConfig)
    pseudo_labels: PseudoLabelConfig = field(default_factory=PseudoLabelConfig)
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(loss_labels="prompt_ids"))

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> SmileConfig:
        cfg = experiment_from_params(cls, params, "smile")
        cfg.train.loss_labels = "prompt_ids"  # the pseudo-labels: never the ground truth
        return cfg


@dataclass
class FittedSmile:
    model: MultiviewCLIP
    tokenizer: Any
    history: list[dict[str, float]]
    refreshes: list[dict[str, Any]]  # per refresh: epoch, prompt of each sample, cluster sizes


def _prompt_groups(bank: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """The bank's groups (one per class name, in bank order) and their sentences."""
    names = list(dict.fromkeys(bank["class_name"]))
    return names, [list(bank.loc[bank["class_name"] == n, "prompt"]) for n in names]


class RefreshLog(list):
    """The pseudo-label refreshes of one training run, saved in its epoch checkpoints (the
    ``extra_state`` of :func:`facevlm.trainer.train`), so that a run resumed after a kill
    reports every refresh, not only those after the restart."""

    def state_dict(self) -> dict[str, Any]:
        return {"refreshes": list(self)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self[:] = state["refreshes"]


def fit(
    views: np.ndarray, sample_ids: list[str], prompt_bank: pd.DataFrame, cfg: SmileConfig
) -> FittedSmile:
    """Train SMILE-VLM on ``(N, V, S, S, 3)`` views (or :class:`ViewChoices`, each sample in
    several modalities: its pseudo-label comes from the mean of their embeddings). No label
    argument exists: none can leak."""
    model, tokenizer = build_model(cfg.model, cfg.train.seed)
    names, groups = _prompt_groups(prompt_bank)
    dataset = MultiviewDataset(
        views,
        labels=None,
        sample_ids=sample_ids,
        tokenizer=tokenizer,
        image_size=model_image_size(model),
    )
    refreshes = RefreshLog()
    generic = cfg.pseudo_labels.prompts == "generic"
    if cfg.pseudo_labels.prompts not in ("descriptive", "generic"):
        raise ValueError(
            f"pseudo_labels.prompts must be descriptive | generic, got {cfg.pseudo_labels.prompts!r}"
        )

    def refresh(epoch: int, model: MultiviewCLIP) -> None:
        # A run resumed from a checkpoint starts without prompts: give them at its first epoch.
        if generic:
            if not dataset.has_prompts:
                dataset.set_prompts(
                    [generic_prompt()] * len(dataset), prompt_ids=np.zeros(len(dataset), int)
                )
            return
        if dataset.has_prompts and epoch % cfg.pseudo_labels.refresh_every:
            return
        embedded = embed_views(model, views, cfg.eval_batch_size, cfg.execution.device)
        result = assign_pseudo_prompts(
            embedded.fused,
            # (k, D): each group's mean normalised sentence embedding, as the zero-shot classifier
            PromptEnsembleClassifier.from_prompts(
                model, tokenizer, dict(zip(names, groups, strict=True)), names
            ).class_embeddings.cpu(),
            seed=cfg.train.seed + epoch,
            n_init=cfg.pseudo_labels.n_init,
        )
        of_sample = result.prompt_of_sample.numpy()
        dataset.set_prompts([groups[g] for g in of_sample], prompt_ids=of_sample)
        refreshes.append(
            {
                "epoch": epoch,
                "sample_id": list(sample_ids),
                "prompt_group": [names[g] for g in of_sample],
                "cluster": result.cluster_of_sample.numpy().tolist(),
            }
        )

    loss_params = to_dict(cfg.loss)
    projector_dim = loss_params.pop("bt_projector_dim")
    projector = (model.embed_dim, projector_dim) if projector_dim else None
    loss = SmileVLMLoss(**loss_params, bt_projector=projector)
    augment = None if cfg.augment is None else MixedViewAugmentation(cfg.augment)
    # the pseudo-labels reach the loss, never the ground truth (also for a hand-built config)
    train_cfg = replace(cfg.train, loss_labels="prompt_ids")
    history = train(
        model,
        loss,
        dataset,
        train_cfg,
        execution=cfg.execution,
        augment=augment,
        before_epoch=refresh,
        extra_state=refreshes,  # a resumed run keeps the records of the refreshes before it
    )
    return FittedSmile(model, tokenizer, history.epochs, list(refreshes))


def evaluate(
    fitted: FittedSmile,
    data: ExperimentData,
    train_rows: np.ndarray,
    test_rows: np.ndarray,
    prompt_bank: pd.DataFrame,
    cfg: SmileConfig,
) -> FoldEvaluation:
    """Linear probe (primary), zero-shot and k-NN predictions for the held-out rows.

    The ground-truth labels of the *training* subjects are used here, and only here, to fit the
    probe and the k-NN on frozen embeddings.
    """
    model = fitted.model
    device = cfg.execution.device
    train_emb = embed_views(model, data.views[train_rows], cfg.eval_batch_size, device, True)
    test_emb = embed_views(model, data.views[test_rows], cfg.eval_batch_size, device, True)
    n_classes = len(data.classes)
    y_train = data.labels[train_rows]
    probe = fit_linear_probe(train_emb.fused_raw, y_train, seed=cfg.train.seed, C=cfg.probe.C)
    predictions = {
        PRIMARY: probe.predict(test_emb.fused_raw),
        "knn": knn_predict(train_emb.fused, y_train, test_emb.fused, k=cfg.probe.knn_k),
    }
    logits = {PRIMARY: probe.logits(test_emb.fused_raw, n_classes)}  # k-NN votes have none
    bank = class_prompts(prompt_bank)
    if all(c in bank for c in data.classes):
        predictions["zero_shot"], logits["zero_shot"] = zero_shot_scores(
            model, fitted.tokenizer, test_emb.fused, bank, data.classes
        )
    extra: dict[str, Any] = {
        "pseudo_label_refreshes": fitted.refreshes,
        FOLD_FAMILIARITY: held_out_familiarity(train_emb, test_emb),
    }
    agreement = pseudo_label_agreement(fitted.refreshes, data, train_rows)
    if agreement:
        extra[FOLD_METRICS] = agreement
    return FoldEvaluation(predictions, test_emb.fused.numpy(), extra=extra, logits=logits)


def pseudo_label_agreement(
    refreshes: list[dict[str, Any]], data: ExperimentData, train_rows: np.ndarray
) -> dict[str, float]:
    """How often the pseudo-labels of the first and of the last refresh named the training
    scans' true classes: ``pseudo_labels/agreement_initial`` (the frozen starting point's clusters)
    and ``pseudo_labels/agreement_final``.

    Read after training, like the probe: it says how much of SMILE-VLM's text side was right
    and whether training sharpened or blurred it (on the built-in 3D set the starting point's
    clusters name ~0.91 of the scans right). Empty when there was no refresh (one generic prompt)
    or the prompt groups are not the classes.
    """
    if not refreshes or not set(refreshes[0]["prompt_group"]) <= set(data.classes):
        return {}
    rows = np.asarray(train_rows)
    true_class = dict(
        zip(
            data.samples["sample_id"].iloc[rows],
            (data.classes[i] for i in data.labels[rows]),
            strict=True,
        )
    )

    def agreement(refresh: dict[str, Any]) -> float:
        pairs = zip(refresh["sample_id"], refresh["prompt_group"], strict=True)
        return float(np.mean([true_class[sample] == group for sample, group in pairs]))

    return {
        "pseudo_labels/agreement_initial": agreement(refreshes[0]),
        "pseudo_labels/agreement_final": agreement(refreshes[-1]),
    }


def _fit_rows(
    data: ExperimentData,
    rows: np.ndarray,
    prompt_bank: pd.DataFrame,
    cfg: SmileConfig,
    evaluate_rows: np.ndarray | None = None,
) -> FittedSmile:
    """:func:`fit` on ``rows`` of ``data``: views and sample ids only, never a label (held-out
    rows are not scored during training either: that would need their labels). A scan in
    several render modalities is one sample shown in a modality drawn at every step."""
    views, rows = data.training_views(rows)
    ids = list(data.samples["sample_id"].iloc[rows])
    return fit(views, ids, prompt_bank, cfg)


def final_linear_probe(
    fitted: FittedSmile, data: ExperimentData, rows: np.ndarray, cfg: SmileConfig
) -> dict[str, Any]:
    """The linear probe of a final fit, fitted on the frozen embeddings of every row, for the
    bundle's ``linear_probe`` (plain tensors, so ``torch.load(weights_only=True)`` reads it)."""
    embedded = embed_views(
        fitted.model, data.views[rows], cfg.eval_batch_size, cfg.execution.device
    )
    probe = fit_linear_probe(
        embedded.fused_raw, data.labels[rows], seed=cfg.train.seed, C=cfg.probe.C
    )
    return {"linear_probe": probe.as_tensors(len(data.classes))}


#: SMILE-VLM in the shared cross-validation loop (:mod:`facevlm.experiments.cross_validation`).
RECIPE = Recipe("smile", SmileConfig, SmileVLMLoss, _fit_rows, evaluate, final_linear_probe)
