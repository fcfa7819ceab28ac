"""Familiarity statistics from cross-validation and the final fit (both recipes).

Specification: every fold records its held-out scores against *its own* training embeddings
(what an unseen in-distribution input scores), with the k and training-set size behind them;
the final fit turns them into the bundle's statistics with the final model's training
embeddings and k scaled to the larger training set.
"""

from __future__ import annotations

import numpy as np
import pytest

from facevlm.evaluation.familiarity import (
    Familiarity,
    knn_distance,
    neighbour_scale,
    scaled_k,
)
from facevlm.experiments import affectvlm, smile
from facevlm.experiments.common import embed_views
from facevlm.experiments.cross_validation import cross_validate, fit_final
from facevlm.experiments.results import FOLD_FAMILIARITY


@pytest.fixture(scope="module", params=["affectvlm", "smile"])
def run(request, tiny_data, augmented_bank, descriptive_bank, make_params):
    recipe = {"affectvlm": affectvlm.RECIPE, "smile": smile.RECIPE}[request.param]
    bank = augmented_bank if request.param == "affectvlm" else descriptive_bank
    cfg = recipe.config_type.from_params(make_params(train={"epochs": 1}))
    result, fitted = cross_validate(recipe, tiny_data, bank, cfg)
    return recipe, bank, cfg, result, fitted


def test_each_fold_scores_its_held_out_samples_against_its_training_embeddings(run, tiny_data):
    _, _, cfg, result, fitted = run
    assert len(result.familiarity_folds()) == len(result.folds)
    last = result.folds[-1]
    train_rows, test_rows = tiny_data.split(last.fold)
    recorded = last.extra[FOLD_FAMILIARITY]
    assert recorded["n_train"] == len(train_rows)
    assert len(recorded["distances"]) == len(test_rows)
    # the last fold's model is at hand: the same scores computed independently
    train = embed_views(fitted.model, tiny_data.views[train_rows], 64, "cpu").fused.numpy()
    test = embed_views(fitted.model, tiny_data.views[test_rows], 64, "cpu").fused.numpy()
    np.testing.assert_allclose(
        recorded["distances"], knn_distance(train, test, recorded["k"]), atol=1e-5
    )
    assert recorded["scale"] == pytest.approx(neighbour_scale(train, recorded["k"]), rel=1e-4)


def test_the_final_fit_carries_statistics_with_k_scaled_to_its_training_set(run, tiny_data):
    recipe, bank, cfg, result, _ = run
    folds = result.familiarity_folds()
    final = fit_final(recipe, tiny_data, bank, cfg, folds, modality="texture")
    statistics = Familiarity.from_dict(final.extra["familiarity"])
    n = len(tiny_data.labels)
    assert statistics.train_embeddings.shape[0] == n
    assert statistics.modality == "texture"
    assert statistics.k == scaled_k(folds[0]["k"], folds[0]["n_train"], n)
    reference = np.sort(np.concatenate([f["distances"] / f["scale"] for f in folds]))
    np.testing.assert_allclose(statistics.reference_scores, reference, rtol=1e-5)
    assert statistics.scale == pytest.approx(
        neighbour_scale(statistics.train_embeddings, statistics.k), rel=1e-4
    )
    assert statistics.familiar(statistics.reference_scores).mean() >= statistics.rate
    # the final model's own training samples are familiar to it
    own = statistics.scores(statistics.train_embeddings)
    assert statistics.familiar(own).mean() >= statistics.rate
