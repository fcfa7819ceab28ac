"""MultiviewCLIP: the shared encoder sees every view, the embeddings honour the contract."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from facevlm.models.fusion import FUSION_MODES
from facevlm.models.multiview_clip import EDGES_GRID, MAX_LOGIT_SCALE, embed_samples, view_edges
from facevlm.models.multiview_data import MultiviewDataset, make_loader

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


def test_appearance_features_are_a_grid_of_the_early_stage_per_view(make_tiny_model):
    """Per view: the first stage's 128 channels on its 4 x 4 grid, unit length, the views side
    by side; each view's part depends on that view alone."""
    model = make_tiny_model().eval()
    images = torch.rand(2, 3, 3, 64, 64)
    with torch.no_grad():
        features = model.encode_appearance(images)
        assert features.shape == (2, 3 * 128 * 16)
        per_view = features.reshape(2, 3, -1)
        torch.testing.assert_close(per_view.norm(dim=-1), torch.ones(2, 3))
        changed = images.clone()
        changed[:, 1] = torch.rand(2, 3, 64, 64)
        after = model.encode_appearance(changed).reshape(2, 3, -1)
    torch.testing.assert_close(after[:, [0, 2]], per_view[:, [0, 2]])
    assert not torch.allclose(after[:, 1], per_view[:, 1])


def test_appearance_features_keep_where_things_are_in_the_image(make_tiny_model):
    """The same picture moved to the other half of the image: the same pooled features, other
    appearance features (a whole head and a face crop differ by where their parts lie)."""
    model = make_tiny_model().eval()
    left = torch.zeros(1, 3, 3, 64, 64)
    left[..., 16:48, 0:32] = torch.rand(3, 32, 32)
    right = torch.roll(left, 32, dims=-1)
    with torch.no_grad():
        a, b = model.encode_appearance(left), model.encode_appearance(right)
    assert F.cosine_similarity(a, b).item() < 0.99


def test_embed_samples_adds_appearance_and_edges_only_when_asked(make_tiny_model, toy_views):
    model = make_tiny_model()
    views, labels = toy_views(1)
    dataset = MultiviewDataset(views, labels, image_size=64)
    loader = make_loader(dataset, batch_size=4, shuffle=False)
    plain = embed_samples(model, loader)
    assert plain.appearance is None and plain.edges is None
    out = embed_samples(model, loader, appearance=True)
    assert out.appearance.shape == (len(labels), 3 * 128 * 16)
    assert out.edges.shape == (len(labels), 3 * EDGES_GRID**2)
    with torch.no_grad():
        first = model.eval().encode_appearance(dataset[0].views[None])[0]
    torch.testing.assert_close(out.appearance[0], first, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(out.edges[0], view_edges(dataset[0].views[None])[0])


def disc(radius: float, size: int = 64, centre: tuple[float, float] = (32.0, 32.0)):
    """A grey disc on black, as ``(3, size, size)``: a stand-in for a rendered face."""
    y, x = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    inside = ((x - centre[0]) ** 2 + (y - centre[1]) ** 2 <= radius**2).float()
    return inside.expand(3, size, size) * 0.7


def test_edges_are_the_outlines_whatever_the_grey_level():
    """Per view: the gradient magnitude of the grey view on a 32 x 32 grid, unit length; the
    same outline brighter or darker gives the same edges, another outline other edges."""
    views = torch.stack([disc(20), disc(20), disc(20)])[None]  # (1, 3 views, 3, 64, 64)
    edges = view_edges(views)
    assert edges.shape == (1, 3 * EDGES_GRID**2)
    torch.testing.assert_close(edges.reshape(3, -1).norm(dim=-1), torch.ones(3))
    torch.testing.assert_close(view_edges(views * 0.5), edges)
    torch.testing.assert_close(view_edges(views * 0.8 + 0.1), edges, atol=1e-5, rtol=0)
    square = torch.zeros_like(views)
    square[..., 14:50, 14:50] = 0.7
    assert F.cosine_similarity(view_edges(square), edges).item() < 0.75


def test_edges_tell_a_larger_outline_from_a_smaller_one_more_than_a_small_shift():
    """Where the outline runs is what the edges keep: a face drawn a fifth larger differs
    more than the same face moved by one pixel."""
    face = view_edges(disc(20)[None, None])
    moved = view_edges(disc(20, centre=(33.0, 32.0))[None, None])
    larger = view_edges(disc(24)[None, None])
    assert F.cosine_similarity(face, moved) > F.cosine_similarity(face, larger) + 0.2
