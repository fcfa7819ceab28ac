"""Every CPU on one numerical path (``facevlm.numerics``): the commands that start a run pin
the code path each library picks per CPU before it loads (``kedro run`` through the
``kedro.init`` entry point, ``python -m facevlm.train``, the ``facevlm`` command), a Kedro session
pins the thread count, ``numerics.pin: false`` or the native switch turns the pin off, and a
``kedro run`` whose numpy loaded first restarts itself once. Importing the package changes
nothing."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from threadpoolctl import threadpool_info

from facevlm.numerics import (
    NATIVE_SWITCH,
    PINNED_ENVIRONMENT,
    RESTART_NOTICE,
    THREADS_VARIABLE,
    UNPIN_NOTICE,
    cpu_vendor,
    describe,
    in_this_project,
    loaded_before_pin,
    mkl_branch,
    pin_code_paths,
    pin_threads,
    session_threads,
    starts_a_kedro_run,
)
from facevlm.trainer import resolve_device

ROOT = Path(__file__).resolve().parents[1]
HAS_AVX2 = "avx2" in Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else False
#: MKL's branch on the pinned path as this CPU takes it: AVX2 on an Intel CPU, MKL's own
#: choice on another vendor's.
PINNED_MKL = "AVX2" if cpu_vendor() in ("GenuineIntel", "") else f"auto on {cpu_vendor()}"

#: What a fresh process computes on: torch's kernels, OpenBLAS's cores, the variables. With
#: ``pin`` it pins first, as the commands that start a run do.
_PROBE = """
import json, os, sys
if sys.argv[1] == "pin":
    from facevlm.numerics import pin_process
    pin_process()
import numpy, torch
from threadpoolctl import threadpool_info
print(json.dumps({
    "describe": __import__("facevlm.numerics").numerics.describe() if "facevlm" in sys.modules else "",
    "torch": torch.backends.cpu.get_cpu_capability(),
    "openblas": sorted({p["architecture"] for p in threadpool_info() if p.get("architecture")}),
    "env": {k: os.environ.get(k) for k in NAMES},
}))
""".replace("NAMES", repr(list(PINNED_ENVIRONMENT)))


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in PINNED_ENVIRONMENT}
    env.pop(NATIVE_SWITCH, None)
    env["PYTHONPATH"] = str(ROOT / "src")
    return {**env, **extra}


@functools.cache  # the same answer to every test that asks: each probe costs a torch import
def _probe(first: str = "pin", **extra: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, first],
        env=_clean_env(**extra),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


#: What importing the package does to a fresh process (``package``: the package, then every
#: module of it a notebook may import), and what importing the same libraries alone does
#: (``libraries NAME,...``): the variables each import changed, then the libraries' code paths
#: and thread counts.
_IMPORTS = """
import importlib, json, os, pkgutil, sys

def changed(before):
    return sorted(k for k in {*before, *os.environ} if before.get(k) != os.environ.get(k))

def computing():
    import torch
    from threadpoolctl import threadpool_info
    return {
        "torch": torch.backends.cpu.get_cpu_capability(),
        "torch threads": [torch.get_num_threads(), torch.get_num_interop_threads()],
        "pools": sorted(
            [p["user_api"], p["internal_api"], p["prefix"], p["num_threads"], p.get("architecture")]
            for p in threadpool_info()
        ),
    }

seen = {}
before = dict(os.environ)
if sys.argv[1] == "package":
    import facevlm, facevlm.inference, facevlm.models
    seen["package"] = changed(before)
    seen["numpy or torch loaded"] = sorted({"numpy", "torch"} & set(sys.modules))
    before = dict(os.environ)
    modules = [m.name for m in pkgutil.walk_packages(facevlm.__path__, "facevlm.")]
    # the Streamlit pages run the app as they are imported; `__main__` runs a Kedro run
    for name in modules:
        if not name.startswith("facevlm.app.") and not name.endswith(".__main__"):
            importlib.import_module(name)
    seen["libraries"] = sorted(
        name for name in {m.split(".")[0] for m in sys.modules}
        if name != "facevlm" and name not in sys.stdlib_module_names
        and not name.startswith("_") and getattr(sys.modules.get(name), "__spec__", None)
    )
else:
    for name in sys.argv[2].split(","):
        importlib.import_module(name)
seen["modules"] = changed(before)
seen["computing"] = computing()
print(json.dumps(seen))
"""


def _imports(*args: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _IMPORTS, *args],
        env=_clean_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def test_importing_the_package_changes_nothing_in_the_process():
    """A notebook, a test or another tool that imports the package computes as it would without
    it: the environment, the libraries' code paths and their thread counts stay as the libraries
    themselves set them."""
    package = _imports("package")
    assert package["package"] == [], "importing the package changed these variables"
    assert package["numpy or torch loaded"] == []
    alone = _imports("libraries", ",".join(package["libraries"]))
    # what changes is what the libraries the package imports change themselves (open_clip sets
    # TOKENIZERS_PARALLELISM, torch KMP_*, ...), and none of the pin's variables
    assert package["modules"] == alone["modules"]
    assert not set(package["modules"]) & {*PINNED_ENVIRONMENT, NATIVE_SWITCH, THREADS_VARIABLE}
    assert package["computing"] == alone["computing"]


@pytest.mark.skipif(not HAS_AVX2, reason="the pinned path is AVX2; this CPU lacks it")
def test_the_pin_puts_torch_and_openblas_on_the_avx2_path():
    seen = _probe()
    assert seen["describe"].startswith(
        f"torch AVX2, oneDNN AVX2, MKL {PINNED_MKL}, OpenBLAS Haswell, "
    )
    assert seen["torch"] == "AVX2"
    assert seen["openblas"] and set(seen["openblas"]) == {"Haswell"}
    assert seen["env"] == PINNED_ENVIRONMENT


def test_the_native_switch_leaves_every_library_on_its_own_choice():
    own = _probe(first="nothing")  # a process that never pins
    switched_off = _probe(**{NATIVE_SWITCH: "1"})
    assert switched_off["describe"].startswith(f"torch {own['torch']}, oneDNN native, MKL native")
    assert {**switched_off, "describe": ""} == own
    assert all(value is None for value in switched_off["env"].values())


def test_a_variable_the_user_set_wins():
    seen = _probe(ATEN_CPU_CAPABILITY="default")
    assert seen["torch"] == "DEFAULT"
    assert seen["env"]["ONEDNN_MAX_CPU_ISA"] == PINNED_ENVIRONMENT["ONEDNN_MAX_CPU_ISA"]


def test_pin_code_paths_adds_only_the_missing_variables():
    env = {"MKL_CBWR": "COMPATIBLE"}
    added = pin_code_paths(env)
    assert "MKL_CBWR" not in added and env["MKL_CBWR"] == "COMPATIBLE"
    assert {k: env[k] for k in added} == {k: PINNED_ENVIRONMENT[k] for k in added}
    assert pin_code_paths(env) == []  # a restarted process inherits them: nothing to add
    assert pin_code_paths({NATIVE_SWITCH: "1"}) == []


def test_libraries_loaded_before_the_pin_are_named():
    assert "numpy" in sys.modules and "torch" in sys.modules  # this test process loaded both
    assert loaded_before_pin(["OPENBLAS_CORETYPE"]) == ["numpy"]
    assert loaded_before_pin(["ATEN_CPU_CAPABILITY", "MKL_CBWR"]) == ["torch"]
    assert loaded_before_pin([]) == []


def test_the_thread_variable_wins_over_the_parameter(monkeypatch):
    monkeypatch.delenv(THREADS_VARIABLE, raising=False)
    assert session_threads(2) == 2
    assert session_threads(None) is None
    monkeypatch.setenv(THREADS_VARIABLE, "3")
    assert session_threads(2) == 3
    monkeypatch.setenv(THREADS_VARIABLE, "two")
    with pytest.raises(ValueError, match=THREADS_VARIABLE):
        session_threads(2)


def test_pin_threads_sets_torch_and_blas():
    before = torch.get_num_threads()
    try:
        pin_threads(3)
        assert torch.get_num_threads() == 3
        blas = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
        assert blas and set(blas) == {3}
    finally:
        pin_threads(before)
    with pytest.raises(ValueError, match="numerics.threads"):
        pin_threads(0)


def test_a_run_that_trains_on_a_gpu_says_which_and_one_on_the_cpu_does_not(monkeypatch):
    """A GPU adds in its own order and precision: its figures never equal a CPU's to the digit.
    The description names the GPU a run trains on, so that `report_check` says why a GPU run's
    figures differ and a CPU run's finished folds are not taken for a GPU run's."""

    def training_on(device: str) -> str:  # as a run describes where `execution.device` trains
        return describe(resolve_device(device))

    on_cpu = describe()
    assert "CUDA" not in on_cpu and training_on("cpu") == on_cpu
    if not torch.cuda.is_available():
        assert training_on("auto") == on_cpu, "auto on a machine without a GPU trains on the CPU"
    # the same process as a machine with two GPUs sees it
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device: f"GPU number {device.index}")
    assert training_on("auto") == on_cpu + ", training on CUDA (GPU number 0)"
    assert training_on("cuda") == training_on("auto")
    assert training_on("cuda:1") == on_cpu + ", training on CUDA (GPU number 1)"
    assert training_on("cpu") == on_cpu, "execution.device: cpu trains on the CPU beside a GPU"


#: A sum and a product whose parts torch splits per thread: their bits, on THREADS threads, with
#: the process allowed on CORES cores.
_REDUCTION = """
import hashlib, os, sys
os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[: int(sys.argv[2])])
from facevlm.numerics import pin_process
pin_process()
import torch
torch.set_num_threads(int(sys.argv[1]))
g = torch.Generator().manual_seed(0)
x = torch.randn(3_000_001, generator=g)
a, b = torch.randn(300, 2000, generator=g), torch.randn(2000, 300, generator=g)
print(hashlib.sha256(x.sum().numpy().tobytes() + (a @ b).numpy().tobytes()).hexdigest())
"""


def _reduction_bits(threads: int, cores: int) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _REDUCTION, str(threads), str(cores)],
        env=_clean_env(OMP_NUM_THREADS=str(threads)),
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores")
def test_the_bits_follow_the_thread_count_not_the_cores():
    """Why the project pins the thread count and not the cores: two threads give the same bits
    on one core or two, one thread gives others."""
    on_two_cores = _reduction_bits(threads=2, cores=2)
    assert _reduction_bits(threads=2, cores=1) == on_two_cores
    assert _reduction_bits(threads=1, cores=2) != on_two_cores


def _project_in(folder: Path) -> Path:
    """A copy of the project's configuration and metadata, the package on PYTHONPATH."""
    shutil.copytree(ROOT / "conf", folder / "conf", ignore=shutil.ignore_patterns("local"))
    (folder / "conf" / "local").mkdir()
    shutil.copy(ROOT / "pyproject.toml", folder / "pyproject.toml")
    (folder / "src").mkdir()  # the package comes from PYTHONPATH
    return folder


@pytest.fixture
def kedro_project(tmp_path, new_mlflow_store) -> Path:
    """:func:`_project_in` a temporary folder, with an MLflow store already made (a new one
    costs the run its migrations)."""
    project = _project_in(tmp_path)
    new_mlflow_store(project / "mlruns.db")
    return project


def _kedro_run(project: Path, *options: str) -> str:
    """``kedro run`` of a pipeline that does not exist: it reads the configuration, runs the
    project's hooks (which log how the session computes) and stops."""
    done = subprocess.run(
        [sys.executable, "-m", "kedro", "run", "--pipeline=no_such_pipeline", *options],
        cwd=project,
        env=_clean_env(KEDRO_DISABLE_TELEMETRY="1", DO_NOT_TRACK="1", COLUMNS="200"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = done.stdout + done.stderr
    assert "no_such_pipeline" in output, output[-3000:]  # it got as far as the pipeline
    return output


@pytest.mark.skipif(not HAS_AVX2, reason="the pinned path is AVX2; this CPU lacks it")
def test_kedro_run_computes_on_the_pinned_path_without_restarting(kedro_project):
    """The package's ``kedro.init`` entry point pins before ``kedro`` imports numpy: the run is
    on the pinned path from its start, in one process."""
    output = _kedro_run(kedro_project)
    assert f"numerics: torch AVX2, oneDNN AVX2, MKL {PINNED_MKL}, OpenBLAS Haswell" in output
    assert RESTART_NOTICE not in output and UNPIN_NOTICE not in output


def test_numerics_pin_false_runs_kedro_on_each_library_s_own_choice(kedro_project):
    """The configuration turns the pin off: the ``kedro`` command has pinned before it could
    read it, so the run starts once more, unpinned, and computes as a process that never
    pinned."""
    own = _probe(first="nothing")
    output = _kedro_run(kedro_project, "--params", "numerics.pin=false")
    assert output.count(UNPIN_NOTICE) == 1
    assert f"numerics: torch {own['torch']}, oneDNN native, MKL native, OpenBLAS " in output
    assert RESTART_NOTICE not in output


#: A ``kedro run`` whose numpy loaded before anything pinned (an installation without the
#: entry point) with ``numerics.pin: true``: the project's hook, then what the process computes
#: on.
_LOADED_FIRST = """
import sys
import numpy
sys.argv = ["kedro", "run"]
from facevlm.numerics import settle_kedro_run
settle_kedro_run(pin=True)
from threadpoolctl import threadpool_info
print(sorted({p["architecture"] for p in threadpool_info() if p.get("architecture")}))
"""


@pytest.mark.skipif(not HAS_AVX2, reason="the pinned path is AVX2; this CPU lacks it")
def test_a_kedro_run_whose_numpy_loaded_first_restarts_once_on_the_pinned_path():
    done = subprocess.run(
        [sys.executable, "-c", _LOADED_FIRST],
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert done.stderr.count(RESTART_NOTICE) == 1
    assert done.stdout.strip() == "['Haswell']"


#: What a command leaves this process computing on once it has run (``facevlm`` with the
#: given arguments, or ``python -m facevlm.train``), imported as its console script imports it.
_AFTER_COMMAND = """
import contextlib, json, os, sys
import facevlm.commands, facevlm.train
loaded_at_import = sorted({"numpy", "torch"} & set(sys.modules))
with contextlib.suppress(BaseException):  # the command fails on its missing input
    if sys.argv[1] == "facevlm":
        facevlm.commands.main(sys.argv[2:])
    else:
        facevlm.train.main(sys.argv[2:])
import numpy, torch
from threadpoolctl import threadpool_info
from facevlm.numerics import unpinned_libraries
print(json.dumps({
    "loaded at import": loaded_at_import,
    "unpinned": unpinned_libraries(),
    "torch": torch.backends.cpu.get_cpu_capability(),
    "openblas": sorted({p["architecture"] for p in threadpool_info() if p.get("architecture")}),
    "env": {k: os.environ.get(k) for k in NAMES},
}))
""".replace("NAMES", repr(list(PINNED_ENVIRONMENT)))


def _after_command(*command: str, **extra: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _AFTER_COMMAND, *command],
        env=_clean_env(**extra),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.skipif(not HAS_AVX2, reason="the pinned path is AVX2; this CPU lacks it")
@pytest.mark.parametrize(
    "command",
    [
        ("facevlm", "inspect", "no_such_scan.wrl"),  # reads with numpy once the command runs
        ("train", "no_such_bundle", "--out", "no_such_run"),  # loads torch once it runs
    ],
    ids=["facevlm", "python -m facevlm.train"],
)
def test_the_commands_pin_before_numpy_and_torch_load(tmp_path, command):
    seen = _after_command(*command)
    assert seen["loaded at import"] == [], "importing the command modules loads neither"
    assert seen["unpinned"] == []
    assert seen["env"] == PINNED_ENVIRONMENT
    assert seen["torch"] == "AVX2" and seen["openblas"] == ["Haswell"]


def test_the_native_switch_keeps_the_facevlm_command_off_the_pin():
    own = _probe(first="nothing")
    seen = _after_command("facevlm", "inspect", "no_such_scan.wrl", **{NATIVE_SWITCH: "1"})
    assert all(value is None for value in seen["env"].values())
    assert [seen["torch"], seen["openblas"]] == [own["torch"], own["openblas"]]


#: The ``kedro.init`` entry point in a fresh process, with the given argv: the variables it set.
_KEDRO_START = """
import json, os, sys
sys.argv = json.loads(sys.argv[1])
from facevlm.numerics import PINNED_ENVIRONMENT, pin_at_kedro_start
pin_at_kedro_start()
print(json.dumps(sorted(k for k in PINNED_ENVIRONMENT if k in os.environ)))
"""


def _set_at_kedro_start(argv: list[str], cwd: Path) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", _KEDRO_START, json.dumps(argv)],
        cwd=cwd,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout)


def test_the_kedro_command_pins_only_a_run_of_this_project(tmp_path):
    """The entry point runs in every ``kedro`` command of the environment: ``kedro ipython``
    or ``kedro jupyter`` is a notebook, and another project's run is not this project's."""
    ours = _project_in(tmp_path / "ours")
    (ours / "notebooks").mkdir()
    other = tmp_path / "other"
    other.mkdir()
    (other / "pyproject.toml").write_text('[tool.kedro]\npackage_name = "someone_else"\n')
    kedro = str(Path(sys.executable).with_name("kedro"))
    assert _set_at_kedro_start([kedro, "run"], ours) == sorted(PINNED_ENVIRONMENT)
    assert _set_at_kedro_start([kedro, "run"], ours / "notebooks") == sorted(PINNED_ENVIRONMENT)
    assert _set_at_kedro_start([kedro, "ipython"], ours) == []
    assert _set_at_kedro_start([kedro, "run"], other) == []


def test_which_processes_are_a_kedro_run(tmp_path):
    assert starts_a_kedro_run(["/venv/bin/kedro", "run", "--pipeline=report"])
    assert starts_a_kedro_run(["/venv/lib/site-packages/kedro/__main__.py", "run"])
    assert starts_a_kedro_run(["python -m kedro", "run"])  # as kedro's __main__ renames it
    assert starts_a_kedro_run(["/work/src/facevlm/__main__.py", "--pipeline=report"])
    assert not starts_a_kedro_run(["/venv/bin/kedro", "jupyter", "lab"])
    assert not starts_a_kedro_run(["/venv/bin/facevlm", "predict", "scan.wrl"])
    assert not starts_a_kedro_run(["/venv/bin/pytest", "run"])
    assert not starts_a_kedro_run([])
    assert in_this_project(ROOT) and in_this_project(ROOT / "src" / "facevlm")
    assert not in_this_project(tmp_path)


def test_mkl_s_avx2_branch_is_named_as_taken_only_on_an_intel_cpu(monkeypatch):
    """MKL honours a named instruction-set branch (``MKL_CBWR=AVX2``) on Intel CPUs only and
    takes its own elsewhere: a run on an AMD CPU is tagged as computed otherwise, so that
    the results check compares it within the spread between paths, not to the digit."""
    import facevlm.numerics as numerics

    monkeypatch.setenv("MKL_CBWR", "AVX2")
    monkeypatch.setattr(numerics, "cpu_vendor", lambda: "GenuineIntel")
    assert mkl_branch() == "AVX2"
    monkeypatch.setattr(numerics, "cpu_vendor", lambda: "AuthenticAMD")
    assert mkl_branch() == "auto on AuthenticAMD"
    assert "MKL auto on AuthenticAMD," in describe()
    monkeypatch.setenv("MKL_CBWR", "COMPATIBLE")  # a branch every vendor's CPU takes
    assert mkl_branch() == "COMPATIBLE"
    monkeypatch.delenv("MKL_CBWR")
    assert mkl_branch() == "native"


@pytest.mark.skipif(not Path("/proc/cpuinfo").exists(), reason="Linux reports the vendor")
def test_the_cpu_vendor_is_the_one_linux_reports():
    reported = [
        line.split(":", 1)[1].strip()
        for line in Path("/proc/cpuinfo").read_text().splitlines()
        if line.startswith("vendor_id")
    ]
    assert reported and cpu_vendor() == reported[0]
