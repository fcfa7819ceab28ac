"""How well the familiarity flag works on subjects no model of the run has seen.

Nested hold-out on a render set (the built-in one after ``kedro run --pipeline=render``): the
subjects of one outer fold are "new"; on the others AffectVLM is cross-validated (the folds'
held-out scores are the yardstick) and fitted on all of them (the final model, whose bundle
statistics come from :func:`facevlm.experiments.cross_validation.fit_final`), exactly as the
training pipeline does. The new subjects are then scored by the final model:

- familiar fraction of their textured renders (the target is the chosen rate, 0.99); beside it
  what the raw k-NN distance (no neighbour scale) would give, with k scaled to the final
  training set and with the folds' k unscaled;
- familiar fraction of clearly different inputs made from them: shaded renders (the score
  alone, without the rule that marks every other-modality render unfamiliar), random-noise
  views, heavy central crops;
- AUROC (new textured vs. each kind) of the k-NN score and of two baselines: a Mahalanobis
  distance to the class means with one shrunk covariance, and 1 - max softmax probability.

Prints a table; reproduce with::

    PYTHONPATH=src python benchmarks/familiarity.py --renders data/04_feature/renders --epochs 8

Measured 2026-11-24 (built-in set, 384 samples; random-init facevlm-tiny, 8 epochs: held-out
accuracy 0.20, chance level, so weak evidence; 96 new subjects' samples per row):

    input                   familiar  raw, k scaled  raw, k unscaled  AUROC knn  mahalanobis  msp
    new subjects, textured      1.00          0.792            0.896      0.500        0.500  0.500
    new subjects, shaded        1.00          0.000            0.000      0.982        0.998  0.000
    random noise                0.01          0.000            0.000      1.000        1.000  0.054
    central 30% crop            0.00          0.000            0.000      1.000        1.000  0.566

The shaded renders score further than the textured ones (AUROC 0.98) but under the threshold:
the predictor marks them unfamiliar by rule (another modality than training's), not by score.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image


def load_renders(folder: Path):
    """The newest version of a versioned render set (the catalog's ``renders``)."""
    from kedro.io import Version

    from facevlm.datasets.render_set import RenderSetDataset

    return RenderSetDataset(filepath=str(folder), version=Version(None, None)).load(), folder


def shaded_renders(samples: pd.DataFrame, settings: dict, size: int) -> np.ndarray:
    """The same scans rendered shaded (no texture), at the model's input size."""
    from facevlm.experiments.experiment_data import resize_views
    from facevlm.render.renderer import MultiviewRenderer, RenderSettings
    from facevlm.scans.formats import read_mesh

    params = {k: v for k, v in settings.items() if k in RenderSettings.__dataclass_fields__}
    render_settings = RenderSettings.from_params({**params, "modality": "shaded"})
    renderer = MultiviewRenderer(render_settings)
    try:
        views = np.stack([renderer.render(read_mesh(list(p)[0])) for p in samples["frame_paths"]])
    finally:
        renderer.close()
    return np.asarray(resize_views(views, size))


def crops(views: np.ndarray, fraction: float = 0.3) -> np.ndarray:
    side = views.shape[2]
    cut = int(side * fraction)
    start = (side - cut) // 2
    out = np.empty_like(views)
    for i, sample in enumerate(views):
        for v, view in enumerate(sample):
            patch = Image.fromarray(view[start : start + cut, start : start + cut])
            out[i, v] = np.asarray(patch.resize((side, side)))
    return out


def main() -> None:
    from facevlm.evaluation import familiarity as fam
    from facevlm.experiments import affectvlm
    from facevlm.experiments.common import embed_views
    from facevlm.experiments.cross_validation import cross_validate, fit_final
    from facevlm.experiments.experiment_data import ExperimentData, resize_views
    from facevlm.models.classifier import PromptEnsembleClassifier
    from facevlm.prompts.augmented import PromptConfig, build_prompt_bank, class_prompts

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--renders", type=Path, default=Path("data/04_feature/renders"))
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--inner-folds", type=int, default=3)
    parser.add_argument("--outer-folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--pretrained",
        default=None,
        help="backbone weights to start from (the pretrain pipeline's file); default: random",
    )
    args = parser.parse_args()

    classes = ["anger", "disgust", "fear", "happiness", "sadness", "surprise"]
    renders, path = load_renders(args.renders)
    samples = renders.samples
    keep = samples["expression"].isin(classes).to_numpy()
    samples = samples[keep].reset_index(drop=True)
    size = 64  # facevlm-tiny's input
    views = np.asarray(resize_views(renders.subset(keep).view_array(), size))
    subjects = sorted(samples["subject"].unique())
    outer = samples["subject"].map(lambda s: subjects.index(s) % args.outer_folds).to_numpy()
    new, pool = outer == 0, outer != 0
    pool_samples = samples[pool].reset_index(drop=True)
    pool_subjects = sorted(pool_samples["subject"].unique())
    pool_samples["fold"] = pool_samples["subject"].map(
        lambda s: pool_subjects.index(s) % args.inner_folds
    )
    labels = samples["expression"].map(classes.index).to_numpy(np.int64)
    data = ExperimentData(views[pool], labels[pool], pool_samples, classes)
    bank = build_prompt_bank(pool_samples, classes, PromptConfig())
    cfg = affectvlm.AffectVLMConfig.from_params(
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
    print(f"renders {path}: {len(samples)} samples; new subjects {new.sum()}, pool {pool.sum()}")
    start = time.perf_counter()
    result, _ = cross_validate(affectvlm.RECIPE, data, bank, cfg)
    folds = result.familiarity_folds()
    final = fit_final(affectvlm.RECIPE, data, bank, cfg, folds, modality="texture")
    print(
        f"cross-validation accuracy {result.final_metrics()['test/accuracy_mean']:.3f}; "
        f"trained in {time.perf_counter() - start:.0f} s"
    )
    # the k-NN score of the fused embedding alone, the space these baselines compete in
    stats = fam.JointFamiliarity.from_dict(final.extra["familiarity"]).spaces[fam.EMBEDDING]
    model, tokenizer = final.fitted.model, final.fitted.tokenizer
    classifier = PromptEnsembleClassifier.from_prompts(
        model, tokenizer, class_prompts(bank), classes
    )

    def embed(x: np.ndarray):
        return embed_views(model, x, 128, "cpu").fused

    inputs = {
        "new subjects, textured": views[new],
        "new subjects, shaded": shaded_renders(samples[new], renders.settings, size),
        "random noise": np.random.default_rng(0).integers(0, 256, views[new].shape, dtype=np.uint8),
        "central 30% crop": crops(views[new]),
    }
    train_embeddings = stats.train_embeddings
    embedding_folds = [fam.fold_spaces(f)[fam.EMBEDDING] for f in folds]
    k_fold = embedding_folds[0].k
    # the raw k-NN distance (no neighbour scale) as the alternative the scale was chosen over
    raw_threshold = fam.threshold_for(np.concatenate([f.distances for f in embedding_folds]))
    rows, reference = [], {}
    for name, x in inputs.items():
        fused = embed(x)
        e = fused.numpy()
        knn = stats.scores(e)
        maha = fam.mahalanobis_scores(train_embeddings, labels[pool], e)
        msp = fam.max_softmax_scores(classifier.logits(fused).softmax(-1).detach().numpy())
        scores = {"knn": knn, "mahalanobis": maha, "msp": msp}
        if not reference:
            reference = scores
        raw = {k: fam.knn_distance(train_embeddings, e, k) for k in (stats.k, k_fold)}
        rows.append(
            {
                "input": name,
                "n": len(e),
                "familiar": stats.familiar(knn).mean(),
                "raw, k scaled": (raw[stats.k] <= raw_threshold).mean(),
                "raw, k unscaled": (raw[k_fold] <= raw_threshold).mean(),
                **{f"AUROC {m}": fam.auroc(reference[m], s) for m, s in scores.items()},
            }
        )
    n_final = len(train_embeddings)
    print(f"k: folds {k_fold} of ~{embedding_folds[0].n_train}, final {stats.k} of {n_final}")
    fold_scales = ", ".join(f"{f.scale:.4f}" for f in embedding_folds)
    print(f"neighbour scale: folds {fold_scales}; final {stats.scale:.4f}")
    print(pd.DataFrame(rows).round(3).to_string(index=False))


if __name__ == "__main__":
    main()
