"""The familiarity score (``facevlm.evaluation.familiarity``) on embeddings with known structure.

Specification: the score is the cosine distance to the k-th nearest training embedding;
familiarity is the fraction of held-out scores above an input's; the threshold keeps the chosen
rate of held-out in-distribution inputs familiar, also for a model trained on every sample (k
scaled to its larger training set); inputs from elsewhere score as less familiar; the statistics
survive the model bundle's ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facevlm.evaluation import familiarity as fam


def sphere_clusters(
    rng: np.random.Generator, n: int, centres: np.ndarray, spread: float = 0.15
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points around random ``centres`` (unit rows): embeddings and their cluster."""
    labels = rng.integers(0, len(centres), n)
    points = centres[labels] + spread * rng.standard_normal((n, centres.shape[1]))
    return fam.l2_normalise(points), labels


def cross_validated(
    embeddings: np.ndarray, n_folds: int, k: int = fam.DEFAULT_K
) -> list[fam.FoldScores]:
    folds = np.arange(len(embeddings)) % n_folds
    return [
        fam.fold_scores(embeddings[folds != f], embeddings[folds == f], k) for f in range(n_folds)
    ]


@pytest.fixture(scope="module")
def centres() -> np.ndarray:
    return fam.l2_normalise(np.random.default_rng(0).standard_normal((6, 32)))


# ---- the score ---------------------------------------------------------------------------------


def test_the_score_is_the_kth_smallest_cosine_distance():
    rng = np.random.default_rng(1)
    reference, queries = rng.standard_normal((40, 8)), rng.standard_normal((7, 8))
    for k in (1, 3, 40):
        scores = fam.knn_distance(reference, queries, k)
        for query, score in zip(queries, scores, strict=True):
            cosines = [r @ query / np.linalg.norm(r) / np.linalg.norm(query) for r in reference]
            assert score == pytest.approx(sorted(1 - np.array(cosines))[k - 1], abs=1e-5)


def test_k_is_capped_by_the_reference_set_and_an_empty_one_is_refused():
    reference = np.eye(3)
    assert fam.knn_distance(reference, np.eye(3), 10).tolist() == pytest.approx([1, 1, 1])
    with pytest.raises(ValueError, match="at least one reference"):
        fam.knn_distance(np.zeros((0, 3)), np.eye(3), 1)


def test_familiarity_is_the_fraction_of_reference_scores_above_the_input():
    reference = np.array([0.1, 0.2, 0.2, 0.4, 0.8])
    familiarity = fam.familiarity_of(np.array([0.0, 0.2, 0.5, 0.9]), reference)
    assert familiarity.tolist() == pytest.approx([1.0, 0.4, 0.2, 0.0])


def test_the_threshold_is_the_smallest_score_covering_the_rate():
    reference = np.arange(1, 101) / 100  # 0.01 .. 1.00
    assert fam.threshold_for(reference, 0.99) == pytest.approx(0.99)
    assert fam.threshold_for(reference, 0.995) == pytest.approx(1.0)
    assert fam.threshold_for(reference[:10], 0.99) == pytest.approx(0.10)  # all ten kept
    with pytest.raises(ValueError):
        fam.threshold_for(reference, 0.0)


@pytest.mark.parametrize("rate", [0.9, 0.95, 0.99])
def test_exactly_the_rate_of_reference_scores_is_familiar_at_least(rate):
    reference = np.random.default_rng(2).gamma(2.0, 0.1, 537)
    familiar = reference <= fam.threshold_for(reference, rate)
    assert rate <= familiar.mean() < rate + 1 / len(reference) + 1e-9


def test_k_is_scaled_by_the_training_set_size_ratio():
    assert fam.scaled_k(10, 400, 500) == round(10 * 500 / 400)
    assert fam.scaled_k(10, 400, 400) == 10
    assert fam.scaled_k(10, 400, 30) == 1  # at least one neighbour
    assert fam.scaled_k(10, 8, 12) == 12  # never more neighbours than embeddings


# ---- held-out rate and separation -----------------------------------------------------------


def _unseen_familiar_rate(centres: np.ndarray, raw: bool, seed: int) -> float:
    """Fit the statistics on 600 embeddings (5 folds for the yardstick, all 600 for the final
    model), then measure the familiar fraction of 4000 unseen in-distribution embeddings.
    ``raw``: plain k-NN distances with the folds' k (no neighbour scale, k not scaled)."""
    rng = np.random.default_rng(seed)
    train, _ = sphere_clusters(rng, 600, centres)
    folds = cross_validated(train, 5)
    if raw:
        folds = [fam.FoldScores(f.distances, f.k, f.n_train, 1.0) for f in folds]
    statistics = fam.build_familiarity(train, folds)
    if raw:
        statistics.k, statistics.scale = fam.DEFAULT_K, 1.0
    unseen, _ = sphere_clusters(rng, 4000, centres)
    return float(statistics.familiar(statistics.scores(unseen)).mean())


def test_unseen_in_distribution_inputs_are_familiar_at_the_chosen_rate(centres):
    rates = [_unseen_familiar_rate(centres, False, seed) for seed in range(3)]
    # sampling error: the 600 reference scores' 99th percentile (sd ~0.004) and 4000 draws
    assert np.mean(rates) == pytest.approx(fam.FAMILIAR_RATE, abs=0.01)


def test_raw_distances_would_call_more_unseen_inputs_familiar(centres):
    """More training embeddings bring the k-th neighbour closer: raw distances against the
    final model's larger training set make the held-out threshold lenient."""
    chosen = [_unseen_familiar_rate(centres, False, seed) for seed in range(3)]
    raw = [_unseen_familiar_rate(centres, True, seed) for seed in range(3)]
    assert np.mean(raw) > np.mean(chosen)


def test_the_neighbour_scale_is_the_median_leave_one_out_distance():
    rng = np.random.default_rng(3)
    x = fam.l2_normalise(rng.standard_normal((30, 5)))
    expected = np.median([np.sort(1 - np.delete(x, i, axis=0) @ x[i])[2] for i in range(len(x))])
    assert fam.neighbour_scale(x, 3) == pytest.approx(expected, abs=1e-5)


def test_inputs_from_elsewhere_are_less_familiar(centres):
    rng = np.random.default_rng(4)
    train, _ = sphere_clusters(rng, 300, centres)
    statistics = fam.build_familiarity(train, cross_validated(train, 3))
    elsewhere, _ = sphere_clusters(rng, 200, fam.l2_normalise(rng.standard_normal((6, 32))))
    scores, familiarity, familiar = statistics.assess(elsewhere)
    assert fam.auroc(statistics.reference_scores, scores) > 0.95
    assert familiar.mean() < 0.2
    assert np.median(familiarity) < 0.05


def test_the_baselines_score_inputs_from_elsewhere_higher_too(centres):
    rng = np.random.default_rng(5)
    train, labels = sphere_clusters(rng, 300, centres)
    inside, _ = sphere_clusters(rng, 100, centres)
    elsewhere, _ = sphere_clusters(rng, 100, fam.l2_normalise(rng.standard_normal((6, 32))))
    mahalanobis = [fam.mahalanobis_scores(train, labels, q) for q in (inside, elsewhere)]
    assert fam.auroc(*mahalanobis) > 0.9
    confident, unsure = np.array([[0.9, 0.1]] * 5), np.array([[0.5, 0.5]] * 5)
    assert fam.auroc(fam.max_softmax_scores(confident), fam.max_softmax_scores(unsure)) == 1.0


# ---- stored in the bundle -------------------------------------------------------------------


def test_the_statistics_round_trip_through_a_weights_only_bundle(tmp_path, centres):
    from facevlm.models.model_bundle import ModelBundle, plain

    rng = np.random.default_rng(6)
    train, _ = sphere_clusters(rng, 120, centres)
    statistics = fam.build_familiarity(train, cross_validated(train, 4), modality="texture")
    bundle = ModelBundle("affectvlm", {}, {}, ["a"], {"a": ["p"]})
    bundle.familiarity = plain(statistics.as_dict())
    torch.save(bundle.__dict__, tmp_path / "model.pt")
    payload = torch.load(tmp_path / "model.pt", weights_only=True)
    loaded = fam.Familiarity.from_dict(ModelBundle(**payload).familiarity)
    assert loaded.k == statistics.k and loaded.modality == "texture"
    assert loaded.threshold == pytest.approx(statistics.threshold)
    np.testing.assert_allclose(loaded.reference_scores, statistics.reference_scores)
    queries, _ = sphere_clusters(rng, 50, centres)
    # float16 training embeddings: the scores move by far less than their spread
    np.testing.assert_allclose(loaded.scores(queries), statistics.scores(queries), atol=2e-3)


def test_a_bundle_without_statistics_still_loads(tmp_path):
    from facevlm.datasets.model_bundle import read_bundle_file
    from facevlm.models.model_bundle import ModelBundle

    payload = ModelBundle("affectvlm", {}, {}, ["a"], {"a": ["p"]}).__dict__
    payload.pop("familiarity")  # written before the field existed
    torch.save(payload, tmp_path / "old.pt")
    assert read_bundle_file(tmp_path / "old.pt").familiarity is None


def test_statistics_of_another_method_are_refused():
    with pytest.raises(ValueError, match="not known"):
        fam.Familiarity.from_dict({"method": "energy", "train_embeddings": np.eye(2)})


# ---- two feature spaces ---------------------------------------------------------------------


def two_space_statistics(
    rng: np.random.Generator, centres: np.ndarray, looks: np.ndarray, n: int = 400
) -> tuple[fam.JointFamiliarity, dict[str, np.ndarray]]:
    """Joint statistics of ``n`` training samples whose embedding clusters around ``centres``
    and whose appearance around ``looks`` (independently drawn), 4 folds for the yardstick."""
    train = {fam.EMBEDDING: sphere_clusters(rng, n, centres)[0]}
    train[fam.APPEARANCE] = sphere_clusters(rng, n, looks)[0]
    split = np.arange(n) % 4
    folds = [
        fam.fold_scores_by_space(
            {s: x[split != f] for s, x in train.items()},
            {s: x[split == f] for s, x in train.items()},
        )
        for f in range(4)
    ]
    return fam.build_joint_familiarity(train, folds, modality="shaded"), train


def two_spaces() -> tuple[str, str]:
    return fam.EMBEDDING, fam.APPEARANCE


@pytest.fixture(scope="module")
def looks() -> np.ndarray:
    return fam.l2_normalise(np.random.default_rng(10).standard_normal((3, 24)))


def test_the_joint_threshold_keeps_the_rate_of_held_out_scans_familiar(centres, looks):
    statistics, _ = two_space_statistics(np.random.default_rng(11), centres, looks)
    assert statistics.familiar(statistics.reference).mean() >= statistics.rate
    # at most one scan per hundred is stranger than the threshold, plus ties
    assert statistics.familiar(statistics.reference).mean() < statistics.rate + 0.02


def test_unseen_inputs_of_both_kinds_are_familiar_at_about_the_chosen_rate(centres, looks):
    rates = []
    for seed in range(3):
        rng = np.random.default_rng(20 + seed)
        statistics, _ = two_space_statistics(rng, centres, looks, n=600)
        unseen = {
            fam.EMBEDDING: sphere_clusters(rng, 3000, centres)[0],
            fam.APPEARANCE: sphere_clusters(rng, 3000, looks)[0],
        }
        rates.append(statistics.assess(unseen)[1].mean())
    assert np.mean(rates) == pytest.approx(fam.FAMILIAR_RATE, abs=0.015)


def test_an_input_that_only_looks_different_is_unfamiliar_and_says_why(centres, looks):
    """The case the second space is for: an embedding among the training embeddings (the
    model reads an expression into it) but views that look like nothing it was trained on."""
    rng = np.random.default_rng(12)
    statistics, _ = two_space_statistics(rng, centres, looks)
    other_looks = fam.l2_normalise(rng.standard_normal((3, 24)))
    inputs = {
        fam.EMBEDDING: sphere_clusters(rng, 100, centres)[0],
        fam.APPEARANCE: sphere_clusters(rng, 100, other_looks)[0],
    }
    familiarity, familiar = statistics.assess(inputs)
    assert familiar.mean() < 0.1 and np.median(familiarity) < 0.05
    embedding_alone = statistics.spaces[fam.EMBEDDING]
    assert embedding_alone.familiar(embedding_alone.scores(inputs[fam.EMBEDDING])).mean() > 0.9
    scores = {s: statistics.spaces[s].scores(x) for s, x in inputs.items()}
    assert set(statistics.strangest(scores)) == {fam.APPEARANCE}
    assert fam.UNLIKE[fam.APPEARANCE] != fam.UNLIKE[fam.EMBEDDING]


def test_the_joint_score_is_the_largest_score_in_units_of_each_threshold(centres, looks):
    statistics, _ = two_space_statistics(np.random.default_rng(13), centres, looks)
    embedding, appearance = (statistics.spaces[s].threshold for s in two_spaces())
    scores = {
        fam.EMBEDDING: np.array([embedding, 0.0]),
        fam.APPEARANCE: np.array([0.0, appearance * 2]),
    }
    np.testing.assert_allclose(statistics.joint(scores), [1.0, 2.0])
    assert statistics.strangest(scores) == [fam.EMBEDDING, fam.APPEARANCE]
    joint = np.array([0.0, 1.0, 1.5, 9.0])
    expected = [(statistics.reference > j).mean() for j in joint]
    np.testing.assert_allclose(statistics.familiarity(joint), expected)
    assert statistics.familiarity(joint)[-1] == 0.0  # stranger than every held-out scan


def test_joint_statistics_round_trip_through_a_weights_only_bundle(tmp_path, centres, looks):
    from facevlm.models.model_bundle import ModelBundle, plain

    rng = np.random.default_rng(14)
    statistics, _ = two_space_statistics(rng, centres, looks, n=160)
    bundle = ModelBundle("affectvlm", {}, {}, ["a"], {"a": ["p"]})
    bundle.familiarity = plain(statistics.as_dict())
    torch.save(bundle.__dict__, tmp_path / "model.pt")
    payload = torch.load(tmp_path / "model.pt", weights_only=True)
    loaded = fam.JointFamiliarity.from_dict(ModelBundle(**payload).familiarity)
    assert set(loaded.spaces) == {fam.EMBEDDING, fam.APPEARANCE}
    assert loaded.modality == "shaded" and loaded.threshold == pytest.approx(statistics.threshold)
    queries = {
        fam.EMBEDDING: sphere_clusters(rng, 40, centres)[0],
        fam.APPEARANCE: sphere_clusters(rng, 40, looks)[0],
    }
    np.testing.assert_allclose(loaded.assess(queries)[0], statistics.assess(queries)[0], atol=0.02)


def test_a_single_space_bundle_is_judged_by_its_embedding_as_before(centres):
    """Bundles saved before the appearance space: the same familiar inputs as their own rule."""
    rng = np.random.default_rng(15)
    train, _ = sphere_clusters(rng, 300, centres)
    single = fam.build_familiarity(train, cross_validated(train, 3), modality="texture")
    joint = fam.JointFamiliarity.from_dict(single.as_dict())
    assert set(joint.spaces) == {fam.EMBEDDING} and joint.modality == "texture"
    near, _ = sphere_clusters(rng, 300, centres)
    far, _ = sphere_clusters(rng, 100, fam.l2_normalise(rng.standard_normal((6, 32))))
    queries = np.concatenate([near, far])
    before = single.familiar(single.scores(queries))
    after = joint.assess({fam.EMBEDDING: queries})[1]
    assert (before == after).mean() > 0.98
    np.testing.assert_allclose(
        joint.assess({fam.EMBEDDING: queries})[0],
        single.familiarity(single.scores(queries)),
        atol=0.02,
    )


def test_statistics_of_an_unknown_joint_method_are_refused():
    with pytest.raises(ValueError, match="not known"):
        fam.JointFamiliarity.from_dict({"method": "energy", "spaces": {}})
