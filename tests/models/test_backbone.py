"""Backbone factory: the tiny config, weight loading from a local file, freezing, size override."""

from __future__ import annotations

import time

import open_clip
import pytest
import torch

from facevlm.models.backbone import (
    BackboneConfig,
    _resolve_pretrained,
    create_backbone,
    image_size_of,
)

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = BackboneConfig(name="facevlm-tiny", pretrained=None)


def test_tiny_config_is_registered_and_builds():
    model, normalize, tokenizer = create_backbone(TINY)
    # registered by the module's first use of open_clip, which it imports only then
    assert "facevlm-tiny" in open_clip.list_models()
    assert image_size_of(model) == 64
    tokens = tokenizer(["a happy face", "a sad face"])
    assert tokens.shape == (2, 32)
    images = torch.rand(5, 3, 64, 64)
    assert model.encode_image(normalize(images)).shape == (5, 64)
    assert model.encode_text(tokens).shape == (2, 64)


def test_normalize_uses_clip_mean_and_std():
    _, normalize, _ = create_backbone(TINY)
    mean = torch.tensor(open_clip.OPENAI_DATASET_MEAN).view(3, 1, 1)
    out = normalize(mean.expand(3, 4, 4).clone())
    assert torch.allclose(out, torch.zeros_like(out), atol=1e-6)


def _tower_grads(model: torch.nn.Module) -> tuple[list, list]:
    tokens = torch.randint(1, 1000, (2, 32))
    loss = model.encode_image(torch.rand(2, 3, 64, 64)).sum() + model.encode_text(tokens).sum()
    loss.backward()
    image = [p.grad for p in model.visual.parameters()]
    text = [p.grad for n, p in model.named_parameters() if not n.startswith("visual.")]
    return image, text


def test_freeze_image_tower():
    model, _, _ = create_backbone(BackboneConfig("facevlm-tiny", None, freeze_image=True))
    assert not any(p.requires_grad for p in model.visual.parameters())
    assert model.transformer.resblocks[0].attn.in_proj_weight.requires_grad
    image, text = _tower_grads(model)
    assert all(g is None for g in image)
    assert model.text_projection.grad is not None


def test_freeze_text_tower_keeps_logit_scale_trainable():
    model, _, _ = create_backbone(BackboneConfig("facevlm-tiny", None, freeze_text=True))
    frozen = [model.token_embedding.weight, model.positional_embedding, model.text_projection]
    assert not any(p.requires_grad for p in frozen)
    assert not any(p.requires_grad for p in model.transformer.parameters())
    assert model.logit_scale.requires_grad
    assert all(p.requires_grad for p in model.visual.parameters())
    image, _ = _tower_grads(model)
    assert all(g is not None for g in image)
    assert model.token_embedding.weight.grad is None


def test_image_size_override():
    model, _, _ = create_backbone(BackboneConfig("facevlm-tiny", None, image_size=96))
    assert image_size_of(model) == 96
    assert model.encode_image(torch.rand(1, 3, 96, 96)).shape == (1, 64)


def test_local_weight_file_is_loaded(tmp_path):
    torch.manual_seed(1)
    source, _, _ = create_backbone(TINY)
    path = tmp_path / "tiny.pt"
    torch.save(source.state_dict(), path)
    torch.manual_seed(2)  # a different random init, overwritten by the file
    loaded, _, _ = create_backbone(BackboneConfig("facevlm-tiny", pretrained=str(path)))
    for (name, a), b in zip(source.state_dict().items(), loaded.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_missing_weight_file_and_unknown_tag_fail_clearly(tmp_path):
    with pytest.raises(FileNotFoundError):
        create_backbone(BackboneConfig("facevlm-tiny", pretrained=str(tmp_path / "nope.pt")))
    with pytest.raises(ValueError, match="unknown pretrained tag"):
        create_backbone(BackboneConfig("ViT-B-32", pretrained="no-such-tag"))
    with pytest.raises(ValueError, match="unknown open_clip architecture"):
        create_backbone(BackboneConfig("ViT-Q-99", pretrained=None))


def test_openai_tag_selects_quick_gelu_without_downloading():
    # resolution only: no weights are fetched
    assert _resolve_pretrained(BackboneConfig("ViT-B-32", "openai")) == ("openai", True)
    assert _resolve_pretrained(BackboneConfig("ViT-B-32", "openai", quick_gelu=False)) == (
        "openai",
        False,
    )
    assert _resolve_pretrained(BackboneConfig("ViT-B-32", "laion2b_s34b_b79k"))[1] is False


@pytest.mark.slow
@pytest.mark.parametrize("name", ["RN50", "ViT-B-32"])
def test_full_size_architectures_instantiate(name):
    t0 = time.perf_counter()
    model, normalize, tokenizer = create_backbone(BackboneConfig(name, pretrained=None))
    size = image_size_of(model)
    with torch.no_grad():
        feats = model.encode_image(normalize(torch.rand(1, 3, size, size)))
        text = model.encode_text(tokenizer(["a face"]))
    assert feats.shape == text.shape == (1, 1024 if name == "RN50" else 512)
    assert torch.isfinite(feats).all()
    assert time.perf_counter() - t0 < 60
