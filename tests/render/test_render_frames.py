"""Frame selection for 4D sequences, approximate rank pooling (dynamic images), and the
sample(s) the model reads of a sequence's rendered frames."""

from __future__ import annotations

import numpy as np
import pytest

from facevlm.render.frames import (
    FrameSpec,
    PhaseLabels,
    dynamic_image,
    frames_to_samples,
    magnify,
    parse_frames,
    pick,
    pool_frames,
    rank_pooling_weights,
    select_frames,
)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("apex", FrameSpec("apex")),
        ("uniform:3", FrameSpec("uniform", 3)),
        ("dynamic_image", FrameSpec("dynamic_image")),
        (" dynamic_image:8 ", FrameSpec("dynamic_image", 8)),
        ("onset_apex_offset", FrameSpec("onset_apex_offset")),
        ("magnified", FrameSpec("magnified")),
        ("magnified:6", FrameSpec("magnified", 6)),
    ],
)
def test_parse_frames(spec, expected):
    assert parse_frames(spec) == expected


@pytest.mark.parametrize(
    "spec",
    ["uniform", "uniform:0", "uniform:x", "bogus", "apex:2", "", "uniform:-1", "magnified:0"],
)
def test_bad_frame_specs_are_refused(spec):
    with pytest.raises(ValueError):
        parse_frames(spec)


def test_apex_is_the_middle_frame_or_the_labelled_one():
    assert select_frames(10, "apex") == [4]
    assert select_frames(11, "apex") == [5]
    assert select_frames(1, "apex") == [0]
    assert select_frames(10, "apex", PhaseLabels(apex=7)) == [7]


def test_uniform_takes_segment_centres_so_neutral_ends_are_skipped():
    assert select_frames(90, "uniform:3") == [15, 45, 75]
    assert select_frames(100, "uniform:1") == [50]
    indices = select_frames(97, "uniform:5")
    assert indices == sorted(indices) and indices[0] > 0 and indices[-1] < 96


def test_uniform_always_returns_k_frames_even_for_short_sequences():
    assert select_frames(2, "uniform:4") == [0, 0, 1, 1]


def test_onset_apex_offset_needs_labels_inside_the_sequence():
    assert select_frames(30, "onset_apex_offset", PhaseLabels(3, 10, 20)) == [3, 10, 20]
    with pytest.raises(ValueError, match="onset"):
        select_frames(30, "onset_apex_offset", PhaseLabels(apex=10))
    with pytest.raises(ValueError, match="outside"):
        select_frames(30, "onset_apex_offset", PhaseLabels(3, 10, 40))


def test_dynamic_image_uses_all_frames_or_the_labelled_span():
    assert select_frames(6, "dynamic_image") == list(range(6))
    assert select_frames(30, "dynamic_image", PhaseLabels(onset=5, offset=12)) == list(range(5, 13))
    assert select_frames(30, "dynamic_image:3") == [5, 15, 25]


def test_pick_returns_the_items():
    frames = [f"{k:03d}.wrl" for k in range(10)]
    assert pick(frames, "uniform:2") == ["002.wrl", "007.wrl"]


def test_empty_sequence_is_refused():
    with pytest.raises(ValueError):
        select_frames(0, "apex")


def test_rank_pooling_weights_match_the_paper_formula():
    for n in (1, 2, 5, 40):
        harmonic = [sum(1.0 / i for i in range(1, t + 1)) for t in range(n + 1)]
        expected = [
            2 * (n - t + 1) - (n + 1) * (harmonic[n] - harmonic[t - 1]) for t in range(1, n + 1)
        ]
        np.testing.assert_allclose(rank_pooling_weights(n), expected, atol=1e-12)
        assert abs(rank_pooling_weights(n).sum()) < 1e-9
    signs = np.sign(rank_pooling_weights(40))
    assert signs[0] < 0 < signs[-1] and np.count_nonzero(np.diff(signs)) == 1  # early -, late +


def test_dynamic_image_of_a_static_sequence_is_flat():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    pooled = dynamic_image(np.stack([frame] * 25))
    assert pooled.dtype == np.uint8 and pooled.shape == (16, 16, 3)
    assert np.unique(pooled).tolist() == [128]


def test_dynamic_image_of_a_brightening_ramp_shows_where_it_brightens():
    rng = np.random.default_rng(1)
    pattern = rng.uniform(0, 1, (16, 16, 3))
    frames = np.stack([(255 * pattern * t / 9).astype(np.uint8) for t in range(10)])
    pooled = dynamic_image(frames)
    assert pooled.min() == 0 and pooled.max() == 255
    assert np.corrcoef(pooled.ravel(), pattern.ravel())[0, 1] > 0.99
    # reversing time reverses the sign of the change: the image inverts
    reverse = dynamic_image(frames[::-1])
    assert np.corrcoef(reverse.ravel(), pattern.ravel())[0, 1] < -0.99


def test_dynamic_image_pools_each_view_separately():
    ramp = np.linspace(0, 255, 8)[:, None, None, None] * np.ones((8, 4, 4, 3))
    frames = np.stack([ramp, ramp[::-1] * 0 + 50], axis=1).astype(np.uint8)  # (T, V=2, H, W, C)
    pooled = dynamic_image(frames)
    assert pooled.shape == (2, 4, 4, 3)
    assert np.unique(pooled[1]).tolist() == [128]  # the static view stays flat


def test_dynamic_image_needs_frames_of_images():
    with pytest.raises(ValueError):
        dynamic_image(np.zeros((5, 4, 4)))


def test_magnified_takes_the_onset_and_apex_or_the_first_and_middle_frames():
    assert select_frames(30, "magnified", PhaseLabels(3, 10, 20)) == [3, 10]
    assert select_frames(11, "magnified:5") == [0, 5]
    assert select_frames(11, "magnified", PhaseLabels(apex=8)) == [0, 8]
    with pytest.raises(ValueError, match="apex 2 comes before onset 5"):
        select_frames(11, "magnified", PhaseLabels(onset=5, apex=2))


def test_magnify_amplifies_the_change_from_onset_to_apex():
    onset = np.full((2, 4, 4, 3), 100, np.uint8)
    apex = onset.copy()
    apex[0, 1, 1] = 103  # a faint brightening in one pixel of the first view
    apex[1, 2, 2] = 98  # a faint darkening in the second
    out = magnify(onset, apex, 4)
    assert out.dtype == np.uint8 and out.shape == onset.shape
    assert out[0, 1, 1].tolist() == [112, 112, 112]
    assert out[1, 2, 2].tolist() == [92, 92, 92]
    unchanged = np.ones(onset.shape, bool)
    unchanged[0, 1, 1] = unchanged[1, 2, 2] = False
    assert (out[unchanged] == 100).all()
    np.testing.assert_array_equal(magnify(onset, apex, 1), apex)


def test_magnify_clips_to_the_pixel_range():
    onset = np.array([[[[10, 200, 128]]]], np.uint8)
    apex = np.array([[[[5, 230, 128]]]], np.uint8)
    assert magnify(onset, apex, 10).tolist() == [[[[0, 255, 128]]]]


def test_magnify_refuses_frames_of_different_shapes():
    with pytest.raises(ValueError, match="differ in shape"):
        magnify(np.zeros((4, 4, 3)), np.zeros((4, 5, 3)), 2)


def test_pool_frames_follows_the_frame_mode():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)
    np.testing.assert_array_equal(pool_frames(frames, "dynamic_image"), dynamic_image(frames))
    np.testing.assert_array_equal(
        pool_frames(frames, "magnified:3"), magnify(frames[0], frames[1], 3)
    )
    with pytest.raises(ValueError, match="onset and an apex"):
        pool_frames(frames[:1], "magnified")
    with pytest.raises(ValueError, match="not pooled"):
        pool_frames(frames, "uniform:2")


def test_pool_frames_pools_each_view_on_its_own():
    rng = np.random.default_rng(1)
    onset, apex = rng.integers(0, 256, (2, 3, 8, 8, 3), dtype=np.uint8)  # 2 frames of 3 views
    frames = np.stack([onset, apex])  # (T, V, H, W, 3), as the render node and the app pool them
    magnified = pool_frames(frames, "magnified:2")
    assert magnified.shape == (3, 8, 8, 3)
    for view in range(3):
        np.testing.assert_array_equal(magnified[view], magnify(onset[view], apex[view], 2))
    pooled = pool_frames(frames, "dynamic_image")
    np.testing.assert_array_equal(pooled[2], dynamic_image(np.stack([onset[2], apex[2]])))


def test_a_pooled_mode_makes_one_sample_of_the_frames():
    rng = np.random.default_rng(2)
    frames = rng.integers(0, 256, (2, 3, 8, 8, 3), dtype=np.uint8)  # (T, V, H, W, 3)
    for mode in ("dynamic_image", "magnified:2"):
        samples = frames_to_samples(frames, mode)
        assert samples.shape == (1, 3, 8, 8, 3)
        np.testing.assert_array_equal(samples[0], pool_frames(frames, mode))
    with pytest.raises(ValueError, match="meshes"):
        frames_to_samples(frames, "surface_motion")  # pooled before rendering


def test_unpooled_frames_are_samples_of_their_own_or_one_sample_of_frames_x_views():
    frames = np.arange(3 * 2)[:, None, None, None].repeat(3, -1).reshape(3, 2, 1, 1, 3)
    for pooling in (None, "uniform:3", "apex"):
        np.testing.assert_array_equal(frames_to_samples(frames, pooling), frames)
    stacked = frames_to_samples(frames, "uniform:3", as_views=True)
    assert stacked.shape == (1, 6, 1, 1, 3)
    assert stacked[0, :, 0, 0, 0].tolist() == [0, 1, 2, 3, 4, 5], "frame-major: f0v0 f0v1 f1v0 .."
    pooled = frames_to_samples(frames[:2], "magnified", as_views=True)
    assert pooled.shape == (1, 2, 1, 1, 3), "a pooled mode pools whatever data.frames says"
