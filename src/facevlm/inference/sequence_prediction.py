"""How a :class:`~facevlm.inference.predictor.Predictor` reads a 4D sequence: its own module,
because a sequence is planned (which frames form the timeline, which the answer), posed once,
pooled or stacked as its model was trained, before the same encode and classify as a scan.

A model trained frame by frame predicts a timeline of up to ``timeline_frames`` frames, and the
sequence-level answer averages the frames its ``render.frames`` selects or classifies their
pooled image (dynamic image, magnified apex, surface-motion map). A model trained on frames
stacked as views reads the chosen frames as one sample, predicted once. A model with a face
reader has it read the sequence's apex frame, as its training did, and the same answer rule as
a scan's decides. The mixin uses the predictor's read, render, encode and classify steps; it
holds no state of its own.
"""

from __future__ import annotations

import numpy as np

from facevlm.inference.inputs import SequenceInput
from facevlm.inference.prediction import Prediction
from facevlm.inference.stage_clock import StageClock
from facevlm.render.face_pose import FacePose, face_pose_of
from facevlm.render.frames import (
    LABEL_FREE_FRAMES,
    apex_position,
    frames_to_samples,
    parse_frames,
    select_frames,
)
from facevlm.render.surface_motion import surface_motion_mesh
from facevlm.scans.layouts.base import frame_number
from facevlm.scans.mesh import FaceMesh

#: How the app names the one sample a pooled ``render.frames`` mode makes of a sequence.
POOLED_KINDS = {
    "dynamic_image": "dynamic image",
    "magnified": "magnified apex",
    "surface_motion": "surface motion",
}
#: The renderer key of surface-motion maps (``frames: surface_motion``), beside the modalities.
SURFACE_MOTION = "surface_motion"


class SequencePrediction:
    """The sequence half of :class:`~facevlm.inference.predictor.Predictor`."""

    def sequence_plan(self, n_frames: int) -> tuple[list[int], list[int], bool]:
        """Positions of the timeline frames, of the frames behind the sequence prediction,
        and whether those are pooled into one image (a dynamic image or the magnified apex).
        A stacked-frame model's timeline is its chosen frames: it predicts no frame alone."""
        spec = parse_frames(self.frames)
        if spec.mode == "onset_apex_offset":  # needs labels an upload does not have
            spec = parse_frames(LABEL_FREE_FRAMES)
        chosen = select_frames(n_frames, spec)
        if self.stacked_frames:
            if len(chosen) != self.stacked_frames:
                # training kept its sequences' shortest frame count (a labelled apex adds a
                # frame to uniform:K), and an upload has no labels: as many frames, spread
                chosen = select_frames(n_frames, f"uniform:{self.stacked_frames}")
            return chosen, chosen, False
        timeline = select_frames(n_frames, f"uniform:{min(n_frames, self.timeline_frames)}")
        return sorted(set(timeline) | set(chosen)), chosen, spec.pooled

    def _sequence_pose(self, middle_mesh: FaceMesh, clock: StageClock) -> FacePose | None:
        """One face pose for the whole sequence, from its middle frame, as in training (the
        scan index gives every frame of a sequence its middle frame's pose)."""
        if self.settings.pose != "estimate":
            return None
        return clock.run("render", face_pose_of, middle_mesh, "estimate")

    def _pool(
        self, meshes: list[FaceMesh], views: np.ndarray, clock: StageClock, pose: FacePose | None
    ) -> np.ndarray:
        """The chosen frames pooled into one ``(V, S, S, 3)`` sample as in training: their
        rendered views (dynamic image, magnified apex), or their meshes (surface motion)."""
        if parse_frames(self.frames).pooled_meshes:
            motion = clock.run("render", surface_motion_mesh, *meshes)
            return clock.run("render", self._render, motion, SURFACE_MOTION, pose)
        # (T, V, S, S, 3) -> (V, S, S, 3), each view pooled on its own
        return frames_to_samples(views, self.frames)[0]

    def _apex_reading(
        self,
        item: SequenceInput,
        rendered: dict[int, np.ndarray],
        read: dict[int, FaceMesh],
        pose: FacePose | None,
        probabilities: np.ndarray,
        clock: StageClock,
    ) -> dict:
        """The face reader's reading of the sequence's apex frame (the middle one: an upload has
        no phase labels, and it is the frame training read, the apex a surface-motion map is
        painted on), and what its rule decides with the model's sequence ``probabilities``.
        ``rendered`` and ``read``: the views and meshes of the frames already at hand, by
        position; the apex is read and rendered with the sequence's ``pose`` when not among them.
        Empty for a model without a reader."""
        if self.face_reader is None:
            return {}
        apex = apex_position(len(item.frames))
        views = rendered.get(apex)
        if views is None:
            mesh = read.get(apex)
            if mesh is None:
                mesh = clock.run("read", self._read, item.frames[apex])
            modality, _ = self._modality_for(mesh, f"{item.name}/{item.frames[apex].name}")
            views = clock.run("render", self._render, mesh, modality, pose)
        reading = clock.run("classify", self._second_reading, views, probabilities)
        return {**reading, "reader_frame": frame_number(item.frames[apex])}

    def predict_sequence(self, item: SequenceInput) -> Prediction:
        if self.stacked_frames:
            return self._predict_stacked_sequence(item)
        with self._lock:
            clock = StageClock()
            timeline, chosen, pooled = self.sequence_plan(len(item.frames))
            views, notes, meshes, fallbacks = [], [], {}, {}
            read = {p: clock.run("read", self._read, item.frames[p]) for p in timeline}
            pose = self._sequence_pose(read[timeline[len(timeline) // 2]], clock)
            for position in timeline:
                path, mesh = item.frames[position], read[position]
                modality, note = self._modality_for(mesh, f"{item.name}/{path.name}")
                if note:
                    notes.append(note)
                if modality != self.settings.modality:
                    fallbacks[position] = modality
                views.append(clock.run("render", self._render, mesh, modality, pose))
                if position in chosen:
                    meshes[position] = mesh
            stacked = np.stack(views)  # (T, V, S, S, 3)
            row_of = {position: row for row, position in enumerate(timeline)}
            samples, pooled_views = stacked, None
            if pooled:
                pooled_views = self._pool(
                    [meshes[p] for p in chosen], stacked[[row_of[p] for p in chosen]], clock, pose
                )
                samples = np.concatenate([stacked, pooled_views[None]])
            images = clock.run("encode", self._model_input, samples)
            fused = clock.run("encode", self._encode, images)
            heads = clock.run("classify", self._classify, fused)
            rows = [len(timeline)] if pooled else [row_of[p] for p in chosen]
            middle = row_of[chosen[len(chosen) // 2]]
            main = "probe" if "probe" in heads else "zero_shot"
            # a surface-motion map is made from the meshes: no frame's texture reaches the model
            rendered = self.settings.modality
            if not (pooled and parse_frames(self.frames).pooled_meshes):
                rendered = next((fallbacks[p] for p in chosen if p in fallbacks), rendered)
            familiarity = clock.run("classify", self._familiarity, fused[0], images, rows, rendered)
            answer = self._heads(heads, rows, familiarity["familiar"])
            by_position = {p: stacked[row] for p, row in row_of.items()}
            reading = self._apex_reading(
                item, by_position, read, pose, answer["probabilities"], clock
            )
            numbers = [frame_number(item.frames[p]) for p in timeline]
            return Prediction(
                file=item.name,
                model=self.name,
                classes=self.classes,
                timings=clock.timings(),
                views=stacked[middle],
                view_names=[v.name for v in self.settings.views],
                closest_prompts=self._closest(heads["prompt_similarity"][rows].mean(dim=0)),
                notes=_unique(notes),
                frame_numbers=numbers,
                frame_files=[item.frames[p].name for p in timeline],
                frame_probabilities=heads[main][: len(timeline)].numpy(),
                sequence_frames=[frame_number(item.frames[p]) for p in chosen],
                frame_strip=stacked[:, 0],
                pooled_views=pooled_views,
                pooled_kind=POOLED_KINDS[parse_frames(self.frames).mode] if pooled else None,
                modality=rendered,
                trained_modalities=list(self.trained_modalities),
                **familiarity,
                **answer,
                **reading,
            )

    def _predict_stacked_sequence(self, item: SequenceInput) -> Prediction:
        """A stacked-frame model's one prediction of a sequence (see the module docstring)."""
        with self._lock:
            clock = StageClock()
            _, chosen, _ = self.sequence_plan(len(item.frames))
            positions = sorted(set(chosen))  # uniform:K of fewer than K frames repeats some
            middle = len(item.frames) // 2
            read = {
                p: clock.run("read", self._read, item.frames[p])
                for p in sorted({*positions, middle})
            }
            pose = self._sequence_pose(read[middle], clock)
            notes, modality = [], self.settings.modality
            for position in positions:
                name = f"{item.name}/{item.frames[position].name}"
                fallback, note = self._modality_for(read[position], name)
                if note:
                    notes.append(note)
                if fallback != self.settings.modality:
                    modality = fallback
            # every frame in one modality: each training sample's views were rendered alike,
            # so a frame without its texture makes the whole sample shaded
            rendered = {
                p: clock.run("render", self._render, read[p], modality, pose) for p in positions
            }
            frame_views = np.stack([rendered[p] for p in chosen])  # (K, V, S, S, 3)
            # (1, K * V, S, S, 3), frame-major: the one sample training made of a sequence
            sample = frames_to_samples(frame_views, as_views=True)
            images = clock.run("encode", self._model_input, sample)
            fused = clock.run("encode", self._encode, images)
            heads = clock.run("classify", self._classify, fused)
            # the appearance of the whole stacked sample, as the final fit's statistics hold it
            familiarity = clock.run("classify", self._familiarity, fused[0], images, [0], modality)
            answer = self._heads(heads, [0], familiarity["familiar"])
            reading = self._apex_reading(item, rendered, read, pose, answer["probabilities"], clock)
            numbers = [frame_number(item.frames[p]) for p in chosen]
            return Prediction(
                file=item.name,
                model=self.name,
                classes=self.classes,
                timings=clock.timings(),
                views=frame_views[len(chosen) // 2],
                view_names=[v.name for v in self.settings.views],
                closest_prompts=self._closest(heads["prompt_similarity"][0]),
                notes=_unique(notes),
                frame_numbers=numbers,
                frame_files=[item.frames[p].name for p in chosen],
                frame_probabilities=None,
                sequence_frames=numbers,
                frame_strip=frame_views[:, 0],
                stacked_frames=len(chosen),
                modality=modality,
                trained_modalities=list(self.trained_modalities),
                **familiarity,
                **answer,
                **reading,
            )


def _unique(notes: list[str]) -> list[str]:
    if len(notes) > 3:
        return [*notes[:2], f"... and {len(notes) - 2} more frames without texture"]
    return notes
