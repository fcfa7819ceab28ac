"""MultiviewCLIP: the shared encoder sees every view, the embeddings honour the contract."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from facevlm.models.data import MultiviewDataset, make_loader
from facevlm.models.fusion import FUSION_MODES
from facevlm.models.multiview_clip import MAX_LOGIT_SCALE, embed_samples

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("fusion", FUSION_MODES)
def test_forward_shapes_and_normalisation(make_tiny_model, tiny_tokenizer, fusion):
    model = make_tiny_model(fusion=fusion)
    images = torch.rand(4, 3, 3, 64, 64)
    emb = model(images, tiny_tokenizer(["a", "b", "c", "d"]))
    assert emb.views.shape == emb.views_raw.shape == (4, 3, 64)
    assert emb.fused.shape == emb.fused_raw.shape == emb.text.shape == (4, 64)
    assert (emb.batch_size, emb.n_views) == (4, 3)
    for t in (emb.views, emb.fused, emb.text):
        torch.testing.assert_close(t.norm(dim=-1), torch.ones(t.shape[:-1]))
    torch.testing.assert_close(emb.views, F.normalize(emb.views_raw, dim=-1))
    torch.testing.assert_close(emb.fused_raw, model.fusion(emb.views_raw))
    assert emb.logit_scale is model.clip.logit_scale
    assert emb.logit_scale.item() == pytest.approx(math.log(1 / 0.07), rel=1e-5)
    no_text = model(images)
    assert no_text.text is None and no_text.text_raw is None


def test_views_go_through_the_shared_encoder_one_by_one(make_tiny_model):
    model = make_tiny_model().eval()
    images = torch.rand(2, 3, 3, 64, 64)
    views_raw = model.encode_views(images)
    for b in range(2):
        for v in range(3):
            alone = model.clip.encode_image(model.normalize(images[b, v][None]))[0]
            torch.testing.assert_close(views_raw[b, v], alone, atol=1e-5, rtol=1e-4)


def test_text_dedup_matches_direct_encoding(make_tiny_model, tiny_tokenizer):
    model = make_tiny_model()
    tokens = tiny_tokenizer(["happy", "sad", "happy", "angry", "sad"])
    direct = model.clip.encode_text(tokens)
    torch.testing.assert_close(model.encode_text(tokens), direct, atol=1e-5, rtol=1e-4)
    bank = tokens[:4].reshape(2, 2, -1)  # (C=2, P=2, L) prompt bank
    assert model.encode_text(bank).shape == (2, 2, 64)
    # gradients reach the text tower through the de-duplication
    model.encode_text(tokens).sum().backward()
    assert model.clip.token_embedding.weight.grad.abs().sum() > 0


def test_input_checks(make_tiny_model, tiny_tokenizer):
    model = make_tiny_model()
    with pytest.raises(ValueError, match="backbone expects 64x64"):
        model(torch.rand(2, 3, 3, 32, 32))
    with pytest.raises(ValueError, match=r"\(B, V, 3, H, W\)"):
        model(torch.rand(2, 3, 64, 64))
    with pytest.raises(ValueError, match="one prompt per sample"):
        model(torch.rand(2, 3, 3, 64, 64), tiny_tokenizer(["only one"]))


def test_clamp_logit_scale(make_tiny_model):
    model = make_tiny_model()
    with torch.no_grad():
        model.clip.logit_scale.fill_(7.0)
    model.clamp_logit_scale()
    assert model.logit_scale.item() == pytest.approx(MAX_LOGIT_SCALE)
    with torch.no_grad():
        model.clip.logit_scale.fill_(-1.0)
    model.clamp_logit_scale()
    assert model.logit_scale.item() == 0.0


def test_embed_samples_keeps_order_and_mode(make_tiny_model, toy_views):
    model = make_tiny_model()
    views, labels = toy_views(2)
    ds = MultiviewDataset(views, labels, image_size=64)
    out = embed_samples(model, make_loader(ds, batch_size=5, shuffle=False))
    assert model.training
    assert out.fused.shape == (12, 64) and out.views.shape == (12, 3, 64)
    assert out.sample_ids == [str(i) for i in range(12)]
    assert torch.equal(out.labels, torch.as_tensor(labels))
    with torch.no_grad():
        first = model.eval()(ds[0].views[None]).fused[0]
    torch.testing.assert_close(out.fused[0], first, atol=1e-5, rtol=1e-4)
