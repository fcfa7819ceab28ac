"""Zero-shot / prompt-ensemble classification of fused multiview embeddings.

AffectVLM predicts by cosine similarity between the fused image embedding and one embedding per
class, where each class embedding is a prompt ensemble: the mean of the class's L2-normalised
prompt embeddings, renormalised (the CLIP zero-shot recipe). SMILE-VLM's zero-shot evaluation
uses the same classifier with descriptive prompts.

    >>> clf = PromptEnsembleClassifier.from_prompts(model, tokenizer, {"happiness": [...], ...})
    >>> pred = clf.predict(model(images).fused)   # (B,) class indices in clf.class_names order
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from facevlm.scans.labels import BASIC_EMOTIONS


class PromptEnsembleClassifier(nn.Module):
    """Cosine-similarity classifier over ``C`` class embeddings.

    Args:
        class_names: the C class names; logits column ``c`` is ``class_names[c]``.
        class_embeddings: ``(C, D)`` class embeddings (L2-normalised here).
        logit_scale: multiplies the cosine similarities in :meth:`logits` (CLIP's exp(scale));
            does not change the argmax.
    """

    def __init__(
        self,
        class_names: Sequence[str],
        class_embeddings: torch.Tensor,
        logit_scale: float = 100.0,
    ):
        super().__init__()
        if class_embeddings.ndim != 2 or class_embeddings.shape[0] != len(class_names):
            raise ValueError(
                f"expected ({len(class_names)}, D) class embeddings, got {tuple(class_embeddings.shape)}"
            )
        self.class_names = tuple(class_names)
        self.register_buffer("class_embeddings", F.normalize(class_embeddings.float(), dim=-1))
        self.logit_scale = float(logit_scale)

    @classmethod
    def from_prompt_embeddings(
        cls,
        prompt_embeddings: Mapping[str, torch.Tensor],
        classes: Sequence[str] | None = None,
        logit_scale: float = 100.0,
    ) -> PromptEnsembleClassifier:
        """Build from ``{class: (P, D) prompt embeddings}``: normalise, mean over P, renormalise."""
        classes = tuple(prompt_embeddings) if classes is None else tuple(classes)
        missing = [c for c in classes if c not in prompt_embeddings]
        if missing:
            raise ValueError(f"no prompts for classes {missing}")
        means = [F.normalize(prompt_embeddings[c].float(), dim=-1).mean(dim=0) for c in classes]
        return cls(classes, torch.stack(means), logit_scale)  # (C, D), renormalised in __init__

    @classmethod
    @torch.no_grad()
    def from_prompts(
        cls,
        model: nn.Module,
        tokenizer: Callable[[list[str]], torch.Tensor],
        prompt_bank: Mapping[str, Sequence[str]],
        classes: Sequence[str] = BASIC_EMOTIONS,
        batch_size: int = 256,
    ) -> PromptEnsembleClassifier:
        """Embed a prompt bank ``{class: [prompts]}`` with ``model.encode_text``.

        ``classes`` fixes the column order (default: the six basic emotions, the order of the
        label indices); the bank may hold more classes than that. ``logit_scale`` is the model's.
        """
        was_training = model.training
        model.eval()
        device = next(model.parameters()).device
        embeddings = {}
        for c in classes:
            prompts = list(prompt_bank.get(c, ()))
            if not prompts:
                raise ValueError(f"prompt bank has no prompts for class {c!r}")
            chunks = [
                model.encode_text(tokenizer(prompts[i : i + batch_size]).to(device))  # (p, D)
                for i in range(0, len(prompts), batch_size)
            ]
            embeddings[c] = torch.cat(chunks).float()  # (P, D)
        model.train(was_training)
        scale = float(model.logit_scale.exp().item())
        return cls.from_prompt_embeddings(embeddings, classes, logit_scale=scale).to(device)

    def similarity(self, fused: torch.Tensor) -> torch.Tensor:
        """``(B, D)`` fused embeddings -> ``(B, C)`` cosine similarities."""
        fused = F.normalize(fused.to(self.class_embeddings.dtype), dim=-1)
        return fused @ self.class_embeddings.T  # (B, C)

    def logits(self, fused: torch.Tensor) -> torch.Tensor:
        """``(B, D)`` -> ``(B, C)`` scaled cosine similarities (softmax gives probabilities)."""
        return self.logit_scale * self.similarity(fused)

    def forward(self, fused: torch.Tensor) -> torch.Tensor:
        return self.logits(fused)

    @torch.no_grad()
    def predict(self, fused: torch.Tensor) -> torch.Tensor:
        """``(B, D)`` -> ``(B,)`` index of the most similar class."""
        return self.similarity(fused).argmax(dim=-1)
