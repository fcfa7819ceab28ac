"""The package surface: each recipe's loss, the output-dict convention, the docstring examples."""

from __future__ import annotations

import doctest
import importlib

import pytest
import torch

from facevlm.experiments.recipes import get_recipe
from facevlm.models.losses import AffectVLMLoss, SmileVLMLoss, loss_terms_total


def build_loss(name: str, **params):
    """A recipe's full objective by name, built with ``params``."""
    return get_recipe(name).loss(**params)


def test_each_recipe_names_its_loss_and_passes_parameters():
    smile = build_loss("smile", lambda1=0.5)
    assert isinstance(smile, SmileVLMLoss) and smile.lambda1 == 0.5
    affect = build_loss("affectvlm", w_infonce=0.0, mining="hard")
    assert isinstance(affect, AffectVLMLoss) and affect.mt.mining == "hard"


def test_unknown_recipes_and_loss_parameters_are_refused():
    with pytest.raises(ValueError, match="affectvlm"):
        build_loss("simclr")
    with pytest.raises(TypeError):
        build_loss("smile", lambda3=1.0)


def test_total_sums_loss_terms_and_leaves_stats_out():
    terms = {
        "loss/a": torch.tensor(1.0),
        "loss/b": torch.tensor(2.0),
        "stat/margin": torch.tensor(9.0),
    }
    assert loss_terms_total(terms).item() == 3.0


@pytest.mark.parametrize(
    "module", ["barlow_twins", "redundancy", "clip_infonce", "affectvlm", "smile"]
)
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(f"facevlm.models.losses.{module}"))
    assert result.attempted > 0 and result.failed == 0
