"""Nodes of the ``pretrain`` pipeline: thin wrappers around :mod:`facevlm.experiments.pretrain`.

The corpus is written, indexed and rendered by the same code as the evaluation data (the
synthetic generator, the scan index, the renderer with ``params:render``), so its renders look
exactly like the ones the models are evaluated on — only the people differ.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from facevlm.datasets.pretrained_weights import PretrainedWeights
from facevlm.datasets.render_set import RenderSet
from facevlm.experiments.pretrain import PretrainConfig, PretrainedBackbone, pretrain_backbone

logger = logging.getLogger(__name__)

#: ``model.backbone.pretrained`` value that means "the weights the ``pretrain`` pipeline made".
PIPELINE_WEIGHTS = "pipeline"

#: Finished pretraining runs by content key, so a model pipeline run again with the same corpus,
#: captions, render settings and training parameters does not pretrain again. A cache, not an
#: artifact: deleting it only costs time (the result would be the same: CPU training is seeded).
PRETRAIN_CACHE_DIR = Path("data/02_intermediate/pretrain_cache")


def prepare_pretraining_scans(
    pretraining: dict[str, Any], synthetic: dict[str, Any]
) -> dict[str, Any]:
    """Write (or reuse) the pretraining corpus: BU-3DFE-style scans of people who are not in
    the evaluation set. Refuses a corpus seed equal to the evaluation set's, which would make
    the same people. With ``pretraining.enabled: false`` it writes nothing."""
    if not pretraining.get("enabled", True):
        logger.info("pretraining is switched off (pretraining.enabled: false)")
        return {"skipped": True, "root": None}
    from facevlm.data.synthetic import SyntheticConfig, generate_synthetic_dataset

    corpus = dict(pretraining["corpus"])
    root = Path(corpus.pop("root")).expanduser()
    if int(corpus.get("seed", 0)) == int(synthetic.get("seed", 0)):
        raise ValueError(
            f"pretraining.corpus.seed ({corpus.get('seed', 0)}) equals synthetic.seed: the "
            "pretraining corpus would contain the evaluation subjects; choose another seed"
        )
    config = SyntheticConfig(**{"layouts": ["bu3dfe"], **corpus})
    manifest = generate_synthetic_dataset(root, config)
    return {"skipped": False, "root": str(root.resolve()), "synthetic": manifest}


def index_pretraining_scans(manifest: dict[str, Any], n_workers: int | None) -> pd.DataFrame:
    """The corpus' scan index (same reader and validation as ``ingest``)."""
    from facevlm.data.layouts.scan_index import empty_index
    from facevlm.pipelines.ingest.nodes import index_scans

    if manifest.get("skipped"):
        return empty_index()
    index, quarantine = index_scans(manifest, {"name": "synthetic", "n_workers": n_workers})
    if len(quarantine):
        raise ValueError(
            f"{len(quarantine)} generated pretraining scans failed validation, e.g. "
            f"{quarantine['path'].iloc[0]}: {quarantine['reason'].iloc[0]}"
        )
    return index


def caption_pretraining_samples(
    renders: RenderSet, manifest: dict[str, Any], training: dict[str, Any]
) -> pd.DataFrame:
    """Emotion and facial-action captions of every rendered corpus sample (a readable table)."""
    from facevlm.prompts.captions import CAPTION_COLUMNS, caption_samples, manifest_activations

    cfg = PretrainConfig.from_params(training)
    if manifest.get("skipped") or len(renders) == 0:
        return pd.DataFrame(columns=list(CAPTION_COLUMNS))
    captions = caption_samples(
        renders.samples, manifest_activations(manifest["synthetic"]), cfg.classes
    )
    logger.info("%d captions for %d samples", len(captions), captions["sample_id"].nunique())
    return captions


def pretrain_backbone_node(
    renders: RenderSet, captions: pd.DataFrame, pretraining: dict[str, Any]
) -> tuple[PretrainedBackbone, pd.DataFrame]:
    """Pretrain the backbone on the captioned corpus; returns the weights and the per-epoch
    history (loss, temperature, time)."""
    from facevlm.experiments.data import resize_views
    from facevlm.models.backbone import architecture_image_size
    from facevlm.prompts.captions import captions_by_sample

    cfg = PretrainConfig.from_params(pretraining["training"])
    if not pretraining.get("enabled", True):
        return PretrainedBackbone({}, cfg.backbone, [], None), pd.DataFrame()
    cache_file = PRETRAIN_CACHE_DIR / f"{_content_key(renders, captions, pretraining)}.pt"
    if cache_file.exists():
        logger.info("pretrained backbone reused from %s", cache_file)
        result = PretrainedBackbone(**torch.load(cache_file, map_location="cpu"))
        return result, pd.DataFrame(result.history)
    emotion = captions_by_sample(captions, "emotion")
    action = captions_by_sample(captions, "action")
    corpus = renders.subset(renders.samples["sample_id"].astype(str).isin(list(emotion)))
    kept = corpus.samples
    views = resize_views(corpus.to_array(), architecture_image_size(cfg.backbone))
    pairs = [(emotion[s], action.get(s, [])) for s in kept["sample_id"].astype(str)]
    result = pretrain_backbone(views, list(kept["expression"]), list(kept["subject"]), pairs, cfg)
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    torch.save(result.__dict__, cache_file)
    return result, pd.DataFrame(result.history)


def _content_key(renders: RenderSet, captions: pd.DataFrame, pretraining: dict[str, Any]) -> str:
    """What the pretrained weights depend on: the rendered samples and their settings, every
    caption, and the training parameters (the corpus folder's location is irrelevant)."""
    payload = {
        "training": pretraining["training"],
        "render": renders.settings,
        "samples": list(map(str, renders.samples["sample_id"])),
        "captions": int(pd.util.hash_pandas_object(captions, index=False).sum()),
        "torch": torch.__version__,
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


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
            "(pretraining.enabled is false); set pretrained to null, an open_clip tag or a file"
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
