"""Does familiarity predict being right? Candidate scores ranked by the AUROC of right answers over wrong.

A familiarity flag is worth having when it separates the answers the model gets right from those
it gets wrong on faces unlike its training faces; separating training data from other data is
not enough (a face of another face model can be read confidently and wrongly). This script
trains AffectVLM as the training pipeline does, on part of a render set, and scores the rest:

- ``--held-out-source SOURCE`` (a value of the render set's ``face_source`` column, e.g. ``ict``):
  every sample of that face source is new, the model is trained on the others: faces of a source
  held out of training;
- otherwise the subjects of one outer fold are new (in-distribution subjects never seen).

On the training part AffectVLM is cross-validated (``--inner-folds``; the folds' held-out
predictions give the temperature, the conformal scores and the familiarity yardstick) and fitted
on all of it (the final model, with its bundle's familiarity statistics). The new samples are
then predicted by the final model, and each candidate score is judged by its **AUROC against
correctness**: the probability that a right answer scores as more familiar than a wrong one
(0.5 is a coin). Candidates, each "higher is more familiar":

- ``top probability`` and ``margin`` (top minus second calibrated probability): the baselines;
- ``set size``: minus the size of the 90% set of answers (:mod:`facevlm.evaluation.conformal`);
- ``familiarity (joint)`` and ``k-NN <space>``: minus the bundle's familiarity scores, joint and
  per space (fused embedding, appearance, edges);
- ``frozen backbone k-NN``: minus the k-NN distance, in the embedding of the model *before*
  fine-tuning (``--pretrained`` weights, or the random start), from a new sample to the
  training samples: a space training has not pulled towards the expressions;
- ``fold agreement`` and ``fold probability``: the fraction of the cross-validation fold models
  (independently trained, already paid for) whose answer is the final model's, and their mean
  probability of that answer.

The same table gives the in-distribution figure: the folds' held-out predictions (top
probability, margin, set size; each fold's set cut at the threshold of the other folds'). Under
the table, the rule the predictor applies ("I can't tell" when unfamiliar or the set holds more
than three expressions) on the new samples: answered fraction, accuracy of the answers given,
and how often the 90% set holds the truth.

Reproduce (after ``kedro run --pipeline=render``, which writes the built-in render set)::

    PYTHONPATH=src python benchmarks/familiarity.py --renders data/04_feature/renders \\
        --epochs 8 [--held-out-source ict] [--pretrained data/06_models/pretrained.pt]
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np
import pandas as pd

CLASSES = ["anger", "disgust", "fear", "happiness", "sadness", "surprise"]


def load_renders(folder: Path):
    """The newest version of a versioned render set (the catalog's ``renders``)."""
    from kedro.io import Version

    from facevlm.datasets.render_set import RenderSetDataset

    return RenderSetDataset(filepath=str(folder), version=Version(None, None)).load()


def right_over_wrong(score: np.ndarray, right: np.ndarray) -> float:
    """AUROC of ``score`` (higher: more familiar) ranking right answers over wrong ones; NaN
    when all answers are right or all wrong."""
    from facevlm.evaluation.familiarity import auroc

    if right.all() or not right.any():
        return float("nan")
    return auroc(score[~right], score[right])


def margin(p: np.ndarray) -> np.ndarray:
    top2 = np.sort(p, axis=1)[:, -2:]
    return top2[:, 1] - top2[:, 0]


def split(samples: pd.DataFrame, held_out_source: str | None, outer_folds: int) -> np.ndarray:
    """Boolean mask of the new samples."""
    if held_out_source:
        if "face_source" not in samples.columns:
            raise SystemExit("--held-out-source: this render set records no face_source column")
        new = (samples["face_source"] == held_out_source).to_numpy()
        if not new.any() or new.all():
            found = sorted(samples["face_source"].dropna().unique())
            raise SystemExit(f"--held-out-source {held_out_source!r}: the set has {found}")
        return new
    subjects = sorted(samples["subject"].unique())
    return samples["subject"].map(lambda s: subjects.index(s) % outer_folds).to_numpy() == 0


def config(args: argparse.Namespace):
    from facevlm.experiments import affectvlm

    return affectvlm.AffectVLMConfig.from_params(
        {
            "model": {
                "backbone": {"name": "facevlm-tiny", "pretrained": args.pretrained},
                "n_views": 3,
            },
            "train": {
                "epochs": args.epochs,
                "batch_size": 16,
                "lr_backbone": 3e-4,
                "lr_head": 1e-2,
                "seed": args.seed,
            },
            "execution": {"progress": False, "device": "cpu"},
        }
    )


def probabilities(model, tokenizer, bank, views, temperature: float = 1.0):
    """``(N, C)`` prompt-classifier probabilities of ``views`` over ``temperature``, and the
    embedded samples (fused embedding, appearance, edges)."""
    import torch

    from facevlm.evaluation import calibration
    from facevlm.experiments.common import embed_views
    from facevlm.models.classifier import PromptEnsembleClassifier
    from facevlm.prompts.augmented import class_prompts

    embedded = embed_views(model, views, 128, "cpu", appearance=True)
    with torch.inference_mode():
        classifier = PromptEnsembleClassifier.from_prompts(
            model, tokenizer, class_prompts(bank), CLASSES
        )
        logits = classifier.logits(embedded.fused).numpy()
    return calibration.softmax(logits, temperature), embedded


def main() -> None:
    from facevlm.evaluation import conformal
    from facevlm.evaluation import familiarity as fam
    from facevlm.experiments import affectvlm
    from facevlm.experiments.common import build_model, embed_views, familiarity_features
    from facevlm.experiments.cross_validation import cross_validate, fit_final
    from facevlm.experiments.experiment_data import ExperimentData, resize_views
    from facevlm.prompts.augmented import PromptConfig, build_prompt_bank

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--renders", type=Path, default=Path("data/04_feature/renders"))
    parser.add_argument("--held-out-source", default=None)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--inner-folds", type=int, default=3)
    parser.add_argument("--outer-folds", type=int, default=5)
    parser.add_argument("--coverage", type=float, default=conformal.DEFAULT_COVERAGE)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--pretrained",
        default=None,
        help="backbone weights to start from (the pretrain pipeline's file); default: random",
    )
    args = parser.parse_args()

    renders = load_renders(args.renders)
    keep = renders.samples["expression"].isin(CLASSES).to_numpy()
    samples = renders.samples[keep].reset_index(drop=True)
    views = np.asarray(resize_views(renders.subset(keep).view_array(), 64))  # facevlm-tiny
    labels = samples["expression"].map(CLASSES.index).to_numpy(np.int64)
    new = split(samples, args.held_out_source, args.outer_folds)
    pool_samples = samples[~new].reset_index(drop=True)
    pool_subjects = sorted(pool_samples["subject"].unique())
    pool_samples["fold"] = pool_samples["subject"].map(
        lambda s: pool_subjects.index(s) % args.inner_folds
    )
    data = ExperimentData(views[~new], labels[~new], pool_samples, CLASSES)
    bank = build_prompt_bank(pool_samples, CLASSES, PromptConfig())
    cfg = config(args)
    what = f"face source {args.held_out_source!r}" if args.held_out_source else "new subjects"
    print(f"{args.renders}: {len(samples)} samples; new ({what}) {new.sum()}, train {(~new).sum()}")

    start = time.perf_counter()
    fold_models = []

    def fit_and_keep(*a, **k):
        fitted = affectvlm.RECIPE.fit(*a, **k)
        fold_models.append(fitted)
        return fitted

    result, _ = cross_validate(
        dataclasses.replace(affectvlm.RECIPE, fit=fit_and_keep), data, bank, cfg
    )
    modality = renders.settings.get("modality", "texture")  # what the familiarity rule reads
    final = fit_final(affectvlm.RECIPE, data, bank, cfg, result.familiarity_folds(), modality)
    print(
        f"trained {len(fold_models)} fold models and the final fit in {time.perf_counter() - start:.0f} s"
    )

    record = result.calibration_record()
    temperature = record["temperature"]["prompt_classifier"]
    scores = conformal.from_calibration(record)
    cutoff = scores.threshold("prompt_classifier", args.coverage)
    statistics = fam.JointFamiliarity.from_dict(final.extra["familiarity"])
    truth = labels[new]

    p, embedded = probabilities(
        final.fitted.model, final.fitted.tokenizer, bank, views[new], temperature
    )
    answer = p.argmax(axis=1)
    right = answer == truth
    sets = conformal.prediction_sets(p, cutoff)
    per_space = statistics.scores(familiarity_features(embedded))
    joint = statistics.joint(per_space)
    fold_p = np.stack(
        [probabilities(f.model, f.tokenizer, bank, views[new], temperature)[0] for f in fold_models]
    )
    start_model, _ = build_model(cfg.model, cfg.train.seed)  # the weights training starts from
    frozen_new = embed_views(start_model, views[new], 128, "cpu").fused.numpy()
    frozen_train = embed_views(start_model, views[~new], 128, "cpu").fused.numpy()
    k = statistics.spaces[fam.EMBEDDING].k
    candidates = {
        "top probability": p.max(axis=1),
        "margin": margin(p),
        "set size": -sets.sum(axis=1).astype(float),
        "familiarity (joint)": -joint,
        **{f"k-NN {space}": -s for space, s in per_space.items()},
        "frozen backbone k-NN": -fam.knn_distance(frozen_train, frozen_new, k),
        "fold agreement": (fold_p.argmax(axis=2) == answer[None]).mean(axis=0),
        "fold probability": fold_p[:, np.arange(len(answer)), answer].mean(axis=0),
    }

    held_p = np.concatenate(result.calibrated_probabilities())
    held_truth = np.concatenate([f.y_true for f in result.folds])
    held_right = held_p.argmax(axis=1) == held_truth
    held_sets = conformal.cross_fold_sets(
        result.calibrated_probabilities(), [f.y_true for f in result.folds], args.coverage
    )
    held = {
        "top probability": held_p.max(axis=1),
        "margin": margin(held_p),
        "set size": -held_sets.sum(axis=1).astype(float),
    }
    rows = [
        {
            "candidate": name,
            f"AUROC new ({right.mean():.2f} right of {len(right)})": right_over_wrong(s, right),
            f"AUROC held-out folds ({held_right.mean():.2f} of {len(held_right)})": (
                right_over_wrong(held[name], held_right) if name in held else float("nan")
            ),
        }
        for name, s in candidates.items()
    ]
    print(pd.DataFrame(rows).round(3).to_string(index=False))

    familiar = statistics.familiar(joint)
    sets[~familiar] = True  # the predictor's rule: no promise for an unfamiliar input
    answered = familiar & (sets.sum(axis=1) <= conformal.MAX_ANSWERS)
    covered = sets[np.arange(len(truth)), truth]
    held_answered = held_sets.sum(axis=1) <= conformal.MAX_ANSWERS
    held_covered = held_sets[np.arange(len(held_truth)), held_truth]
    for name, ok, given, hold, size in (
        ("new", right, answered, covered, sets.sum(axis=1)),
        ("held-out folds", held_right, held_answered, held_covered, held_sets.sum(axis=1)),
    ):
        accuracy = ok[given].mean() if given.any() else float("nan")
        print(
            f"{name}: answered {given.mean():.2f} ({given.sum()} of {len(given)}), right when "
            f"answered {accuracy:.2f}, {args.coverage:.0%} sets hold the truth {hold.mean():.2f}, "
            f"mean set size {size.mean():.2f}"
        )
    print(
        f"new: familiar {familiar.mean():.2f}; temperature {temperature:.2f}; set cut-off {cutoff:.3f}"
    )


if __name__ == "__main__":
    main()
