"""Predict the expression of a 3D scan or 4D sequence with a trained model: the code path that
the Streamlit app and ``facevlm predict`` share (no Streamlit, no argparse here).

- :mod:`.project`   the Kedro project: catalog, ``params:render``, MLflow tracking URI
- :mod:`.loading`   which model (catalog version or MLflow run) and loading it safely
- :mod:`.inputs`    scans and numbered-frame sequences in a file or folder
- :mod:`.predictor` read → render (warm plotter) → encode → classify, timed per stage

    >>> project = Project.open(".")                                      # doctest: +SKIP
    >>> predictor = Predictor(load_bundle(project, ModelChoice("affectvlm")),
    ...                       project.render_params)                      # doctest: +SKIP
    >>> [predictor.predict(x).to_json() for x in find_inputs("F0001/")]   # doctest: +SKIP
"""

from facevlm.inference.inputs import (
    MESH_SUFFIXES,
    PredictionInput,
    ScanInput,
    SequenceInput,
    find_inputs,
)
from facevlm.inference.loading import (
    LoggedModelRun,
    ModelChoice,
    ModelLoadError,
    catalog_versions,
    load_bundle,
    logged_model_runs,
)
from facevlm.inference.predictor import Prediction, Predictor
from facevlm.inference.project import MODEL_NAMES, Project, ProjectError

__all__ = [
    "MESH_SUFFIXES",
    "MODEL_NAMES",
    "LoggedModelRun",
    "ModelChoice",
    "ModelLoadError",
    "Prediction",
    "PredictionInput",
    "Predictor",
    "Project",
    "ProjectError",
    "ScanInput",
    "SequenceInput",
    "catalog_versions",
    "find_inputs",
    "load_bundle",
    "logged_model_runs",
]
