"""Every dataset maps to one recognition task; names that say nothing about the task are refused."""

from __future__ import annotations

import pytest

from facevlm.scans.tasks import task_of


@pytest.mark.parametrize(
    ("datasets", "task"),
    [
        ("bu3dfe", "fer3d"),
        (["Bosphorus"], "fer3d"),
        (["synthetic-bu3dfe"], "fer3d"),
        ("BU-4DFE", "fer4d"),
        (["bp4d", "synthetic-bp4d"], "fer4d"),
        (["synthetic-4dme"], "mer"),
    ],
)
def test_each_dataset_has_its_task(datasets, task):
    assert task_of(datasets) == task


@pytest.mark.parametrize(
    ("datasets", "message"),
    [
        ("synthetic", "name one layout"),
        ("casme2", "unknown dataset layout 'casme2'"),
        (["bu3dfe", "4dme"], "different tasks"),
        ([], "at least one"),
    ],
)
def test_a_dataset_without_one_task_is_refused(datasets, message):
    with pytest.raises(ValueError, match=message):
        task_of(datasets)
