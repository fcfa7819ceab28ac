"""Dataset profiles: the paper recipe (or the default one) on any dataset in one command.

Specification (``facevlm.dataset_profiles``):

- every dataset x recipe combination resolves, through the project's own config loader, to
  parameters that every training namespace, the protocol, the renderer and the layout accept;
- precedence, lowest first: ``conf/base``, a recipe env, the dataset's profile (then the env's
  own override of that profile), the user's ``conf/local``, ``--params``: a profile states facts
  about the data and never overrides a setting the user made;
- a profile never sets where the data lives, and a dataset without a profile changes nothing.
"""

from __future__ import annotations

import copy
import importlib
import shutil
from pathlib import Path

import pytest

from conf_profiles import CONF, load_parameters, profile_names
from facevlm.dataset_profiles import DatasetProfileConfigLoader, with_model_defaults
from facevlm.experiments.model_parameters import resolve_model_parameters
from facevlm.experiments.recipes import get_recipe
from facevlm.render.settings import split_render_params
from facevlm.scans.layouts.base import LAYOUT_NAMES, get_layout, parse_options
from facevlm.scans.protocols import ProtocolConfig
from facevlm.settings import CONFIG_LOADER_ARGS, CONFIG_LOADER_CLASS

RECIPES = ["local", "paper"]  # the default CPU recipe (conf/base) and the papers' settings
#: Training namespaces and the model block each one starts from (pipeline_registry).
NAMESPACES = {
    "affectvlm": None,
    "smile": None,
    "smile_mer": "smile",
    "affectvlm_4d": "affectvlm",
    "smile_4d": "smile",
}
#: The training pipelines that suit each dataset (static scans, sequences, micro-expressions).
TRAINED_ON = {
    "bu3dfe": ["affectvlm", "smile"],
    "bosphorus": ["affectvlm", "smile"],
    "bu4dfe": ["affectvlm", "smile", "affectvlm_4d", "smile_4d"],
    "bp4d": ["affectvlm", "smile", "affectvlm_4d", "smile_4d"],
    "4dme": ["smile_mer"],
}

pytestmark = pytest.mark.filterwarnings("ignore:register_new_resolver:UserWarning")


def test_the_project_loads_its_parameters_with_the_profile_loader():
    assert CONFIG_LOADER_CLASS is DatasetProfileConfigLoader


def test_every_real_dataset_has_a_profile():
    assert set(profile_names(CONF)) == set(LAYOUT_NAMES) - {"synthetic"} == set(TRAINED_ON)


@pytest.mark.parametrize("recipe", RECIPES)
@pytest.mark.parametrize("name", profile_names(CONF))
def test_every_dataset_and_recipe_resolve_to_a_valid_configuration(name, recipe):
    params = load_parameters(recipe, f"dataset.name={name}", "dataset.root=/mnt/scans")
    dataset = params["dataset"]
    assert (dataset["name"], dataset["root"]) == (name, "/mnt/scans")
    options_class = importlib.import_module(type(get_layout(name)).__module__).Options
    parse_options(options_class, dataset["options"], where=name)
    split_render_params(params["render"])  # as the render pipeline reads it
    for namespace, base in NAMESPACES.items():
        model = params[base or namespace]
        resolved = resolve_model_parameters(model, params[namespace] if base else None)
        ProtocolConfig.from_params(resolved["protocol"])
        get_recipe(resolved["recipe"]).config_type.from_params(
            copy.deepcopy(resolved["experiment"])
        )


def test_the_paper_recipe_keeps_its_model_and_takes_the_dataset_protocol():
    params = load_parameters("paper", "dataset.name=4dme", "dataset.root=/data/4DME")
    assert params["smile"]["experiment"]["model"]["backbone"]["name"] == "ViT-B-32"  # the recipe
    assert params["smile_mer"]["protocol"]["name"] == "loso"  # the dataset's protocol
    assert params["render"]["frames"] == "uniform:3"
    bu4dfe = load_parameters("paper", "dataset.name=bu4dfe", "dataset.root=/data/BU-4DFE")
    assert bu4dfe["affectvlm"]["experiment"]["train"]["batch_size"] == 64
    assert bu4dfe["affectvlm"]["protocol"]["k"] == 10


@pytest.mark.parametrize(
    "sequences, model",
    [("affectvlm_4d", "affectvlm"), ("smile_4d", "smile"), ("smile_mer", "smile")],
)
def test_sequences_fine_tune_the_towers_faster_only_in_the_cpu_recipe(sequences, model):
    """The tiny CPU backbone has never seen a dynamic image, so conf/base trains its towers
    faster on sequences and micro-expression clips (at least as fast as on stills, and well above the paper's rate); the
    paper recipe's web-pretrained ViT-B/32 keeps the paper's 1e-5."""

    def tower_rate(env: str) -> float:
        params = load_parameters(env, "dataset.name=bu4dfe", "dataset.root=/data/BU-4DFE")
        resolved = resolve_model_parameters(params[model], params[sequences])
        return resolved["experiment"]["train"]["lr_backbone"]

    assert tower_rate("paper") == 1e-5
    still_images = load_parameters("local")[model]["experiment"]["train"]["lr_backbone"]
    assert tower_rate("local") >= still_images
    assert tower_rate("local") >= 1e-4


def test_the_command_line_wins_over_the_profile():
    params = load_parameters(
        "local",
        "dataset.name=bu4dfe",
        "dataset.root=/x",
        "render.frames=apex",
        "affectvlm.protocol.k=5",
    )
    assert params["render"]["frames"] == "apex" and params["affectvlm"]["protocol"]["k"] == 5


def project_conf_with_local(tmp_path: Path, local_parameters: str) -> Path:
    """A copy of the project's conf whose ``conf/local`` holds ``local_parameters``."""
    conf = tmp_path / "conf"
    shutil.copytree(CONF, conf, ignore=shutil.ignore_patterns("local"))
    (conf / "local").mkdir()
    (conf / "local" / "parameters.yml").write_text(local_parameters)
    return conf


#: What a user may put in conf/local: how runs execute here, and a data setting of their own.
LOCAL_SETTINGS = """\
dataset: {n_workers: 3, fail_fast: true}
render: {n_workers: 4, frames: apex}
affectvlm: {protocol: {k: 4}}
"""


@pytest.mark.parametrize("name", profile_names(CONF))
def test_a_setting_in_conf_local_wins_over_every_profile(tmp_path, name):
    conf = project_conf_with_local(tmp_path, LOCAL_SETTINGS)
    params = load_parameters("local", f"dataset.name={name}", "dataset.root=/x", conf=conf)
    assert params["render"]["n_workers"] == 4
    assert params["dataset"]["n_workers"] == 3 and params["dataset"]["fail_fast"] is True
    assert params["render"]["frames"] == "apex"  # even a data fact, when the user sets it
    assert params["affectvlm"]["protocol"]["k"] == 4
    # and the command line wins over both
    again = load_parameters(
        "local", f"dataset.name={name}", "dataset.root=/x", "render.n_workers=2", conf=conf
    )
    assert again["render"]["n_workers"] == 2


@pytest.mark.parametrize("name", profile_names(CONF))
def test_a_profile_still_sets_its_data_facts_beside_conf_local(tmp_path, name):
    """``conf/local``'s settings of how runs execute leave every fact of the profile in place:
    the parameters equal the profile's with only the user's keys changed."""
    without = load_parameters("local", f"dataset.name={name}", "dataset.root=/x")
    conf = project_conf_with_local(tmp_path, "render: {n_workers: 4}\ndataset: {n_workers: 3}\n")
    params = load_parameters("local", f"dataset.name={name}", "dataset.root=/x", conf=conf)
    assert params["render"]["n_workers"] == 4 and params["dataset"]["n_workers"] == 3
    params["render"]["n_workers"] = without["render"]["n_workers"]
    params["dataset"]["n_workers"] = without["dataset"]["n_workers"]
    assert params == without
    # the facts themselves: the layout, the frames and the protocol differ from conf/base's
    base = load_parameters("local")
    assert params["dataset"]["name"] == name != base["dataset"]["name"]
    assert params["render"]["frames"] != base["render"]["frames"]
    assert params["render"]["modality"] == "texture" != base["render"]["modality"]
    model = "smile_mer" if name == "4dme" else "affectvlm"
    assert params[model]["protocol"]["subset"] == "literature"
    assert params[model]["protocol"]["datasets"] is None  # the index holds this dataset only
    assert base[model]["protocol"]["datasets"] is not None


def test_a_profile_states_only_facts_about_the_data():
    """No profile sets how a run executes (workers, failure policy) or restates the renderer's
    recipe (size, views): those are conf/base's, a recipe env's or the user's."""
    import yaml

    for name in profile_names(CONF):
        profile = yaml.safe_load((CONF / "base" / "dataset_profiles" / f"{name}.yml").read_text())
        dataset, render = profile.get("dataset", {}), profile.get("render", {})
        assert not {"n_workers", "fail_fast", "allow_missing_texture"} & set(dataset), name
        assert not {"n_workers", "datasets", "size", "views"} & set(render), name


def test_the_dataset_named_in_an_env_file_selects_the_profile_too(tmp_path):
    """``dataset.name`` in ``conf/local`` (to stop typing it) picks the profile like --params."""
    conf = make_conf(tmp_path, "protocol: {k: 10}\n")
    (conf / "local" / "parameters.yml").write_text("dataset: {name: bu3dfe}\n")
    assert load_parameters("local", conf=conf)["protocol"]["k"] == 10


def test_without_a_profile_the_parameters_are_kedros(tmp_path):
    from kedro.config import OmegaConfigLoader

    plain = OmegaConfigLoader(str(CONF), **{**CONFIG_LOADER_ARGS, "default_run_env": "local"})
    # synthetic: no profile, only the models' shared defaults laid beneath their blocks
    assert load_parameters("local") == with_model_defaults(plain["parameters"])


def test_each_model_block_is_merged_over_the_shared_defaults(tmp_path):
    conf = tmp_path / "conf"
    for env in ("base", "local"):
        (conf / env).mkdir(parents=True)
    (conf / "base" / "parameters.yml").write_text(
        "model_defaults: {protocol: {k: 5, seed: 0}, experiment: {execution: {nproc: null}}}\n"
        "affectvlm: {recipe: affectvlm, protocol: {k: 7}}\n"
        "smile: {recipe: smile}\n"
        "smile_mer: {protocol: {name: loso}}\n"
    )
    (conf / "local" / "parameters.yml").write_text(
        "model_defaults: {experiment: {execution: {nproc: 2}}, protocol: {k: 9}}\n"
    )
    params = load_parameters("local", conf=conf)
    assert "model_defaults" not in params
    # the model's own key wins over a default, whichever env sets the default
    assert params["affectvlm"]["protocol"] == {"k": 7, "seed": 0}
    assert params["smile"]["protocol"] == {"k": 9, "seed": 0}  # the env's default
    assert params["smile"]["experiment"]["execution"]["nproc"] == 2
    assert params["smile_mer"] == {"protocol": {"name": "loso"}}  # derived: merged when resolved


def test_the_models_write_what_they_share_once():
    """Every leaf both models' blocks hold with the same value lives in ``model_defaults``; the
    augmentation stays whole in each model's block, where it reads as one recipe. An env must
    repeat in each model's block what conf/base sets there (a default would not win over it)."""
    import yaml

    def leaves(block, prefix=()):
        for key, value in block.items():
            if isinstance(value, dict):
                yield from leaves(value, (*prefix, key))
            else:
                yield (*prefix, key), value

    def model_blocks(env):
        return {
            model: dict(
                leaves(
                    yaml.safe_load((CONF / env / f"parameters_train_{model}.yml").read_text())[
                        model
                    ]
                )
            )
            for model in ("affectvlm", "smile")
        }

    set_per_model_in_base = set().union(*(set(b) for b in model_blocks("base").values()))
    for env in ("base", "paper"):
        blocks = model_blocks(env)
        shared = {
            key
            for key, value in blocks["affectvlm"].items()
            if key in blocks["smile"]
            and blocks["smile"][key] == value
            and key[:2] != ("experiment", "augment")
            and (env == "base" or key not in set_per_model_in_base)
        }
        assert not shared, f"conf/{env}: both models set {sorted(shared)}: model_defaults"


def make_conf(tmp_path: Path, profile: str, env_profile: str | None = None) -> Path:
    conf = tmp_path / "conf"
    (conf / "base" / "dataset_profiles").mkdir(parents=True)
    (conf / "local").mkdir()
    (conf / "base" / "parameters.yml").write_text(
        "dataset: {name: synthetic, root: data/01_raw/synthetic}\nprotocol: {k: 5}\n"
    )
    (conf / "base" / "dataset_profiles" / "bu3dfe.yml").write_text(profile)
    if env_profile is not None:
        (conf / "local" / "dataset_profiles").mkdir()
        (conf / "local" / "dataset_profiles" / "bu3dfe.yml").write_text(env_profile)
    return conf


def test_an_env_can_override_a_profile_in_its_own_profile_file(tmp_path):
    conf = make_conf(tmp_path, "protocol: {k: 10, seed: 0}\n", env_profile="protocol: {k: 3}\n")
    params = load_parameters("local", "dataset.name=bu3dfe", conf=conf)
    assert params["protocol"] == {"k": 3, "seed": 0}
    assert params["dataset"]["root"] == "data/01_raw/synthetic"  # untouched by the profile


def test_a_profile_that_sets_the_data_location_is_refused(tmp_path):
    conf = make_conf(tmp_path, "dataset: {root: /data/BU-3DFE}\n")
    with pytest.raises(
        ValueError, match=r"bu3dfe\.yml: a dataset profile must not set dataset\.root"
    ):
        load_parameters("local", "dataset.name=bu3dfe", conf=conf)
