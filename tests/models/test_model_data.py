"""Multiview dataset, collate and the seeded loader."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from facevlm.models.multiview_data import MultiviewDataset, collate_multiview, make_loader

pytestmark = pytest.mark.usefixtures("one_thread")


def test_items_from_arrays_are_resized_floats(toy_views, tiny_tokenizer):
    views, labels = toy_views(1, size=48)
    ds = MultiviewDataset(
        views, labels, prompts=["a face"] * 6, tokenizer=tiny_tokenizer, image_size=64
    )
    item = ds[2]
    assert item.views.shape == (3, 3, 64, 64) and item.views.dtype == torch.float32
    assert item.views.min() >= 0 and item.views.max() <= 1
    assert item.tokens.shape == (32,) and item.tokens.dtype == torch.long
    assert (item.label, item.sample_id, item.prompt_id) == (2, "2", 0)


def test_no_resize_keeps_pixels_and_files_match_arrays(toy_views, tmp_path):
    views, _ = toy_views(1)
    paths = []
    for i, sample in enumerate(views):
        paths.append([tmp_path / f"{i}_{v}.png" for v in range(3)])
        for v, p in enumerate(paths[-1]):
            Image.fromarray(sample[v]).save(p)
    from_arrays = MultiviewDataset(views, image_size=64)
    from_files = MultiviewDataset(paths, image_size=64)
    assert torch.equal(from_arrays[3].views, from_files[3].views)
    expected = torch.from_numpy(views[3]).permute(0, 3, 1, 2).float() / 255
    assert torch.equal(from_arrays[3].views, expected)
    assert from_files[3].label == -1 and from_files[3].tokens is None


def test_candidate_prompts_are_drawn_and_explicit_ids_win(toy_views, tiny_tokenizer):
    views, _ = toy_views(1)
    candidates = ["joyful face", "smiling person", "happy expression"]
    ds = MultiviewDataset(views, prompts=[candidates] * 6, tokenizer=tiny_tokenizer, image_size=64)
    torch.manual_seed(0)
    drawn = {tuple(ds[0].tokens.tolist()) for _ in range(30)}
    assert drawn == {tuple(t) for t in tiny_tokenizer(candidates).tolist()}
    ds.set_prompts(["a"] * 3 + ["b"] * 3, prompt_ids=[4, 4, 4, 1, 1, 1])
    assert [ds[i].prompt_id for i in (0, 5)] == [4, 1]
    with pytest.raises(ValueError):
        ds.set_prompts(["a"] * 5)


def test_prompt_texts_name_the_drawn_prompt_of_each_id(toy_views, tiny_tokenizer):
    """``prompt_texts[item.prompt_id]`` is the prompt the item's tokens encode; a restored
    state holds tokens only, so the texts are unknown after it."""
    views, _ = toy_views(1)
    prompts = [["calm", "a smile"], ["a smile"], ["a frown", "calm"]] * 2
    ds = MultiviewDataset(views, prompts=prompts, tokenizer=tiny_tokenizer, image_size=64)
    assert ds.prompt_texts == ["calm", "a smile", "a frown"]
    torch.manual_seed(0)
    for _ in range(10):
        for i in range(len(ds)):
            item = ds[i]
            text = ds.prompt_texts[item.prompt_id]
            assert text in prompts[i]
            assert item.tokens.tolist() == tiny_tokenizer([text])[0].tolist()
    ds.load_state_dict(ds.state_dict())
    assert ds.prompt_texts is None


def test_collate(toy_views, tiny_tokenizer):
    views, labels = toy_views(1)
    ds = MultiviewDataset(
        views, labels, prompts=list("abcdef"), tokenizer=tiny_tokenizer, image_size=64
    )
    batch = collate_multiview([ds[i] for i in range(4)])
    assert batch.views.shape == (4, 3, 3, 64, 64) and batch.tokens.shape == (4, 32)
    assert batch.labels.tolist() == [0, 1, 2, 3] and batch.prompt_ids.tolist() == [0, 1, 2, 3]
    assert batch.sample_ids == ["0", "1", "2", "3"] and len(batch) == 4
    no_prompts = collate_multiview([MultiviewDataset(views, image_size=64)[0]])
    assert no_prompts.tokens is None


def test_loader_order_depends_on_seed_and_epoch_only():
    ds = MultiviewDataset(np.zeros((20, 1, 4, 4, 3), np.uint8), image_size=4)

    def order(seed: int, epoch: int) -> list[str]:
        loader = make_loader(ds, batch_size=6, seed=seed)
        loader.sampler.set_epoch(epoch)
        return [i for batch in loader for i in batch.sample_ids]

    assert order(0, 0) == order(0, 0)
    assert order(0, 0) != order(0, 1)
    assert order(0, 0) != order(1, 0)
    assert sorted(order(0, 1), key=int) == [str(i) for i in range(20)]
    unshuffled = make_loader(ds, batch_size=6, shuffle=False)
    assert [i for b in unshuffled for i in b.sample_ids] == [str(i) for i in range(20)]


@pytest.mark.parametrize("size", [64, 48], ids=["model-size", "resized"])
def test_loader_batch_equals_collated_items(toy_views, tiny_tokenizer, size):
    """The DataLoader fetches a batch through the batched ``__getitems__``; it must give what
    collating ``[ds[i] for i in indices]`` gives (same views, tokens, labels, prompt ids),
    prompt draws included, for the same indices and seed."""
    views, labels = toy_views(2, size=size)  # (12, 3, size, size, 3) uint8
    assert views.dtype == np.uint8
    n = len(views)
    candidates = [["joyful face", "smiling person", "happy expression"], "a face", ["x", "y"]]
    prompts = [candidates[i % 3] for i in range(n)]
    ds = MultiviewDataset(views, labels, prompts=prompts, tokenizer=tiny_tokenizer, image_size=64)
    assert (ds._batch_views([0]) is not None) == (size == 64)  # batched path only at model size
    loader = make_loader(ds, batch_size=5, seed=3)
    loader.sampler.set_epoch(1)
    it = iter(loader)  # draws the loader's base seed from the global RNG: seed after it
    torch.manual_seed(7)
    batches = list(it)
    indices = list(loader.sampler)  # the sampler has its own generator (seed, epoch)
    assert sorted(indices) == list(range(n)) and indices != list(range(n))
    torch.manual_seed(7)  # same prompt draws for the per-item reference
    for k, batch in enumerate(batches):
        idx = indices[5 * k : 5 * (k + 1)]
        ref = collate_multiview([ds[i] for i in idx])
        assert batch.sample_ids == ref.sample_ids == [str(i) for i in idx]
        assert batch.views.shape == (len(idx), 3, 3, 64, 64) and batch.views.dtype == torch.float32
        assert torch.equal(batch.views, ref.views)
        assert torch.equal(batch.tokens, ref.tokens)
        assert torch.equal(batch.labels, ref.labels)
        assert torch.equal(batch.prompt_ids, ref.prompt_ids)


def test_batched_items_collate_without_a_copy(toy_views, tiny_tokenizer):
    """The batched ``__getitems__`` converts the views once into a contiguous batch tensor and
    the collate hands that tensor on; a list whose views are not its slices is stacked."""
    views, labels = toy_views(1)
    ds = MultiviewDataset(
        views, labels, prompts=list("abcdef"), tokenizer=tiny_tokenizer, image_size=64
    )
    items = ds.__getitems__([4, 1, 3])
    batch = collate_multiview(items)
    assert batch.views is items.views and batch.views.is_contiguous()
    assert torch.equal(batch.views, torch.stack([ds[i].views for i in (4, 1, 3)]))
    for changed in (items[:2], [items[0], ds[2], items[2]], list(reversed(items))):
        stacked = collate_multiview(changed)
        assert stacked.views is not items.views
        assert torch.equal(stacked.views, torch.stack([s.views for s in changed]))
    swapped = type(items)([items[1], items[0], items[2]])  # same class, views out of order
    swapped.views = items.views
    assert torch.equal(collate_multiview(swapped).views[0], items.views[1])


def test_batched_views_of_float_and_tensor_sources(toy_views):
    views, _ = toy_views(1)
    for source in (views.astype(np.float64) / 255, torch.from_numpy(views)):
        ds = MultiviewDataset(source, image_size=64)
        batch = ds._batch_views([5, 0])
        assert batch.dtype == torch.float32 and batch.is_contiguous()
        assert torch.equal(batch, torch.stack([ds[5].views, ds[0].views]))


def test_uint8_batches_carry_bytes_to_the_device_and_convert_there(toy_views):
    """For GPU training the loader hands out uint8 batches (a quarter of the bytes to copy) and
    ``MultiviewBatch.to`` makes the float views there: the same values as the float path."""
    views, labels = toy_views(2, size=64)
    as_float = next(iter(make_loader(MultiviewDataset(views, labels, image_size=64), 4, seed=0)))
    ds = MultiviewDataset(views, labels, image_size=64)
    ds.uint8_batches = True
    as_bytes = next(iter(make_loader(ds, 4, seed=0)))
    assert as_bytes.views.dtype == torch.uint8
    assert as_bytes.views.stride(2) == 1  # the stored channels-last bytes: no transpose on the host
    moved = as_bytes.to("cpu")
    assert moved.views.is_contiguous()
    assert moved.views.dtype == torch.float32
    assert torch.equal(moved.views, as_float.views)
    assert moved.sample_ids == as_float.sample_ids


@pytest.mark.skipif(not torch.cuda.is_available(), reason="page-locked memory needs CUDA")
def test_a_pinning_loader_pins_every_tensor_of_the_batch():
    """``DataLoader(pin_memory=True)`` pins a batch only through its ``pin_memory()`` method;
    without it the batches stayed pageable, and each copy to the GPU first waited for the GPU to
    finish all queued work."""
    views = np.random.default_rng(0).integers(0, 256, (6, 2, 16, 16, 3), dtype=np.uint8)
    ds = MultiviewDataset(views, [0, 1, 2, 3, 4, 5], image_size=16)
    ds.uint8_batches = True
    batch = next(iter(make_loader(ds, 4, shuffle=False, pin_memory=True)))
    assert batch.views.is_pinned() and batch.labels.is_pinned() and batch.prompt_ids.is_pinned()
    assert batch.views.stride(2) == 1  # pinning kept the channels-last layout
    moved = batch.to("cuda", non_blocking=True)
    assert moved.views.is_contiguous() and moved.views.device.type == "cuda"
    expected = torch.from_numpy(views[:4]).permute(0, 1, 4, 2, 3).float() / 255
    # CUDA divides by a scalar as a multiplication by its reciprocal: equal to within an ulp
    torch.testing.assert_close(moved.views.cpu(), expected, rtol=0, atol=1e-7)
