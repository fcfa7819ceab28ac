"""A trained model (:class:`facevlm.models.model_bundle.ModelBundle`) as a versioned catalog artifact.

The file holds only tensors and plain containers (str, int, float, bool, None, list, dict), so
it is read with ``torch.load(weights_only=True)``: opening a model file can never run code from
it. ``save`` converts numpy scalars and tuples to plain values to keep it that way.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import MISSING, fields

import torch
from kedro.io import DatasetError
from kedro_datasets._typing import JSONPreview

from facevlm.datasets.local_file import LocalVersionedFileDataset
from facevlm.evaluation import conformal
from facevlm.evaluation.calibration import head_temperatures
from facevlm.models.model_bundle import ModelBundle, plain

__all__ = ["ModelBundle", "ModelBundleDataset", "read_bundle_file"]


class ModelBundleDataset(LocalVersionedFileDataset[ModelBundle, ModelBundle]):
    """Saves a :class:`ModelBundle` with ``torch.save``; versioned like any catalog file.

    Loading uses ``weights_only=True``. A file that cannot be read that way (written by an
    older facevlm that pickled numpy values, or altered to carry code) or that lacks the
    bundle's fields raises a ``DatasetError`` naming the file and the reason.
    """

    def load(self) -> ModelBundle:
        return read_bundle_file(self._load_file())

    def save(self, data: ModelBundle) -> None:
        payload = {f.name: plain(getattr(data, f.name)) for f in fields(ModelBundle)}
        torch.save(payload, self._save_file())

    def preview(self) -> JSONPreview:
        """Kedro-Viz preview: what the model is (config, classes, run info), not its weights.
        A JSON *text*, as Kedro-Viz parses it (like ``json.JSONDataset.preview``)."""
        bundle = self.load()
        n_parameters = sum(t.numel() for t in bundle.state_dict.values())
        description = {
            "model_name": bundle.model_name,
            "classes": bundle.classes,
            "n_parameters": int(n_parameters),
            "model_config": bundle.model_config,
            "info": bundle.info,
        }
        return JSONPreview(json.dumps(description, default=str))


def read_bundle_file(path) -> ModelBundle:
    """Read one bundle file safely (see :class:`ModelBundleDataset`)."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except (pickle.UnpicklingError, RuntimeError, EOFError, AttributeError, ValueError) as error:
        reason = " ".join(str(error).split("\n")[0].split())
        raise DatasetError(
            f"{path}: not a model bundle that can be loaded safely (weights_only): {reason}. "
            "It may be from an older facevlm or altered; re-run the training pipeline."
        ) from error
    names = {f.name for f in fields(ModelBundle)}
    required = {f.name for f in fields(ModelBundle) if f.default is f.default_factory is MISSING}
    if not isinstance(payload, dict) or not required <= set(payload):
        found = sorted(payload) if isinstance(payload, dict) else type(payload).__name__
        raise DatasetError(f"{path}: not a model bundle (needs {sorted(required)}, has {found})")
    bundle = ModelBundle(**{k: v for k, v in payload.items() if k in names})
    try:
        bundle.check_probe()
        head_temperatures(bundle.calibration)  # a calibration record the predictor can apply
        conformal.from_calibration(bundle.calibration)  # and sets of answers it can cut
    except ValueError as error:
        raise DatasetError(f"{path}: {error}") from error
    return bundle
