"""Textual prompts: AffectVLM's augmented prompt bank and SMILE-VLM's descriptive pseudo-labels.

- :mod:`~facevlm.prompts.vocabulary`  emotion synonyms and subject-metadata words
- :mod:`~facevlm.prompts.augmented`   templates × synonyms × metadata → prompt bank (supervised)
- :mod:`~facevlm.prompts.descriptive` facial-action sentences matched to clusters (self-supervised)

Pure Python + pandas: no model, no LLM, nothing downloaded.
"""
