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
subjects with a study script, ``benchmarks/familiarity.py``, now in the git history: 79%
familiar with raw distances, 100% with the scale, against the 99% aimed at). Each model's
distances are therefore expressed in units of its own training set's typical neighbour
distance, as the local outlier factor does.

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

**Three feature spaces** (:class:`JointFamiliarity`, what a model bundle stores): the fused
embedding, the *appearance* of the views, an early stage of the image tower on a coarse
grid (:meth:`facevlm.models.multiview_clip.MultiviewCLIP.encode_appearance`), and their *edges*,
the views drawn as outlines and creases with no model involved
(:func:`facevlm.models.multiview_clip.view_edges`). Training pulls every
face with the same expression towards one embedding, so in the fused embedding a face of a face
model the network never saw lands among the training faces of whatever expression it reads,
familiar and confidently wrong (on a face source held out of training; figures in
docs/what-we-tried/calibration.md). Early in the tower, on a coarse grid of the image,
the features still describe what the views look like and where, and faces of another source
stand apart there, unless the tower has learnt to see them alike (a model trained on whole
heads and narrow crops of one face model sees the other's face masks as its narrow crops); the
edges, which no training shapes, still tell them apart by the eyes', mouth's and outline's
shapes. Each space has its own k-NN statistics; an input's
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

The package, one module per part: the k-NN score (:mod:`.knn`), the held-out yardstick
(:mod:`.yardstick`), one space's statistics (:mod:`.single_space`), several spaces combined
(:mod:`.joint`) and the baselines (:mod:`.baselines`); every public name is re-exported here.
"""

from facevlm.evaluation.familiarity.baselines import (
    auroc,
    mahalanobis_scores,
    max_softmax_scores,
)
from facevlm.evaluation.familiarity.joint import (
    APPEARANCE,
    EDGES,
    EMBEDDING,
    JOINT_METHOD,
    SPACES,
    UNLIKE,
    JointFamiliarity,
    build_joint_familiarity,
    fold_scores_by_space,
    fold_spaces,
    joint_familiarity,
    joint_scores,
    relative_scores,
)
from facevlm.evaluation.familiarity.knn import (
    DEFAULT_K,
    fold_k,
    knn_distance,
    l2_normalise,
    neighbour_scale,
    scaled_k,
)
from facevlm.evaluation.familiarity.single_space import (
    METHOD,
    Familiarity,
    FoldScores,
    build_familiarity,
    fold_scores,
)
from facevlm.evaluation.familiarity.yardstick import (
    FAMILIAR_RATE,
    familiarity_of,
    threshold_for,
)

__all__ = [
    "APPEARANCE",
    "DEFAULT_K",
    "EDGES",
    "EMBEDDING",
    "FAMILIAR_RATE",
    "Familiarity",
    "FoldScores",
    "JOINT_METHOD",
    "JointFamiliarity",
    "METHOD",
    "SPACES",
    "UNLIKE",
    "auroc",
    "build_familiarity",
    "build_joint_familiarity",
    "familiarity_of",
    "fold_k",
    "fold_scores",
    "fold_scores_by_space",
    "fold_spaces",
    "joint_familiarity",
    "joint_scores",
    "knn_distance",
    "l2_normalise",
    "mahalanobis_scores",
    "max_softmax_scores",
    "neighbour_scale",
    "relative_scores",
    "scaled_k",
    "threshold_for",
]
