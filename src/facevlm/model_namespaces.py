"""The trained models a project makes, by Kedro namespace, and the recipe each one trains.

``train_affectvlm`` and ``train_smile`` train the two papers' models on 3D scans; the 4D and
micro-expression pipelines train the same recipes under namespaces of their own
(``affectvlm_4d``: AffectVLM on sequences), with their own classes, render settings and saved
``<namespace>.model``. The pipelines, the app and ``facevlm predict`` all read the list here, so
a model that can be trained can also be used. The base models are the recipe registry's
(:mod:`facevlm.experiments.recipes`); importing either module loads no torch.
"""

from __future__ import annotations

from facevlm.experiments.recipes import RECIPE_NAMES, recipe_entry

#: Namespaces with a parameter block of their own (``params:affectvlm``): one per recipe.
BASE_MODELS: tuple[str, ...] = RECIPE_NAMES

#: Model namespaces that derive from another's parameter block (``params:smile_mer`` lists only
#: what differs from ``params:smile``), and so train that block's recipe: (base, what it trains
#: on, for its title).
_DERIVED: dict[str, tuple[str, str]] = {
    "affectvlm_4d": ("affectvlm", "4D sequences"),
    "smile_4d": ("smile", "4D sequences"),
    "smile_mer": ("smile", "micro-expressions"),
}

#: Each derived namespace's base block.
DERIVED_MODELS: dict[str, str] = {namespace: base for namespace, (base, _) in _DERIVED.items()}

#: Every namespace whose pipeline saves a ``<namespace>.model``.
MODEL_NAMESPACES: tuple[str, ...] = (*BASE_MODELS, *DERIVED_MODELS)


def base_block(namespace: str) -> str:
    """The parameter block ``namespace`` starts from (itself for a base model)."""
    return DERIVED_MODELS.get(namespace, namespace)


def model_title(namespace: str) -> str:
    """How the app names a namespace's model: "AffectVLM (supervised)" for a base model,
    "AffectVLM, 4D sequences" for a derived one."""
    entry = recipe_entry(base_block(namespace))
    if namespace in DERIVED_MODELS:
        return f"{entry.title}, {_DERIVED[namespace][1]}"
    return f"{entry.title} ({entry.learning})"
