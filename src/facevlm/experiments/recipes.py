"""The models by name: the one registry behind every list of models in the project.

A recipe's ``name`` is what a namespace's ``recipe`` parameter selects, the base model namespace
(``params:affectvlm``), and what a training bundle and a saved model record as their model. The
pipelines, the app, ``facevlm predict``, the training bundles and the results all read the names,
titles and primary evaluations here, so a new model is one entry here and one experiment module.

Importing this module is cheap (no torch, no pandas): the command line and the pipeline registry list the
models without loading them. The trainable :class:`~facevlm.experiments.cross_validation.Recipe`
(config type, loss, fit, evaluate) lives in the entry's experiment module and is imported on
first use by :func:`get_recipe`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import import_module
from typing import TYPE_CHECKING

from facevlm.evaluation.calibration import LINEAR_PROBE, PROMPT_CLASSIFIER

if TYPE_CHECKING:
    from facevlm.experiments.cross_validation import Recipe


#: The evaluation whose metrics carry no extra name segment (``test/accuracy_mean``).
PRIMARY = "primary"


@dataclass(frozen=True)
class RecipeEntry:
    """What the project knows about a model without loading it."""

    name: str  # the recipe parameter, the base namespace, the bundle's ``model``
    title: str  # how logs, figures and the app name the model ("AffectVLM")
    learning: str  # "supervised" | "self-supervised": how the app describes it
    module: str  # the experiment module whose ``RECIPE`` trains and evaluates it
    # the name its primary metrics are also logged under, where the shared name alone would
    # mislead: SMILE-VLM's ``test/accuracy_mean`` is a linear probe on frozen self-supervised
    # embeddings, not supervised accuracy, so it is also ``test/linear_probe/...``
    primary_evaluation: str | None = None
    # the classifier head of a saved model that each evaluation with logits scores: the bundle's
    # temperature for that head is fitted on the evaluation's out-of-fold logits
    evaluation_heads: Mapping[str, str] = field(default_factory=dict)


RECIPE_ENTRIES: dict[str, RecipeEntry] = {
    entry.name: entry
    for entry in (
        RecipeEntry(
            "affectvlm",
            "AffectVLM",
            "supervised",
            "facevlm.experiments.affectvlm",
            evaluation_heads={PRIMARY: PROMPT_CLASSIFIER},
        ),
        RecipeEntry(
            "smile",
            "SMILE-VLM",
            "self-supervised",
            "facevlm.experiments.smile",
            primary_evaluation="linear_probe",
            evaluation_heads={PRIMARY: LINEAR_PROBE, "zero_shot": PROMPT_CLASSIFIER},
        ),
    )
}

#: Every recipe's name, in the order the pipelines and the app list them.
RECIPE_NAMES: tuple[str, ...] = tuple(RECIPE_ENTRIES)


def recipe_entry(name: str) -> RecipeEntry:
    """The registry entry called ``name``; an unknown name is an error that lists the known ones."""
    try:
        return RECIPE_ENTRIES[name]
    except KeyError:
        raise ValueError(
            f"recipe must be one of {' | '.join(RECIPE_NAMES)}, got {name!r}"
        ) from None


def get_recipe(name: str) -> Recipe:
    """The trainable recipe called ``name`` (imports its experiment module, and so torch)."""
    recipe = import_module(recipe_entry(name).module).RECIPE
    if recipe.name != name:
        raise RuntimeError(f"{recipe_entry(name).module}.RECIPE is {recipe.name!r}, not {name!r}")
    return recipe


def primary_evaluation_name(model: str) -> str | None:
    """The extra name ``model``'s primary metrics are logged under (None: only the shared one,
    or a model the registry does not know)."""
    entry = RECIPE_ENTRIES.get(model)
    return entry.primary_evaluation if entry else None


def evaluation_heads(model: str) -> Mapping[str, str]:
    """``{evaluation: classifier head}`` of ``model`` (empty for a model the registry does not
    know): which head's temperature each evaluation's out-of-fold logits calibrate."""
    entry = RECIPE_ENTRIES.get(model)
    return entry.evaluation_heads if entry else {}
