"""A model pipeline slice on toy data, in memory, for the pipeline tests.

The renders are a small ``RenderSet`` whose classes are easy to tell apart (a coloured bar per
class on noise), so every node — folds, prompt bank, cross-validation, final fit, report — runs
in seconds without the data stages. :func:`run_model_pipeline` runs one namespace on them with a
real runner and an in-memory catalog.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from facevlm.datasets import MlflowModelRunDataset, PretrainedWeights, RenderSet
from facevlm.pipelines import training
from facevlm.scans.labels import BASIC_EMOTIONS

N_SUBJECTS, SIZE = 4, 64


def index_and_renders(frames: int = 0) -> tuple[pd.DataFrame, RenderSet]:
    """Static toy scans, or with ``frames`` > 0 one sequence per (subject, expression) of that
    many rendered frames (one sample each, as ``render.frames: uniform:K`` makes them)."""
    rng = np.random.default_rng(0)
    rows, images = [], []
    for s in range(N_SUBJECTS):
        for c, expression in enumerate(BASIC_EMOTIONS):
            for frame in range(frames) if frames else [None]:
                stem = f"F{s:04d}_{expression}" + ("" if frame is None else f"/{frame:03d}")
                rows.append(
                    {
                        "dataset": "toy",
                        "subject": f"F{s:04d}",
                        "gender": "FM"[s % 2],
                        "age": 25 + 10 * s,
                        "ethnicity": None,
                        "expression": expression,
                        "intensity": 4,
                        "sequence": None if frame is None else f"F{s:04d}/{expression}",
                        "frame": frame,
                        "path": f"/scans/F{s:04d}/{stem}.wrl",
                    }
                )
                view = (20 + 10 * rng.standard_normal((3, SIZE, SIZE, 3))).clip(0, 255)
                view[:, 8 * c + 4 : 8 * c + 10, 8:56] = (255, 40 * c, 255 - 40 * c)
                images.append(view.astype(np.uint8))
    index = pd.DataFrame(rows)
    samples = index.assign(
        sample_id=[f"toy/{p}" for p in index["path"]], frame_paths=[[p] for p in index["path"]]
    )
    return index, RenderSet(samples, ["front", "left", "right"], {"size": SIZE}, np.stack(images))


def toy_face_actions(renders: RenderSet, seed: int = 0) -> pd.DataFrame:
    """What the Face Landmarker would read of the toy renders if their bars were faces: each
    expression raises a blend-shape score of its own, over noise, so that a face reader learns
    them (the real landmarker finds no face in a coloured bar)."""
    from facevlm.face_reader.landmarker import BLENDSHAPE_NAMES

    rng = np.random.default_rng(seed)
    samples = renders.samples
    scores = rng.uniform(0.0, 0.05, size=(len(samples), len(BLENDSHAPE_NAMES)))
    width = len(BLENDSHAPE_NAMES) // len(BASIC_EMOTIONS)  # scores each expression raises
    for c, expression in enumerate(BASIC_EMOTIONS):
        rows = (samples["expression"] == expression).to_numpy()
        scores[np.ix_(rows, range(c * width, (c + 1) * width))] += 0.8
    table = samples[["sample_id", "subject", "expression"]].astype(str).reset_index(drop=True)
    table["found"] = True
    return pd.concat([table, pd.DataFrame(scores, columns=list(BLENDSHAPE_NAMES))], axis=1)


def mixed_modality_renders(renders: RenderSet) -> RenderSet:
    """``renders`` as a ``texture+shaded`` render set makes them: every sample once as it is
    (``texture``) and once grey, its bar darker (``shaded``), a row per sample and modality."""
    texture = renders.images
    grey = texture.mean(axis=-1, keepdims=True).repeat(3, axis=-1) * 0.6
    samples = pd.concat(
        [renders.samples.assign(modality=m) for m in ("texture", "shaded")], ignore_index=True
    )
    settings = {**renders.settings, "modality": "texture+shaded"}
    images = np.concatenate([texture, grey.astype(np.uint8)])
    return RenderSet(samples, renders.view_names, settings, images)


#: Where the project states what every model block shares (``model_defaults``).
PARAMETERS_TRAIN = Path(__file__).resolve().parents[2] / "conf" / "base" / "parameters_train.yml"


def project_model_default(key: str) -> Any:
    """``model_defaults.<key>`` as the project configures it: the toy runs use the project's
    settings where the toy does not need its own, so they are written in one place."""
    return yaml.safe_load(PARAMETERS_TRAIN.read_text())["model_defaults"][key]


def model_params(kind: str) -> dict:
    experiment = {
        "data": {"classes": list(BASIC_EMOTIONS), "max_folds": 1},
        "model": {"backbone": {"name": "facevlm-tiny", "pretrained": None}},
        "augment": None,
        "train": {
            "epochs": 3,
            "batch_size": 8,
            "lr_backbone": 1e-3,
        },
        "execution": {"progress": False, "cpu_threads": 1, "device": "cpu"},
    }
    return {
        "recipe": "affectvlm" if kind == "augmented" else "smile",
        "task": "fer3d",
        "protocol": {"name": "subject_kfold", "k": 2, "seed": 0, "subset": "all"},
        "prompts": {"kind": kind},
        "experiment": experiment,
        "face_reader": project_model_default("face_reader"),
    }


class KeptMemoryDataset(MemoryDataset):
    """A MemoryDataset the runner cannot release, so every output can be inspected."""

    def _release(self) -> None:
        pass


def run_model_pipeline(
    model: str,
    params: dict[str, Any],
    runs_dir: str,
    mlflow: bool = True,
    data: tuple[pd.DataFrame, RenderSet] | None = None,
    mixed_modalities: bool = False,
    face_actions: pd.DataFrame | None = None,
) -> DataCatalog:
    """Run the ``model`` namespace's pipeline on the toy data (or on ``data``: a scan index and
    its renders); returns the catalog. The MLflow model run goes to the current tracking store
    (``mlflow=False``: kept in memory). ``mixed_modalities``: the renders are
    :func:`mixed_modality_renders`. ``face_actions``: the face reader's input (default:
    :func:`toy_face_actions`)."""
    index, renders = data if data is not None else index_and_renders()
    if mixed_modalities:
        renders = mixed_modality_renders(renders)
    pipe = training.create_pipeline(model)
    datasets = {name: KeptMemoryDataset() for name in pipe.all_outputs()}
    if mlflow:
        datasets[f"{model}.mlflow_run"] = MlflowModelRunDataset(log_model=False)
    catalog = DataCatalog(
        {
            **datasets,
            "scan_index": MemoryDataset(index),
            "renders": MemoryDataset(renders, copy_mode="assign"),
            "face_actions": MemoryDataset(
                toy_face_actions(renders) if face_actions is None else face_actions
            ),
            "params:dataset": MemoryDataset({"name": "toy"}),
            "params:caches.training_runs": MemoryDataset(runs_dir),
            "pretrained_backbone": MemoryDataset(PretrainedWeights("", {"skipped": True})),
            f"params:{model}": MemoryDataset(params),
        }
    )
    SequentialRunner().run(pipe, catalog)
    return catalog
