"""The project's MLflow hook logs a node's parameters as kedro-mlflow does (flattened names, long
values by its strategy), in one batch per node, and MLflow still refuses a parameter changed
within a run; the project's settings run it in place of the plugin's own hook."""

from __future__ import annotations

import mlflow
import pytest
from mlflow.exceptions import MlflowException
from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH

from facevlm.mlflow_params_hook import MlflowHookWithBatchedParams


@pytest.fixture
def hook_in_a_run(new_mlflow_store, tmp_path):
    """The hook configured as conf/base/mlflow.yml configures kedro-mlflow's, in an open run of a
    real SQLite store."""
    store = new_mlflow_store(tmp_path / "mlruns.db")
    mlflow.set_tracking_uri(f"sqlite:///{store}")
    hook = MlflowHookWithBatchedParams()
    hook.flatten, hook.recursive, hook.sep = True, True, "."
    hook.long_params_strategy = "truncate"
    # an experiment of its own: another test of this process may have made another one active
    experiment = mlflow.MlflowClient().create_experiment("parameters")
    with mlflow.start_run(experiment_id=experiment) as run:
        yield hook, run.info.run_id
    mlflow.set_tracking_uri(None)


def _params(run_id: str) -> dict[str, str]:
    return mlflow.MlflowClient().get_run(run_id).data.params


def test_a_nodes_parameters_are_logged_flattened_and_a_long_one_truncated(hook_in_a_run):
    hook, run_id = hook_in_a_run
    model = {"train": {"epochs": 25, "lr": 3.0e-4}, "views": [0, 20], "note": "x" * 7000}
    hook.before_node_run(None, None, {"params:affectvlm": model, "scans": object()}, False)

    params = _params(run_id)
    assert params == {
        "affectvlm.train.epochs": "25",
        "affectvlm.train.lr": "0.0003",
        "affectvlm.views": "[0, 20]",
        "affectvlm.note": "x" * MAX_PARAM_VAL_LENGTH,
    }


def test_a_second_node_adds_its_own_and_a_changed_value_is_refused(hook_in_a_run):
    hook, run_id = hook_in_a_run
    hook.before_node_run(None, None, {"params:smile": {"epochs": 25}}, False)
    hook.before_node_run(None, None, {"params:smile": {"epochs": 25}, "params:seed": 0}, False)
    assert _params(run_id) == {"smile.epochs": "25", "seed": "0"}

    with pytest.raises(MlflowException):
        hook.before_node_run(None, None, {"params:smile": {"epochs": 40}}, False)


def test_a_session_of_the_project_runs_this_hook_and_not_the_plugins(project_config_copy):
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project
    from kedro_mlflow.framework.hooks import MlflowHook

    bootstrap_project(project_config_copy)
    try:
        with KedroSession.create(project_path=project_config_copy) as session:
            hooks = session._hook_manager.get_plugins()
    finally:
        mlflow.set_tracking_uri(None)  # kedro-mlflow points the process at the project's store
    mlflow_hooks = [hook for hook in hooks if isinstance(hook, MlflowHook)]
    assert [type(hook) for hook in mlflow_hooks] == [MlflowHookWithBatchedParams], hooks
