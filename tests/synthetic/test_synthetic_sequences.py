"""4D profiles, animated frames and micro-expression clips."""

from __future__ import annotations

import numpy as np
import pytest

from facevlm.scans.labels import EMOTION_TO_MICRO_CLASS, MICRO_EXPRESSION_CLASSES
from facevlm.synthetic.expressions import au_displacement, subject_recipe
from facevlm.synthetic.sequences import (
    MICRO_MAX_INTENSITY,
    capture_frames,
    clip_profile,
    make_micro_clip,
    random_sequence_profile,
    sequence_profile,
)


def _check_profile(profile: np.ndarray) -> None:
    n = len(profile)
    assert profile[0] == 0.0 and profile[-1] == 0.0
    assert profile.max() == pytest.approx(1.0)
    peak = int(np.argmax(profile))
    assert n / 4 <= peak <= 3 * n / 4, f"apex at frame {peak} of {n}"
    rise, fall = np.diff(profile[: peak + 1]), np.diff(profile[peak:])
    assert (rise >= -1e-12).all() and (fall <= 1e-12).all(), "one rise, one fall"


@pytest.mark.parametrize("n_frames", [5, 12, 20, 97])
def test_sequence_profile_goes_neutral_apex_neutral(n_frames):
    _check_profile(sequence_profile(n_frames))


def test_random_profiles_keep_the_shape_but_vary():
    profiles = [random_sequence_profile(16, np.random.default_rng(s)) for s in range(20)]
    for p in profiles:
        _check_profile(p)
    assert len({p.tobytes() for p in profiles}) > 10


def test_too_short_sequences_are_refused():
    with pytest.raises(ValueError, match="at least 5"):
        sequence_profile(4)
    with pytest.raises(ValueError, match="onset < apex"):
        clip_profile(10, 5, 5, 8)


def test_animated_frames_start_and_end_neutral_and_peak_at_apex(head):
    activation = subject_recipe("surprise")
    profile = sequence_profile(12)
    exact = [frame.scanned for frame in capture_frames(head, activation, profile)]
    away = np.array([np.linalg.norm(f - head.mesh.vertices, axis=1).mean() for f in exact])
    assert away[0] == 0.0 and away[-1] == 0.0
    assert int(np.argmax(away)) in np.flatnonzero(profile == profile.max())
    # with the scanner's jitter: ends still near neutral, the apex far from it
    captured = capture_frames(head, activation, profile, rng=np.random.default_rng(0))
    frames = [frame.scanned for frame in captured]
    jittered = np.array([np.linalg.norm(f - head.mesh.vertices, axis=1).mean() for f in frames])
    assert jittered[0] < 1.0 and jittered[-1] < 1.0
    assert jittered[int(np.argmax(profile))] > 2.5
    # frames differ even where the profile is flat (the scanner never sees the same surface)
    assert not np.array_equal(frames[0], frames[1])


def test_a_surprise_sequence_opens_the_mouth_steadily_and_never_crosses_the_lips(head):
    """Frames interpolate the jaw's motion: through the onset the mouth opens and the chin
    drops a little further every frame, and at no frame do the lips overlap."""
    idn = head.identity
    on_slit = head.skin & np.isclose(head.sheet[:, 1], idn.mouth_y)
    lower = np.flatnonzero(on_slit & head.lower)
    upper_of = {tuple(head.sheet[i]): i for i in np.flatnonzero(on_slit & ~head.lower)}
    upper = np.array([upper_of[tuple(head.sheet[i])] for i in lower])
    chin = np.flatnonzero(head.skin & (np.abs(head.sheet[:, 0]) < 1.0))
    chin = chin[np.argmin(head.sheet[chin, 1])]
    profile = sequence_profile(16)
    frames = [f.surface for f in capture_frames(head, subject_recipe("surprise"), profile)]
    gaps = np.array([(v[upper, 1] - v[lower, 1]).max() for v in frames])
    drops = np.array([head.mesh.vertices[chin, 1] - v[chin, 1] for v in frames])
    assert all((v[upper, 1] - v[lower, 1] > -1e-6).all() for v in frames)
    onset = slice(0, int(np.argmax(profile)) + 1)
    rising = np.diff(profile[onset]) > 0
    assert (np.diff(gaps[onset])[rising] > 0).all()
    assert (np.diff(drops[onset])[rising] > 0).all()
    assert gaps.max() > 15.0 and drops.max() > 10.0


def _pairwise(vertices: np.ndarray) -> np.ndarray:
    picks = vertices[:: max(1, len(vertices) // 50)]
    return np.linalg.norm(picks[:, None] - picks[None], axis=-1)


def test_a_frame_is_photographed_from_the_moved_face_and_written_with_the_scanners_noise(head):
    """The camera sees the face; the scanner's measurement noise is in the mesh only, so the
    photograph of a frame (shaded from ``surface``) carries no per-frame speckle."""
    activation, profile = subject_recipe("happiness"), sequence_profile(8)
    exact = capture_frames(head, activation, profile)
    frames = capture_frames(head, activation, profile, rng=np.random.default_rng(3))
    for still, frame in zip(exact, frames, strict=True):
        assert still.surface is still.scanned  # without a scanner, nothing to tell apart
        # the surface is the exact expression moved as a rigid body ...
        np.testing.assert_allclose(_pairwise(frame.surface), _pairwise(still.surface), atol=1e-9)
        assert not np.allclose(frame.surface, still.surface)
        # ... and the scanner measured it with about 0.03 mm of noise per coordinate
        assert 0.025 < float((frame.scanned - frame.surface).std()) < 0.035


@pytest.mark.parametrize("label", MICRO_EXPRESSION_CLASSES)
def test_micro_clips_are_short_faint_and_well_timed(head, label):
    for seed in range(8):
        clip = make_micro_clip(label, np.random.default_rng(seed), n_frames=10)
        assert clip.label == label and clip.classes[0] == label
        assert 0 < clip.onset < clip.apex < clip.offset < clip.n_frames == 10
        assert 0.1 <= clip.intensity <= MICRO_MAX_INTENSITY
        profile = clip.profile()
        assert profile[: clip.onset + 1].max() == 0.0 and profile[clip.offset :].max() == 0.0
        assert profile[clip.apex] == 1.0
        assert clip.au_string == "+".join(f"AU{a}" for a in clip.aus)
        assert set(clip.activation) == set(clip.aus)
        if clip.emotion is not None:
            assert EMOTION_TO_MICRO_CLASS[clip.emotion] == label
        # faint: far less movement than the full posed expression of the same AUs
        micro = np.linalg.norm(au_displacement(head, clip.activation), axis=1).max()
        full = np.linalg.norm(au_displacement(head, {au: 1.0 for au in clip.aus}), axis=1).max()
        assert 0 < micro <= MICRO_MAX_INTENSITY * full * 1.3


def test_repression_and_others_are_often_one_sided():
    one_sided = 0
    for seed in range(40):
        clip = make_micro_clip("others" if seed % 2 else "repression", np.random.default_rng(seed))
        one_sided += any(min(w) == 0.0 for w in clip.activation.values())
    assert 8 <= one_sided <= 32


def test_unknown_micro_class_is_refused():
    with pytest.raises(ValueError, match="micro-expression class"):
        make_micro_clip("happiness", np.random.default_rng(0))
