"""How familiar an input is to a trained model: a k-nearest-neighbour out-of-distribution score.

A classifier answers every input with a probability, even a ball or an untextured scan shown to
a model trained on textured ones. What tells the user the answer has no grounds is how far the
input's fused image embedding lies from the embeddings the model was trained on.

**Score** (Sun et al. 2022, "Out-of-distribution detection with deep nearest neighbors"): the
cosine distance ``1 - cos`` from the L2-normalised query embedding to its ``k``-th nearest
training embedding, divided by the model's own *scale*: the median of the same distance from
each training embedding to the others (leaving itself out). Higher is less familiar. It is
non-parametric: no class-conditional Gaussian is assumed, which suits a few hundred training
samples in 512 dimensions, where the covariance a Mahalanobis distance needs is singular and must
be shrunk heavily (:func:`mahalanobis_scores` and :func:`max_softmax_scores` are here as the
baselines it is compared with).

Why the scale: the yardstick comes from the fold models, the prediction from the final model,
which is another training run on more data; it pulls its training set tighter or looser than a
fold model did, and raw distances are not comparable across the two (measured on unseen
subjects with ``benchmarks/familiarity.py``: 79% familiar with raw distances, 100% with the
scale, against the 99% aimed at). Each model's distances are therefore expressed in units of
its own training set's typical neighbour distance, as the local outlier factor does.

**Reference scores**: cross-validation scores each fold's held-out embeddings against that
fold's *training* embeddings (same fold model), so the reference scores are what in-distribution
inputs the model has not seen score. They are the yardstick for a new input.

**familiarity** in ``[0, 1]``: the fraction of reference (held-out, in-distribution) scores
strictly greater than the input's score, i.e. the fraction of held-out scans that are less
familiar than this input. Held-out scans themselves are spread uniformly over ``[0, 1]``; an
input stranger than every held-out scan gets 0.

**familiar**: ``score <= threshold``, where ``threshold`` is the smallest reference score that at
least ``rate`` (0.99) of the reference scores do not exceed (the ``rate`` empirical quantile,
taken upwards). So at least ``rate`` of held-out in-distribution scans are familiar, and in
familiarity terms the boundary is about ``1 - rate``.

**Two feature spaces** (:class:`JointFamiliarity`, what a model bundle stores): the fused
embedding, and the *appearance* of the views, an early stage of the image tower on a coarse
grid (:meth:`facevlm.models.multiview_clip.MultiviewCLIP.encode_appearance`). Training pulls every
face with the same expression towards one embedding, so in the fused embedding a face of a face
model the network never saw lands among the training faces of whatever expression it reads,
familiar and confidently wrong (``benchmarks/calibration.py`` on a face source held out of
training; figures in docs/benchmarks.md). Early in the tower, on a coarse grid of the image,
the features still describe what the views look like and where, and faces of another source
stand apart there. Each space has its own k-NN statistics; an input's
joint score is its largest per-space score in units of that space's own threshold (it is as
strange as it is in the space where it is strangest), and the joint threshold is set on the
same joint score of the held-out scans, so ``familiarity`` keeps its meaning (the fraction of
held-out scans less familiar) and ``familiar`` still holds for ``rate`` of them. Combining the
layers of a network this way is the usual practice (Lee et al. 2018 combine theirs), with the
combination's threshold set on held-out data rather than by correcting each test's. With one
space the joint score is that space's score over its threshold: exactly the single-space rule.

**Training-set size**: the model used for prediction (the final fit) is trained on all ``N``
samples, a fold model on about ``N (K-1)/K``. With more reference points every k-th neighbour
is closer, which would make new inputs look more familiar than the held-out yardstick. The final
model therefore uses ``k`` scaled by the size ratio (:func:`scaled_k`): the k-th neighbour among
``N`` points then covers the same fraction of the training distribution as the fold's ``k``-th
among ``N (K-1)/K`` (the scaling Sun et al. use when they subsample the training set). The scale
(computed with the same ``k`` on the same set) absorbs most of the remaining difference.

numpy only (no torch, no Kedro): the statistics are stored in the model bundle as plain arrays.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Neighbour rank of the score for a fold's training set (Sun et al.: small k for small sets).
DEFAULT_K = 10
#: Fraction of held-out in-distribution scans the threshold keeps familiar.
FAMILIAR_RATE = 0.99
#: The score's name, stored with the statistics so that a reader knows what they mean.
METHOD = "knn_cosine"
_CHUNK = 1024  # queries per distance block (bounds memory at CHUNK x N floats)


def l2_normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32); a zero row stays zero."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def knn_distance(reference: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """``(Q,)`` cosine distance of each query to its ``k``-th nearest ``reference`` row.

    Both are L2-normalised here, so callers may pass raw embeddings. ``k`` is capped at the
    number of reference rows.
    """
    reference = l2_normalise(reference)
    queries = l2_normalise(np.atleast_2d(queries))
    if len(reference) == 0:
        raise ValueError("knn_distance needs at least one reference embedding")
    k = int(min(max(int(k), 1), len(reference)))
    out = np.empty(len(queries), dtype=np.float32)
    for start in range(0, len(queries), _CHUNK):
        distance = 1.0 - queries[start : start + _CHUNK] @ reference.T  # (q, N)
        out[start : start + _CHUNK] = np.partition(distance, k - 1, axis=1)[:, k - 1]
    return out


def neighbour_scale(embeddings: np.ndarray, k: int) -> float:
    """The median over ``embeddings`` of the cosine distance to their ``k``-th nearest other
    embedding (each left out of its own neighbours): the typical neighbour distance of a
    training set in its model's embedding space."""
    if len(embeddings) < 2:
        return 1.0
    k = min(int(k), len(embeddings) - 1)
    distance = knn_distance(embeddings, embeddings, k + 1)  # the first neighbour is itself
    return float(max(np.median(distance), 1e-6))


def fold_k(n_train: int, k: int = DEFAULT_K) -> int:
    """The neighbour rank used for a fold's training set of ``n_train`` embeddings."""
    return int(max(1, min(int(k), int(n_train))))


def scaled_k(k_fold: int, n_fold_train: float, n_final: int) -> int:
    """``k`` for a training set of ``n_final`` embeddings that matches ``k_fold`` among
    ``n_fold_train``: the k-th neighbour then encloses the same fraction ``k / n`` of the
    training distribution, so its distance is comparable with the fold scores."""
    if n_fold_train <= 0:
        return fold_k(n_final, k_fold)
    return fold_k(n_final, round(k_fold * n_final / n_fold_train))


def threshold_for(reference_scores: np.ndarray, rate: float = FAMILIAR_RATE) -> float:
    """The smallest reference score that at least ``rate`` of the reference scores do not
    exceed (the empirical ``rate`` quantile, rounded up to an observed score): inputs scoring
    at most this are familiar, so at least ``rate`` of held-out scans are."""
    scores = np.sort(np.asarray(reference_scores, dtype=np.float64).ravel())
    if scores.size == 0:
        raise ValueError("threshold_for needs at least one reference score")
    if not 0.0 < rate <= 1.0:
        raise ValueError(f"rate must be in (0, 1], got {rate}")
    index = int(np.ceil(rate * scores.size)) - 1
    return float(scores[min(max(index, 0), scores.size - 1)])


def familiarity_of(scores: np.ndarray, reference_scores: np.ndarray) -> np.ndarray:
    """Fraction of ``reference_scores`` strictly greater than each score (less familiar than
    the input), in ``[0, 1]``."""
    reference = np.sort(np.asarray(reference_scores, dtype=np.float64).ravel())
    scores = np.asarray(scores, dtype=np.float64)
    at_most = np.searchsorted(reference, scores, side="right")
    return (reference.size - at_most) / reference.size


@dataclass
class FoldScores:
    """One fold's held-out k-NN distances, the neighbour rank and training-set size behind
    them, and its training set's neighbour scale (:func:`neighbour_scale`)."""

    distances: np.ndarray  # (n_test,) raw k-NN distances of the held-out embeddings
    k: int
    n_train: int
    scale: float = 1.0

    @property
    def scores(self) -> np.ndarray:
        """The held-out scores: distances in units of the fold's neighbour scale."""
        return np.asarray(self.distances, np.float32) / np.float32(self.scale)

    def as_dict(self) -> dict[str, Any]:
        return {
            "distances": np.asarray(self.distances, np.float32),
            "k": self.k,
            "n_train": self.n_train,
            "scale": float(self.scale),
        }

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> FoldScores:
        return cls(
            np.asarray(value["distances"], np.float32),
            int(value["k"]),
            int(value["n_train"]),
            float(value.get("scale", 1.0)),
        )


def fold_scores(
    train_embeddings: np.ndarray, test_embeddings: np.ndarray, k: int = DEFAULT_K
) -> FoldScores:
    """The held-out scores of one cross-validation fold: its test embeddings against its own
    training embeddings (both from that fold's model)."""
    k = fold_k(len(train_embeddings), k)
    distances = knn_distance(train_embeddings, test_embeddings, k)
    scale = neighbour_scale(train_embeddings, k)
    return FoldScores(distances, k, len(train_embeddings), scale)


@dataclass
class Familiarity:
    """The statistics a model needs to say how familiar an input is (stored in its bundle)."""

    train_embeddings: np.ndarray  # (N, D) L2-normalised fused embeddings of its training set
    k: int  # neighbour rank for this training set (scaled from the folds' k)
    reference_scores: np.ndarray  # sorted held-out scores of the folds
    threshold: float  # familiar iff score <= threshold
    modality: str | None = None  # render modality of the training data: texture, texture+shaded
    rate: float = FAMILIAR_RATE
    method: str = METHOD
    scale: float = 1.0  # neighbour_scale of the training embeddings with this k

    @property
    def modalities(self) -> tuple[str, ...]:
        """The render modalities of the training data (``texture+shaded``: both; the training
        embeddings and the held-out yardstick then hold renders of each)."""
        return tuple(self.modality.split("+")) if self.modality else ()

    def scores(self, embeddings: np.ndarray) -> np.ndarray:
        """``(Q,)`` k-NN distances of ``(Q, D)`` embeddings to the training embeddings, in
        units of the training set's neighbour scale."""
        return knn_distance(self.train_embeddings, embeddings, self.k) / np.float32(self.scale)

    def assess(self, embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(scores, familiarity, familiar)`` of ``(Q, D)`` embeddings."""
        scores = self.scores(embeddings)
        return scores, self.familiarity(scores), self.familiar(scores)

    def familiarity(self, scores: np.ndarray) -> np.ndarray:
        return familiarity_of(scores, self.reference_scores)

    def familiar(self, scores: np.ndarray) -> np.ndarray:
        return np.asarray(scores) <= self.threshold

    def as_dict(self) -> dict[str, Any]:
        """Plain data (numpy arrays; the bundle turns them into tensors). The training
        embeddings are float16: half the size, and cosine distances lose ~1e-3 at most."""
        return {
            "method": self.method,
            "train_embeddings": np.asarray(self.train_embeddings, np.float16),
            "k": int(self.k),
            "reference_scores": np.asarray(self.reference_scores, np.float32),
            "threshold": float(self.threshold),
            "rate": float(self.rate),
            "modality": self.modality,
            "scale": float(self.scale),
        }

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> Familiarity:
        """From :meth:`as_dict`'s content (numpy arrays or CPU tensors)."""
        method = value.get("method", METHOD)
        if method != METHOD:
            raise ValueError(f"familiarity method {method!r} is not known (expected {METHOD!r})")
        embeddings = np.asarray(value["train_embeddings"], dtype=np.float32)
        if embeddings.ndim != 2 or len(embeddings) == 0:
            raise ValueError("familiarity train_embeddings must be a non-empty (N, D) array")
        return cls(
            train_embeddings=l2_normalise(embeddings),
            k=int(value["k"]),
            reference_scores=np.sort(np.asarray(value["reference_scores"], np.float32)),
            threshold=float(value["threshold"]),
            modality=value.get("modality"),
            rate=float(value.get("rate", FAMILIAR_RATE)),
            scale=float(value.get("scale", 1.0)),
        )


def build_familiarity(
    train_embeddings: np.ndarray,
    folds: Sequence[FoldScores],
    modality: str | None = None,
    rate: float = FAMILIAR_RATE,
) -> Familiarity:
    """The statistics of a model trained on ``train_embeddings``, with the held-out ``folds``
    of cross-validation as the yardstick. The folds' ``k`` is scaled to this training set's
    size (see the module docstring); folds with different ``k`` (folds of unequal size) use
    their mean."""
    if not folds:
        raise ValueError("build_familiarity needs the held-out scores of at least one fold")
    reference = np.sort(np.concatenate([np.asarray(f.scores, np.float32) for f in folds]))
    k_fold = float(np.mean([f.k for f in folds]))
    n_fold = float(np.mean([f.n_train for f in folds]))
    k = scaled_k(round(k_fold), n_fold, len(train_embeddings))
    # as stored (float16) and loaded: the scale is that of the embeddings predictions use
    stored = l2_normalise(l2_normalise(train_embeddings).astype(np.float16))
    return Familiarity(
        train_embeddings=stored,
        k=k,
        scale=neighbour_scale(stored, k),
        reference_scores=reference,
        threshold=threshold_for(reference, rate),
        modality=modality,
        rate=rate,
    )


# ---- several feature spaces --------------------------------------------------------------------

#: The feature spaces, by the name under which fold results and bundles store them: the fused
#: embedding the classifier reads, and the views' appearance (the image tower's early stage).
EMBEDDING = "embedding"
APPEARANCE = "appearance"
SPACES = (EMBEDDING, APPEARANCE)
#: What an unfamiliar input is said to be unlike, by the space where it is strangest.
UNLIKE = {
    EMBEDDING: "unlike the scans the model was trained on",
    APPEARANCE: "its renders look unlike the model's training renders",
}
JOINT_METHOD = "knn_cosine_joint"


def fold_spaces(recorded: Mapping[str, Any]) -> dict[str, FoldScores]:
    """A fold's recorded held-out scores by feature space. A fold result saved before there
    were several spaces holds the embedding's scores alone, at the top level."""
    if "distances" in recorded:
        return {EMBEDDING: FoldScores.from_dict(recorded)}
    return {space: FoldScores.from_dict(value) for space, value in recorded.items()}


def fold_scores_by_space(
    train: Mapping[str, np.ndarray | None], test: Mapping[str, np.ndarray | None]
) -> dict[str, dict[str, Any]]:
    """One fold's held-out scores in every space both sides have features of (plain data)."""
    return {
        space: fold_scores(train[space], test[space]).as_dict()
        for space in SPACES
        if train.get(space) is not None and test.get(space) is not None
    }


def relative_scores(
    spaces: Mapping[str, Familiarity], scores: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Each space's ``scores`` (``{space: (Q,)}``) in units of that space's threshold."""
    return {
        space: np.asarray(scores[space], np.float64) / max(stats.threshold, 1e-12)
        for space, stats in spaces.items()
    }


def joint_scores(spaces: Mapping[str, Familiarity], scores: Mapping[str, np.ndarray]) -> np.ndarray:
    """``(Q,)`` the largest per-space score of each input in units of its space's threshold."""
    return np.max(np.stack(list(relative_scores(spaces, scores).values())), axis=0)


@dataclass
class JointFamiliarity:
    """How familiar an input is in every feature space a model has statistics for (see the
    module docstring): what a model bundle stores and the predictor asks. Joint scores are
    per-space scores over the space's threshold, the largest of them; higher is stranger."""

    spaces: dict[str, Familiarity]  # per-space statistics; EMBEDDING always
    reference: np.ndarray  # sorted joint scores of the folds' held-out scans
    threshold: float  # familiar iff joint score <= threshold
    modality: str | None = None
    rate: float = FAMILIAR_RATE

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.modality.split("+")) if self.modality else ()

    def relative(self, scores: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Each space's ``scores`` (``{space: (Q,)}``) in units of that space's threshold."""
        return relative_scores(self.spaces, scores)

    def joint(self, scores: Mapping[str, np.ndarray]) -> np.ndarray:
        """``(Q,)`` the joint score: the largest relative per-space score of each input."""
        return joint_scores(self.spaces, scores)

    def familiarity(self, joint: np.ndarray) -> np.ndarray:
        """Fraction of held-out scans whose joint score is higher (less familiar)."""
        return familiarity_of(joint, self.reference)

    def familiar(self, joint: np.ndarray) -> np.ndarray:
        return np.asarray(joint) <= self.threshold

    def strangest(self, scores: Mapping[str, np.ndarray]) -> list[str]:
        """The space in which each input is least familiar (what to tell the user)."""
        relative = self.relative(scores)
        names = list(relative)
        return [names[i] for i in np.argmax(np.stack(list(relative.values())), axis=0)]

    def scores(self, features: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Per-space k-NN scores of inputs with ``(Q, D)`` features in every space."""
        return {space: stats.scores(features[space]) for space, stats in self.spaces.items()}

    def assess(self, features: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """``(familiarity, familiar)`` of inputs with ``(Q, D)`` features in every space."""
        joint = self.joint(self.scores(features))
        return self.familiarity(joint), self.familiar(joint)

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": JOINT_METHOD,
            "spaces": {space: stats.as_dict() for space, stats in self.spaces.items()},
            "reference": np.asarray(self.reference, np.float32),
            "threshold": float(self.threshold),
            "rate": float(self.rate),
            "modality": self.modality,
        }

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> JointFamiliarity:
        """From :meth:`as_dict`'s content, or from a single space's statistics (a bundle
        saved before there were several spaces: judged by its embedding alone, as then)."""
        if value.get("method", METHOD) == METHOD:
            single = Familiarity.from_dict(value)
            held_out = [single.reference_scores[:, None]]
            return joint_familiarity({EMBEDDING: single}, held_out, single.modality, single.rate)
        if value["method"] != JOINT_METHOD:
            raise ValueError(
                f"familiarity method {value['method']!r} is not known"
                f" (expected {METHOD!r} or {JOINT_METHOD!r})"
            )
        spaces = {space: Familiarity.from_dict(v) for space, v in value["spaces"].items()}
        if EMBEDDING not in spaces:
            raise ValueError("familiarity statistics need the embedding space")
        return cls(
            spaces=spaces,
            reference=np.sort(np.asarray(value["reference"], np.float64)),
            threshold=float(value["threshold"]),
            modality=value.get("modality"),
            rate=float(value.get("rate", FAMILIAR_RATE)),
        )


def joint_familiarity(
    spaces: Mapping[str, Familiarity],
    held_out: Sequence[np.ndarray],
    modality: str | None = None,
    rate: float = FAMILIAR_RATE,
) -> JointFamiliarity:
    """The joint statistics of per-space ``spaces``; ``held_out``: per fold, a ``(n, S)``
    array of its held-out scans' scores in the spaces' order (one row per scan)."""
    names = list(spaces)
    joint = np.concatenate(
        [joint_scores(spaces, {s: fold[:, j] for j, s in enumerate(names)}) for fold in held_out]
    )
    return JointFamiliarity(
        spaces=dict(spaces),
        reference=np.sort(joint),
        threshold=threshold_for(joint, rate),
        modality=modality,
        rate=rate,
    )


def build_joint_familiarity(
    train_features: Mapping[str, np.ndarray | None],
    folds: Sequence[Mapping[str, Any]],
    modality: str | None = None,
    rate: float = FAMILIAR_RATE,
) -> JointFamiliarity:
    """The statistics of a model trained on ``train_features`` (``{space: (N, D)}``), with the
    held-out scores the cross-validation folds recorded (``FOLD_FAMILIARITY`` values) as the
    yardstick. A space is used when the training set and every fold have it."""
    if not folds:
        raise ValueError("build_joint_familiarity needs the held-out scores of at least one fold")
    by_fold = [fold_spaces(f) for f in folds]
    names = [
        space
        for space in SPACES
        if train_features.get(space) is not None and all(space in f for f in by_fold)
    ]
    if EMBEDDING not in names:
        raise ValueError("familiarity needs the embedding space's features and fold scores")
    spaces = {
        space: build_familiarity(train_features[space], [f[space] for f in by_fold], None, rate)
        for space in names
    }
    held_out = [np.stack([f[space].scores for space in names], axis=1) for f in by_fold]
    return joint_familiarity(spaces, held_out, modality, rate)


# ---- baselines the k-NN score was compared with ---------------------------------------------------


def mahalanobis_scores(
    train_embeddings: np.ndarray,
    train_labels: np.ndarray,
    queries: np.ndarray,
    shrinkage: float = 0.5,
) -> np.ndarray:
    """Minimum over classes of the Mahalanobis distance to the class mean (Lee et al. 2018),
    with one covariance shared by the classes and shrunk towards its mean variance:
    ``(1 - s) S + s tr(S)/D I`` (with fewer samples than dimensions ``S`` is singular)."""
    x = l2_normalise(train_embeddings).astype(np.float64)
    q = l2_normalise(np.atleast_2d(queries)).astype(np.float64)
    labels = np.asarray(train_labels)
    classes = np.unique(labels)
    means = np.stack([x[labels == c].mean(axis=0) for c in classes])
    centred = x - means[np.searchsorted(classes, labels)]
    cov = centred.T @ centred / max(len(x) - len(classes), 1)
    dim = cov.shape[0]
    cov = (1 - shrinkage) * cov + shrinkage * np.trace(cov) / dim * np.eye(dim)
    precision = np.linalg.inv(cov)
    diff = q[:, None, :] - means[None]  # (Q, C, D)
    distance = np.einsum("qcd,de,qce->qc", diff, precision, diff)
    return distance.min(axis=1)


def max_softmax_scores(probabilities: np.ndarray) -> np.ndarray:
    """``1 -`` the top class probability (Hendrycks & Gimpel 2017): higher is less familiar."""
    return 1.0 - np.asarray(probabilities, dtype=np.float64).max(axis=-1)


def auroc(in_scores: np.ndarray, out_scores: np.ndarray) -> float:
    """Probability that an out-of-distribution input scores higher than an in-distribution
    one (ties count half): 0.5 is no separation, 1.0 perfect."""
    a = np.asarray(in_scores, np.float64).ravel()
    b = np.asarray(out_scores, np.float64).ravel()
    greater = (b[:, None] > a[None, :]).mean()
    ties = (b[:, None] == a[None, :]).mean()
    return float(greater + 0.5 * ties)
