"""Mixed view augmentation: independent draws per view, reproducible with a seeded generator."""

from __future__ import annotations

import pytest
import torch

from facevlm.models.augment import AugmentConfig, MixedViewAugmentation

pytestmark = pytest.mark.usefixtures("one_thread")

OFF = dict(flip_p=0.0, rotate_p=0.0, crop_p=0.0, jitter_p=0.0)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def same_image_in_every_view(b: int = 8, v: int = 3, size: int = 32) -> torch.Tensor:
    torch.manual_seed(0)
    img = torch.rand(b, 1, 3, size, size)
    return img.expand(b, v, 3, size, size).contiguous()


def test_shape_range_and_seeded_repeatability():
    aug = MixedViewAugmentation(AugmentConfig())
    x = torch.rand(4, 3, 3, 32, 32)
    out = aug(x, generator=gen(0))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert out.min() >= 0 and out.max() <= 1
    assert torch.equal(out, aug(x, generator=gen(0)))
    assert not torch.equal(out, aug(x, generator=gen(1)))


def test_views_of_one_sample_get_different_draws():
    x = same_image_in_every_view()
    out = MixedViewAugmentation(AugmentConfig(flip_p=0.5, rotate_p=1.0, crop_p=1.0))(
        x, generator=gen(0)
    )
    for b in range(x.shape[0]):
        for v in range(1, x.shape[1]):
            assert (out[b, 0] - out[b, v]).abs().max() > 1e-3


def test_all_off_is_identity():
    x = torch.rand(2, 3, 3, 16, 16)
    out = MixedViewAugmentation(AugmentConfig(**OFF))(x, generator=gen(0))
    torch.testing.assert_close(out, x, atol=1e-6, rtol=0)


def test_flip_draws_are_independent_per_view():
    x = torch.rand(200, 3, 3, 8, 8)
    out = MixedViewAugmentation(AugmentConfig(**{**OFF, "flip_p": 0.5}))(x, generator=gen(0))
    flipped = (out - x.flip(-1)).abs().amax(dim=(2, 3, 4)) < 1e-5  # (B, V)
    kept = (out - x).abs().amax(dim=(2, 3, 4)) < 1e-5
    assert (flipped ^ kept).all()  # every view is exactly one of the two
    assert 0.4 < flipped.float().mean() < 0.6
    mixed = (flipped.any(dim=1) & ~flipped.all(dim=1)).float().mean()  # 0.75 if independent
    assert 0.6 < mixed < 0.9


def test_crop_zooms_in():
    size = 32
    ramp = torch.linspace(0, 1, size).expand(3, size, size)  # horizontal ramp
    x = ramp.expand(4, 2, 3, size, size).contiguous()
    cfg = AugmentConfig(**{**OFF, "crop_p": 1.0, "crop_scale": (0.25, 0.25), "crop_ratio": (1, 1)})
    out = MixedViewAugmentation(cfg)(x, generator=gen(0))
    span = out[..., 0, 0, -1] - out[..., 0, 0, 0]  # (B, V) range of the ramp seen by the crop
    assert torch.allclose(span, torch.full_like(span, 0.5), atol=0.05)  # half the side


def test_rotation_moves_pixels_and_jitter_keeps_geometry():
    x = same_image_in_every_view(b=2)
    rot = MixedViewAugmentation(AugmentConfig(**{**OFF, "rotate_p": 1.0, "max_rotate_deg": 30}))
    assert (rot(x, generator=gen(0)) - x).abs().mean() > 0.05
    jit = MixedViewAugmentation(AugmentConfig(**{**OFF, "jitter_p": 1.0, "brightness": 0.5}))
    out = jit(x, generator=gen(0))
    # brightness/contrast/saturation/hue are per-image colour maps: a constant image stays
    # constant, and pixels of equal colour stay equal
    flat = torch.full((1, 2, 3, 8, 8), 0.5)
    flat_out = jit(flat, generator=gen(0))
    assert torch.allclose(flat_out, flat_out[..., :1, :1].expand_as(flat_out))
    assert not torch.equal(out, x)


def test_bad_input():
    aug = MixedViewAugmentation()
    with pytest.raises(ValueError):
        aug(torch.rand(2, 3, 32, 32))
    with pytest.raises(ValueError):
        MixedViewAugmentation(AugmentConfig(padding_mode="wrap"))
