"""Prompt-ensemble classifier: the ensemble recipe, class order, and argmax on known geometry."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from facevlm.models.classifier import PromptEnsembleClassifier
from facevlm.scans.labels import BASIC_EMOTIONS

pytestmark = pytest.mark.usefixtures("one_thread")


def test_ensemble_is_renormalised_mean_of_normalised_prompts():
    torch.manual_seed(0)
    prompts = {"a": torch.randn(5, 16) * 3, "b": torch.randn(2, 16)}
    clf = PromptEnsembleClassifier.from_prompt_embeddings(prompts)
    expected = torch.stack(
        [F.normalize(F.normalize(p, dim=-1).mean(0), dim=0) for p in prompts.values()]
    )
    torch.testing.assert_close(clf.class_embeddings, expected)
    assert clf.class_names == ("a", "b")


def test_picks_the_class_whose_prompts_surround_the_embedding():
    torch.manual_seed(0)
    centres = F.normalize(torch.randn(6, 32), dim=-1)
    # prompts scattered around each centre, listed in a different order than the classes
    bank = {
        c: centres[i] + 0.3 * torch.randn(8, 32)
        for i, c in reversed(list(enumerate(BASIC_EMOTIONS)))
    }
    clf = PromptEnsembleClassifier.from_prompt_embeddings(bank, classes=BASIC_EMOTIONS)
    assert clf.class_names == BASIC_EMOTIONS
    targets = torch.arange(6).repeat(5)
    fused = 4.0 * (centres[targets] + 0.2 * torch.randn(30, 32))  # un-normalised on purpose
    assert torch.equal(clf.predict(fused), targets)
    logits = clf.logits(fused)
    assert logits.shape == (30, 6)
    torch.testing.assert_close(logits, 100.0 * F.normalize(fused, dim=-1) @ clf.class_embeddings.T)


def test_from_prompts_with_the_tiny_model(make_tiny_model, tiny_tokenizer):
    model = make_tiny_model()
    bank = {c: [f"a photo of {c}"] for c in reversed(BASIC_EMOTIONS)} | {"neutral": ["calm"]}
    clf = PromptEnsembleClassifier.from_prompts(model, tiny_tokenizer, bank)
    assert clf.class_names == BASIC_EMOTIONS
    assert clf.logit_scale == pytest.approx(model.logit_scale.exp().item())
    assert model.training  # mode restored
    with torch.no_grad():
        own = model.encode_text(tiny_tokenizer([f"a photo of {c}" for c in BASIC_EMOTIONS]))
    assert torch.equal(clf.predict(own), torch.arange(6))  # each prompt is its class


def test_missing_class_fails():
    with pytest.raises(ValueError, match="no prompts"):
        PromptEnsembleClassifier.from_prompt_embeddings(
            {"a": torch.randn(2, 4)}, classes=["a", "b"]
        )
