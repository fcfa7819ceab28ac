"""Find and load a trained model: a catalog version of ``<model>.model``, or an MLflow run.

The default is the newest version of the versioned catalog entry ``<model>.model`` (a
:class:`~facevlm.datasets.ModelBundle`), read through the project's Kedro catalog with
``torch.load(weights_only=True)``. Any other saved version can be named. An MLflow run that
logged a model (``mlflow.pytorch``, one per trained model) can be picked too: its weights replace
those of the catalog bundle of the same model (which gives the classes and class prompts the run
does not log), and must fit that bundle's architecture.

Every failure is a :class:`ModelLoadError` whose message names the file or run and the reason:
the app shows it in the page and the CLI prints it on one line.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from facevlm.inference.project import Project, ProjectError
from facevlm.model_namespaces import BASE_MODELS, MODEL_NAMESPACES
from facevlm.models.model_bundle import ModelBundle


class ModelLoadError(RuntimeError):
    """A model that cannot be found or loaded, with the reason."""


@dataclass(frozen=True)
class ModelChoice:
    """Which model to load: ``model`` with a catalog ``version`` (None: newest) or an MLflow
    ``run_id``. Hashable, so the app can cache one loaded model per choice."""

    model: str = "affectvlm"
    version: str | None = None
    run_id: str | None = None

    def __post_init__(self) -> None:
        if self.model not in MODEL_NAMESPACES:
            raise ModelLoadError(
                f"unknown model {self.model!r}; expected one of {MODEL_NAMESPACES}"
            )
        if self.version is not None and self.run_id is not None:
            raise ModelLoadError("give a catalog version or an MLflow run, not both")

    @property
    def label(self) -> str:
        if self.run_id:
            return f"{self.model} (MLflow run {self.run_id[:8]})"
        return f"{self.model} ({self.version or 'newest'})"


def catalog_versions(project: Project, model: str) -> list[str]:
    """Saved versions of ``<model>.model``, newest first (Kedro's timestamps sort as text)."""
    folder = project.model_folder(model)
    if not folder.is_dir():
        return []
    versions = [p.name for p in folder.iterdir() if (p / folder.name).is_file()]
    return sorted(versions, reverse=True)


def load_catalog_bundle(project: Project, model: str, version: str | None = None) -> ModelBundle:
    """The bundle of ``<model>.model`` at ``version`` (newest when None)."""
    name = f"{model}.model"
    versions = catalog_versions(project, model)
    if not versions:
        raise ModelLoadError(
            f"no trained {model} model in {project.model_folder(model)}: run "
            f"`kedro run` (or `kedro run --pipeline=train_{model}`) in {project.path} first"
        )
    if version is not None and version not in versions:
        raise ModelLoadError(
            f"{name} has no version {version!r}; saved versions: {', '.join(versions[:10])}"
        )
    try:
        bundle = project.catalog.load(name, version=version)
    except Exception as error:  # noqa: BLE001 - DatasetError wraps the reader's reason
        raise ModelLoadError(_one_line(error)) from error
    try:
        recipe = project.model_run_tags(model)["model"]
    except ProjectError as error:
        raise ModelLoadError(f"{name}: {error}") from error
    if bundle.model_name != recipe:
        raise ModelLoadError(
            f"{name} ({version or versions[0]}) holds a {bundle.model_name} model, not {recipe}"
        )
    return bundle


@dataclass(frozen=True)
class LoggedModelRun:
    """An MLflow run that logged a model: what the app lists."""

    run_id: str
    model: str  # the namespace asked for (``affectvlm_4d``); listing all: the run's recipe
    run_name: str
    start_time: int  # ms since the epoch
    model_uri: str

    @property
    def label(self) -> str:
        from datetime import UTC, datetime

        when = datetime.fromtimestamp(self.start_time / 1000, UTC).strftime("%Y-%m-%d %H:%M")
        return f"{self.run_name} · {when} · {self.run_id[:8]}"


def logged_model_runs(project: Project, model: str | None = None) -> list[LoggedModelRun]:
    """MLflow runs of the project's tracking store that logged a model, newest first."""
    from mlflow import MlflowClient

    uri = project.mlflow_tracking_uri
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        return []  # no store yet: do not let MLflow create an empty one
    client = MlflowClient(tracking_uri=uri)
    try:
        experiments = [e.experiment_id for e in client.search_experiments()]
        logged = client.search_logged_models(experiment_ids=experiments) if experiments else []
    except Exception as error:  # noqa: BLE001 - a broken store lists nothing, says why
        raise ModelLoadError(f"MLflow store {uri}: {_one_line(error)}") from error
    try:
        wanted = None if model is None else project.model_run_tags(model)
    except ProjectError as error:
        raise ModelLoadError(f"{model}: {error}") from error
    runs = []
    for item in logged:
        if not item.source_run_id:
            continue
        run = client.get_run(item.source_run_id)
        tags = run.data.tags
        if tags.get("model") not in BASE_MODELS:
            continue
        if wanted is not None and not _is_run_of(tags, wanted, model):
            continue
        name = tags.get("mlflow.runName", run.info.run_id)
        runs.append(
            LoggedModelRun(
                run.info.run_id,
                model or tags["model"],
                name,
                run.info.start_time,
                f"models:/{item.model_id}",
            )
        )
    return sorted(runs, key=lambda r: r.start_time, reverse=True)


def _is_run_of(tags: dict[str, str], wanted: dict[str, str], model: str) -> bool:
    """Whether a run with ``tags`` trained the namespace ``model`` (whose runs carry ``wanted``):
    the same recipe and task (``affectvlm`` on ``fer4d`` is ``affectvlm_4d``); a run logged
    without a task counts as the recipe's own 3D namespace."""
    if tags.get("model") != wanted["model"]:
        return False
    task = tags.get("task")
    return task == wanted["task"] if task is not None else model in BASE_MODELS


def load_run_bundle(project: Project, model: str, run_id: str) -> ModelBundle:
    """A bundle with the weights the MLflow run ``run_id`` logged (see the module docstring).

    The logged model is an ``mlflow.pytorch`` pickle: it is read from this project's own
    tracking store only, the same trust as the project's code.
    """
    import mlflow.pytorch

    runs = {r.run_id: r for r in logged_model_runs(project, model)}
    if run_id not in runs:
        raise ModelLoadError(f"MLflow run {run_id} logged no {model} model in this project")
    base = load_catalog_bundle(project, model)
    mlflow.set_tracking_uri(project.mlflow_tracking_uri)
    try:
        module = mlflow.pytorch.load_model(runs[run_id].model_uri, map_location="cpu")
        state = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
        # the probe, temperatures and familiarity statistics belong to the catalog bundle's
        # weights, not the run's
        bundle = dataclasses.replace(
            base, state_dict=state, linear_probe=None, calibration=None, familiarity=None
        )
        bundle.info = {**base.info, "mlflow_run_id": run_id}
        bundle.build()  # the weights must fit the catalog bundle's architecture
    except Exception as error:  # noqa: BLE001 - any failure is reported with the run id
        raise ModelLoadError(f"MLflow run {run_id}: {_one_line(error)}") from error
    return bundle


def _one_line(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return " ".join(text.split())


def load_bundle(project: Project, choice: ModelChoice) -> ModelBundle:
    """The bundle ``choice`` names: an MLflow run's weights, or a catalog version."""
    if choice.run_id:
        return load_run_bundle(project, choice.model, choice.run_id)
    return load_catalog_bundle(project, choice.model, choice.version)
