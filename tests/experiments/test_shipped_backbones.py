"""The backbones by recipe: a run starts from the backbone its pretraining recipe made, found by
the recipe's content, checked against its digest, and told how to build one it lacks.

Also: the project ships the backbone of its own default recipe, so that a first run on a fresh
clone need not pretrain."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from conf_profiles import load_parameters
from facevlm.experiments.pretrain import PretrainedBackbone
from facevlm.experiments.shipped_backbones import (
    BackboneDigestError,
    BackboneNotBuiltError,
    backbone_recipe,
    load_backbone,
    recipe_name,
    store_backbone,
)
from facevlm.pipelines.pretrain.nodes import backbone_for_recipe, keep_backbone_by_recipe

PROJECT = Path(__file__).resolve().parents[2]


def _default_params() -> tuple[dict, dict]:
    """``pretraining`` and ``render`` as a plain `kedro run` resolves them (the project's config
    loader, its default environment and the built-in dataset's profile)."""
    params = load_parameters("local")
    return params["pretraining"], params["render"]


def _backbone() -> PretrainedBackbone:
    generator = torch.Generator().manual_seed(0)
    state = {"visual.proj": torch.randn(4, 3, generator=generator), "logit_scale": torch.ones(())}
    return PretrainedBackbone(state, "facevlm-tiny", [{"epoch": 1, "loss": 2.5}], 0.75)


def test_a_stored_backbone_is_read_back_by_its_recipe(tmp_path):
    pretraining, render = _default_params()
    recipe = backbone_recipe(pretraining, render)
    store_backbone(tmp_path, recipe, _backbone())

    read = load_backbone(tmp_path, recipe)

    assert read.architecture == "facevlm-tiny"
    assert read.history == [{"epoch": 1, "loss": 2.5}] and read.holdout_zero_shot == 0.75
    for name, value in _backbone().state_dict.items():
        assert torch.equal(read.state_dict[name], value), name


@pytest.mark.parametrize(
    ("where", "key", "value"),
    [
        ("pretraining", "store", "elsewhere"),
        ("dataset", "root", "/data/corpus"),
        ("dataset", "n_workers", 7),
        ("execution", "device", "cuda"),
        ("execution", "progress", False),
        ("render", "n_workers", 3),
        ("render", "frames", "uniform:3"),
    ],
)
def test_where_and_how_fast_are_no_part_of_a_recipe(where, key, value):
    pretraining, render = _default_params()
    before = recipe_name(backbone_recipe(pretraining, render))
    changed_pretraining, changed_render = copy.deepcopy(pretraining), copy.deepcopy(render)
    target = {
        "pretraining": changed_pretraining,
        "dataset": changed_pretraining["dataset"],
        "execution": changed_pretraining["training"].setdefault("execution", {}),
        "render": changed_render,
    }[where]
    target[key] = value

    assert recipe_name(backbone_recipe(changed_pretraining, changed_render)) == before


@pytest.mark.parametrize(
    ("where", "key", "value"),
    [
        ("synthetic", "n_subjects", 8),
        ("synthetic", "face_sources", ["procedural", "ict"]),
        ("train", "epochs", 3),
        ("render", "modality", "texture"),
        ("render", "size", 112),
    ],
)
def test_what_the_corpus_or_the_training_is_names_another_backbone(tmp_path, where, key, value):
    pretraining, render = _default_params()
    store_backbone(tmp_path, backbone_recipe(pretraining, render), _backbone())
    changed_pretraining, changed_render = copy.deepcopy(pretraining), copy.deepcopy(render)
    target = {
        "synthetic": changed_pretraining["synthetic"],
        "train": changed_pretraining["training"].setdefault("train", {}),
        "render": changed_render,
    }[where]
    target[key] = value

    with pytest.raises(BackboneNotBuiltError, match=r"kedro run --pipeline=pretrain"):
        load_backbone(tmp_path, backbone_recipe(changed_pretraining, changed_render))


def test_a_damaged_weight_file_is_refused_with_its_name(tmp_path):
    pretraining, render = _default_params()
    recipe = backbone_recipe(pretraining, render)
    weights = store_backbone(tmp_path, recipe, _backbone())
    data = bytearray(weights.read_bytes())
    data[-100] ^= 0xFF  # one flipped byte
    weights.write_bytes(bytes(data))

    with pytest.raises(BackboneDigestError, match=weights.name):
        load_backbone(tmp_path, recipe)


def test_the_pretrain_pipeline_keeps_what_it_made_where_the_model_pipelines_look(tmp_path):
    pretraining, render = _default_params()
    pretraining = {**pretraining, "store": str(tmp_path / "store")}

    passed_on = keep_backbone_by_recipe(_backbone(), pretraining, render)
    found, history = backbone_for_recipe(pretraining, render)

    assert passed_on.state_dict.keys() == found.state_dict.keys()
    assert list(history["loss"]) == [2.5]


def test_no_corpus_needs_no_stored_backbone(tmp_path):
    pretraining, render = _default_params()
    pretraining = {**pretraining, "store": str(tmp_path), "dataset": {"name": "none"}}

    found, history = backbone_for_recipe(pretraining, render)

    assert found.state_dict == {} and history.empty


def test_the_project_ships_the_backbone_of_its_default_recipe():
    """A fresh clone's first `kedro run` finds the default recipe's backbone in the repository,
    its weights the ones its description names."""
    pretraining, render = _default_params()

    backbone = load_backbone(PROJECT / pretraining["store"], backbone_recipe(pretraining, render))

    assert backbone.architecture == pretraining["training"]["backbone"]
    assert len(backbone.history) == pretraining["training"]["train"]["epochs"]
