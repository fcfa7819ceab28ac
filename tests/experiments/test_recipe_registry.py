"""The recipe registry: one table of models that every list of models in the project reads."""

from __future__ import annotations

import subprocess
import sys

import pytest

from facevlm.experiments.recipes import (
    PRIMARY,
    RECIPE_ENTRIES,
    RECIPE_NAMES,
    evaluation_heads,
    get_recipe,
    primary_evaluation_name,
    recipe_entry,
)
from facevlm.model_namespaces import BASE_MODELS, DERIVED_MODELS, model_title


@pytest.mark.parametrize("name", RECIPE_NAMES)
def test_each_entry_loads_the_recipe_of_its_name(name):
    recipe = get_recipe(name)
    assert recipe.name == name
    assert recipe.title == RECIPE_ENTRIES[name].title
    assert recipe.config_type.from_params({}) is not None  # every field has a default


def test_an_unknown_recipe_is_refused_with_the_known_names():
    with pytest.raises(ValueError, match="affectvlm | smile"):
        recipe_entry("simclr")
    with pytest.raises(ValueError, match="got 'simclr'"):
        get_recipe("simclr")


def test_namespaces_are_the_recipes_and_the_namespaces_derived_from_them():
    assert BASE_MODELS == RECIPE_NAMES
    assert set(DERIVED_MODELS.values()) <= set(RECIPE_NAMES)


def test_titles_say_what_each_namespace_trains():
    assert model_title("affectvlm") == "AffectVLM (supervised)"
    assert model_title("smile") == "SMILE-VLM (self-supervised)"
    assert model_title("smile_mer") == "SMILE-VLM, micro-expressions"
    assert model_title("affectvlm_4d") == "AffectVLM, 4D sequences"


def test_only_smile_logs_its_primary_evaluation_under_a_second_name():
    assert primary_evaluation_name("smile") == "linear_probe"
    assert primary_evaluation_name("affectvlm") is None
    assert primary_evaluation_name("not-a-model") is None


def test_each_evaluation_with_logits_calibrates_a_head_the_bundle_has():
    from facevlm.evaluation.calibration import HEADS

    assert evaluation_heads("affectvlm") == {PRIMARY: "prompt_classifier"}
    assert evaluation_heads("smile")[PRIMARY] == "linear_probe"  # the probe is its primary
    assert evaluation_heads("not-a-model") == {}
    for name in RECIPE_NAMES:
        assert set(evaluation_heads(name).values()) <= set(HEADS)


def test_listing_the_models_loads_no_torch():
    """The command line and the pipeline registry list models before any model is needed."""
    code = (
        "import sys, facevlm.model_namespaces, facevlm.experiments.recipes; "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
