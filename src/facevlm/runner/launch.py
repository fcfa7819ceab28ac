"""Start the training workers on this machine with PyTorch's launcher, wait, load their result.

:func:`launch` is what a Kedro node calls for ``nproc > 1``: the node (one process) writes the
training bundle, ``launch`` runs ``python -m torch.distributed.run --standalone
--nproc-per-node=N -m facevlm.train BUNDLE --out OUT`` as a subprocess (gloo on CPU, NCCL on
GPUs: the workers choose), and returns the :class:`TrainingResult` they wrote; catalog saves and
MLflow logging stay in the node. A worker that fails makes ``launch`` raise
:class:`WorkerFailed` with the worker's error, and no process is left behind: the launcher runs
in its own process group, which is killed whatever happens (an error, a timeout, Ctrl-C).
"""

from __future__ import annotations

import collections
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from facevlm.runner.bundle_training import TrainingResult, load_training_result

logger = logging.getLogger(__name__)

_TAIL_LINES = 200  # output lines kept for the error message


class WorkerFailed(RuntimeError):
    """A training worker failed; the message holds the end of the workers' output (torchrun's
    summary names the failed rank and, via ``@record``, carries its traceback)."""


def torchrun_command(
    bundle_dir: str | Path,
    out_dir: str | Path,
    nproc: int,
    folds: Sequence[int] | None = None,
    overrides: dict[str, Any] | None = None,
    resume: bool = True,
    extra_args: Sequence[str] = (),
) -> list[str]:
    """The command line :func:`launch` runs (single machine, a free rendezvous port)."""
    if nproc < 1:
        raise ValueError(f"nproc must be >= 1, got {nproc}")
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={nproc}",
        "-m",
        "facevlm.train",
        str(bundle_dir),
        "--out",
        str(out_dir),
    ]
    for fold in folds or []:
        cmd += ["--fold", str(int(fold))]
    for key, value in (overrides or {}).items():
        import json

        cmd += ["--set", f"{key}={json.dumps(value)}"]
    if not resume:
        cmd.append("--no-resume")
    return cmd + list(extra_args)


def launch(
    bundle_dir: str | Path,
    nproc: int,
    out_dir: str | Path | None = None,
    folds: Sequence[int] | None = None,
    overrides: dict[str, Any] | None = None,
    resume: bool = True,
    timeout: float | None = None,
    extra_args: Sequence[str] = (),
    env: dict[str, str] | None = None,
) -> TrainingResult:
    """Train the bundle's model with ``nproc`` processes on this machine; return their result.

    Args:
        bundle_dir: a training bundle (:func:`write_training_bundle`).
        nproc: worker processes (one per GPU on a GPU machine).
        out_dir: where the workers write (default ``<bundle_dir>/run``).
        folds, overrides, resume: as :func:`train_from_bundle`.
        timeout: seconds before the workers are killed and :class:`TimeoutError` is raised.
        extra_args: more ``python -m facevlm.train`` options (e.g. ``["--compile"]``).
        env: extra environment variables for the workers.

    Raises:
        WorkerFailed: a worker exited with an error (its message is in the exception).
    """
    out = Path(out_dir) if out_dir is not None else Path(bundle_dir) / "run"
    cmd = torchrun_command(bundle_dir, out, nproc, folds, overrides, resume, extra_args)
    child_env = {**os.environ, **(env or {})}
    package_root = str(Path(__file__).resolve().parents[2])  # the src/ this facevlm came from
    child_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (package_root, child_env.get("PYTHONPATH", "")) if p
    )
    logger.info("launching %d training processes: %s", nproc, " ".join(cmd))
    tail: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        env=child_env,
        start_new_session=True,  # its own process group: killed as one below
    )
    reader = threading.Thread(target=_relay, args=(proc, tail), daemon=True)
    reader.start()
    started = time.monotonic()
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise TimeoutError(
            f"training workers still running after {timeout:.0f} s; killed. Last output:\n"
            + "".join(tail)
        ) from None
    except BaseException:  # Ctrl-C, a signal to the node: take the workers down too
        _kill_group(proc)
        raise
    finally:
        _kill_group(proc)  # stragglers (a worker's loader processes) of a finished run too
        reader.join(timeout=5)
    if code != 0:
        raise WorkerFailed(
            f"training workers failed (exit code {code}) after {time.monotonic() - started:.0f} s:"
            f"\n{''.join(tail)}"
        )
    return load_training_result(out)


def _relay(proc: subprocess.Popen, tail: collections.deque[str]) -> None:
    """Copy the workers' output to this process's stderr and keep its last lines."""
    assert proc.stdout is not None
    for line in proc.stdout:
        tail.append(line)
        sys.stderr.write(line)


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGTERM the launcher's process group, then SIGKILL whatever is left after 10 s.

    The group id is the launcher's pid (``start_new_session``), so workers it left behind are
    found even after the launcher itself has exited."""
    pgid = proc.pid
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        proc.poll()  # reap the launcher if it has exited
        if not _group_alive(pgid):
            return
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            proc.poll()
            if not _group_alive(pgid):
                return
            time.sleep(0.1)


def _group_alive(pgid: int) -> bool:
    """Whether a process of group ``pgid`` is still running (zombies awaiting a reaper do not
    count: they hold no resources and cannot be killed)."""
    proc_dir = Path("/proc")
    if not proc_dir.is_dir():  # not Linux: ask the kernel, zombies included
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for entry in proc_dir.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (name) "
        if fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False
