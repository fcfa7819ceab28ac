"""The page ``facevlm app`` serves: choose a model, drop a scan (or pick a sample), see the result.

Loaded once per process (``st.cache_resource``): the Kedro project and, per model choice, a
:class:`~facevlm.inference.Predictor` with its warm renderer. Per session: the upload is checked
and unpacked into a temporary folder (:mod:`.uploads`), predicted, and the folder removed; the
results are kept in the session state so that a rerun (any click) does not predict again.

Nothing that goes wrong with one input takes the page down: a refused upload, an unreadable
scan or a model that cannot be loaded shows its message (file and reason) and the page keeps
serving the next input.
"""

from __future__ import annotations

import time

import streamlit as st

from facevlm.app.display import show_prediction
from facevlm.app.samples import builtin_samples
from facevlm.app.uploads import (
    ACCEPTED_SUFFIXES,
    MB,
    Upload,
    UploadFolder,
    UploadLimits,
    stage_uploads,
)
from facevlm.inference import (
    ModelChoice,
    ModelLoadError,
    Predictor,
    Project,
    ProjectError,
    catalog_versions,
    load_bundle,
    logged_model_runs,
)
from facevlm.inference.project import project_path
from facevlm.model_namespaces import BASE_MODELS, MODEL_NAMESPACES, model_title
from facevlm.render.backend import RenderBackendError
from facevlm.scans.errors import ScanError

MODALITIES = ("texture", "shaded", "depth")
UPLOAD, SAMPLE = "Upload a scan", "Built-in sample"
#: What can go wrong with one input and is shown as a message, not a traceback.
INPUT_ERRORS = (ScanError, OSError, ValueError, RenderBackendError)


@st.cache_resource(show_spinner="Opening the Kedro project…")
def open_project(path: str) -> Project:
    return Project.open(path)


@st.cache_resource(show_spinner="Loading the model and warming up the renderer…", max_entries=4)
def load_predictor(
    path: str, model: str, version: str | None, run_id: str | None, modality: str | None
) -> Predictor:
    project = open_project(path)
    bundle = load_bundle(project, ModelChoice(model, version, run_id))
    predictor = Predictor(bundle, project.render_params, modality=modality, name=model)
    predictor.warm_up()
    return predictor


def upload_limits() -> UploadLimits:
    """The app's limits; the upload size is Streamlit's own ``server.maxUploadSize`` (MB)."""
    return UploadLimits(max_upload_bytes=int(st.get_option("server.maxUploadSize")) * MB)


def offered_models(project: Project) -> list[str]:
    """The two 3D models always (the page says how to train one that is missing), and each 4D
    or micro-expression model once its pipeline has saved a version."""
    return [m for m in MODEL_NAMESPACES if m in BASE_MODELS or catalog_versions(project, m)]


def choose_model(project: Project) -> tuple[ModelChoice, str | None]:
    """Sidebar: model, catalog version or MLflow run, render modality."""
    st.sidebar.header("Model")
    model = st.sidebar.radio("Model", offered_models(project), format_func=model_title, key="model")
    origin = st.sidebar.radio("Weights from", ("Kedro catalog", "MLflow run"), key="origin")
    version = run_id = None
    if origin == "Kedro catalog":
        versions = catalog_versions(project, model)
        options = [None, *versions]
        version = st.sidebar.selectbox(
            "Version",
            options,
            format_func=lambda v: f"newest ({versions[0]})" if v is None and versions else v,
            key=f"version-{model}",
            help="`<model>.model` versions in data/06_models; the newest is the default",
        )
    else:
        try:
            runs = logged_model_runs(project, model)
        except ModelLoadError as error:
            st.sidebar.error(str(error))
            runs = []
        if not runs:
            st.sidebar.info("No MLflow run of this project logged a model yet.")
            st.stop()
        labels = {r.run_id: r.label for r in runs}
        run_id = st.sidebar.selectbox("Run", list(labels), format_func=labels.get, key="run")
    modality = st.sidebar.selectbox(
        "Render modality",
        (None, *MODALITIES),
        format_func=lambda m: "as trained" if m is None else m,
        key="modality",
    )
    return ModelChoice(model, version, run_id), modality


def show_model(predictor: Predictor) -> None:
    bundle = predictor.bundle
    backbone = bundle.model_config.get("backbone", {}).get("name", "?")
    tags = bundle.info.get("tags", {})
    views = f"{len(predictor.settings.views)} views"
    if predictor.stacked_frames:  # a stacked-frame model reads whole sequences only
        views += f" of {predictor.stacked_frames} frames of a sequence"
    st.sidebar.caption(
        f"{backbone}, {views} at {predictor.settings.size} px, "
        f"{' and '.join(predictor.trained_modalities) or predictor.settings.modality}; "
        f"classes: {', '.join(predictor.classes)}; "
        f"trained on {tags.get('dataset', '?')}"
        + (" · linear probe" if bundle.linear_probe is not None else "")
    )
    if bundle.familiarity is None:
        st.sidebar.caption(
            "This model was saved without familiarity statistics: its predictions cannot say "
            "whether an input is like its training scans."
        )


def predict_uploads(predictor: Predictor, files, key: tuple) -> None:
    """Check, unpack, predict and show the uploaded files (results kept per session)."""
    results = st.session_state.setdefault("results", {})
    if key not in results:
        uploads = [Upload(f.name, f.getvalue()) for f in files]
        outcome: list = []
        with UploadFolder() as folder, st.spinner("Predicting…"):
            start = time.perf_counter()
            staged = stage_uploads(uploads, folder, upload_limits())
            outcome.extend(str(error) for error in staged.errors)
            staged_s = time.perf_counter() - start
            for item in staged.inputs:
                outcome.append(_predict(predictor, item))
        results.clear()  # keep only the latest upload's results
        results[key] = (outcome, staged_s)
    outcome, staged_s = results[key]
    _show(outcome)
    if any(not isinstance(o, str) for o in outcome):
        st.caption(f"upload checked and unpacked in {staged_s * 1000:.0f} ms")


def _predict(predictor: Predictor, item):
    try:
        return predictor.predict(item)
    except INPUT_ERRORS as error:
        reason = " ".join(str(error).split())
        return reason if item.name in reason else f"{item.name}: {reason}"


def _show(outcome: list) -> None:
    for entry in outcome:
        if isinstance(entry, str):
            st.error(entry, icon=":material/block:")
        else:
            show_prediction(entry)
            st.divider()


def main() -> None:
    st.set_page_config(page_title="facevlm: expression from 3D/4D scans", layout="wide")
    st.title("Facial expression from a 3D or 4D face scan")
    path = str(project_path())
    try:
        project = open_project(path)
    except ProjectError as error:
        st.error(str(error))
        st.stop()
        return  # st.stop() only raises inside a Streamlit script run
    choice, modality = choose_model(project)
    try:
        predictor = load_predictor(path, choice.model, choice.version, choice.run_id, modality)
    except (ModelLoadError, ValueError, RenderBackendError) as error:
        st.error(f"Cannot load {choice.label}: {error}")
        st.stop()
        return
    show_model(predictor)

    source = st.radio("Input", (UPLOAD, SAMPLE), horizontal=True, key="source")
    model_key = (choice, modality)
    if source == UPLOAD:
        files = st.file_uploader(
            "Drop a scan: a mesh with its texture (.wrl + .jpg/.bmp, .obj + .mtl + image, "
            ".ply or .off with vertex colours, .stl, .glb, .gltf + .bin, .bnt + .png), several "
            "files at once, or a .zip of a scan folder or of a 4D sequence",
            accept_multiple_files=True,
            key="upload",
            help=f"accepted: {' '.join(ACCEPTED_SUFFIXES)}",
        )
        if files:
            predict_uploads(predictor, files, (tuple(f.file_id for f in files), model_key))
        return
    samples = builtin_samples(project.scan_index())
    if not samples:
        st.info("No built-in samples yet: run `kedro run` in the project first.")
        return
    label = st.selectbox("Sample", list(samples), key="sample")
    results = st.session_state.setdefault("sample_results", {})
    key = (label, model_key)
    if key not in results:
        with st.spinner("Predicting…"):
            results.clear()
            results[key] = [_predict(predictor, samples[label])]
    _show(results[key])
