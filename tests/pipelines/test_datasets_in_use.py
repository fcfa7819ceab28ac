"""A run makes only the data its models read: the datasets in use, and the synthetic layouts
behind them."""

from __future__ import annotations

import pytest

from facevlm.pipeline_registry import register_pipelines
from facevlm.pipelines.datasets_in_use import collect_datasets_in_use, datasets_in_use_node
from facevlm.pipelines.synthesize.nodes import synthetic_layouts_in_use
from facevlm.synthetic.config import ALL_LAYOUTS


def _model(datasets) -> dict:
    return {"recipe": "affectvlm", "protocol": {"name": "subject_kfold", "datasets": datasets}}


def test_the_datasets_in_use_are_the_union_of_the_models_protocols():
    blocks = (_model(["synthetic-bu3dfe"]), _model(["synthetic-4dme", "synthetic-bu3dfe"]))
    assert collect_datasets_in_use(*blocks, blocks_per_model=(1, 1)) == {
        "datasets": ["synthetic-bu3dfe", "synthetic-4dme"]
    }


def test_a_model_that_reads_every_dataset_or_no_model_means_everything():
    blocks = (_model(["synthetic-bu3dfe"]), _model(None))
    assert collect_datasets_in_use(*blocks, blocks_per_model=(1, 1)) == {"datasets": None}
    assert collect_datasets_in_use() == {"datasets": None}


def test_a_derived_model_reads_its_overrides_datasets_else_its_bases():
    base = _model(["synthetic-bu3dfe"])
    assert collect_datasets_in_use(
        base, {"protocol": {"datasets": ["synthetic-bu4dfe"]}}, blocks_per_model=(2,)
    ) == {"datasets": ["synthetic-bu4dfe"]}
    assert collect_datasets_in_use(base, {"prompts": {}}, blocks_per_model=(2,)) == {
        "datasets": ["synthetic-bu3dfe"]
    }


def test_each_training_pipeline_asks_for_its_own_models_blocks():
    pipelines = register_pipelines()

    def node_inputs(name: str) -> list[str]:
        (node,) = [n for n in pipelines[name].nodes if n.name == "collect_datasets_in_use"]
        return node.inputs

    assert node_inputs("train_affectvlm") == ["params:affectvlm"]
    assert node_inputs("train_smile_mer") == ["params:smile", "params:smile_mer"]
    assert node_inputs("__default__") == ["params:affectvlm", "params:smile"]
    assert node_inputs("data") == []
    assert datasets_in_use_node().inputs == []


@pytest.mark.parametrize(
    ("datasets", "expected"),
    [
        (["synthetic-bu3dfe"], ("bu3dfe",)),
        (["synthetic-4dme", "synthetic-bu4dfe"], ("bu4dfe", "4dme")),
        (None, ALL_LAYOUTS),
        # a name that is no synthetic layout: which layouts it needs cannot be told
        (["bu3dfe"], ALL_LAYOUTS),
    ],
)
def test_the_synthetic_layouts_behind_the_datasets_in_use(datasets, expected):
    assert synthetic_layouts_in_use(ALL_LAYOUTS, datasets) == expected


def test_layouts_the_configuration_leaves_out_stay_out():
    assert synthetic_layouts_in_use(("bu3dfe",), ["synthetic-bu3dfe"]) == ("bu3dfe",)
    assert synthetic_layouts_in_use(("bu3dfe",), ["synthetic-bu4dfe"]) == ("bu3dfe",)
