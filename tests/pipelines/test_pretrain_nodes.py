"""Nodes of the ``pretrain`` pipeline that need no corpus: the switch-off path and how model
experiments ask for the pipeline's weights (``model.backbone.pretrained: pipeline``)."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from kedro.io import Version

from facevlm.datasets import PretrainedWeights, PretrainedWeightsDataset, RenderSet
from facevlm.pipelines.pretrain.nodes import (
    PIPELINE_WEIGHTS,
    _content_key,
    caption_pretraining_samples,
    check_corpus_is_separate,
    corpus_render_settings,
    pretrain_backbone_node,
    resolve_pipeline_weights,
)
from facevlm.pipelines.synthesize.nodes import prepare_raw_scans
from facevlm.prompts.captions import CAPTION_COLUMNS
from facevlm.scans.labels import BASIC_EMOTIONS

TINY = "facevlm-tiny"
WEIGHTS = PretrainedWeights("/weights/pretrained_backbone.pt", {"architecture": TINY})


def _experiment(pretrained, name: str = TINY) -> dict:
    return {
        "model": {"backbone": {"name": name, "pretrained": pretrained}, "n_views": 3},
        "train": {"epochs": 2},
    }


# ---------------------------------------------------------------------------------------------
# resolve_pipeline_weights


def test_pipeline_weights_are_replaced_by_the_weight_file():
    experiment = _experiment(PIPELINE_WEIGHTS)

    resolved = resolve_pipeline_weights(experiment, WEIGHTS)

    assert resolved["model"]["backbone"]["pretrained"] == WEIGHTS.path
    expected = _experiment(WEIGHTS.path)
    assert resolved == expected, "nothing else changes"


def test_resolving_does_not_change_the_given_experiment():
    experiment = _experiment(PIPELINE_WEIGHTS)
    before = copy.deepcopy(experiment)

    resolve_pipeline_weights(experiment, WEIGHTS)

    assert experiment == before
    assert experiment["model"]["backbone"]["pretrained"] == "pipeline"


@pytest.mark.parametrize("pretrained", [None, "openai", "/models/my_clip.pt", "laion2b_s34b_b79k"])
@pytest.mark.parametrize("weights", [WEIGHTS, None], ids=["weights", "no-weights"])
def test_other_pretrained_values_pass_through_unchanged(pretrained, weights):
    experiment = _experiment(pretrained, name="ViT-B-32")

    resolved = resolve_pipeline_weights(experiment, weights)

    assert resolved == _experiment(pretrained, name="ViT-B-32")


def test_an_experiment_without_a_backbone_section_passes_through():
    assert resolve_pipeline_weights({"train": {"epochs": 1}}, WEIGHTS) == {"train": {"epochs": 1}}


@pytest.mark.parametrize(
    "weights",
    [None, PretrainedWeights("/weights/w.pt", {"architecture": TINY, "skipped": True})],
    ids=["none", "skipped"],
)
def test_pipeline_weights_without_pretraining_are_a_clear_error(weights):
    with pytest.raises(ValueError, match=r"pretraining\.dataset\.name is none"):
        resolve_pipeline_weights(_experiment(PIPELINE_WEIGHTS), weights)


def test_pipeline_weights_of_another_architecture_are_refused():
    with pytest.raises(ValueError) as error:
        resolve_pipeline_weights(_experiment(PIPELINE_WEIGHTS, name="ViT-B-32"), WEIGHTS)

    assert TINY in str(error.value)
    assert "ViT-B-32" in str(error.value)


# ---------------------------------------------------------------------------------------------
# pretraining switched off


def _empty_renders() -> RenderSet:
    samples = pd.DataFrame(columns=["sample_id", "frame_paths", "expression", "subject"])
    return RenderSet(samples, ["front"], {"size": 64}, np.zeros((0, 1, 64, 64, 3), np.uint8))


@pytest.mark.parametrize(
    ("evaluation", "extra", "corpus"),
    [
        ("shaded", ["texture"], "shaded+texture"),  # colour beside the grey default
        ("texture+shaded", ["texture"], "texture+shaded"),  # nothing twice
        ("depth", [], "depth"),  # no extra: the evaluation data's own
        ("shaded", None, "shaded"),
    ],
)
def test_the_corpus_renders_the_evaluation_modalities_then_the_extra_ones(
    evaluation, extra, corpus
):
    render = {"size": 224, "modality": evaluation, "pose": "estimate"}
    settings = corpus_render_settings(render, extra)
    assert settings == {**render, "modality": corpus}
    assert render["modality"] == evaluation  # the evaluation data's settings are left alone


def test_an_unknown_extra_modality_is_refused():
    with pytest.raises(ValueError, match="modality must be one of"):
        corpus_render_settings({"modality": "shaded"}, ["colour"])


def test_a_switched_off_corpus_writes_nothing(tmp_path):
    dataset = {"name": "none", "root": str(tmp_path / "corpus")}

    manifest = prepare_raw_scans(dataset, {"seed": 1})

    assert manifest["root"] is None
    assert not (tmp_path / "corpus").exists()


@pytest.mark.parametrize(("corpus_seed", "refused"), [(7, True), (8, False)])
def test_a_corpus_made_with_the_evaluation_seed_is_refused(corpus_seed, refused):
    manifest = {"root": "/corpus", "synthetic": {"config": {"seed": corpus_seed}}}

    if refused:
        with pytest.raises(ValueError, match=r"pretraining\.synthetic\.seed \(7\) equals"):
            check_corpus_is_separate(manifest, 7)
    else:
        check_corpus_is_separate(manifest, 7)


def test_a_skipped_corpus_has_an_empty_caption_table():
    captions = caption_pretraining_samples(_empty_renders(), {"root": None}, {}, 0)

    assert captions.empty
    assert tuple(captions.columns) == CAPTION_COLUMNS


def test_switched_off_pretraining_ends_in_a_clear_error_for_pipeline_weights(tmp_path):
    """No corpus saves empty weights; an experiment that asks for them is refused."""
    training = {"backbone": TINY}

    result, history = pretrain_backbone_node(
        _empty_renders(), pd.DataFrame(), training, str(tmp_path / "cache")
    )

    assert result.state_dict == {}
    assert result.architecture == TINY
    assert history.empty
    dataset = PretrainedWeightsDataset(
        filepath=str(tmp_path / "pretrained_backbone.pt"), version=Version(None, None)
    )
    dataset.save(result)
    weights = dataset.load()
    assert weights.skipped
    with pytest.raises(ValueError, match=r"pretraining\.dataset\.name is none"):
        resolve_pipeline_weights(_experiment(PIPELINE_WEIGHTS), weights)


def _toy_corpus() -> tuple[RenderSet, pd.DataFrame, dict]:
    """A tiny rendered corpus, one clean caption per scan, and one-epoch pretraining settings:
    enough to make the node pretrain (and cache) for real in a few seconds."""
    from toy_model_run import index_and_renders

    _, renders = index_and_renders()
    captions = pd.DataFrame(
        {
            "sample_id": renders.samples["sample_id"],
            "kind": "emotion",
            "caption": [f"a face showing {e}" for e in renders.samples["expression"]],
        }
    )
    training = {
        "backbone": TINY,
        "classes": sorted(set(renders.samples["expression"])),
        "holdout_subjects": 1,
        "train": {"epochs": 1, "batch_size": 8},
        "execution": {"progress": False, "device": "cpu"},
    }
    return renders, captions, training


def test_a_corpus_with_the_same_names_but_other_pixels_is_pretrained_again(tmp_path):
    """The cache is keyed by the corpus's pixels too: re-synthesised with other capture settings
    (pose, light), a corpus keeps its sample ids and, with clean captions, its captions; reusing
    the old weights then (which once happened) would silently measure the wrong backbone."""
    renders, captions, training = _toy_corpus()
    cache = tmp_path / "cache"

    pretrain_backbone_node(renders, captions, training, str(cache))
    pretrain_backbone_node(renders, captions, training, str(cache))  # same corpus: reused
    assert len(list(cache.glob("*.pt"))) == 1
    brighter = RenderSet(
        renders.samples, renders.view_names, renders.settings, renders.to_array() // 2 + 100
    )
    pretrain_backbone_node(brighter, captions, training, str(cache))
    assert len(list(cache.glob("*.pt"))) == 2, "other pixels, other weights"


def test_the_cache_key_leaves_the_execution_settings_out():
    """How the pretraining runs (device, progress bar, checkpoints) is no part of what it makes:
    a run with other execution settings finds the weights a first run cached."""
    renders, captions, training = _toy_corpus()
    other = copy.deepcopy(training)
    other["execution"] = {"progress": True, "device": "auto", "checkpoint_every": 3}
    other_train = copy.deepcopy(training)
    other_train["train"]["epochs"] = 2

    key = _content_key(renders, captions, training, "pixels")

    assert key == _content_key(renders, captions, other, "pixels")
    assert key != _content_key(renders, captions, other_train, "pixels"), "what it computes"
    assert training["execution"] == {"progress": False, "device": "cpu"}, "left as it was"


def test_pretraining_checkpoints_beside_its_cache_entry_until_the_entry_exists(tmp_path):
    """With no ``checkpoint_dir`` the pretraining checkpoints into the cache folder under its
    content key (what a killed run resumes from); once the weights are cached the checkpoints
    are removed, and a named folder is left to its owner."""
    renders, captions, training = _toy_corpus()
    training["train"]["epochs"] = 3
    training["execution"].update(checkpoint_every=2, resume="latest")
    cache, named = tmp_path / "cache", tmp_path / "named"

    pretrain_backbone_node(renders, captions, training, str(cache))
    assert [p.suffix for p in cache.iterdir()] == [".pt"], "checkpoints gone with the entry"

    training["execution"]["checkpoint_dir"] = str(named)
    training["train"]["epochs"] = 5  # another pretraining: not taken from the cache
    pretrain_backbone_node(renders, captions, training, str(cache))
    (run,) = named.glob("run-*")
    saved = sorted(p.name for p in run.glob("epoch_*.pt"))
    assert saved == ["epoch_0002.pt", "epoch_0004.pt", "epoch_0005.pt"], "every 2nd, and the last"


def test_another_frame_selection_for_sequences_reuses_the_pretrained_corpus(tmp_path):
    """`render.frames` picks frames of 4D sequences; the corpus is 3D, so running a 4D pipeline
    (another frame selection) after a 3D one must not pretrain the same backbone again, while
    any other render setting that changes the key still does."""
    renders, captions, training = _toy_corpus()
    cache = tmp_path / "cache"

    def with_settings(**changes):
        settings = {**renders.settings, **changes}
        return RenderSet(renders.samples, renders.view_names, settings, renders.to_array())

    pretrain_backbone_node(with_settings(frames="uniform:3"), captions, training, str(cache))
    pretrain_backbone_node(with_settings(frames="dynamic_image"), captions, training, str(cache))
    assert len(list(cache.glob("*.pt"))) == 1, "the frame selection alone pretrained again"
    pretrain_backbone_node(with_settings(modality="shaded"), captions, training, str(cache))
    assert len(list(cache.glob("*.pt"))) == 2, "another render setting must not reuse the weights"


def test_a_corpus_in_two_modalities_pretrains_on_each_scan_once_per_step(tmp_path, monkeypatch):
    """``texture+shaded``: the corpus has a row per scan and modality, but the backbone trains
    on one entry per scan (its modality drawn at every step, as many steps as one modality),
    and its held-out zero-shot check scores the held-out scans in each modality."""
    from toy_model_run import mixed_modality_renders

    from facevlm.experiments import pretrain
    from facevlm.models.multiview_data import ViewChoices

    renders, captions, training = _toy_corpus()
    training["single_views"] = True  # each view its own pair: the alternatives are reshaped
    mixed = mixed_modality_renders(renders)
    seen = {}
    original_train, original_check = pretrain.train, pretrain.holdout_zero_shot

    def spy_train(model, loss, dataset, cfg, **kwargs):
        seen["dataset"] = dataset
        return original_train(model, loss, dataset, cfg, **kwargs)

    def spy_check(model, tokenizer, views, labels, captions, holdout, cfg):
        seen["held_out"] = (len(views), len(set(holdout)))
        return original_check(model, tokenizer, views, labels, captions, holdout, cfg)

    monkeypatch.setattr(pretrain, "train", spy_train)
    monkeypatch.setattr(pretrain, "holdout_zero_shot", spy_check)

    result, _ = pretrain_backbone_node(mixed, captions, training, str(tmp_path / "cache"))

    assert result.holdout_zero_shot is not None
    dataset = seen["dataset"]
    assert isinstance(dataset.views, ViewChoices) and dataset.views.names == ["texture", "shaded"]
    n_views, n_held, n_scans = 3, len(BASIC_EMOTIONS), len(renders)
    assert len(dataset) == (n_scans - n_held) * n_views, "one entry per scan and view"
    assert seen["held_out"] == (2 * n_held, n_held), "each held-out scan in both modalities"
