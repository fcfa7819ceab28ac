"""The Kedro project the app and ``facevlm predict`` serve from: its catalog and its settings.

Why a real Kedro session rather than reading ``conf/`` by hand: the catalog's dataset factories
(``{namespace}.model``), the environments (``conf/local`` over ``conf/base``, ``--env paper``),
the soft parameter merge and kedro-mlflow's tracking URI are all resolved by Kedro itself; a
second YAML reader here would drift from what ``kedro run`` saw. The session is created once per
process (the app caches the :class:`Project`); nothing is run through it.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from facevlm.model_namespaces import base_block

#: Environment variable naming the project folder (default: the current directory).
PROJECT_ENV = "FACEVLM_PROJECT_PATH"


class ProjectError(RuntimeError):
    """The folder is not a usable facevlm project (no ``pyproject.toml``, broken config)."""


def project_path(path: str | Path | None = None) -> Path:
    """``path``, else ``$FACEVLM_PROJECT_PATH``, else the current directory; absolute."""
    return Path(path or os.environ.get(PROJECT_ENV) or Path.cwd()).resolve()


@dataclass
class Project:
    """A Kedro project opened read-only: catalog, parameters and MLflow tracking URI."""

    path: Path
    env: str | None = None
    _context: Any = field(default=None, init=False, repr=False)

    @classmethod
    def open(cls, path: str | Path | None = None, env: str | None = None) -> Project:
        project = cls(project_path(path), env)
        project.context  # noqa: B018 - fail now, with the reason, if it is no project
        return project

    @property
    def context(self):
        if self._context is None:
            from kedro.framework.session import KedroSession
            from kedro.framework.startup import bootstrap_project

            if not (self.path / "pyproject.toml").is_file():
                raise ProjectError(
                    f"{self.path} is not a facevlm project (no pyproject.toml); run the app from "
                    f"the project root or set {PROJECT_ENV}"
                )
            try:
                # kedro-mlflow opens the project's relative ``sqlite:///mlruns.db`` from the
                # working directory: from anywhere else it would create (and migrate) a stray
                # store there, and two processes doing so at once collide
                with contextlib.chdir(self.path):
                    bootstrap_project(self.path)
                    session = KedroSession.create(
                        project_path=self.path, env=self.env, save_on_close=False
                    )
                    context = session.load_context()
                    # Nothing is run through this context, so no pipeline needs its parameters
                    # checked: left unset, Kedro imports every pipeline (and so torch, open_clip
                    # and MLflow's store) to validate them, about half of a CLI call's start.
                    context._pipelines_to_validate = []
                    self._context = context
            except Exception as error:  # noqa: BLE001 - Kedro raises many kinds here
                raise ProjectError(
                    f"{self.path}: cannot open the Kedro project: {error}"
                ) from error
        return self._context

    @property
    def catalog(self):
        return self.context.catalog

    @cached_property
    def params(self) -> dict[str, Any]:
        return dict(self.context.params)

    @property
    def render_params(self) -> dict[str, Any]:
        """``params:render`` (size, views, modality, frames ...) as ``kedro run`` uses it."""
        return dict(self.params.get("render") or {})

    @property
    def mlflow_tracking_uri(self) -> str:
        """The tracking URI kedro-mlflow resolved for this project (absolute SQLite path)."""
        config = getattr(self.context, "mlflow", None)
        if config is None:
            import mlflow

            return mlflow.get_tracking_uri()
        uri = str(config.server.mlflow_tracking_uri)
        if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
            uri = f"sqlite:///{(self.path / uri.removeprefix('sqlite:///')).as_posix()}"
        return uri

    def model_run_tags(self, model: str) -> dict[str, str]:
        """The MLflow tags a run of the namespace ``model`` carries (``model``: its recipe,
        ``task``, ``dataset``, ``protocol``), resolved from the parameters as ``kedro run``
        resolves them: how the app tells an ``affectvlm_4d`` run from an ``affectvlm`` one."""
        from facevlm.experiments.model_parameters import resolve_model_parameters, run_tags

        base = base_block(model)
        for block in {base, model}:
            if block not in self.params:
                raise ProjectError(f"the project's parameters have no {block!r} block")
        overrides = self.params[model] if model != base else None
        resolved = resolve_model_parameters(self.params[base], overrides)
        return run_tags(resolved, self.params.get("dataset") or {})

    def model_folder(self, model: str) -> Path:
        """Folder of the versions of ``<model>.model`` (``<filepath>/<version>/<name>``).

        Read from the catalog's configuration with Kedro's own resolver of dataset factories,
        not from a built catalog: building one instantiates every entry (kedro-mlflow's hook
        goes through them all), which imports every dataset class, torch and open_clip among
        them, about 6 s of a CLI call. Finding which versions exist, or that there is none, is
        answered before any of that; loading one builds the catalog."""
        name = f"{model}.model"
        config = self._catalog_entries.resolve_pattern(name)
        if "filepath" not in config:  # no entry or factory matches: Kedro's memory default
            raise ProjectError(f"the catalog has no {name} entry")
        return self.path / Path(str(config["filepath"]))

    @cached_property
    def _catalog_entries(self):
        """The catalog's configuration, its dataset factories resolved by Kedro on request."""
        from kedro.io.catalog_config_resolver import (
            DEFAULT_RUNTIME_PATTERN,
            CatalogConfigResolver,
        )

        return CatalogConfigResolver(
            self.context.config_loader["catalog"], default_runtime_patterns=DEFAULT_RUNTIME_PATTERN
        )

    def scan_index(self) -> pd.DataFrame | None:
        """The newest ``scan_index`` (the built-in samples), or None before the first ingest."""
        try:
            if not self.catalog.exists("scan_index"):
                return None
            return self.catalog.load("scan_index")
        except Exception:  # noqa: BLE001 - a missing or unreadable index only hides the samples
            return None
