"""The trained models a project makes, by Kedro namespace, and the recipe each one trains.

``train_affectvlm`` and ``train_smile`` train the two papers' models on 3D scans; the 4D and
micro-expression pipelines train the same recipes under namespaces of their own
(``affectvlm_4d``: AffectVLM on sequences), with their own classes, render settings and saved
``<namespace>.model``. The pipelines, the app and ``facevlm predict`` all read the list here, so
a model that can be trained can also be used.
"""

from __future__ import annotations

#: Namespaces with a parameter block of their own (``params:affectvlm``): the recipe's name.
BASE_MODELS: tuple[str, ...] = ("affectvlm", "smile")

#: Model namespaces that derive from another's parameter block (``params:smile_mer`` lists only
#: what differs from ``params:smile``), and so train that block's recipe.
DERIVED_MODELS: dict[str, str] = {
    "affectvlm_4d": "affectvlm",
    "smile_4d": "smile",
    "smile_mer": "smile",
}

#: Every namespace whose pipeline saves a ``<namespace>.model``.
MODEL_NAMESPACES: tuple[str, ...] = (*BASE_MODELS, *DERIVED_MODELS)


def base_block(namespace: str) -> str:
    """The parameter block ``namespace`` starts from (itself for a base model)."""
    return DERIVED_MODELS.get(namespace, namespace)
