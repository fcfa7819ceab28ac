"""Nodes of the ``pretrain`` pipeline that need no corpus: the switch-off path and how model
experiments ask for the pipeline's weights (``model.backbone.pretrained: pipeline``)."""

from __future__ import annotations

import copy

import pandas as pd
import pytest
from kedro.io import Version

from facevlm.datasets import PretrainedWeights, PretrainedWeightsDataset
from facevlm.pipelines.pretrain.nodes import (
    PIPELINE_WEIGHTS,
    caption_pretraining_samples,
    prepare_pretraining_scans,
    pretrain_backbone_node,
    resolve_pipeline_weights,
)
from facevlm.prompts.captions import CAPTION_COLUMNS

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
    with pytest.raises(ValueError, match=r"pretraining\.enabled"):
        resolve_pipeline_weights(_experiment(PIPELINE_WEIGHTS), weights)


def test_pipeline_weights_of_another_architecture_are_refused():
    with pytest.raises(ValueError) as error:
        resolve_pipeline_weights(_experiment(PIPELINE_WEIGHTS, name="ViT-B-32"), WEIGHTS)

    assert TINY in str(error.value)
    assert "ViT-B-32" in str(error.value)


# ---------------------------------------------------------------------------------------------
# pretraining switched off


def test_a_switched_off_pretraining_writes_no_corpus(tmp_path):
    root = tmp_path / "corpus"
    pretraining = {"enabled": False, "corpus": {"root": str(root), "seed": 0}}

    manifest = prepare_pretraining_scans(pretraining, {"seed": 0})

    assert manifest["skipped"] is True
    assert not root.exists()


def test_a_corpus_with_the_evaluation_seed_is_refused(tmp_path):
    pretraining = {"enabled": True, "corpus": {"root": str(tmp_path / "corpus"), "seed": 7}}

    with pytest.raises(ValueError, match="seed"):
        prepare_pretraining_scans(pretraining, {"seed": 7})
    assert not (tmp_path / "corpus").exists()


def test_a_skipped_corpus_has_an_empty_caption_table():
    captions = caption_pretraining_samples(None, {"skipped": True, "root": None}, {})

    assert captions.empty
    assert tuple(captions.columns) == CAPTION_COLUMNS


def test_switched_off_pretraining_ends_in_a_clear_error_for_pipeline_weights(tmp_path):
    """Disabled pretraining saves empty weights; an experiment that asks for them is refused."""
    pretraining = {"enabled": False, "training": {"backbone": TINY}}

    result, history = pretrain_backbone_node(None, pd.DataFrame(), pretraining)

    assert result.state_dict == {}
    assert result.architecture == TINY
    assert history.empty
    dataset = PretrainedWeightsDataset(
        filepath=str(tmp_path / "pretrained_backbone.pt"), version=Version(None, None)
    )
    dataset.save(result)
    weights = dataset.load()
    assert weights.skipped
    with pytest.raises(ValueError, match=r"pretraining\.enabled"):
        resolve_pipeline_weights(_experiment(PIPELINE_WEIGHTS), weights)
