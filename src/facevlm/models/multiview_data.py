"""Multiview samples as a torch Dataset: V rendered views, a prompt, a label and an id per sample.

Views come either as in-memory uint8 arrays ``(V, H, W, 3)`` (what the render pipeline produces),
as a lazy ``(N, V, H, W, 3)`` :class:`~facevlm.scans.view_store.ViewArray` on disk (what training
on a real dataset uses: each batch reads only its own rows, so memory does not grow with the
dataset), or as V image files per sample. Items are ``MultiviewSample(views (V, 3, S, S) float in [0, 1],
tokens (L,) | None, label, sample_id)`` with S the model's image size. The CLIP mean/std
normalisation is NOT applied here: it lives inside :class:`MultiviewCLIP`, so that augmentation
works on plain [0, 1] images and the dataset does not depend on which weights are loaded.

Prompts: each sample has one prompt, or a list of candidate prompts of which one is drawn
uniformly at every access (AffectVLM's augmented prompts); all distinct prompts are tokenised once.
Each item also carries a ``prompt_id``: the id given to ``set_prompts`` (SMILE-VLM's pseudo-label,
the prompt-bank index from ``assign_pseudo_prompts``), else the index of the drawn prompt among
the distinct prompts. ``set_prompts`` swaps prompts between epochs (SMILE-VLM's refresh).

    >>> ds = MultiviewDataset(images, labels, prompts=prompts, tokenizer=tok, image_size=64)
    >>> loader = make_loader(ds, batch_size=32, shuffle=True, seed=0)
    >>> batch = next(iter(loader))   # MultiviewBatch: views (B, V, 3, 64, 64), tokens (B, L)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from facevlm.digests import fingerprint_hasher
from facevlm.models.losses.distributed import is_distributed, rank, world_size
from facevlm.scans.view_store import ViewArray, array_fingerprint

ViewSource = np.ndarray | torch.Tensor | Sequence[str | Path]  # (V, H, W, 3) uint8 or V paths
PromptSource = str | Sequence[str] | None  # one prompt, candidates, or none
UNLABELED = -1


class MultiviewSample(NamedTuple):
    views: torch.Tensor  # (V, 3, S, S) float32 in [0, 1]
    tokens: torch.Tensor | None  # (L,) int64 prompt tokens, None when the dataset has no prompts
    label: int  # class index, -1 when unlabeled
    sample_id: str
    prompt_id: int = -1  # pseudo-label / prompt index of the drawn prompt, -1 without prompts


@dataclass
class MultiviewBatch:
    """One batch. ``views`` is float32 in [0, 1], or uint8 while it is still on the host when
    the dataset hands out ``uint8_batches``: :meth:`to` converts it after the copy."""

    views: torch.Tensor  # (B, V, 3, S, S) float32 in [0, 1] (uint8 0..255 before ``to``)
    tokens: torch.Tensor | None  # (B, L) int64
    labels: torch.Tensor  # (B,) int64, -1 for unlabeled
    sample_ids: list[str]
    prompt_ids: torch.Tensor | None = None  # (B,) int64 prompt / pseudo-label ids

    def to(self, device: torch.device | str, non_blocking: bool = False) -> MultiviewBatch:
        """The batch on ``device``, its views float32 in [0, 1] (uint8 views are converted
        there, after the copy)."""
        moved = self._map_tensors(lambda t: t.to(device, non_blocking=non_blocking))
        if moved.views.dtype == torch.uint8:
            moved.views = unit_float(moved.views)
        return moved

    def pin_memory(self) -> MultiviewBatch:
        """The batch with its tensors in page-locked host memory (``DataLoader(pin_memory=True)``
        calls this; it leaves an object without the method unpinned).

        Why it matters: a host-to-GPU copy from ordinary (pageable) memory first waits until the
        GPU has finished everything queued before it, so every training step would drain the
        GPU's queue before its batch could even start to copy. From pinned memory the copy is
        queued like a kernel and overlaps the previous step.
        """
        return self._map_tensors(torch.Tensor.pin_memory)

    def _map_tensors(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> MultiviewBatch:
        """A new batch with ``fn`` applied to each of its tensors (the sample ids as they are):
        the one place that lists the fields, so that ``to`` and ``pin_memory`` miss none."""
        return MultiviewBatch(
            views=fn(self.views),
            tokens=None if self.tokens is None else fn(self.tokens),
            labels=fn(self.labels),
            sample_ids=self.sample_ids,
            prompt_ids=None if self.prompt_ids is None else fn(self.prompt_ids),
        )

    def __len__(self) -> int:
        return int(self.views.shape[0])


def unit_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 ``x`` as contiguous float32 in [0, 1], on its own device: one converting copy (into
    the contiguous layout stacking gives), then an in-place division. The values of
    ``.float().div_(255.0)``, at about half the cost of ``uint8 / 255.0`` (a mixed-dtype division,
    much slower than float / float)."""
    return torch.empty(x.shape, dtype=torch.float32, device=x.device).copy_(x).div_(255.0)


def load_views(source: ViewSource) -> np.ndarray:
    """``(V, H, W, 3)`` uint8 (or float in [0, 1]) views from an array or a list of image files."""
    if isinstance(source, np.ndarray | torch.Tensor):
        arr = np.asarray(source)
    else:
        arr = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in source])
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise ValueError(f"expected views of shape (V, H, W, 3), got {arr.shape}")
    return arr


def views_to_tensor(views: np.ndarray, image_size: int) -> torch.Tensor:
    """``(V, H, W, 3)`` uint8 / float [0, 1] -> ``(V, 3, S, S)`` float32 in [0, 1] (squash resize)."""
    x = torch.from_numpy(np.ascontiguousarray(views)).permute(0, 3, 1, 2)  # (V, 3, H, W)
    x = x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()
    if x.shape[-2:] != (image_size, image_size):
        x = F.interpolate(
            x, size=(image_size, image_size), mode="bilinear", antialias=True, align_corners=False
        ).clamp_(0.0, 1.0)
    return x


class ViewChoices:
    """The same N samples rendered in M ways (e.g. ``texture`` and ``shaded``): M view arrays of
    one shape ``(N, V, H, W, 3)`` whose row i is the same sample. A :class:`MultiviewDataset`
    built on them shows each sample in one of the M, drawn at every access, so that a model
    learns the expression from either rendering while an epoch still has N samples (the number
    of steps does not grow with M).

    The draw uses torch's global generator, as the prompt draws do: the training loop seeds it
    per epoch, so a run (and a resumed one) sees the same draws. Every view of a sample comes
    from the same alternative (the views of one scan are rendered alike). The batched path of
    :meth:`MultiviewDataset.__getitems__` draws a batch's alternatives before its prompts, the
    per-sample path each sample's before its prompt: both are seeded, their draws differ.

    Args:
        alternatives: M arrays (or lazy :class:`ViewArray`) of the same shape.
        names: what each alternative is (``["texture", "shaded"]``), for fingerprints and logs.
    """

    ndim = 5

    def __init__(self, alternatives: Sequence[np.ndarray | ViewArray], names: Sequence[str]):
        self.alternatives = list(alternatives)
        self.names = [str(n) for n in names]
        if len(self.alternatives) < 1 or len(self.names) != len(self.alternatives):
            raise ValueError(f"{len(self.alternatives)} alternatives but {len(self.names)} names")
        shapes = {tuple(a.shape) for a in self.alternatives}
        if len(shapes) != 1 or len(next(iter(shapes))) != 5:
            raise ValueError(f"alternatives must share one (N, V, H, W, 3) shape, got {shapes}")

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.alternatives[0].shape)

    def __len__(self) -> int:
        return len(self.alternatives[0])

    def __getitem__(self, key) -> ViewChoices:
        """The same alternatives of the rows ``key`` (a slice or an index array)."""
        if isinstance(key, int | np.integer):
            raise TypeError("a ViewChoices row has M renderings: use draw() or alternatives[m]")
        return ViewChoices([a[key] for a in self.alternatives], self.names)

    def map(self, function: Callable[[np.ndarray], np.ndarray]) -> ViewChoices:
        """``function`` applied to every alternative (e.g. a reshape)."""
        return ViewChoices([function(a) for a in self.alternatives], self.names)

    def draw(self, n: int) -> np.ndarray:
        """``(n,)`` alternative indices drawn uniformly from torch's global generator."""
        return torch.randint(len(self.alternatives), (int(n),)).numpy()

    def take(self, indices: Sequence[int] | np.ndarray, choices: np.ndarray) -> np.ndarray:
        """``(B, V, H, W, 3)`` views of ``indices``, row k from alternative ``choices[k]``."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        choices = np.asarray(choices).reshape(-1)
        out = np.empty((len(idx), *self.shape[1:]), dtype=self.alternatives[0].dtype)
        for m, source in enumerate(self.alternatives):
            picked = np.flatnonzero(choices == m)
            if len(picked):
                rows = idx[picked]
                out[picked] = source.take(rows) if isinstance(source, ViewArray) else source[rows]
        return out

    def fingerprint(self) -> str:
        h = fingerprint_hasher()
        for name, source in zip(self.names, self.alternatives, strict=True):
            h.update(f"{name}:{array_fingerprint(source)}".encode())
        return h.hexdigest()


class MultiviewDataset(Dataset[MultiviewSample]):
    """Multiview samples from in-memory arrays or image files.

    Args:
        views: per sample, a ``(V, H, W, 3)`` uint8 array (a ``(N, V, H, W, 3)`` array or
            :class:`ViewArray` works too) or a list of V image paths; or :class:`ViewChoices`,
            several renderings of each sample of which every access draws one.
        labels: class index per sample (``-1`` unlabeled); ``None`` makes every sample unlabeled.
        sample_ids: id per sample (default ``"0"``, ``"1"``, ...).
        prompts: per sample a prompt, a list of candidate prompts, or ``None``; needs ``tokenizer``.
        tokenizer: open_clip tokenizer, ``list[str] -> (N, L)``.
        image_size: the side S the views are resized to (the model's ``image_size``).

    ``uint8_batches`` (off by default; :func:`facevlm.trainer.train` turns it on when it
    trains on CUDA): the batched path (views one array at the model's size) hands out uint8
    views, which :meth:`MultiviewBatch.to` converts to float on the device. A host-to-GPU copy
    then carries a quarter of the bytes, and neither the loader workers nor the pinning thread
    spend time on float conversion; on a GPU the float batches made training wait for data.
    The uint8 views keep the stored channels-last layout (a ``(B, V, 3, S, S)`` view of
    ``(B, V, S, S, 3)`` bytes): the transpose happens on the device, in the conversion.
    """

    uint8_batches: bool = False

    def __init__(
        self,
        views: Sequence[ViewSource] | np.ndarray | ViewArray,
        labels: Sequence[int] | np.ndarray | None = None,
        sample_ids: Sequence[str] | None = None,
        prompts: Sequence[PromptSource] | None = None,
        tokenizer: Callable[[list[str]], torch.Tensor] | None = None,
        image_size: int = 224,
    ):
        n = len(views)
        self.views = views
        self.labels = [UNLABELED] * n if labels is None else [int(x) for x in labels]
        self.sample_ids = [str(i) for i in range(n)] if sample_ids is None else list(sample_ids)
        if len(self.labels) != n or len(self.sample_ids) != n:
            raise ValueError(
                f"{n} samples but {len(self.labels)} labels, {len(self.sample_ids)} ids"
            )
        self.image_size = image_size
        self.tokenizer = tokenizer
        self._tokens: torch.Tensor | None = None  # (U, L) distinct prompts
        self._prompt_texts: list[str] | None = None  # the U distinct prompts, rows of _tokens
        self._choices: list[list[int]] = []  # per sample, rows of _tokens to draw from
        self._prompt_ids: list[int] | None = None  # explicit id per sample (pseudo-labels)
        if prompts is not None:
            self.set_prompts(prompts)

    def set_prompts(
        self,
        prompts: Sequence[PromptSource],
        prompt_ids: Sequence[int] | np.ndarray | torch.Tensor | None = None,
    ) -> None:
        """Replace the prompts (one entry per sample) and tokenise the distinct ones.

        ``prompt_ids`` (one int per sample, e.g. ``PseudoLabelResult.prompt_of_sample``) become
        the items' ``prompt_id``; without them the id is the drawn prompt's distinct index.
        """
        if len(prompts) != len(self):
            raise ValueError(f"{len(self)} samples but {len(prompts)} prompt entries")
        if prompt_ids is not None and len(prompt_ids) != len(self):
            raise ValueError(f"{len(self)} samples but {len(prompt_ids)} prompt ids")
        if self.tokenizer is None:
            raise ValueError("prompts need a tokenizer")
        index: dict[str, int] = {}
        choices = []
        for entry in prompts:
            candidates = [] if entry is None else [entry] if isinstance(entry, str) else list(entry)
            if not candidates:
                raise ValueError("every sample needs at least one prompt when prompts are given")
            choices.append([index.setdefault(p, len(index)) for p in candidates])
        self._tokens = self.tokenizer(list(index))  # (U, L)
        self._prompt_texts = list(index)
        self._choices = choices
        self._prompt_ids = None if prompt_ids is None else [int(x) for x in prompt_ids]

    @property
    def has_prompts(self) -> bool:
        return self._tokens is not None

    @property
    def prompt_texts(self) -> list[str] | None:
        """The distinct prompts of the last :meth:`set_prompts`, in the order of their ids (an
        item's ``prompt_id`` without explicit ids); None without prompts or after
        :meth:`load_state_dict`, whose state holds tokens, not texts."""
        return None if self._prompt_texts is None else list(self._prompt_texts)

    def state_dict(self) -> dict[str, object]:
        """The prompts in effect (what ``set_prompts`` changes between epochs, e.g. SMILE-VLM's
        pseudo-labels), so that a training checkpoint can restore them on resume."""
        return {
            "tokens": self._tokens,
            "choices": [list(c) for c in self._choices],
            "prompt_ids": None if self._prompt_ids is None else list(self._prompt_ids),
        }

    def load_state_dict(self, state: dict[str, object]) -> None:
        """Restore what :meth:`state_dict` returned (for a dataset with the same samples)."""
        choices = [list(c) for c in state["choices"]]
        if state["tokens"] is not None and len(choices) != len(self):
            raise ValueError(f"prompt state for {len(choices)} samples, dataset has {len(self)}")
        self._tokens = state["tokens"]
        self._prompt_texts = None  # the state holds tokens only
        self._choices = choices
        ids = state["prompt_ids"]
        self._prompt_ids = None if ids is None else [int(x) for x in ids]

    def fingerprint(self) -> str:
        """A digest of what training sees: the views' content, ids, labels, prompts and size.
        Part of a training checkpoint's key, so a checkpoint is never resumed on other data."""
        h = fingerprint_hasher()
        if isinstance(self.views, ViewChoices):
            h.update(self.views.fingerprint().encode())
        elif isinstance(self.views, np.ndarray | torch.Tensor | ViewArray):
            h.update(array_fingerprint(self.views).encode())
        else:  # per-sample arrays or image paths
            for source in self.views:
                h.update(
                    array_fingerprint(source).encode()
                    if isinstance(source, np.ndarray | torch.Tensor)
                    else repr([str(p) for p in source]).encode()
                )
        h.update(repr((self.sample_ids, self.labels, self.image_size)).encode())
        state = self.state_dict()
        if state["tokens"] is not None:
            h.update(state["tokens"].numpy().tobytes())
        h.update(repr((state["choices"], state["prompt_ids"])).encode())
        return h.hexdigest()

    def __len__(self) -> int:
        return len(self.sample_ids)

    def __getitem__(self, i: int) -> MultiviewSample:
        source = self.views
        if isinstance(source, ViewChoices):
            source = source.alternatives[int(source.draw(1)[0])]
        views = views_to_tensor(load_views(source[i]), self.image_size)  # (V, 3, S, S)
        return self._item(i, views)

    def __getitems__(self, indices: Sequence[int]) -> list[MultiviewSample]:
        """The samples at ``indices``, as ``[self[i] for i in indices]`` (the DataLoader fetches
        each batch through this).

        When the views are one ``(N, V, S, S, 3)`` array already at the model's size (what
        ``experiments.experiment_data.resize_views`` prepares), the batch is converted to float at once, into
        one contiguous ``(B, V, 3, S, S)`` tensor, instead of by two small ops per sample: with
        several intra-op threads on a busy machine every op pays a thread hand-off, which made
        per-sample loading of a batch of 32 ~30x slower on 2 threads (see
        ``benchmarks/train_step.py``). The items' views are slices of that tensor, and
        :func:`collate_multiview` hands it on as the batch instead of stacking a copy. Same values,
        same prompt draws.
        """
        batch = self._batch_views(indices)  # (B, V, 3, S, S) | None
        if batch is None:
            return [self[i] for i in indices]
        items = _BatchedSamples(
            self._item(i, views) for i, views in zip(indices, batch.unbind(0), strict=True)
        )
        items.views = batch
        return items

    def _batch_views(self, indices: Sequence[int]) -> torch.Tensor | None:
        """``(B, V, 3, S, S)`` contiguous float32 views of ``indices`` in one conversion, or
        ``None`` when the views are not one array at the model's size (files, ragged lists,
        resizing)."""
        src = self.views
        size = (self.image_size, self.image_size)
        arrays = np.ndarray | torch.Tensor | ViewArray | ViewChoices
        if not isinstance(src, arrays) or src.ndim != 5 or src.shape[-1] != 3:
            return None
        if tuple(src.shape[2:4]) != size:
            return None  # resizing stays per sample (views_to_tensor)
        idx = np.asarray(indices, dtype=np.int64)
        if isinstance(src, ViewChoices):
            x = torch.from_numpy(src.take(idx, src.draw(len(idx))))
        elif isinstance(src, torch.Tensor):
            x = src[torch.from_numpy(idx)]  # (B, V, S, S, 3)
        elif isinstance(src, ViewArray):
            x = torch.from_numpy(src.take(idx))  # only this batch's rows are read from disk
        else:
            x = torch.from_numpy(src[idx])  # fancy indexing copies: writable
        x = x.permute(0, 1, 4, 2, 3)  # (B, V, 3, S, S), channels-last strides
        if x.dtype != torch.uint8:
            return torch.empty(x.shape, dtype=torch.float32).copy_(x)
        if self.uint8_batches:
            # left in the stored channels-last layout: MultiviewBatch.to makes the contiguous
            # float copy on the device, where the transpose is free (on the host it was a
            # strided copy of every byte of the batch)
            return x
        return unit_float(x)

    def _item(self, i: int, views: torch.Tensor) -> MultiviewSample:
        """Sample ``i`` with its ``views`` ``(V, 3, S, S)``; draws the prompt."""
        tokens, prompt_id = None, -1
        if self._tokens is not None:
            rows = self._choices[i]
            pick = rows[0] if len(rows) == 1 else rows[int(torch.randint(len(rows), ()).item())]
            tokens = self._tokens[pick]  # (L,)
            prompt_id = pick if self._prompt_ids is None else self._prompt_ids[i]
        return MultiviewSample(views, tokens, self.labels[i], self.sample_ids[i], prompt_id)


class _BatchedSamples(list):
    """The items of one batch whose views are the slices ``views[i]`` of one ``(B, V, 3, S, S)``
    tensor (what :meth:`MultiviewDataset.__getitems__` returns on its batched path)."""

    views: torch.Tensor


def _stacked_views(samples: Sequence[MultiviewSample]) -> torch.Tensor | None:
    """``torch.stack([s.views for s in samples])`` without the copy when the samples' views
    already are the consecutive slices ``base[i]`` of one batch tensor (contiguous, or the
    channels-last uint8 layout of ``uint8_batches``); else ``None``."""
    base = getattr(samples, "views", None)
    if not isinstance(base, torch.Tensor) or base.ndim < 1:
        return None
    if len(samples) != base.shape[0]:
        return None
    ptr, step = base.data_ptr(), base.stride(0) * base.element_size()
    shape, strides = base.shape[1:], base.stride()[1:]
    for i, s in enumerate(samples):
        v = s.views
        if (
            v.data_ptr() != ptr + i * step
            or v.shape != shape
            or v.stride() != strides
            or v.dtype != base.dtype
            or v.device != base.device
        ):
            return None  # a sample was replaced or changed: stack what is there
    return base


def collate_multiview(samples: Sequence[MultiviewSample]) -> MultiviewBatch:
    """Stack samples into a :class:`MultiviewBatch` (tokens only when every sample has them)."""
    tokens = [s.tokens for s in samples]
    views = _stacked_views(samples)  # the batched __getitems__ already made the batch tensor
    if views is None:
        views = torch.stack([s.views for s in samples])  # (B, V, 3, S, S)
    return MultiviewBatch(
        views=views,
        tokens=None if any(t is None for t in tokens) else torch.stack(tokens),  # (B, L)
        labels=torch.tensor([s.label for s in samples], dtype=torch.long),  # (B,)
        sample_ids=[s.sample_id for s in samples],
        prompt_ids=torch.tensor([s.prompt_id for s in samples], dtype=torch.long),  # (B,)
    )


def make_loader(
    dataset: Dataset,
    batch_size: int,
    shuffle: bool = True,
    seed: int = 0,
    num_workers: int = 0,
    drop_last: bool = False,
    pin_memory: bool = False,
    shard: bool | None = None,
) -> DataLoader:
    """A DataLoader whose order depends only on ``(seed, epoch)``, on one process or under DDP.

    It always uses a ``DistributedSampler`` (one replica when no process group is initialised):
    the training loop calls ``sampler.set_epoch(epoch)``, so a resumed run sees the same order as
    an uninterrupted one, and each DDP rank sees its own shard. ``batch_size`` is per process.
    ``shard=False`` gives every rank the whole dataset (evaluation, pseudo-labelling under DDP);
    the default, ``None``, shards a shuffled (training) loader and not an unshuffled one, since
    an evaluation that embeds only its rank's shard would score or pseudo-label the wrong rows.
    """
    if shard is None:
        shard = shuffle
    distributed = shard and is_distributed()
    sampler = DistributedSampler(
        dataset,
        num_replicas=world_size() if distributed else 1,
        rank=rank() if distributed else 0,
        shuffle=shuffle,
        seed=seed,
        drop_last=drop_last,
    )
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=collate_multiview,
        drop_last=drop_last,
        pin_memory=pin_memory,
    )
