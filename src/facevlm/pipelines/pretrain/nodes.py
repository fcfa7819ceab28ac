"""Nodes of the ``pretrain`` pipeline: thin wrappers around :mod:`facevlm.experiments.pretrain`.

The corpus is written, indexed and rendered by the evaluation data's own pipelines (ingest and
render under the ``pretraining`` namespace); these nodes caption it and pretrain the backbone.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from facevlm.atomic_files import atomic_write
from facevlm.datasets.pretrained_weights import PretrainedWeights
from facevlm.datasets.render_set import RenderSet
from facevlm.digests import json_digest
from facevlm.experiments.pretrain import PretrainConfig, PretrainedBackbone, pretrain_backbone
from facevlm.experiments.shipped_backbones import backbone_recipe, load_backbone, store_backbone
from facevlm.render.settings import MODALITY_SEPARATOR, parse_modalities
from facevlm.scans.view_store import array_fingerprint

logger = logging.getLogger(__name__)

#: ``model.backbone.pretrained`` value that means "the weights the ``pretrain`` pipeline made".
PIPELINE_WEIGHTS = "pipeline"


def corpus_render_settings(
    render: dict[str, Any], extra_modalities: list[str] | str | None
) -> dict[str, Any]:
    """The pretraining corpus's render settings: the evaluation data's (``params:render``), in its
    modalities followed by ``extra_modalities`` (``pretraining.extra_modalities``).

    Why a corpus may see more than the models train on: the backbone's features serve every
    pipeline, and the 4D ones read surface-motion maps, colours painted on the face, which a
    backbone pretrained on grey shaded renders alone has never seen. Rendering the corpus in
    colour too (``[texture]`` beside a ``shaded`` default) keeps colour in its vocabulary while
    the still-scan models train on the geometry.
    """
    modalities = parse_modalities(render.get("modality"))
    extra = parse_modalities(extra_modalities) if extra_modalities else ()
    joined = [*modalities, *(m for m in extra if m not in modalities)]
    return {**render, "modality": MODALITY_SEPARATOR.join(joined)}


def check_corpus_is_separate(manifest: dict[str, Any], evaluation_seed: int) -> None:
    """Refuse a corpus generated with the evaluation set's seed: it would hold the same people."""
    corpus_seed = (manifest.get("synthetic") or {}).get("config", {}).get("seed")
    if corpus_seed is not None and int(corpus_seed) == int(evaluation_seed):
        raise ValueError(
            f"pretraining.synthetic.seed ({corpus_seed}) equals synthetic.seed: the pretraining "
            "corpus would contain the evaluation subjects; choose another seed"
        )


def caption_pretraining_samples(
    renders: RenderSet, manifest: dict[str, Any], training: dict[str, Any], evaluation_seed: int
) -> pd.DataFrame:
    """Emotion and facial-action captions of every rendered corpus sample (a readable table).
    A corpus made with the evaluation set's seed is refused first."""
    from facevlm.prompts.captions import CAPTION_COLUMNS, caption_samples, manifest_activations

    check_corpus_is_separate(manifest, evaluation_seed)
    cfg = PretrainConfig.from_params(training)
    if manifest.get("root") is None or len(renders) == 0:
        return pd.DataFrame(columns=list(CAPTION_COLUMNS))
    # a corpus rendered in several modalities holds each sample once per modality: one caption
    # set per sample, whichever rendering training draws
    captions = caption_samples(
        renders.samples.drop_duplicates("sample_id"),
        manifest_activations(manifest["synthetic"]),
        cfg.classes,
    )
    logger.info("%d captions for %d samples", len(captions), captions["sample_id"].nunique())
    return captions


def pretrain_backbone_node(
    renders: RenderSet, captions: pd.DataFrame, training: dict[str, Any], cache_dir: str
) -> tuple[PretrainedBackbone, pd.DataFrame]:
    """Pretrain the backbone on the captioned corpus; returns the weights and the per-epoch
    history (loss, temperature, time). An empty corpus (``pretraining.dataset.name: none``)
    makes no weights. A finished run is kept in ``cache_dir`` (``params:caches.pretraining``) by
    content key, so a model pipeline run again with the same corpus, captions, render settings
    and training parameters does not pretrain again (a cache: deleting it only costs time)."""
    from facevlm.experiments.experiment_data import modality_rows, resize_views
    from facevlm.models.backbone import architecture_image_size
    from facevlm.models.multiview_data import ViewChoices
    from facevlm.prompts.captions import captions_by_sample

    cfg = PretrainConfig.from_params(training)
    if len(renders) == 0:
        return _no_weights(cfg.backbone)
    emotion = captions_by_sample(captions, "emotion")
    action = captions_by_sample(captions, "action")
    corpus = renders.subset(renders.samples["sample_id"].astype(str).isin(list(emotion)))
    # the pixels are part of the key: a corpus made with other capture settings (pose, light)
    # has the same sample ids and, with clean captions, the same captions. A stored render set's
    # fingerprint is its content digest, so a cache hit still reads no image.
    pixels = array_fingerprint(corpus.view_array())
    key = _content_key(renders, captions, training, pixels)
    cache_file = Path(cache_dir) / f"{key}.pt"
    if cache_file.exists():
        logger.info("pretrained backbone reused from %s", cache_file)
        result = PretrainedBackbone(**torch.load(cache_file, map_location="cpu"))
        return result, pd.DataFrame(result.history)
    kept = corpus.samples
    size = architecture_image_size(cfg.backbone)
    if len(corpus.modalities) > 1:  # each sample shown in a modality drawn at every step
        modalities, aligned = modality_rows(kept)
        full = corpus.view_array()  # one modality in memory at a time
        views = ViewChoices([resize_views(np.asarray(full[r]), size) for r in aligned], modalities)
        kept = kept.iloc[aligned[0]]
    else:
        views = resize_views(corpus.to_array(), size)
    pairs = [(emotion[s], action.get(s, [])) for s in kept["sample_id"].astype(str)]
    checkpoints = with_checkpoints(cfg, Path(cache_dir) / f"{key}.checkpoints")
    result = pretrain_backbone(views, list(kept["expression"]), list(kept["subject"]), pairs, cfg)
    with atomic_write(cache_file) as tmp:  # a killed run must not leave half a cache behind
        torch.save(result.__dict__, tmp)
    if checkpoints is not None:  # the cache entry holds what they would resume to
        shutil.rmtree(checkpoints, ignore_errors=True)
    return result, pd.DataFrame(result.history)


def keep_backbone_by_recipe(
    backbone: PretrainedBackbone, pretraining: dict[str, Any], render: dict[str, Any]
) -> PretrainedBackbone:
    """Keep the backbone just made in the store of backbones by recipe
    (``pretraining.store``), where the model pipelines look for it
    (:func:`backbone_for_recipe`), and pass it on. An empty corpus's (no weights) is not kept."""
    if backbone.state_dict:
        path = store_backbone(pretraining["store"], backbone_recipe(pretraining, render), backbone)
        logger.info("pretrained backbone kept for its recipe as %s", path)
    return backbone


def backbone_for_recipe(
    pretraining: dict[str, Any], render: dict[str, Any]
) -> tuple[PretrainedBackbone, pd.DataFrame]:
    """The backbone the pretraining recipe makes, from the store (``pretraining.store``: the
    ones the project ships, and the ones ``kedro run --pipeline=pretrain`` built here), its
    weights verified against their digest; with its per-epoch history. No corpus
    (``pretraining.dataset.name: none``): no weights, as the ``pretrain`` pipeline makes none.

    Raises:
        BackboneNotBuiltError: no backbone of this recipe yet (the message says how to build
            it); BackboneDigestError: a damaged weight file.
    """
    if pretraining.get("dataset", {}).get("name") == "none":
        return _no_weights(pretraining.get("training", {}).get("backbone", ""))
    backbone = load_backbone(pretraining["store"], backbone_recipe(pretraining, render))
    logger.info(
        "pretrained backbone for this recipe read from %s (%d epochs; build another with "
        "`kedro run --pipeline=pretrain`)",
        pretraining["store"],
        len(backbone.history),
    )
    return backbone, pd.DataFrame(backbone.history)


def _no_weights(architecture: str) -> tuple[PretrainedBackbone, pd.DataFrame]:
    """What pretraining switched off (``pretraining.dataset.name: none``) makes: no weights
    and no history; a model that asks for them is refused (:func:`resolve_pipeline_weights`)."""
    logger.info("no pretraining corpus (pretraining.dataset.name: none): no weights made")
    return PretrainedBackbone({}, architecture, [], None), pd.DataFrame()


def with_checkpoints(cfg: PretrainConfig, default_folder: Path) -> Path | None:
    """Make ``cfg`` checkpoint its pretraining and resume from the last checkpoint it finds.

    The checkpoints go to ``execution.checkpoint_dir`` when it is set (in a ``run-<key>``
    folder the trainer names by what the run computes, as the folder is the user's), else to
    ``default_folder`` (beside the cache entry the run will make, named by the same content
    key, the epochs straight in it); either way only this pretraining's checkpoints are
    resumed. ``execution.resume: null`` starts over. Returns the default folder when it is
    used (the caller removes it once the cache entry exists), ``None`` otherwise."""
    used = None
    if cfg.execution.checkpoint_dir is None:
        cfg.execution.checkpoint_dir = str(default_folder)
        # the folder is named by the content key already: the epochs go straight into it
        cfg.execution.checkpoint_subfolder = False
        used = default_folder
    logger.info(
        "pretraining checkpoints: every %d epoch(s) in %s, the last %s kept",
        cfg.execution.checkpoint_every,
        cfg.execution.checkpoint_dir,
        cfg.execution.keep_checkpoints or "all",
    )
    return used


def _content_key(
    renders: RenderSet, captions: pd.DataFrame, training: dict[str, Any], pixels: str = ""
) -> str:
    """What the pretrained weights depend on: the rendered samples, their settings (except the
    4D frame selection) and a digest of their pixels (``pixels``), every caption, and the training
    parameters without their ``execution`` block (the corpus folder's location, the device, the
    checkpoints and the progress bar are irrelevant)."""
    # `frames` selects frames of sequences; the corpus is still images, so a model pipeline run
    # with another `render.frames` (a 4D one) would otherwise pretrain the same backbone again.
    # What a frame selection does to a corpus that had sequences is in its pixels anyway.
    settings = {k: v for k, v in renders.settings.items() if k != "frames"}
    payload = {
        "pixels": pixels,
        "training": {k: v for k, v in training.items() if k != "execution"},
        "render": settings,
        "samples": list(map(str, renders.samples["sample_id"])),
        "captions": int(pd.util.hash_pandas_object(captions, index=False).sum()),
        "torch": torch.__version__,
    }
    return json_digest(payload, "sha256", hex_digits=24, default=str)


def resolve_pipeline_weights(
    experiment: dict[str, Any], weights: PretrainedWeights | None
) -> dict[str, Any]:
    """``experiment`` with ``model.backbone.pretrained: pipeline`` replaced by the weight file
    of the ``pretrain`` pipeline (other values pass through unchanged)."""
    import copy

    backbone = experiment.get("model", {}).get("backbone", {})
    if backbone.get("pretrained") != PIPELINE_WEIGHTS:
        return experiment
    if weights is None or weights.skipped:
        raise ValueError(
            "model.backbone.pretrained is 'pipeline' but the pretrain pipeline made no weights "
            "(pretraining.dataset.name is none); set pretrained to null, an open_clip tag or a file"
        )
    name = backbone.get("name")
    if weights.architecture and name != weights.architecture:
        raise ValueError(
            f"the pretrain pipeline trained {weights.architecture!r} but the model asks for "
            f"{name!r}; set pretraining.training.backbone to {name!r}"
        )
    resolved = copy.deepcopy(experiment)
    resolved["model"]["backbone"]["pretrained"] = weights.path
    return resolved
