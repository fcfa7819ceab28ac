"""One model trained on textured and shaded renders of every scan (``render.modality:
texture+shaded``), on the toy renders of ``toy_model_run`` in both modalities.

Specification: the folds stay subject-independent across modalities (a scan's textured and
shaded rows are in the same fold); every held-out scan is scored in each modality, and the run
logs each modality's accuracy beside today's names, which cover all held-out rows; the saved
model records both modalities, and its familiarity statistics hold training embeddings of
each; training shows each scan once per epoch, in a modality drawn at every step.
"""

from __future__ import annotations

import mlflow
import numpy as np
import pytest
from toy_model_run import (
    N_SUBJECTS,
    index_and_renders,
    mixed_modality_renders,
    model_params,
    run_model_pipeline,
)

from facevlm.evaluation.familiarity import SPACES, JointFamiliarity
from facevlm.experiments.experiment_data import experiment_data
from facevlm.models.multiview_data import MultiviewDataset, ViewChoices
from facevlm.scans.labels import BASIC_EMOTIONS
from facevlm.scans.protocols import make_folds


@pytest.mark.slow
@pytest.mark.parametrize(
    ("model", "prompts"), [("affectvlm", "augmented"), ("smile", "descriptive")]
)
def test_a_model_trained_on_both_modalities_scores_and_logs_each(model, prompts, mlflow_tracking):
    params = model_params(prompts)
    params["experiment"]["data"]["max_folds"] = None
    params["experiment"]["train"]["epochs"] = 2
    catalog = run_model_pipeline(model, params, "training_runs", mixed_modalities=True)

    result = catalog.load(f"{model}.cv_results")
    tested = {}
    for fold in result.folds:
        pairs = list(zip(fold.test_sample_ids, fold.test_modalities, strict=True))
        assert len(set(pairs)) == len(pairs)
        ids = set(fold.test_sample_ids)
        assert sorted(pairs) == sorted((i, m) for i in ids for m in ("texture", "shaded"))
        for sample_id in ids:
            assert sample_id not in tested, "a scan held out in two folds"
            tested[sample_id] = fold.fold
    assert len(tested) == N_SUBJECTS * len(BASIC_EMOTIONS), "every scan held out once"

    metrics = catalog.load(f"{model}.summary")["metrics"]
    names = ["test/"] + (["test/linear_probe/", "test/knn/"] if model == "smile" else [])
    for prefix in names:
        texture = metrics[f"{prefix}accuracy_texture_mean"]
        shaded = metrics[f"{prefix}accuracy_shaded_mean"]
        # as many held-out rows of each modality per fold: the overall figure is their mean
        assert metrics[f"{prefix}accuracy_mean"] == pytest.approx((texture + shaded) / 2)
        assert f"{prefix}macro_f1_shaded_std" in metrics
    (run,) = mlflow.search_runs(search_all_experiments=True, output_format="list")
    assert run.data.metrics["test/accuracy_shaded_mean"] == pytest.approx(
        metrics["test/accuracy_shaded_mean"]
    )
    assert run.data.params["render.modality"] == "texture+shaded"
    predictions = result.predictions_frame()
    assert set(predictions["modality"]) == {"texture", "shaded"}

    bundle = catalog.load(f"{model}.model")
    assert bundle.info["render"]["modality"] == "texture+shaded"
    statistics = JointFamiliarity.from_dict(bundle.familiarity)
    assert statistics.modalities == ("texture", "shaded")
    assert tuple(statistics.spaces) == SPACES
    n_scans = N_SUBJECTS * len(BASIC_EMOTIONS)
    for space, stats in statistics.spaces.items():
        assert len(stats.train_embeddings) == 2 * n_scans, f"{space} features of each"
    assert statistics.familiar(statistics.reference).mean() >= statistics.rate


def test_training_draws_one_modality_per_scan_and_step():
    """The training set has one entry per scan (as many steps as one modality); each access
    shows all views of a scan in one modality, both come up, and a seed repeats the draws."""
    index, renders = index_and_renders()
    mixed = mixed_modality_renders(renders)
    folds = make_folds(index, {"name": "subject_kfold", "k": 2, "seed": 0, "subset": "all"})
    data = experiment_data(mixed, folds, list(BASIC_EMOTIONS), 64)
    assert data.modalities == ["texture", "shaded"]
    by_scan = data.samples.groupby("sample_id")["fold"].nunique()
    assert (by_scan == 1).all(), "a scan's renders in two folds"

    train_rows, _ = data.split(0)
    views, rows = data.training_views(train_rows)
    assert isinstance(views, ViewChoices) and len(views) == len(rows) == len(train_rows) // 2
    assert (data.samples["modality"].iloc[rows] == "texture").all()
    texture, shaded = (np.asarray(a) for a in views.alternatives)
    assert (shaded[..., 0] == shaded[..., 2]).all() and not (texture == shaded).all()

    dataset = MultiviewDataset(views, data.labels[rows], image_size=64)

    def drawn(seed: int) -> list[str]:
        import torch

        torch.manual_seed(seed)
        batch = dataset.__getitems__(list(range(len(dataset))))
        out = []
        for k, item in enumerate(batch):
            image = (item.views.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
            if (image == texture[k]).all():
                out.append("texture")
            elif (image == shaded[k]).all():
                out.append("shaded")
            else:
                raise AssertionError(f"item {k} mixes modalities")
        return out

    first = drawn(0)
    assert set(first) == {"texture", "shaded"}
    assert drawn(0) == first and drawn(1) != first
