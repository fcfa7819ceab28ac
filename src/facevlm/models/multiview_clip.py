"""MultiviewCLIP: a CLIP model that embeds V rendered views of a face plus a prompt per sample.

The shared image encoder embeds every view (the B*V images go through it as one batch), a
:class:`ViewFusion` turns the V view embeddings into one multiview embedding, and the text encoder
embeds each sample's prompt. ``forward`` returns a :class:`MultiviewEmbeddings`, the contract the
AffectVLM and SMILE-VLM losses consume.

Images enter in [0, 1] (after augmentation); the CLIP mean/std normalisation happens here, inside
the model, so datasets and augmentation never need to know which weights are loaded.

    >>> model, tokenizer = build_multiview_clip(MultiviewCLIPConfig())
    >>> emb = model(images, tokenizer(prompts))   # images (B, V, 3, H, W), prompts: B strings
    >>> emb.fused.shape, emb.text.shape            # (B, D), (B, D)
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from facevlm.models.augment import LUMA
from facevlm.models.backbone import (
    BackboneConfig,
    ImageNormalize,
    Tokenizer,
    create_backbone,
    image_size_of,
)
from facevlm.models.embeddings import MultiviewEmbeddings
from facevlm.models.fusion import FusionMode, ViewFusion
from facevlm.models.multiview_data import MultiviewBatch

#: open_clip's ceiling for the learned inverse temperature, as a log: exp(.) <= 100.
MAX_LOGIT_SCALE = math.log(100.0)
#: The appearance features' grid (cells a side) and channels: facevlm-tiny's first stage as it
#: is (4 x 4 cells, 128 channels: 2,048 features a view); wider towers are averaged down to the
#: same size, so that a bundle's stored training features stay a few megabytes.
APPEARANCE_GRID = 4
APPEARANCE_CHANNELS = 128
#: The views' edges (:func:`view_edges`) on a grid of this many cells a side: fine enough to
#: show the eyes' and the mouth's outlines at the models' 64 px input, small enough that a
#: bundle's stored training edges stay about a megabyte.
EDGES_GRID = 32


@dataclass
class MultiviewCLIPConfig:
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    fusion: FusionMode = "learned"  # DECIDED: mean | learned (softmax per view) | attention
    n_views: int = 3  # views per sample (frontal, +20 deg, -20 deg yaw by default)


class MultiviewCLIP(nn.Module):
    """Shared-encoder multiview CLIP.

    Args:
        clip: an open_clip ``CLIP``/``CustomTextCLIP`` (``encode_image``, ``encode_text``,
            ``logit_scale``). Its parameters are the "pretrained towers" for the optimiser.
        normalize: maps [0, 1] images to the mean/std ``clip`` was trained with.
        fusion: the view fusion head (a "new head" for the optimiser).
    """

    def __init__(self, clip: nn.Module, normalize: ImageNormalize, fusion: ViewFusion):
        super().__init__()
        self.clip = clip
        self.normalize = normalize
        self.fusion = fusion
        self.image_size = image_size_of(clip)

    # ---- encoders --------------------------------------------------------------------------

    def encode_views(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, V, 3, H, W)`` images in [0, 1] -> ``(B, V, D)`` raw view embeddings."""
        if images.ndim != 5 or images.shape[2] != 3:
            raise ValueError(f"expected (B, V, 3, H, W) images, got shape {tuple(images.shape)}")
        b, v, _, h, w = images.shape
        if (h, w) != (self.image_size, self.image_size):
            raise ValueError(
                f"images are {h}x{w} but the backbone expects {self.image_size}x{self.image_size};"
                " resize in the dataset (MultiviewDataset(image_size=model.image_size))"
            )
        x = self.normalize(images.reshape(b * v, 3, h, w))  # (B*V, 3, H, W)
        feats = self.clip.encode_image(x)  # (B*V, D)
        return feats.reshape(b, v, -1)  # (B, V, D)

    def encode_appearance(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, V, 3, H, W)`` images in [0, 1] -> ``(B, V * F)`` appearance features.

        What the views look like before the image tower has turned them into an expression
        embedding: an early stage of the tower (:func:`appearance_stage`) on a coarse grid of
        the image (at most :data:`APPEARANCE_GRID` cells a side, at most
        :data:`APPEARANCE_CHANNELS` channels, neighbouring ones averaged), L2-normalised per
        view, the views side by side. Training pulls the final embedding of every face with
        the same expression together, whatever the face source, so it can no longer see that
        an input comes from somewhere else; the early stage, and where in the image things
        are, still can (:mod:`facevlm.evaluation.familiarity` uses both). Pooled over the
        whole image, a stage loses most of that: where things lie is what tells a whole head
        from a face crop (the comparison of stages and poolings: docs/benchmarks.md,
        "Calibration").
        """
        b, v = images.shape[:2]
        x = self.normalize(images.reshape(b * v, *images.shape[2:]))
        taken = self.clip.forward_intermediates(
            image=x,
            image_indices=[appearance_stage(self.clip)],
            stop_early=True,
            intermediates_only=True,
        )["image_intermediates"][0].float()  # (B*V, C, h, w)
        channels = taken.shape[1]
        group = max(1, channels // APPEARANCE_CHANNELS)
        taken = taken[:, : channels - channels % group]
        taken = taken.reshape(b * v, -1, group, *taken.shape[2:]).mean(dim=2)
        grid = F.adaptive_avg_pool2d(taken, min(APPEARANCE_GRID, taken.shape[-1]))
        return F.normalize(grid.flatten(1), dim=-1).reshape(b, -1)

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        """``(..., L)`` token ids -> ``(..., D)`` raw text embeddings.

        Any leading shape works: ``(B, L)`` per-sample prompts, ``(C, P, L)`` a class prompt bank.
        Identical prompts are encoded once (a batch of class prompts has only C distinct rows).
        """
        lead, length = tokens.shape[:-1], tokens.shape[-1]
        flat = tokens.reshape(-1, length)  # (N, L)
        unique, inverse = torch.unique(flat, dim=0, return_inverse=True)  # (U, L), (N,)
        feats = self.clip.encode_text(unique)  # (U, D)
        return feats[inverse].reshape(*lead, -1)  # (..., D)

    def fuse(self, views_raw: torch.Tensor) -> torch.Tensor:
        """``(B, V, D)`` raw view embeddings -> ``(B, D)`` raw fused embedding."""
        return self.fusion(views_raw)

    @property
    def embed_dim(self) -> int:
        """D, the size of the joint image-text embedding."""
        return int(self.clip.visual.output_dim)

    @property
    def logit_scale(self) -> torch.Tensor:
        """Log of the CLIP inverse temperature (a scalar parameter of the backbone)."""
        return self.clip.logit_scale

    @torch.no_grad()
    def clamp_logit_scale(self, max_value: float = MAX_LOGIT_SCALE) -> None:
        """Clamp the log inverse temperature to ``[0, max_value]`` (open_clip does it every step)."""
        self.clip.logit_scale.clamp_(0.0, max_value)

    # ---- forward ---------------------------------------------------------------------------

    def forward(
        self, images: torch.Tensor, tokens: torch.Tensor | None = None
    ) -> MultiviewEmbeddings:
        """Embed ``images`` ``(B, V, 3, H, W)`` in [0, 1] and optional ``tokens`` ``(B, L)``."""
        views_raw = self.encode_views(images)  # (B, V, D)
        fused_raw = self.fuse(views_raw)  # (B, D)
        text_raw = None
        if tokens is not None:
            if tokens.ndim != 2 or tokens.shape[0] != images.shape[0]:
                raise ValueError(
                    f"expected one prompt per sample, tokens (B={images.shape[0]}, L);"
                    f" got shape {tuple(tokens.shape)}"
                )
            text_raw = self.encode_text(tokens)  # (B, D)
        return MultiviewEmbeddings(
            views=F.normalize(views_raw, dim=-1),
            fused=F.normalize(fused_raw, dim=-1),
            text=None if text_raw is None else F.normalize(text_raw, dim=-1),
            views_raw=views_raw,
            fused_raw=fused_raw,
            text_raw=text_raw,
            logit_scale=self.logit_scale,
        )


def appearance_stage(clip: nn.Module) -> int:
    """Index of the image tower's appearance stage (open_clip's ``forward_intermediates``
    numbering): the block a quarter of the way up a ViT (the first of facevlm-tiny's three,
    the fourth of ViT-B's twelve), the first residual stage of a ResNet (its stem is stage 0).
    Early in the tower features describe the image's shapes and parts rather than the
    expression words the last stage is trained towards."""
    visual = clip.visual
    blocks = getattr(getattr(visual, "transformer", None), "resblocks", None)
    if blocks is not None:
        return len(blocks) // 4
    return 1


def build_multiview_clip(cfg: MultiviewCLIPConfig) -> tuple[MultiviewCLIP, Tokenizer]:
    """Create the backbone of ``cfg`` and wrap it; returns ``(model, tokenizer)``."""
    import open_clip  # imported on first use (facevlm.models.backbone says why)

    clip, normalize, tokenizer = create_backbone(cfg.backbone)
    embed_dim = int(open_clip.get_model_config(cfg.backbone.name)["embed_dim"])  # D
    fusion = ViewFusion(cfg.fusion, n_views=cfg.n_views, dim=embed_dim)
    return MultiviewCLIP(clip, normalize, fusion), tokenizer


def view_edges(images: torch.Tensor) -> torch.Tensor:
    """``(B, V, 3, H, W)`` images in [0, 1] -> ``(B, V * EDGES_GRID**2)`` edge maps.

    What the views look like as a drawing: each view grey, averaged down to
    :data:`EDGES_GRID` cells a side, its gradient magnitude (central differences), L2-normalised
    per view, the views side by side. No model is involved: two face models whose renders the
    tower has learnt to see alike (a mask-like face crop of one and of the other) still differ
    in where their outlines and creases run (the eyes' shape, the mouth's, the face's outline),
    and a shaded render's smooth shading, which dominates its grey levels, drops out
    (:mod:`facevlm.evaluation.familiarity` compares inputs in this space too; the comparison
    with the grey levels themselves is in docs/benchmarks.md, "Calibration").
    """
    b, v, _, h, w = images.shape
    luma = torch.tensor(LUMA, device=images.device).view(3, 1, 1)
    grey = (images.reshape(b * v, 3, h, w).float() * luma).sum(dim=1)
    cells = min(EDGES_GRID, h, w)
    grey = F.adaptive_avg_pool2d(grey[:, None], cells)[:, 0]  # (B*V, cells, cells)
    down, across = torch.gradient(grey, dim=(1, 2))
    edges = torch.hypot(down, across).flatten(1)
    return F.normalize(edges, dim=-1).reshape(b, -1)


@dataclass
class EmbeddedSamples:
    """Image embeddings of a whole dataset (CPU tensors), e.g. for pseudo-labelling or probes."""

    views: torch.Tensor  # (N, V, D) L2-normalised
    fused: torch.Tensor  # (N, D) L2-normalised
    fused_raw: torch.Tensor  # (N, D) before normalisation
    labels: torch.Tensor  # (N,) int64, -1 unlabeled
    sample_ids: list[str]
    appearance: torch.Tensor | None = None  # (N, V * C) MultiviewCLIP.encode_appearance
    edges: torch.Tensor | None = None  # (N, V * EDGES_GRID**2) view_edges


@torch.no_grad()
def embed_samples(
    model: MultiviewCLIP, loader: Iterable[MultiviewBatch], appearance: bool = False
) -> EmbeddedSamples:
    """Embed every batch of ``loader`` (no augmentation, model in eval mode, restored after);
    with ``appearance``, also their appearance features (:meth:`MultiviewCLIP.encode_appearance`)
    and edges (:func:`view_edges`): what familiarity compares besides the embedding.

    Under DDP build the loader with ``make_loader(..., shuffle=False, shard=False)`` so that every
    rank embeds the whole dataset (e.g. for SMILE-VLM's pseudo-labels).
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    views, fused, fused_raw, labels, ids, looks, edges = [], [], [], [], [], [], []
    for batch in loader:
        images = batch.to(device).views
        emb = model(images)
        views.append(emb.views.float().cpu())
        fused.append(emb.fused.float().cpu())
        fused_raw.append(emb.fused_raw.float().cpu())
        if appearance:
            looks.append(model.encode_appearance(images).cpu())
            edges.append(view_edges(images).cpu())
        labels.append(batch.labels.cpu())
        ids.extend(batch.sample_ids)
    model.train(was_training)
    return EmbeddedSamples(
        torch.cat(views),
        torch.cat(fused),
        torch.cat(fused_raw),
        torch.cat(labels),
        ids,
        torch.cat(looks) if appearance else None,
        torch.cat(edges) if appearance else None,
    )
