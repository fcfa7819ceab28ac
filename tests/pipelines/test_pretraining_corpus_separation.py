"""The pretraining corpus is another distribution and shares nothing with the evaluation set.

Both sets are written with the project's own configuration (``conf/base``), only smaller, so a
change of the configured corpus that would let evaluation people, seeds or expression renditions
into pretraining fails here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from facevlm.pipelines.pretrain.nodes import check_corpus_is_separate
from facevlm.pipelines.synthesize.nodes import prepare_raw_scans
from facevlm.prompts.captions import WEB_EMOTION_WORDS, caption_samples, manifest_activations
from facevlm.synthetic import SyntheticConfig, generate_synthetic_dataset
from facevlm.synthetic.layout_writers import BU3DFE_CODES

CONF = Path(__file__).resolve().parents[2] / "conf" / "base"
#: Sizes that keep the test quick; everything else comes from the project's configuration.
SMALL = {"n_subjects": 3, "resolution": 800, "texture_size": 64, "workers": 1}


def _params(name: str) -> dict:
    return yaml.safe_load((CONF / f"parameters_{name}.yml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def sets(tmp_path_factory) -> tuple[dict, dict]:
    tmp = tmp_path_factory.mktemp("separation")
    synthetic = _params("synthesize")["synthetic"]
    evaluation = generate_synthetic_dataset(
        tmp / "evaluation", SyntheticConfig(**{**synthetic, **SMALL, "layouts": ["bu3dfe"]})
    )
    pretraining = _params("pretrain")["pretraining"]
    dataset = {**pretraining["dataset"], "root": str(tmp / "corpus")}
    raw = prepare_raw_scans(dataset, {**pretraining["synthetic"], **SMALL})
    check_corpus_is_separate(raw["synthetic"], synthetic["seed"])
    return evaluation, raw["synthetic"]


def _subjects(manifest: dict) -> list[dict]:
    return manifest["layouts"]["bu3dfe"]["subjects"]


def test_the_corpus_shares_no_subject_with_the_evaluation_set(sets):
    evaluation, corpus = sets
    assert {s["subject"] for s in _subjects(evaluation)}.isdisjoint(
        s["subject"] for s in _subjects(corpus)
    )
    # not just other names: other people (each identity's own random draw)
    assert {s["identity_seed"] for s in _subjects(evaluation)}.isdisjoint(
        s["identity_seed"] for s in _subjects(corpus)
    )


def test_the_corpus_has_another_seed(sets):
    evaluation, corpus = sets
    assert corpus["config"]["seed"] != evaluation["config"]["seed"]


def test_the_corpus_shares_no_recipe_instance_with_the_evaluation_set(sets):
    """No scan of the corpus carries an activation (AU weights per side) that an evaluation
    scan carries, nor a subject recipe of the evaluation set at any of its levels."""
    evaluation, corpus = sets

    def instances(manifest: dict) -> set[tuple]:
        out = set()
        for subject in _subjects(manifest):
            for record in subject["activations"].values():
                if record:  # an empty activation is the neutral face, not a rendition
                    out.add(tuple(sorted((au, tuple(w)) for au, w in record.items())))
        return out

    assert instances(corpus)
    assert instances(corpus).isdisjoint(instances(evaluation))
    recipes = {
        tuple(sorted((au, tuple(w)) for au, w in recipe.items()))
        for manifest in (evaluation,)
        for subject in _subjects(manifest)
        for recipe in subject.get("recipes", {}).values()
    }
    corpus_recipes = {
        tuple(sorted((au, tuple(w)) for au, w in recipe.items()))
        for subject in _subjects(corpus)
        for recipe in subject.get("recipes", {}).values()
    }
    assert recipes.isdisjoint(corpus_recipes)


def test_corpus_captions_name_an_emotion_only_in_a_fraction_and_sometimes_wrongly(sets):
    _, corpus = sets
    activations = manifest_activations(corpus)
    rows = []
    for subject in _subjects(corpus):
        for stem in subject["scans"]:
            code = stem.split("_")[1]
            expression = {v: k for k, v in BU3DFE_CODES.items()}[code[:2]]
            rows.append(
                {
                    "sample_id": stem,
                    "subject": subject["subject"],
                    "expression": expression,
                    "intensity": int(code[2:4]),
                    "gender": "female" if subject["gender"] == "F" else "male",
                }
            )
    # each scan five times under other ids (other renders of it), for counts large enough
    samples = pd.DataFrame(
        [{**r, "sample_id": f"{r['sample_id']}#{k}"} for r in rows for k in range(5)]
    )
    classes = list(WEB_EMOTION_WORDS)
    captions = caption_samples(samples, activations, classes)

    assert activations.style == "web" == corpus["config"]["captions"]
    assert set(captions["sample_id"]) == set(samples["sample_id"]), "every sample is captioned"
    alt = captions[captions["kind"] == "emotion"]

    def names(caption: str, emotion: str) -> bool:
        return any(word in caption.split() for word in WEB_EMOTION_WORDS[emotion])

    named_right = alt.apply(lambda r: names(r["caption"], r["expression"]), axis=1)
    named_any = alt["caption"].map(lambda c: any(names(c, e) for e in classes))
    share_named = alt.assign(named=named_any).groupby("sample_id")["named"].any().mean()
    assert 0.15 < share_named < 0.8, share_named
    assert (named_any & ~named_right).any(), "some captions name the wrong emotion"
    # deterministic
    again = caption_samples(samples, activations, classes)
    pd.testing.assert_frame_equal(captions, again)


def test_the_corpus_is_captured_differently(sets):
    """Larger pose spread, stronger light changes and grey-level photographs in the corpus."""
    evaluation, corpus = sets
    e, c = evaluation["config"], corpus["config"]
    assert c["pose_deg"] > e["pose_deg"]
    assert c["lighting"] > e["lighting"]
    assert c["grayscale_share"] > 0 == e["grayscale_share"]
    assert np.isfinite(c["scale_jitter"]) and c["scale_jitter"] > e["scale_jitter"]
