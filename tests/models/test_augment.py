"""Mixed view augmentation: independent draws per view, reproducible with a seeded generator."""

from __future__ import annotations

import pytest
import torch

from facevlm.models.augment import AugmentConfig, MixedViewAugmentation, affine_grid

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


def test_crop_larger_than_the_image_zooms_out_and_keeps_the_whole_face():
    size = 32
    face = torch.zeros(1, 1, 3, size, size)
    face[..., 8:24, 8:24] = 1.0  # a bright square on black, a quarter of the image
    cfg = AugmentConfig(
        **{**OFF, "crop_p": 1.0, "crop_scale": (2.25, 2.25), "crop_ratio": (1, 1)},
        padding_mode="zeros",
    )
    out = MixedViewAugmentation(cfg)(face.expand(6, 1, 3, size, size), generator=gen(0))
    area = (out[:, 0, 0] > 0.5).float().sum(dim=(1, 2)) / (16 * 16)
    # side 1.5x the image: the square's area shrinks by 1 / 2.25, and none of it is cut off
    assert torch.allclose(area, torch.full_like(area, 1 / 2.25), atol=0.08)
    assert (out[:, 0, 0, 0, :] < 0.5).all() and (out[:, 0, 0, -1, :] < 0.5).all()
    centres = [(out[k, 0, 0] > 0.5).nonzero().float().mean(0) for k in range(6)]
    assert len({tuple(c.round().tolist()) for c in centres}) > 1  # placed at random


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


def sequential_jitter(x: torch.Tensor, u: torch.Tensor, cfg: AugmentConfig) -> torch.Tensor:
    """Plain reference of the colour jitter, one step after the other, in float64.

    brightness -> contrast (around the image's mean grey) -> saturation (around each pixel's
    grey) -> hue (rotation of the YIQ chroma plane), clamped to [0, 1] once at the end, as the
    unfolded implementation did (it never clamped between steps, so folding is exact).
    Draw columns: 8 jitter on/off, 9 brightness, 10 contrast, 11 saturation, 12 hue.
    """
    x, u = x.double(), u.double()
    luma = torch.tensor([0.299, 0.587, 0.114], dtype=torch.float64)
    rgb_to_yiq = torch.tensor(
        [[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]],
        dtype=torch.float64,
    )
    yiq_to_rgb = torch.linalg.inv(rgb_to_yiq)
    out = torch.empty_like(x)
    for k in range(x.shape[0]):
        img, d = x[k], u[k]  # (3, H, W), (13,)
        if d[8] < cfg.jitter_p:
            b = 1 + cfg.brightness * (2 * d[9] - 1)
            c = 1 + cfg.contrast * (2 * d[10] - 1)
            s = 1 + cfg.saturation * (2 * d[11] - 1)
            turn = cfg.hue * (2 * d[12] - 1) * 2 * torch.pi
            img = img * b  # brightness
            mean = (luma[:, None, None] * img).sum(0).mean()
            img = (img - mean) * c + mean  # contrast
            grey = (luma[:, None, None] * img).sum(0, keepdim=True)
            img = (img - grey) * s + grey  # saturation
            yiq = torch.einsum("ij,jhw->ihw", rgb_to_yiq, img)
            i, q = yiq[1], yiq[2]
            cos, sin = torch.cos(turn), torch.sin(turn)
            yiq = torch.stack([yiq[0], cos * i - sin * q, sin * i + cos * q])  # hue
            img = torch.einsum("ij,jhw->ihw", yiq_to_rgb, yiq)
        out[k] = img.clamp(0.0, 1.0)
    return out


@pytest.mark.parametrize(
    "cfg",
    [
        AugmentConfig(),
        AugmentConfig(jitter_p=1.0, brightness=0.6, contrast=0.6, saturation=0.9, hue=0.4),
        AugmentConfig(jitter_p=1.0, hue=0.0),
    ],
    ids=["default", "strong", "no-hue"],
)
def test_folded_jitter_equals_sequential_reference(cfg):
    torch.manual_seed(0)
    x = torch.rand(24, 3, 16, 16)
    x[:4] = x[:4] * 0.2 + 0.8  # bright images: the strong jitter pushes them past 1 (clamped)
    u = torch.rand(24, 13)
    out = MixedViewAugmentation(cfg).colour_jitter(x, u)
    ref = sequential_jitter(x, u, cfg)
    assert out.dtype == x.dtype and out.shape == x.shape
    torch.testing.assert_close(out.double(), ref, atol=1e-5, rtol=0)
    if cfg.brightness > 0.5:
        clamped = (out == 0) | (out == 1)
        assert clamped.any() and not clamped.all()  # the clamp is exercised


def test_forward_is_warp_then_reference_jitter():
    """The seeded forward consumes the draws as before: one (B*V, 13) uniform block."""
    cfg = AugmentConfig()
    aug = MixedViewAugmentation(cfg)
    x = torch.rand(4, 3, 3, 16, 16)
    out = aug(x, generator=gen(0))
    u = torch.rand(12, 13, generator=gen(0))
    grid = torch.nn.functional.affine_grid(aug.affine(u), [12, 3, 16, 16], align_corners=False)
    warped = torch.nn.functional.grid_sample(
        x.reshape(12, 3, 16, 16), grid, padding_mode="border", align_corners=False
    )
    ref = sequential_jitter(warped, u, cfg).reshape(x.shape)
    torch.testing.assert_close(out.double(), ref, atol=1e-5, rtol=0)


@pytest.mark.parametrize("size", [(64, 64), (16, 16), (5, 9)])
def test_affine_grid_equals_torch(size):
    h, w = size
    aug = MixedViewAugmentation(AugmentConfig(max_rotate_deg=40))
    theta = aug.affine(torch.rand(50, 13, generator=gen(0)))
    ours = affine_grid(theta, h, w)
    ref = torch.nn.functional.affine_grid(theta, [50, 3, h, w], align_corners=False)
    assert ours.shape == ref.shape == (50, h, w, 2) and ours.dtype == ref.dtype
    torch.testing.assert_close(ours, ref, atol=1e-6, rtol=0)  # float rounding only
    identity = torch.tensor([[[1.0, 0, 0], [0, 1, 0]]])
    torch.testing.assert_close(
        affine_grid(identity, h, w),
        torch.nn.functional.affine_grid(identity, [1, 3, h, w], align_corners=False),
        atol=0,
        rtol=0,
    )
