"""The models by name: what a namespace's ``recipe`` parameter selects."""

from __future__ import annotations

from facevlm.experiments import affectvlm, smile
from facevlm.experiments.cross_validation import Recipe

RECIPES: dict[str, Recipe] = {r.name: r for r in (affectvlm.RECIPE, smile.RECIPE)}


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name``; an unknown name is an error that lists the known ones."""
    try:
        return RECIPES[name]
    except KeyError:
        raise ValueError(f"recipe must be one of {' | '.join(RECIPES)}, got {name!r}") from None
