"""Predict the expression of a 3D scan or 4D sequence with a trained model: the code path that
the Streamlit app and ``facevlm predict`` share (no Streamlit, no argparse here).

- :mod:`.project`   the Kedro project: catalog, ``params:render``, MLflow tracking URI
- :mod:`.loading`   which model (catalog version or MLflow run) and loading it safely
- :mod:`.inputs`    scans and numbered-frame sequences in a file or folder
- :mod:`.render_settings` the render settings and frames a model was trained with
- :mod:`.predictor` read → render (warm plotter) → encode → classify, timed per stage
- :mod:`.prediction` what one prediction holds, as the app shows it and the CLI prints it

    >>> project = Project.open(".")                                      # doctest: +SKIP
    >>> predictor = Predictor(load_bundle(project, ModelChoice("affectvlm")),
    ...                       project.render_params)                      # doctest: +SKIP
    >>> [predictor.predict(x).to_json() for x in find_inputs("F0001/")]   # doctest: +SKIP
"""

import importlib

#: Where each public name lives. The package imports a module only when one of its names is
#: first asked for: the predictor and the model loading pull in torch, open_clip and MLflow
#: (some seconds), which ``facevlm render`` and a refused file should not wait for.
_EXPORTS = {
    "inputs": ("MESH_SUFFIXES", "PredictionInput", "ScanInput", "SequenceInput", "find_inputs"),
    "loading": (
        "LoggedModelRun",
        "ModelChoice",
        "ModelLoadError",
        "catalog_versions",
        "load_bundle",
        "logged_model_runs",
    ),
    "prediction": ("Prediction",),
    "predictor": ("Predictor",),
    "project": ("Project", "ProjectError"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
