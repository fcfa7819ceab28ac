"""Torch-only models of facevlm: no Kedro here, so everything runs under torchrun and tests alone.

- ``embeddings``      the ``MultiviewEmbeddings`` contract between model and losses
- ``backbone``        open_clip backbone factory (hub tag or local weights; ``facevlm-tiny``)
- ``fusion``          view fusion: mean | learned | attention
- ``multiview_clip``  ``MultiviewCLIP``: shared image encoder over V views + text encoder
- ``augment``         mixed view augmentation (independent draws per view), batched
- ``classifier``      prompt-ensemble (zero-shot) classifier
- ``multiview_data``  multiview ``Dataset``, collate and a seeded (DDP-ready) loader
- ``model_bundle``    a trained model with what using it needs (classes, prompts, render settings)
- ``losses``          AffectVLM and SMILE-VLM losses; ``pseudo_labels``; ``probes``
- ``checkpoints``     run identities and epoch checkpoints the training loop resumes from

The loop that trains them is the sibling package :mod:`facevlm.trainer`.

Submodules are imported explicitly (``from facevlm.models.multiview_clip import
MultiviewCLIP``); this package imports nothing, so loading one piece never pulls in open_clip or the others.
"""
