"""The training set of an experiment: renders joined with the protocol's folds, resized once."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from facevlm.datasets import RenderSet
from facevlm.experiments.experiment_data import ExperimentData, experiment_data, resize_views
from facevlm.scans.labels import BASIC_EMOTIONS
from facevlm.scans.protocols import TRAIN_ONLY

CLASSES = list(BASIC_EMOTIONS)
N_VIEWS = 3
RENDER_SIZE = 32  # smaller than the model's 64 px, so experiment_data has to resize


# ---- ExperimentData.split -----------------------------------------------------------------------


def test_every_fold_splits_the_subjects_into_disjoint_train_and_test_sets(tiny_data):
    assert len(tiny_data.folds) >= 2
    subjects = tiny_data.samples["subject"].to_numpy()
    tested = []
    for fold in tiny_data.folds:
        train_rows, test_rows = tiny_data.split(fold)
        assert len(test_rows) > 0
        assert set(subjects[train_rows]).isdisjoint(subjects[test_rows])
        assert sorted([*train_rows, *test_rows]) == list(range(len(subjects)))
        tested.extend(test_rows)
    assert sorted(tested) == list(range(len(subjects))), "each sample is tested exactly once"


def test_train_only_rows_are_never_a_fold_and_always_in_the_training_split(tiny_data):
    samples = tiny_data.samples.copy()
    extra = samples["subject"] == "S00"
    samples.loc[extra, "fold"] = TRAIN_ONLY  # e.g. the training dataset of a cross-dataset run
    data = ExperimentData(tiny_data.views, tiny_data.labels, samples, tiny_data.classes)

    assert TRAIN_ONLY not in data.folds
    for fold in data.folds:
        train_rows, test_rows = data.split(fold)
        assert set(np.flatnonzero(extra)) <= set(train_rows)
        assert not set(np.flatnonzero(extra)) & set(test_rows)


# ---- resize_views -------------------------------------------------------------------------------


def test_resize_views_gives_uint8_views_of_the_model_size_and_keeps_the_picture():
    views = np.zeros((2, N_VIEWS, 128, 128, 3), dtype=np.uint8)
    views[..., :64, :] = (200, 40, 10)  # left half one colour, right half another
    views[..., 64:, :] = (10, 90, 250)

    resized = resize_views(views, 64)

    assert resized.shape == (2, N_VIEWS, 64, 64, 3)
    assert resized.dtype == np.uint8
    np.testing.assert_array_equal(
        resized[..., 2:28, :], np.broadcast_to([200, 40, 10], (2, 3, 64, 26, 3))
    )
    np.testing.assert_array_equal(
        resized[..., 36:, :], np.broadcast_to([10, 90, 250], (2, 3, 64, 28, 3))
    )


def test_resize_views_leaves_views_of_the_right_size_untouched(tiny_data):
    np.testing.assert_array_equal(resize_views(tiny_data.views, 64), tiny_data.views)


# ---- experiment_data: renders x fold table ------------------------------------------------------


@pytest.fixture
def render_and_folds(draw_class_views):
    """A RenderSet in memory (32 px) and a fold table, with one sample of a class outside the
    experiment (neutral), one whose scan the protocol did not select, and one 4D sample whose
    first frame is what the table lists."""
    rng = np.random.default_rng(0)
    records = []
    for s in range(2):
        for name in CLASSES[:3]:
            records.append((f"S{s}", name, [f"bu3dfe/S{s}/{name}.wrl"]))
    records.append(("S0", "neutral", ["bu3dfe/S0/neutral.wrl"]))  # class not in the experiment
    records.append(("S1", "surprise", ["bu3dfe/S1/surprise_unselected.wrl"]))  # not in the table
    records.append(("S1", "happiness", ["bu4dfe/S1/happy/000.obj", "bu4dfe/S1/happy/001.obj"]))
    samples = pd.DataFrame(
        {
            "sample_id": [f"{subj}/{name}/{i}" for i, (subj, name, _) in enumerate(records)],
            "subject": [r[0] for r in records],
            "gender": ["F" if r[0] == "S0" else "M" for r in records],
            "expression": [r[1] for r in records],
            "frame_paths": [r[2] for r in records],
        }
    )
    labels_of = {name: CLASSES.index(name) if name in CLASSES else 0 for name in samples.expression}
    images = np.stack(
        [draw_class_views(labels_of[name], rng, size=RENDER_SIZE) for name in samples.expression]
    )
    render_set = RenderSet(samples, ["yaw+0", "yaw+20", "yaw-20"], {"size": RENDER_SIZE}, images)
    listed = [paths[0] for paths in samples.frame_paths if "unselected" not in paths[0]]
    fold_table = pd.DataFrame(
        {
            "path": listed,
            "subject": [p.split("/")[1] for p in listed],
            "fold": [int(p.split("/")[1][1]) for p in listed],  # subject S0 -> fold 0, S1 -> 1
        }
    )
    return render_set, fold_table


def test_experiment_data_keeps_listed_classes_with_a_fold_joined_by_first_frame(render_and_folds):
    render_set, fold_table = render_and_folds
    samples = render_set.samples

    data = experiment_data(render_set, fold_table, CLASSES, image_size=64)

    expected = samples[
        samples.expression.isin(CLASSES)
        & ~samples.frame_paths.map(lambda paths: "unselected" in paths[0])
    ]
    assert list(data.samples["sample_id"]) == list(expected["sample_id"])  # render order kept
    assert "neutral" not in set(data.samples["expression"])
    assert data.classes == CLASSES
    np.testing.assert_array_equal(
        data.labels, [CLASSES.index(e) for e in data.samples["expression"]]
    )
    assert data.labels.dtype == np.int64
    fold_of_path = dict(zip(fold_table.path, fold_table.fold, strict=True))
    expected_folds = [fold_of_path[paths[0]] for paths in data.samples["frame_paths"]]
    assert list(data.samples["fold"]) == expected_folds
    assert list(data.samples["gender"]) == list(expected["gender"])  # metadata travels along
    four_d = data.samples["frame_paths"].map(len) == 2
    assert four_d.sum() == 1, "the 4D sample is matched through its first frame"


def test_experiment_data_resizes_every_view_once_to_the_model_size(render_and_folds):
    render_set, fold_table = render_and_folds
    data = experiment_data(render_set, fold_table, CLASSES, image_size=64)

    assert data.views.shape == (len(data.samples), N_VIEWS, 64, 64, 3)
    assert data.views.dtype == np.uint8
    rows = [render_set.samples.sample_id.tolist().index(i) for i in data.samples.sample_id]
    np.testing.assert_array_equal(data.views, resize_views(render_set.images[rows], 64))


def test_experiment_data_with_views_0_keeps_the_frontal_view_only(render_and_folds):
    render_set, fold_table = render_and_folds
    all_views = experiment_data(render_set, fold_table, CLASSES, image_size=64)
    frontal = experiment_data(render_set, fold_table, CLASSES, image_size=64, views=[0])

    assert frontal.views.shape == (len(all_views.samples), 1, 64, 64, 3)
    np.testing.assert_array_equal(frontal.views[:, 0], all_views.views[:, 0])
    assert not np.array_equal(frontal.views[:, 0], all_views.views[:, 1]), "views differ"


def test_experiment_data_without_a_matching_sample_is_a_clear_error(render_and_folds):
    render_set, fold_table = render_and_folds
    with pytest.raises(ValueError, match="rendered expressions"):
        experiment_data(render_set, fold_table, ["contempt"], image_size=64)
    with pytest.raises(ValueError, match="no rendered sample"):
        experiment_data(render_set, fold_table.iloc[:0], CLASSES, image_size=64)


# ---- a render set on disk stays on disk ---------------------------------------------------------


def test_experiment_data_of_a_render_set_on_disk_reads_views_lazily(render_and_folds, tmp_path):
    from kedro.io import Version

    from facevlm.datasets import RenderSetDataset
    from facevlm.scans.view_store import ViewArray

    render_set, fold_table = render_and_folds
    dataset = RenderSetDataset(filepath=str(tmp_path / "renders"), version=Version(None, None))
    dataset.save(render_set)
    on_disk = dataset.load()

    in_memory = experiment_data(render_set, fold_table, CLASSES, image_size=64, views=[0, 2])
    lazy = experiment_data(on_disk, fold_table, CLASSES, image_size=64, views=[0, 2])

    assert isinstance(lazy.views, ViewArray)
    assert lazy.views.path == on_disk.folder / "views_64px.npy"  # resized once, beside the PNGs
    np.testing.assert_array_equal(np.asarray(lazy.views), in_memory.views)
    train_rows, _ = lazy.split(lazy.folds[0])
    assert isinstance(lazy.views[train_rows], ViewArray)  # a fold costs an index, not a copy
    np.testing.assert_array_equal(np.asarray(lazy.views[train_rows]), in_memory.views[train_rows])


def test_fingerprint_follows_views_labels_and_samples(tiny_data):
    same = ExperimentData(
        tiny_data.views.copy(),
        tiny_data.labels.copy(),
        tiny_data.samples.copy(),
        list(tiny_data.classes),
    )
    assert same.fingerprint() == tiny_data.fingerprint()
    views = tiny_data.views.copy()
    views[0, 0, 0, 0, 0] ^= 1
    changed = ExperimentData(views, tiny_data.labels, tiny_data.samples, tiny_data.classes)
    assert changed.fingerprint() != tiny_data.fingerprint()
    training_only = tiny_data.samples.assign(fold=TRAIN_ONLY)
    moved = ExperimentData(tiny_data.views, tiny_data.labels, training_only, tiny_data.classes)
    assert moved.fingerprint() != tiny_data.fingerprint()  # the folds are part of the data
