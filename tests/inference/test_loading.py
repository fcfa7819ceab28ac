"""Which model is loaded, and that loading a model file can never run code from it.

Specification:

- the default is the newest saved version of ``<model>.model``; any saved version can be named;
  an unknown version, or a project with no trained model, is a ModelLoadError that says what
  exists or what to run;
- bundles round-trip through the real ``ModelBundleDataset`` with ``weights_only=True``, numpy
  values in ``info`` included (stored as plain values);
- an old bundle file (numpy values pickled) and a tampered one (a pickle that would run a
  command) fail with a one-line message naming the file, and the command never runs;
- a malformed linear probe is refused with the reason;
- the models of the 4D and micro-expression pipelines (``affectvlm_4d``, ``smile_4d``,
  ``smile_mer``) load by their namespace like the 3D ones; a namespace's folder holding another
  recipe's model is refused; an MLflow run is listed under the namespace whose recipe and task
  it was trained with (AffectVLM on ``fer4d`` under ``affectvlm_4d``, not ``affectvlm``);
- a 4D model trained on frames stacked as views keeps that record (``info["sample_frames"]``)
  through its file, and is read as frames x views; a bundle saved before the record existed
  is read as before: one sample per frame, and a model of more views than are rendered refused.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import time

import numpy as np
import pytest
import torch
from kedro.io import DatasetError, Version
from tiny_project import MER_CLASSES, stacked_frames_bundle, tiny_bundle

from facevlm.datasets.model_bundle import ModelBundleDataset
from facevlm.inference import (
    ModelChoice,
    ModelLoadError,
    Project,
    catalog_versions,
    load_bundle,
)


@pytest.fixture
def project(tiny_project, tmp_path):
    """A copy of the tiny project that a test may add model versions to."""
    root = tmp_path / "project"
    shutil.copytree(tiny_project, root, symlinks=True)
    return Project.open(root)


def _save_version(project: Project, model: str, bundle) -> str:
    time.sleep(0.01)  # versions are millisecond timestamps
    project.catalog.save(f"{model}.model", bundle)
    return catalog_versions(project, model)[0]


def test_newest_version_by_default_and_any_version_by_name(project):
    (first,) = catalog_versions(project, "affectvlm")
    newer = tiny_bundle("affectvlm", seed=7)
    newer.info["marker"] = "newer"
    second = _save_version(project, "affectvlm", newer)
    assert catalog_versions(project, "affectvlm") == [second, first]
    assert load_bundle(project, ModelChoice("affectvlm")).info.get("marker") == "newer"
    assert "marker" not in load_bundle(project, ModelChoice("affectvlm", version=first)).info
    loaded = load_bundle(project, ModelChoice("affectvlm"))
    for key, value in newer.state_dict.items():
        assert torch.equal(loaded.state_dict[key], value)
    assert loaded.info["fold"] == 0 and type(loaded.info["fold"]) is int  # was np.int64


def test_unknown_version_and_missing_model_are_explained(project):
    with pytest.raises(ModelLoadError, match="has no version 'nope'; saved versions: "):
        load_bundle(project, ModelChoice("affectvlm", version="nope"))
    shutil.rmtree(project.model_folder("smile"))
    with pytest.raises(ModelLoadError, match="no trained smile model .* run `kedro run"):
        load_bundle(project, ModelChoice("smile"))


def _version_file(project: Project, model: str) -> str:
    version = time.strftime("%Y-%m-%dT%H.%M.%S.999Z", time.gmtime(time.time() + 3600))
    folder = project.model_folder(model) / version
    folder.mkdir()
    return folder / project.model_folder(model).name


class _RunsACommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_tampered_model_file_fails_with_a_message_and_runs_nothing(project, tmp_path):
    marker = tmp_path / "pwned"
    payload = {**tiny_bundle("affectvlm", 0).__dict__, "info": {"x": _RunsACommand(marker)}}
    torch.save(payload, _version_file(project, "affectvlm"))
    with pytest.raises(ModelLoadError) as caught:
        load_bundle(project, ModelChoice("affectvlm"))
    message = str(caught.value)
    assert "model.pt" in message and "weights_only" in message and "\n" not in message
    assert not marker.exists()


def test_an_old_model_file_fails_with_a_message(project):
    old = tiny_bundle("affectvlm", 0).__dict__  # the old dataset pickled numpy values as they were
    old["info"] = {"fold": np.int64(2), "accuracy": np.float64(0.9)}
    torch.save(old, _version_file(project, "affectvlm"))
    with pytest.raises(ModelLoadError, match="older facevlm or altered; re-run the training"):
        load_bundle(project, ModelChoice("affectvlm"))


def test_a_file_that_is_not_a_bundle_fails_with_a_message(project):
    path = _version_file(project, "affectvlm")
    path.write_bytes(pickle.dumps([1, 2, 3])[:5])
    with pytest.raises(ModelLoadError, match="model.pt"):
        load_bundle(project, ModelChoice("affectvlm"))


def test_a_malformed_probe_is_refused(tmp_path):
    bundle = tiny_bundle("smile", 0, probe=True)
    bundle.linear_probe["weight"] = torch.zeros(3, 64)
    dataset = ModelBundleDataset(filepath=str(tmp_path / "model.pt"), version=Version(None, None))
    dataset.save(bundle)
    with pytest.raises(DatasetError, match="linear_probe has 3 classes, the bundle 6"):
        dataset.load()


def _log_model_run(project: Project, bundle, tags: dict, metrics: dict | None = None) -> str:
    """Log ``bundle``'s model to an MLflow run of the project's store, as the training
    pipelines do (``MlflowModelRunDataset``); returns the run id."""
    import mlflow

    from facevlm.datasets.mlflow_model_run import MlflowModelRunDataset, ModelRunReport

    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(project.mlflow_tracking_uri)
    try:
        mlflow.set_experiment("facevlm")  # this store's experiment, not one of another test's
        dataset = MlflowModelRunDataset()
        dataset.save(
            ModelRunReport(
                run_name=tags["model"],
                tags=tags,
                params={},
                metrics=metrics or {},
                model=bundle.build()[0],
            )
        )
    finally:
        mlflow.set_tracking_uri(previous)
    (run_id,) = dataset.last_run_ids
    return run_id


def test_a_model_logged_to_an_mlflow_run_can_be_loaded(project):
    """The training pipelines log each model with ``MlflowModelRunDataset``; the app lists such
    runs and loads their weights (classes and prompts from the catalog bundle)."""
    from facevlm.inference import logged_model_runs

    trained = tiny_bundle("affectvlm", seed=11)
    run_id = _log_model_run(
        project,
        trained,
        {"model": "affectvlm", "dataset": "synthetic", "protocol": "subject_kfold"},
        metrics={"test/accuracy_mean": 0.5},
    )
    assert [r.run_id for r in logged_model_runs(project, "affectvlm")] == [run_id]
    assert logged_model_runs(project, "smile") == []
    loaded = load_bundle(project, ModelChoice("affectvlm", run_id=run_id))
    for key, value in trained.state_dict.items():
        assert torch.equal(loaded.state_dict[key], value), key
    assert loaded.info["mlflow_run_id"] == run_id
    assert loaded.class_prompts == load_bundle(project, ModelChoice("affectvlm")).class_prompts
    with pytest.raises(ModelLoadError, match="logged no smile model"):
        load_bundle(project, ModelChoice("smile", run_id=run_id))


def test_probe_tensors_reproduce_the_sklearn_probe():
    """The bundle's probe tensors give the predictions of the fitted probe (and of sklearn:
    standardise, then logistic regression), classes absent from its training data never win."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from facevlm.models.probes import fit_linear_probe

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 8)) * 3 + 1
    y = np.repeat([0, 2, 3], 20)  # classes 1, 4, 5 absent from the probe's training data
    x[y == 2] += 4
    x[y == 3] -= 4
    probe = fit_linear_probe(x, y).as_tensors(n_classes=6)
    test = rng.normal(size=(20, 8)) * 3
    z = (torch.as_tensor(test, dtype=torch.float32) - probe["mean"]) / probe["scale"]
    ours = (z @ probe["weight"].T + probe["bias"]).argmax(-1).numpy()
    scaler = StandardScaler().fit(x)
    classifier = LogisticRegression(max_iter=1000).fit(scaler.transform(x), y)
    np.testing.assert_array_equal(ours, classifier.predict(scaler.transform(test)))


def test_the_4d_and_micro_expression_models_load_by_their_namespace(project):
    with pytest.raises(ModelLoadError, match="no trained smile_mer model .*train_smile_mer"):
        load_bundle(project, ModelChoice("smile_mer"))
    _save_version(project, "smile_mer", tiny_bundle("smile", 5, probe=True, classes=MER_CLASSES))
    loaded = load_bundle(project, ModelChoice("smile_mer"))
    assert loaded.classes == MER_CLASSES and loaded.linear_probe is not None
    assert load_bundle(project, ModelChoice("smile")).classes != MER_CLASSES  # its own folder

    _save_version(project, "affectvlm_4d", tiny_bundle("smile", 6))
    with pytest.raises(ModelLoadError, match="holds a smile model, not affectvlm"):
        load_bundle(project, ModelChoice("affectvlm_4d"))


def test_the_stacked_frames_record_survives_the_file_and_older_bundles_read_as_before(project):
    from facevlm.inference.render_settings import render_settings_for

    _save_version(project, "smile_4d", stacked_frames_bundle(project.render_params))
    stacked = load_bundle(project, ModelChoice("smile_4d"))
    assert stacked.info["sample_frames"] == {"frames": "views", "frames_per_sample": 3}
    settings, frames, per_sample = render_settings_for(stacked, project.render_params)
    assert (len(settings.views), frames, per_sample) == (3, "uniform:3", 3)

    older = load_bundle(project, ModelChoice("affectvlm"))  # saved without the record
    assert "sample_frames" not in older.info
    settings, frames, per_sample = render_settings_for(older, project.render_params)
    assert (len(settings.views), frames, per_sample) == (3, "uniform:3", None)
    unrecorded = tiny_bundle("smile", 9, n_views=9)
    with pytest.raises(ValueError, match="takes 9 views but the render settings give 3"):
        render_settings_for(unrecorded, project.render_params)


def test_logged_runs_are_listed_under_the_namespace_they_trained(project):
    from facevlm.inference import logged_model_runs

    run_of = {
        (recipe, task): _log_model_run(
            project,
            tiny_bundle(recipe, seed=12),
            {"model": recipe, "task": task, "protocol": "subject_kfold"},
        )
        for recipe, task in (("affectvlm", "fer3d"), ("affectvlm", "fer4d"), ("smile", "mer"))
    }

    def listed(model):
        return [r.run_id for r in logged_model_runs(project, model)]

    assert listed("affectvlm") == [run_of["affectvlm", "fer3d"]]
    assert listed("affectvlm_4d") == [run_of["affectvlm", "fer4d"]]
    assert listed("smile_mer") == [run_of["smile", "mer"]]
    assert listed("smile") == listed("smile_4d") == []
    assert {r.model for r in logged_model_runs(project, "affectvlm_4d")} == {"affectvlm_4d"}


def test_a_namespace_without_its_parameter_block_is_explained(project):
    import yaml

    _save_version(project, "smile_mer", tiny_bundle("smile", 5, classes=MER_CLASSES))
    path = project.path / "conf" / "base" / "parameters_train_smile.yml"
    params = yaml.safe_load(path.read_text())
    del params["smile_mer"]
    path.write_text(yaml.safe_dump(params))
    edited = Project.open(project.path)
    with pytest.raises(ModelLoadError, match="smile_mer.model: .*no 'smile_mer' block"):
        load_bundle(edited, ModelChoice("smile_mer"))
    assert load_bundle(edited, ModelChoice("smile")).model_name == "smile"  # the rest works


def test_opening_a_project_reads_its_settings_without_importing_its_pipelines(tiny_project):
    """The app and the CLI run no pipeline: opening the project must not import them all (and
    with them every training and comparison module) just to validate parameters; and which
    model versions are saved is read from the catalog's configuration, without building the
    catalog and importing every dataset class (open_clip among them) on the way."""
    import subprocess
    import sys

    code = (
        "import json, sys\n"
        "from facevlm.inference import catalog_versions\n"
        "from facevlm.inference.project import Project\n"
        "project = Project.open(sys.argv[1])\n"
        "found = {'size': project.render_params['size'],\n"
        "         'model_file': project.model_folder('affectvlm').name,\n"
        "         'smile_versions': len(catalog_versions(project, 'smile'))}\n"
        "found['imported'] = [m for m in ('facevlm.pipeline_registry', 'facevlm.datasets',\n"
        "                                 'open_clip') if m in sys.modules]\n"
        "print(json.dumps(found))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tiny_project)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    found = json.loads(done.stdout.splitlines()[-1])
    assert found["size"] > 0 and found["model_file"] == "model.pt"
    assert found["smile_versions"] == 1  # the tiny project's saved SMILE-VLM
    assert found["imported"] == []


def test_reading_a_scan_for_the_cli_imports_no_model_code():
    """``facevlm render`` reads the file first, so that a bad file is refused at once: the
    package must not import the predictor (torch, open_clip, MLflow) on the way."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from facevlm.inference.scan_files import read_scan, modality_for\n"
        "print(sorted(m for m in ('torch', 'open_clip', 'mlflow') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.splitlines()[-1] == "[]"


def test_every_public_name_of_the_inference_package_resolves():
    import facevlm.inference as inference

    for name in inference.__all__:
        assert getattr(inference, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        inference.Nothing  # noqa: B018
