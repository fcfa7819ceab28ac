"""Familiarity statistics from cross-validation and the final fit (both recipes).

Specification: every fold records its held-out scores against *its own* training samples (what
an unseen in-distribution input scores), in every feature space (the fused embedding, the
views' appearance at the image tower's early stage and their edges), with the k and training-set size behind
them; the final fit turns them into the bundle's statistics with the final model's training
features and k scaled to the larger training set, and a joint threshold that keeps the chosen
rate of held-out scans familiar.
"""

from __future__ import annotations

import numpy as np
import pytest

from facevlm.evaluation.familiarity import (
    APPEARANCE,
    EDGES,
    EMBEDDING,
    JointFamiliarity,
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
    assert set(recorded) == {EMBEDDING, APPEARANCE, EDGES}
    # the last fold's model is at hand: the same scores computed independently
    train = embed_views(fitted.model, tiny_data.views[train_rows], 64, "cpu", True)
    test = embed_views(fitted.model, tiny_data.views[test_rows], 64, "cpu", True)
    features = {
        EMBEDDING: (train.fused.numpy(), test.fused.numpy()),
        APPEARANCE: (train.appearance.numpy(), test.appearance.numpy()),
        EDGES: (train.edges.numpy(), test.edges.numpy()),
    }
    for space, (train_x, test_x) in features.items():
        scores = recorded[space]
        assert scores["n_train"] == len(train_rows)
        assert len(scores["distances"]) == len(test_rows)
        np.testing.assert_allclose(
            scores["distances"], knn_distance(train_x, test_x, scores["k"]), atol=1e-5
        )
        assert scores["scale"] == pytest.approx(neighbour_scale(train_x, scores["k"]), rel=1e-4)


def test_the_final_fit_carries_statistics_with_k_scaled_to_its_training_set(run, tiny_data):
    recipe, bank, cfg, result, _ = run
    folds = result.familiarity_folds()
    final = fit_final(recipe, tiny_data, bank, cfg, folds, modality="texture")
    statistics = JointFamiliarity.from_dict(final.extra["familiarity"])
    n = len(tiny_data.labels)
    assert statistics.modality == "texture"
    assert set(statistics.spaces) == {EMBEDDING, APPEARANCE, EDGES}
    for space, stats in statistics.spaces.items():
        assert stats.train_embeddings.shape[0] == n
        first = folds[0][space]
        assert stats.k == scaled_k(first["k"], first["n_train"], n)
        reference = np.sort(
            np.concatenate([f[space]["distances"] / f[space]["scale"] for f in folds])
        )
        np.testing.assert_allclose(stats.reference_scores, reference, rtol=1e-5)
        assert stats.scale == pytest.approx(
            neighbour_scale(stats.train_embeddings, stats.k), rel=1e-4
        )
    assert len(statistics.reference) == sum(len(f[EMBEDDING]["distances"]) for f in folds)
    assert statistics.familiar(statistics.reference).mean() >= statistics.rate
    # the final model's own training samples are familiar to it, in the spaces the model shapes
    # (the edges involve no model, and on this toy set of bars over noise they are mostly the
    # noise's: every sample about as far from every other)
    for space in (EMBEDDING, APPEARANCE):
        stats = statistics.spaces[space]
        assert stats.familiar(stats.scores(stats.train_embeddings)).mean() >= statistics.rate
