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

The variables are read when each library loads, so :func:`pin_code_paths` runs when the
package is imported (``facevlm/__init__.py``), before torch; a variable the user has set wins,
and ``FACEVLM_NATIVE_NUMERICS=1`` keeps every library on its own choice (fastest; figures then
differ between CPUs). The thread count is a parameter (``numerics.threads``, or the variable
``FACEVLM_THREADS``) that :func:`pin_threads` applies at the start of a Kedro run.
"""

from __future__ import annotations

import os
import sys
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
#: What :func:`restart_pinned` says on its way (stderr): why the run starts twice.
RESTART_NOTICE = (
    "facevlm: numpy was loaded before the numerical path was pinned; starting again pinned "
    "(reinstall the package to skip this: uv pip install -e .)"
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
    and so run on the code path they chose (asked at the time of the pin: ``kedro`` imports
    numpy before the package, unless :func:`pin_at_kedro_start` pinned first)."""
    return sorted({READ_BY[name] for name in added if READ_BY[name] in sys.modules})


def pin_at_kedro_start() -> None:
    """The ``kedro.init`` entry point (pyproject.toml): the ``kedro`` command calls it before
    anything else, before Kedro itself imports numpy, so ``kedro run`` computes on the pinned
    path from its start, with no restart. Importing the package pins (``facevlm/__init__.py``);
    here it is on in every ``kedro`` command of an environment that has the package, which is
    what the environment is for (:data:`NATIVE_SWITCH` turns it off)."""
    pin_code_paths()


def restart_kedro_run_if_unpinned() -> None:
    """Restart a ``kedro run`` (:func:`restart_pinned`) whose numpy or torch loaded before the
    package pinned their code paths; any other command keeps its process (``kedro ipython``,
    jupyter: their figures are not the committed ones)."""
    import facevlm

    command = os.path.basename(sys.argv[0]) if sys.argv else ""
    if (
        facevlm.LOADED_BEFORE_PIN
        and command in {"kedro", "__main__.py"}
        and sys.argv[1:2] == ["run"]
    ):
        restart_pinned()


def restart_pinned(argv: list[str] | None = None) -> None:
    """Replace this process by the same command with the pinned variables set from the start,
    so that the libraries already loaded load again on the pinned path. Does not return.

    Only an installation older than the ``kedro.init`` entry point (:func:`pin_at_kedro_start`)
    gets here: reinstalling the package (``uv pip install -e .``) saves the restart."""
    argv = list(sys.orig_argv if argv is None else argv)
    print(RESTART_NOTICE, file=sys.stderr)
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
