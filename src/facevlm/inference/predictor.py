"""The one prediction path of the app and ``facevlm predict``: read → render → encode → classify.

A :class:`Predictor` is built once per process from a :class:`~facevlm.datasets.ModelBundle`
and the render settings the model was trained with (:mod:`facevlm.inference.render_settings`),
and then answers one scan or sequence at a time
(:class:`~facevlm.inference.prediction.Prediction`), timing each stage:

- **read**: the mesh file(s), with :func:`facevlm.scans.formats.read_mesh`;
- **render**: the training views with a *warm* :class:`~facevlm.render.MultiviewRenderer`
  (creating an OpenGL context costs seconds; rendering three views costs milliseconds). VTK's
  context belongs to the thread that made it, while Streamlit calls from a thread per session,
  so every render runs on one dedicated render thread, one request at a time;
- **encode**: the views resized to the backbone's input exactly as in training
  (:func:`facevlm.models.multiview_data.views_to_tensor`), embedded and fused;
- **classify**: the prompt-ensemble classifier over the bundle's class prompts (AffectVLM; the
  SMILE-VLM zero-shot), and SMILE-VLM's linear probe when the bundle carries one; the closest
  single prompts with their cosine similarity. Each head's logits are divided by the bundle's
  calibration temperature for that head before the softmax (:mod:`facevlm.evaluation.calibration`),
  so the probabilities shown are calibrated; a bundle without one says ``"calibrated": false``;
  and the set of answers that holds the true class with the chosen coverage
  (:mod:`facevlm.inference.answers`);
- **second reading**: when the bundle carries a face reader (:mod:`facevlm.face_reader`), the
  Face Landmarker reads the same views (of a sequence, those of its apex frame, as in training)
  and the answer is given only where the two readings agree or their held-out-calibrated
  combination is safe; otherwise the prediction says it cannot tell (``Prediction.abstained``),
  with both readings. A bundle without a reader abstains on an unfamiliar input or too large a
  set, as before.

A mesh without a usable texture is rendered ``shaded`` instead, with a note. A model trained on
several modalities (``render.modality: texture+shaded``) renders a scan in the first (texture)
when it has one and shaded otherwise; either way it saw such renders in training, so neither is
unfamiliar for that reason. Every prediction says which modality answered. A 4D sequence is
predicted frame by frame over a timeline of up to ``timeline_frames`` frames; the sequence-level
prediction averages the frames the training's ``render.frames`` selects (``uniform:3``: onset,
apex, offset), or classifies their dynamic image (or magnified apex, or surface-motion map from
the first to the middle frame) when the model was trained on those, made of the frames as the
render pipeline makes it (:func:`facevlm.render.frames.frames_to_samples`).

(The sequence half lives in :mod:`facevlm.inference.sequence_prediction`.)
A model trained on frames stacked as views (``experiment.data.frames: views``, the 4D
namespaces) reads a sequence only as a whole: the frames ``render.frames`` selects, each
rendered in the views with the sequence's one face pose, stacked frame-major into one sample as
its training data was (:func:`~facevlm.render.frames.frames_to_samples` with ``as_views``), and
predicted once. It has no per-frame prediction, and refuses a single static scan.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from facevlm.evaluation import conformal
from facevlm.evaluation.calibration import LINEAR_PROBE, PROMPT_CLASSIFIER, head_temperatures
from facevlm.evaluation.familiarity import APPEARANCE, EDGES, EMBEDDING, UNLIKE, JointFamiliarity
from facevlm.face_reader.serving import ServedFaceReader
from facevlm.inference.answers import answer_set
from facevlm.inference.inputs import PredictionInput, ScanInput, SequenceInput
from facevlm.inference.prediction import STAGES, Prediction
from facevlm.inference.render_settings import render_settings_for, trained_modalities
from facevlm.inference.scan_files import modality_for, read_scan
from facevlm.inference.sequence_prediction import SURFACE_MOTION, SequencePrediction
from facevlm.inference.stage_clock import StageClock
from facevlm.models.classifier import PromptEnsembleClassifier
from facevlm.models.model_bundle import ModelBundle
from facevlm.models.multiview_clip import view_edges
from facevlm.models.multiview_data import views_to_tensor
from facevlm.render.face_pose import FacePose
from facevlm.render.frames import (
    frames_to_samples,
)
from facevlm.render.surface_motion import surface_motion_settings
from facevlm.scans.errors import ScanError
from facevlm.scans.mesh import FaceMesh

#: How many closest prompts a prediction lists.
N_CLOSEST_PROMPTS = 5


class Predictor(SequencePrediction):
    """A loaded model with its classifier heads and a warm renderer (see the module docstring).

    Args:
        bundle: the trained model.
        render_params: the project's ``params:render`` (used unless the bundle records its own).
        modality: override the render modality (``texture`` | ``shaded`` | ``depth``).
        timeline_frames: at most this many frames of a sequence are predicted one by one.
        name: what predictions call the model (its namespace, ``smile_mer``); default: its
            recipe (``smile``).
        threads: torch intra-op threads (process-wide; None leaves torch's choice). One sample
            is a few small tensor ops: on a busy shared CPU, syncing two threads costs more than
            it gains (measured: the tiny model's encode 4-9 ms on one thread, 3-780 ms on two).
        coverage: the probability the set of answers holds the true class (default: the one
            the bundle records, 0.9).
    """

    def __init__(
        self,
        bundle: ModelBundle,
        render_params: Mapping[str, Any] | None = None,
        modality: str | None = None,
        timeline_frames: int = 16,
        threads: int | None = 1,
        name: str | None = None,
        coverage: float | None = None,
    ) -> None:
        if threads is not None:
            torch.set_num_threads(int(threads))
        self.bundle = bundle
        self.model_name = bundle.model_name  # the recipe: which heads it has
        self.name = name or bundle.model_name
        self.classes = list(bundle.classes)
        self.settings, self.frames, self.stacked_frames = render_settings_for(
            bundle, render_params or {}, modality
        )
        self.timeline_frames = int(timeline_frames)
        self.model, self.tokenizer = bundle.build()
        self.image_size = int(self.model.image_size)
        with torch.inference_mode():
            self.classifier = PromptEnsembleClassifier.from_prompts(
                self.model, self.tokenizer, bundle.class_prompts, self.classes
            )
            self._prompts, self._prompt_embeddings = self._embed_prompts(bundle.class_prompts)
        self.probe = bundle.linear_probe
        self.familiarity = (
            JointFamiliarity.from_dict(bundle.familiarity)
            if bundle.familiarity is not None
            else None
        )
        #: the modalities the model's training data was rendered in, when the bundle says
        self.trained_modalities = trained_modalities(bundle, render_params)
        self.temperatures = head_temperatures(bundle.calibration)  # {head: T}; empty: uncalibrated
        self.conformal = conformal.from_calibration(bundle.calibration)  # None: no sets
        self.coverage = None if self.conformal is None else self.conformal.coverage
        if coverage is not None:
            self.coverage = conformal.check_coverage(coverage)
        #: the second reader that must agree before an answer (None: the bundle has none)
        self.face_reader = (
            ServedFaceReader(bundle.face_reader, [v.name for v in self.settings.views])
            if bundle.face_reader
            else None
        )
        self._render_thread = ThreadPoolExecutor(1, thread_name_prefix="facevlm-render")
        self._renderers: dict[str, Any] = {}
        self._lock = threading.Lock()  # one request at a time through the model and renderer

    # ---------------------------------------------------------------- set-up
    def _embed_prompts(
        self, class_prompts: Mapping[str, list[str]]
    ) -> tuple[list[tuple[str, str]], torch.Tensor]:
        prompts = [(c, p) for c in self.classes for p in dict.fromkeys(class_prompts[c])]
        chunks = [
            self.model.encode_text(self.tokenizer([p for _, p in prompts[i : i + 256]]))
            for i in range(0, len(prompts), 256)
        ]
        return prompts, F.normalize(torch.cat(chunks).float(), dim=-1)  # (P, D)

    def _renderer(self, modality: str):
        """The warm renderer of ``modality`` (created on the render thread on first use);
        :data:`SURFACE_MOTION`: the unlit colour renderer of surface-motion maps."""
        if modality not in self._renderers:
            from facevlm.render.renderer import MultiviewRenderer

            if modality == SURFACE_MOTION:
                settings = surface_motion_settings(self.settings)
            else:
                settings = dataclasses.replace(self.settings, modality=modality)
            self._renderers[modality] = MultiviewRenderer(settings)
        return self._renderers[modality]

    def warm_up(self) -> None:
        """Create the renderer and run every stage once on a synthetic face, so that the first
        real upload does not pay for the OpenGL context, shader compilation and torch set-up."""
        from facevlm.render.face_pose import stored_pose
        from facevlm.render.fixtures import checker_texture, face_like_mesh

        mesh = face_like_mesh(n_side=20)
        texture = checker_texture(64) if self.settings.modality == "texture" else None
        pose = stored_pose(mesh.vertices)  # the stand-in is no face: warm up, do not refuse it
        with self._lock:
            views = self._render_thread.submit(
                lambda: self._renderer(self.settings.modality).render(mesh, texture, pose)
            ).result()
            sample = views[None]
            if self.stacked_frames:  # the model's fusion head takes every frame's views
                sample = frames_to_samples(np.stack([views] * self.stacked_frames), as_views=True)
            heads = self._classify(self._encode(self._model_input(sample)))
            if self.face_reader is not None and not self.stacked_frames:
                self._second_reading(views, heads["zero_shot"][0].numpy())

    def close(self) -> None:
        def close_all():
            for renderer in self._renderers.values():
                renderer.close()
            self._renderers.clear()

        self._render_thread.submit(close_all).result()
        self._render_thread.shutdown()
        if self.face_reader is not None:
            self.face_reader.close()

    # ---------------------------------------------------------------- stages
    def _read(self, path: Path) -> FaceMesh:
        return read_scan(path)

    def _modality_for(self, mesh: FaceMesh, name: str) -> tuple[str, str | None]:
        """The modality to render ``mesh`` with, and a note when it cannot be the configured one
        (saying so when the model was trained on that one too)."""
        modality, note = modality_for(mesh, self.settings.modality, name)
        if note and modality in self.trained_modalities:
            note += f" (the model was trained on {modality} renders too)"
        return modality, note

    def _render(self, mesh: FaceMesh, modality: str, pose: FacePose | None = None) -> np.ndarray:
        return self._render_thread.submit(
            lambda: self._renderer(modality).render(mesh, pose=pose)
        ).result()

    def _model_input(self, views: np.ndarray) -> torch.Tensor:
        """``(N, V, S, S, 3)`` uint8 views → the model's input images, resized once for both
        the embedding and familiarity's view features."""
        return torch.stack([views_to_tensor(v, self.image_size) for v in views])

    @torch.inference_mode()
    def _encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Model input images (:meth:`_model_input`) → normalised and raw fused embeddings
        ``(N, D)``."""
        embedded = self.model(images)
        return embedded.fused.float(), embedded.fused_raw.float()

    @torch.inference_mode()
    def _view_features(
        self, images: torch.Tensor, spaces: Collection[str] = (APPEARANCE, EDGES)
    ) -> dict[str, np.ndarray]:
        """Model input images (:meth:`_model_input`) → the features of their views that
        familiarity compares, of those among ``spaces``: appearance ``(N, V * C)`` and edges."""
        features: dict[str, np.ndarray] = {}
        if APPEARANCE in spaces:
            features[APPEARANCE] = self.model.encode_appearance(images).numpy()
        if EDGES in spaces:
            features[EDGES] = view_edges(images).numpy()
        return features

    @torch.inference_mode()
    def _classify(self, fused: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        normalised, raw = fused
        t = self.temperatures.get(PROMPT_CLASSIFIER, 1.0)
        heads = {"zero_shot": (self.classifier.logits(normalised) / t).softmax(dim=-1)}
        if self.probe is not None:
            z = (raw - self.probe["mean"]) / self.probe["scale"]
            t = self.temperatures.get(LINEAR_PROBE, 1.0)
            heads["probe"] = ((z @ self.probe["weight"].T + self.probe["bias"]) / t).softmax(-1)
        heads["prompt_similarity"] = normalised @ self._prompt_embeddings.T  # (N, P)
        return heads

    def _closest(self, similarity: torch.Tensor) -> list[tuple[str, str, float]]:
        k = min(N_CLOSEST_PROMPTS, similarity.shape[-1])
        values, order = similarity.topk(k)
        return [(*self._prompts[i], float(v)) for v, i in zip(values, order.tolist(), strict=True)]

    def _heads(
        self, heads: dict[str, torch.Tensor], rows: slice | list[int], familiar: bool | None
    ) -> dict[str, Any]:
        """Main-head probabilities (mean over ``rows``), for a probe the zero-shot ones, and
        the set of answers of the main head (:func:`~facevlm.inference.answers.answer_set`)."""
        zero_shot = heads["zero_shot"][rows].mean(dim=0).numpy()
        answers = (self.classes, self.coverage, familiar)
        if "probe" in heads:
            probabilities = heads["probe"][rows].mean(dim=0).numpy()
            return {
                "probabilities": probabilities,
                "method": "linear probe",
                "zero_shot": zero_shot,
                "temperature": self.temperatures.get(LINEAR_PROBE),
                **answer_set(self.conformal, LINEAR_PROBE, probabilities, *answers),
            }
        method = "zero-shot" if self.model_name == "smile" else "prompt classifier"
        return {
            "probabilities": zero_shot,
            "method": method,
            "zero_shot": None,
            "temperature": self.temperatures.get(PROMPT_CLASSIFIER),
            **answer_set(self.conformal, PROMPT_CLASSIFIER, zero_shot, *answers),
        }

    def _familiarity(
        self, normalised: torch.Tensor, images: torch.Tensor, rows: list[int], rendered: str
    ) -> dict:
        """How familiar the input is: the median k-NN score of ``rows`` (a sequence is as
        familiar as its typical frame) in each feature space of the bundle's statistics (the
        fused embedding, and the appearance and edges of the views of ``images``), joined into one
        score the way the held-out scans' were (:mod:`facevlm.evaluation.familiarity`). A render
        in a modality training did not have (a shaded render of an untextured scan for a
        texture-trained model) is unfamiliar whatever the score: the model has never seen one. A
        model trained on several modalities holds training embeddings of each, so its score alone
        decides."""
        out: dict[str, Any] = {"familiarity": None, "familiar": None, "unfamiliar_reason": None}
        statistics = self.familiarity
        if statistics is not None:
            features = {
                EMBEDDING: normalised[rows].numpy(),
                **self._view_features(images[rows], statistics.spaces),
            }
            scores = {
                space: np.array([np.median(statistics.spaces[space].scores(x))])
                for space, x in features.items()
            }
            joint = statistics.joint(scores)
            out["familiarity"] = float(statistics.familiarity(joint)[0])
            out["familiar"] = bool(statistics.familiar(joint)[0])
            if not out["familiar"]:
                out["unfamiliar_reason"] = UNLIKE[statistics.strangest(scores)[0]]
        trained = self.trained_modalities
        if trained and rendered not in trained:
            out["familiar"] = False
            untextured = trained == ["texture"] and self.settings.modality == "texture"
            out["unfamiliar_reason"] = (
                "untextured scan, model trained on textured scans"
                if untextured
                else f"{rendered} render, model trained on {' and '.join(trained)} renders"
            )
        return out

    def _second_reading(self, views: np.ndarray, probabilities: np.ndarray) -> dict[str, Any]:
        """The face reader's reading of one face's rendered ``views`` and what its rule decides
        with the model's main-head ``probabilities`` (:mod:`facevlm.face_reader.agreement`);
        empty for a model without a reader."""
        if self.face_reader is None:
            return {}
        reader = self.face_reader.read(views)
        return {
            "reader_classes": self.face_reader.classes,
            "reader_probabilities": reader,
            "decision": self.face_reader.decide(probabilities, self.classes, reader),
        }

    # ---------------------------------------------------------------- public
    def predict(self, item: PredictionInput) -> Prediction:
        """Predict one scan or sequence; raises ScanError for an unusable file."""
        if isinstance(item, SequenceInput):
            return self.predict_sequence(item)
        return self.predict_scan(item)

    def predict_scan(self, item: ScanInput) -> Prediction:
        if self.stacked_frames:
            raise ScanError(
                item.name,
                f"this model reads whole 4D sequences ({self.stacked_frames} frames stacked "
                "as one sample), not a single scan: give it a folder of a sequence's numbered "
                "frames",
            )
        with self._lock:
            clock = StageClock()
            mesh = clock.run("read", self._read, item.path)
            modality, note = self._modality_for(mesh, item.name)
            views = clock.run("render", self._render, mesh, modality)
            images = clock.run("encode", self._model_input, views[None])
            fused = clock.run("encode", self._encode, images)
            heads = clock.run("classify", self._classify, fused)
            familiarity = clock.run("classify", self._familiarity, fused[0], images, [0], modality)
            main = self._heads(heads, [0], familiarity["familiar"])
            reading = clock.run("classify", self._second_reading, views, main["probabilities"])
            return Prediction(
                file=item.name,
                model=self.name,
                classes=self.classes,
                timings=clock.timings(),
                views=views,
                view_names=[v.name for v in self.settings.views],
                closest_prompts=self._closest(heads["prompt_similarity"][0]),
                notes=[note] if note else [],
                modality=modality,
                trained_modalities=list(self.trained_modalities),
                **familiarity,
                **main,
                **reading,
            )


__all__ = [
    "STAGES",
    "Prediction",
    "Predictor",
    "ScanError",
    "render_settings_for",
    "trained_modalities",
]
