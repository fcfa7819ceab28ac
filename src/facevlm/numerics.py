"""One numerical path on every x86-64 CPU, so that a run gives the same figures on any machine.

Why: the numerical libraries pick their kernels per CPU when they load. torch's own kernels
(ATen) take AVX-512 code on a CPU that has it and AVX2 code on one that has not, oneDNN (its
convolutions) and MKL (its matrix products) do the same, and numpy's and scipy's OpenBLAS
choose a kernel per processor family. Each path rounds differently in the last bits, and a
training run turns last bits into different weights: two machines gave accuracies one or two
fold standard deviations apart. The thread count matters too: torch splits a reduction into one
part per thread, so 2 and 16 threads add in different orders. Measured (docs/benchmarks.md,
"Numerics across CPUs", ``benchmarks/numerics_fingerprint.py``): a 2-core and a 16-core machine
train to the same bits at the same thread count and code path, even across torch versions; each
variable below, and the thread count, changes the bits, i.e. a CPU whose own choice differs
(AVX2 only, another OpenBLAS family) computes others unless the choice is pinned.

What it costs: AVX2 in place of AVX-512 made a CPU training step of a tiny CLIP 5-35 % slower
on an AVX-512 machine (same page); a machine without AVX2 (pre-2013 x86) falls back to slower
generic code and is not covered.

Where: nowhere at import. A library import changes nothing, so a notebook, a test or another
tool that imports the package computes as it would without it, on each library's own choice.
The variables are read when each library loads, so the commands that start a run set them first
thing, before numpy and torch load (:func:`pin_process`): ``kedro run`` in this project, through
the package's ``kedro.init`` entry point (:func:`pin_at_kedro_start`), ``python -m facevlm``,
``python -m facevlm.train`` and the ``facevlm`` command (the app included). The processes a
run starts (torchrun workers, the training processes side by side) inherit them with the
environment. Code of one's own computes as the runs do when it calls :func:`pin_process` before
it imports numpy or torch.

Turning it off: ``numerics.pin: false`` (parameters.yml, or ``--params``) for a Kedro run, which
then starts again once on every library's own choice (:func:`settle_kedro_run`: the ``kedro``
command pins before it reads the configuration); ``FACEVLM_NATIVE_NUMERICS=1`` for every
command, and it wins over the parameter (fastest; figures then differ between CPUs). A variable
the user has set wins over the pin. The thread count is a parameter (``numerics.threads``, or
the variable ``FACEVLM_THREADS``) that :func:`pin_threads` applies at the start of a Kedro
session.
"""

from __future__ import annotations

import os
import sys
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported where it is used: this module runs before it loads
    import torch

#: The environment that pins every library's code path to AVX2 (and its blocking parameters).
PINNED_ENVIRONMENT: dict[str, str] = {
    "ATEN_CPU_CAPABILITY": "avx2",  # torch's own kernels
    "ONEDNN_MAX_CPU_ISA": "AVX2",  # torch's convolutions (oneDNN)
    "MKL_CBWR": "AVX2",  # torch's matrix products (MKL's conditional numerical reproducibility)
    "OPENBLAS_CORETYPE": "Haswell",  # numpy's and scipy's OpenBLAS (the linear probes)
}
#: Set to 1 to leave every library on the code path it picks for this CPU.
NATIVE_SWITCH = "FACEVLM_NATIVE_NUMERICS"
#: MLflow tag of a session run: how its figures were computed (:func:`describe`); two runs'
#: figures agree to the bit only when it is the same.
NUMERICS_TAG = "facevlm.numerics"
#: What :func:`settle_kedro_run` says on its way (stderr) when it restarts a run to pin it.
RESTART_NOTICE = (
    "facevlm: numpy was loaded before the numerical path was pinned; starting again pinned "
    "(reinstall the package to skip this: uv pip install -e .)"
)
#: What :func:`settle_kedro_run` says on its way (stderr) when ``numerics.pin`` is false.
UNPIN_NOTICE = (
    "facevlm: numerics.pin is false; starting again on each library's own code path "
    f"({NATIVE_SWITCH}=1 skips this)"
)
#: Overrides ``numerics.threads`` (the test suite gives each of its processes its share).
THREADS_VARIABLE = "FACEVLM_THREADS"


def native_requested(env: dict[str, str] | os._Environ = os.environ) -> bool:
    return env.get(NATIVE_SWITCH, "").strip().lower() in {"1", "true", "yes"}


def pin_code_paths(env: dict[str, str] | os._Environ = os.environ) -> list[str]:
    """Set the variables of :data:`PINNED_ENVIRONMENT` that are not set (unless the native
    switch is on). Returns the ones set now; processes started later inherit them."""
    if native_requested(env):
        return []
    added = [name for name in PINNED_ENVIRONMENT if name not in env]
    for name in added:
        env[name] = PINNED_ENVIRONMENT[name]
    return added


#: Which library reads which variable when it loads.
READ_BY = {
    "ATEN_CPU_CAPABILITY": "torch",
    "ONEDNN_MAX_CPU_ISA": "torch",
    "MKL_CBWR": "torch",
    "OPENBLAS_CORETYPE": "numpy",
}


def loaded_before_pin(added: list[str]) -> list[str]:
    """The libraries that loaded before :func:`pin_code_paths` set their variables (``added``),
    and so run on the code path they chose (asked at the time of the pin)."""
    return sorted({READ_BY[name] for name in added if READ_BY[name] in sys.modules})


class _ThisProcess:
    """What this process's pin did. Module state because the pin is the process's: a library
    loads once per process, on the variables set at that moment."""

    pinned: list[str] | None = None  # the variables :func:`pin_process` set; None: never called
    loaded_first: set[str] = set()  # the libraries loaded before it set theirs


def pin_process() -> list[str]:
    """Put this process, and the processes it starts, on the pinned path: set the variables of
    :data:`PINNED_ENVIRONMENT` that ``os.environ`` lacks (none under the native switch) and
    remember what was already loaded. Returns the variables set now.

    The commands that start a run call it first thing, before numpy and torch load: a library
    that loaded before it keeps the code path it chose (:func:`unpinned_libraries`)."""
    added = pin_code_paths(os.environ)
    _ThisProcess.pinned = [*(_ThisProcess.pinned or []), *added]
    _ThisProcess.loaded_first.update(loaded_before_pin(added))
    return added


def pinned_here() -> list[str]:
    """The variables this process's :func:`pin_process` set (not those it inherited)."""
    return list(_ThisProcess.pinned or [])


def unpinned_libraries() -> list[str]:
    """The libraries of this process that loaded on their own code path before
    :func:`pin_process` set theirs: processes it starts load them pinned, and compute other
    bits. Empty in a process that never pinned: it and its children compute on the same path,
    whichever it is."""
    return sorted(_ThisProcess.loaded_first)


def starts_a_kedro_run(argv: list[str] | None = None) -> bool:
    """Whether this process is ``kedro run`` (the console script or ``python -m kedro``) or
    ``python -m facevlm`` (the project's run command): the runs whose numerics the project
    decides. ``kedro ipython``, ``kedro jupyter`` and the other commands are left alone, like
    a notebook."""
    argv = sys.argv if argv is None else argv
    if not argv:
        return False
    program = Path(argv[0])
    if program.name == "__main__.py" and program.parent.name == __package__:
        return True
    # `python -m kedro` names itself so in argv[0] before its commands run
    is_kedro = program.name in ("kedro", "python -m kedro") or (
        program.name == "__main__.py" and program.parent.name == "kedro"
    )
    return is_kedro and argv[1:2] == ["run"]


def in_this_project(folder: Path | None = None) -> bool:
    """Whether the Kedro project that ``folder`` (the working folder) belongs to is this
    package's. Found as Kedro finds it, the nearest folder up whose ``pyproject.toml`` has a
    ``[tool.kedro]`` table: the ``kedro.init`` entry point runs in every ``kedro`` command of
    the environment, and another project's runs are not this project's to pin."""
    try:
        start = (folder or Path.cwd()).resolve()
    except OSError:  # a working folder deleted under the command: no project to pin
        return False
    for candidate in (start, *start.parents):
        metadata = candidate / "pyproject.toml"
        try:
            settings = tomllib.loads(metadata.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            continue
        kedro = settings.get("tool", {}).get("kedro")
        if kedro is not None:
            return kedro.get("package_name") == __package__
    return False


def pin_at_kedro_start() -> None:
    """The ``kedro.init`` entry point (pyproject.toml): the ``kedro`` command calls it before
    anything else, before Kedro itself imports numpy, so ``kedro run`` computes on the pinned
    path from its start, with no restart. Only a ``kedro run`` of this project: the other
    commands, and other projects in the same environment, keep their libraries' own choice.
    The configuration is not read yet; :func:`settle_kedro_run` honours ``numerics.pin``."""
    if starts_a_kedro_run() and in_this_project():
        pin_process()


def settle_kedro_run(pin: bool) -> None:
    """Make a ``kedro run`` compute as ``numerics.pin`` says, once its configuration is read
    (the project's hook): restart it (:func:`restart`) where the libraries loaded on another
    path than the one asked for. Pinned, that is an installation older than the ``kedro.init``
    entry point, whose numpy loaded first; unpinned, the entry point's pin is undone. Any other
    process (a notebook's session, the app, ``facevlm predict``) is left as it started, and
    the native switch wins over the parameter."""
    if not starts_a_kedro_run() or native_requested():
        return
    if pin:
        pin_process()  # sets nothing where the entry point pinned
        if unpinned_libraries():
            restart(RESTART_NOTICE)
    elif pinned_here():
        for name in pinned_here():
            os.environ.pop(name, None)
        os.environ[NATIVE_SWITCH] = "1"  # and the run's own processes stay off it too
        restart(UNPIN_NOTICE)


def restart(notice: str, argv: list[str] | None = None) -> None:
    """Replace this process by the same command in the environment as it is now, so that the
    libraries already loaded load again on the variables it sets. Says ``notice`` on stderr.
    Does not return."""
    argv = list(sys.orig_argv if argv is None else argv)
    print(notice, file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, *argv[1:]])


def session_threads(configured: int | None) -> int | None:
    """The thread count a session runs on: :data:`THREADS_VARIABLE` when set, else
    ``configured`` (``numerics.threads``; ``None`` leaves the machine's)."""
    value = os.environ.get(THREADS_VARIABLE, "").strip()
    if value:
        if not value.isdigit() or int(value) < 1:
            raise ValueError(f"{THREADS_VARIABLE} must be a whole number >= 1, got {value!r}")
        return int(value)
    return None if configured is None else int(configured)


def pin_threads(threads: int) -> None:
    """Run torch and the BLAS libraries of this process on ``threads`` threads: a reduction's
    result depends on how many parts it is split into, so the count is fixed, not the
    machine's."""
    if threads < 1:
        raise ValueError(f"numerics.threads must be >= 1, got {threads}")
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    threadpool_limits(limits=threads, user_api="blas")


#: MKL's reproducibility branches that hold on any x86-64 CPU; the others (``AVX2``) are
#: Intel's only, and elsewhere MKL ignores them and takes its own (oneMKL developer guide,
#: "Getting Started with Conditional Numerical Reproducibility").
MKL_ANY_VENDOR_BRANCHES = ("AUTO", "COMPATIBLE")


def cpu_field(name: str) -> str:
    """A field of the first CPU as Linux reports it (``vendor_id``, ``model name``); empty
    where it cannot be read."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.split(":", 1)[0].strip() == name:
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def cpu_vendor() -> str:
    """The CPU's vendor (``GenuineIntel``, ``AuthenticAMD``); empty where unknown."""
    return cpu_field("vendor_id")


def mkl_branch() -> str:
    """MKL's code branch as it takes effect here: the pinned ``AVX2`` on an Intel CPU, MKL's
    own choice on another vendor's (``auto on AuthenticAMD``), so that a run on an AMD CPU is
    tagged as computed otherwise and :func:`describe` does not claim a path it did not take."""
    branch = os.environ.get("MKL_CBWR", "native")
    if branch == "native" or branch.upper() in MKL_ANY_VENDOR_BRANCHES:
        return branch
    vendor = cpu_vendor()
    if vendor and vendor != "GenuineIntel":
        return f"auto on {vendor}"
    return branch


def describe(training_device: torch.device | None = None) -> str:
    """How this process computes, as the libraries report it once loaded:
    ``torch AVX2, oneDNN AVX2, MKL AVX2, OpenBLAS Haswell, 1 threads`` on the pinned path
    (``native`` where a variable is not set: the library's own choice for this CPU), and
    ``training on CUDA (NVIDIA H200)`` after it when ``training_device`` (the
    ``torch.device`` a run trains on, as :func:`facevlm.trainer.resolve_device` resolves
    ``execution.device``) is a GPU here. A GPU adds in its own order and precision (bf16, TF32),
    so its figures agree with a CPU's only within the folds' spread, never to the digit; saying
    so keeps a GPU run's results apart."""
    import torch
    from threadpoolctl import threadpool_info

    blas = sorted({str(p["architecture"]) for p in threadpool_info() if p.get("architecture")})
    parts = [
        f"torch {torch.backends.cpu.get_cpu_capability()}",
        f"oneDNN {os.environ.get('ONEDNN_MAX_CPU_ISA', 'native')}",
        f"MKL {mkl_branch()}",
        f"OpenBLAS {'/'.join(blas) or '-'}",
        f"{torch.get_num_threads()} threads",
    ]
    on_gpu = training_device is not None and training_device.type == "cuda"
    if on_gpu and torch.cuda.is_available():
        parts.append(f"training on CUDA ({torch.cuda.get_device_name(training_device)})")
    return ", ".join(parts)
