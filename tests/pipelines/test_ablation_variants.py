"""Every ablation variant in conf/base trains: each override builds a valid config and one tiny
epoch of cross-validation runs with it (a variant that only fails at the end of a long ablation
run is found here in seconds)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from facevlm.config import deep_merge
from facevlm.datasets import RenderSet
from facevlm.experiments.cross_validation import cross_validate
from facevlm.experiments.experiment_data import experiment_data
from facevlm.experiments.model_parameters import resolve_model_parameters
from facevlm.experiments.recipes import get_recipe
from facevlm.pipeline_registry import ablation_variants
from facevlm.pipelines.training.nodes import build_prompt_bank
from facevlm.scans.labels import BASIC_EMOTIONS
from facevlm.settings import CONFIG_LOADER_ARGS, CONFIG_LOADER_CLASS

CONF = Path(__file__).resolve().parents[2] / "conf"
N_SUBJECTS, SIZE = 4, 64
#: What every variant is run with on top of its own override: tiny, quick, random weights.
QUICK = {
    "experiment": {
        "data": {"max_folds": 1},
        "model": {"backbone": {"pretrained": None}},
        "train": {"epochs": 1, "batch_size": 8},
        "execution": {"progress": False, "checkpoint_dir": None},
    }
}


def _base_parameters() -> dict:
    """conf/base's parameters as the project's config loader gives them (each model's block
    over the shared ``model_defaults``)."""
    args = {**CONFIG_LOADER_ARGS, "base_env": "base", "default_run_env": "base"}
    return CONFIG_LOADER_CLASS(str(CONF), **args)["parameters"]


def _variants() -> list[tuple[str, str, dict]]:
    params = _base_parameters()
    return [
        (model, name, override)
        for model in ("affectvlm", "smile")
        for name, override in params[f"{model}_ablations"].items()
    ]


def _toy_data() -> tuple[pd.DataFrame, RenderSet, pd.DataFrame]:
    rng = np.random.default_rng(0)
    rows = []
    for s in range(N_SUBJECTS):
        for expression in BASIC_EMOTIONS:
            rows.append(
                {
                    "dataset": "toy",
                    "subject": f"F{s:04d}",
                    "gender": "FM"[s % 2],
                    "age": 30,
                    "ethnicity": None,
                    "expression": expression,
                    "path": f"/scans/F{s:04d}_{expression}.wrl",
                }
            )
    index = pd.DataFrame(rows)
    samples = index.assign(sample_id=index["path"], frame_paths=[[p] for p in index["path"]])
    images = rng.integers(0, 256, (len(index), 3, SIZE, SIZE, 3), dtype=np.uint8)
    renders = RenderSet(samples, ["front", "left", "right"], {"size": SIZE}, images)
    folds = index.assign(fold=[int(s[-1]) % 2 for s in index["subject"]])[["path", "fold"]]
    return index, renders, folds


@pytest.mark.parametrize(("model", "variant", "override"), _variants())
def test_every_configured_ablation_variant_trains(model, variant, override):
    params = resolve_model_parameters(_base_parameters()[model], override, variant)
    params = deep_merge(params, QUICK)
    recipe = get_recipe(params["recipe"])
    cfg = recipe.config_type.from_params(params["experiment"])
    index, renders, folds = _toy_data()
    data = experiment_data(renders, folds, cfg.data.classes, SIZE, cfg.data.views)
    bank = build_prompt_bank(index, params)

    result, _ = cross_validate(recipe, data, bank, cfg)

    assert data.views.shape[1] == cfg.model.n_views, "the model is built for the data's views"
    (fold,) = result.folds
    assert len(fold.history) == 1 and np.isfinite(fold.history[0]["loss"])
    assert len(fold.predictions["primary"]) == len(fold.y_true)


@pytest.mark.parametrize("model", ["affectvlm", "smile"])
def test_every_configured_variant_is_a_pipeline_of_its_own(model):
    """The registry builds one namespaced pipeline per variant of ``<model>_ablations``, with
    the same nodes as the model's own pipeline: on the model's folds, or, for a variant that
    changes the data, on folds of its own data (which its data stages make beside them)."""
    from facevlm.pipeline_registry import declared_data_variants, register_pipelines

    variants = list(_base_parameters()[f"{model}_ablations"])
    assert ablation_variants(model) == variants
    data_variants = declared_data_variants()[model]
    pipelines = register_pipelines()
    outputs = pipelines[f"ablate_{model}"].all_outputs()
    own_nodes = {
        node.name.split(".", 1)[1]
        for node in pipelines[f"train_{model}"].only_nodes_with_namespaces([model]).nodes
    }
    for variant in variants:
        assert f"{model}_ablation.{variant}.summary" in outputs
        namespace = f"{model}_ablation.{variant}"
        variant_nodes = {
            node.name.removeprefix(f"{namespace}.")
            for node in pipelines[f"ablate_{model}"].only_nodes_with_namespaces([namespace]).nodes
        }
        if variant in data_variants:
            assert own_nodes < variant_nodes, "a data variant makes its own data and folds"
        else:
            assert variant_nodes == own_nodes - {"folds"}, "variants train on the model's folds"
    assert f"{model}_ablation.table" in outputs


def test_a_variant_keeps_its_last_fold_model_unless_it_asks_for_the_final_fit():
    """``final_fit`` is the one switch: on for a model, off for its ablation variants unless
    the variant's override turns it on."""
    model = _base_parameters()["affectvlm"]
    assert resolve_model_parameters(model)["final_fit"] is True
    assert resolve_model_parameters(model, {}, "one_view")["final_fit"] is False
    assert resolve_model_parameters(model, {"final_fit": True}, "deployed")["final_fit"] is True


def test_a_variant_model_stays_in_memory_while_the_models_are_versioned_files():
    from kedro.io import DataCatalog, MemoryDataset

    from facevlm.datasets import ModelBundleDataset

    args = {**CONFIG_LOADER_ARGS, "base_env": "base", "default_run_env": "base"}
    catalog = DataCatalog.from_config(CONFIG_LOADER_CLASS(str(CONF), **args)["catalog"])

    assert isinstance(catalog["affectvlm_ablation.one_view.model"], MemoryDataset)
    assert isinstance(catalog["affectvlm.model"], ModelBundleDataset)
    assert isinstance(catalog["smile_mer.model"], ModelBundleDataset)


def _write_parameters(folder: Path, text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "parameters.yml").write_text(text)


def test_a_variant_declared_in_any_environment_becomes_a_pipeline(tmp_path):
    """Variants come from the config loader in every env of the configuration, not from the
    files of one folder: one declared only in ``conf/paper`` (or a user's env) is found, an
    env may add to base's, and each name is listed once, in declaration order."""
    _write_parameters(
        tmp_path / "base",
        "affectvlm_ablations:\n  one_view: {prompts: {kind: plain}}\nsmile_ablations: {}\n",
    )
    _write_parameters(
        tmp_path / "paper",
        "affectvlm_ablations:\n  paper_only: {prompts: {kind: plain}}\n",
    )
    _write_parameters(tmp_path / "mine", "smile_ablations:\n  two_views: {}\n")
    (tmp_path / "local").mkdir()

    assert ablation_variants("affectvlm", tmp_path) == ["one_view", "paper_only"]
    assert ablation_variants("smile", tmp_path) == ["two_views"]


def test_a_variant_with_a_synthetic_key_in_any_environment_changes_the_data(tmp_path):
    from facevlm.pipeline_registry import declared_data_variants

    _write_parameters(
        tmp_path / "base",
        "affectvlm_ablations:\n  one_view: {prompts: {kind: plain}}\n"
        "  bank: {synthetic: {expressions: bank}}\n  later: {}\n",
    )
    _write_parameters(
        tmp_path / "paper", "affectvlm_ablations:\n  later: {synthetic: {n_subjects: 8}}\n"
    )

    assert ablation_variants("affectvlm", tmp_path) == ["one_view", "bank", "later"]
    assert declared_data_variants(tmp_path) == {"affectvlm": ["bank", "later"], "smile": []}


def test_a_configuration_of_base_alone_declares_its_variants(tmp_path):
    _write_parameters(tmp_path / "base", "affectvlm_ablations:\n  one_view: {}\n")

    assert ablation_variants("affectvlm", tmp_path) == ["one_view"]
    assert ablation_variants("smile", tmp_path) == []


def test_the_variants_are_read_again_only_when_the_configuration_changes(tmp_path, monkeypatch):
    """A `kedro run` registers the pipelines twice (again once the run names its pipeline):
    the second registration reuses the first's reading of every env's parameters, and an
    edited file is read again."""
    from facevlm import settings

    _write_parameters(tmp_path / "base", "affectvlm_ablations:\n  read_once: {}\n")
    loaders_made = []
    loader_class = settings.CONFIG_LOADER_CLASS

    def counted_loader(**kwargs):
        loaders_made.append(kwargs["default_run_env"])
        return loader_class(**kwargs)

    monkeypatch.setattr(settings, "CONFIG_LOADER_CLASS", counted_loader)
    assert ablation_variants("affectvlm", tmp_path) == ["read_once"]
    assert loaders_made == ["base"]
    assert ablation_variants("affectvlm", tmp_path) == ["read_once"]
    assert loaders_made == ["base"], "read again although nothing changed"

    _write_parameters(
        tmp_path / "base", "affectvlm_ablations:\n  read_once: {}\n  read_twice: {}\n"
    )
    assert ablation_variants("affectvlm", tmp_path) == ["read_once", "read_twice"]
    assert loaders_made == ["base", "base"]


def test_the_ablation_table_lines_up_variants_after_the_baseline():
    from facevlm.pipelines.training.nodes import tabulate_ablations

    table = tabulate_ablations(
        baseline={"metrics": {"test/accuracy_mean": 0.9, "test/accuracy_std": 0.05, "n": 3}},
        one_view={"metrics": {"test/accuracy_mean": 0.7, "test/macro_f1_mean": 0.6}},
    )

    assert list(table["variant"]) == ["baseline", "one_view"]
    assert set(table.columns) == {
        "variant",
        "test/accuracy_mean",
        "test/accuracy_std",
        "test/macro_f1_mean",
    }
    assert table.loc[1, "test/accuracy_mean"] == 0.7 and np.isnan(table.loc[1, "test/accuracy_std"])
