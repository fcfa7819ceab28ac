"""Commands run in a new process forked from a Python that has already imported the heavy
libraries (torch, open_clip, MLflow, Kedro, VTK): :func:`run_preloaded`.

Why: a ``facevlm`` command started in a new interpreter spends 3-8 s of a CPU importing those
libraries before it reads an argument, and the suite starts dozens of them on a 2-core CI
machine. A child forked from an interpreter that has imported them (a zygote, as Android starts
its apps and gunicorn ``--preload`` its workers) starts at once, and is otherwise the command as
a user runs it: its own process, working folder, environment, standard streams and exit code,
and the command module run as ``__main__`` (``python -m``). It shares no state with the tests:
the zygote is a fresh interpreter that imports, reads which installed package holds which
module, and waits; it computes nothing (no torch thread, no OpenGL context, no Kedro project is
set up before a fork).

What a forked child cannot show is how a fresh interpreter starts: the numerical pin before torch
loads, what a command imports, a machine without VTK. The tests of those keep real interpreters
(``subprocess``).

Each pytest-xdist worker starts its own zygote on first use; it ends with the worker (its
requests pipe closes).
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: What a command's process imports, in the order a ``facevlm`` command imports it, once the
#: zygote has pinned the libraries' numerical path as the commands do before they load; then
#: what a Kedro run goes on to import as its nodes and hooks run (about 2 s of a CPU in each
#: forked run): scikit-learn (and the SciPy it imports), MediaPipe's face reader, MLflow's SQL
#: store (and alembic's migrations), and IPython, which MLflow imports at every run's start to
#: look for Databricks.
#: Not the command module itself: the child runs it as ``__main__``, and ``python -m`` finds it
#: unimported.
PRELOAD = (
    "facevlm",
    "torch",
    "open_clip",
    "pyvista",
    "mlflow",
    "kedro.framework.session",
    "kedro_mlflow.framework.hooks",
    "facevlm.datasets",
    "sklearn.linear_model",
    "sklearn.cluster",
    "mediapipe",
    "mlflow.store.tracking.sqlalchemy_store",
    "IPython",
)


def run_preloaded(
    *command: object,
    cwd: str | Path,
    env: dict[str, str] | None = None,
    input: str | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """``python -m MODULE ARGS`` or ``python -c CODE ARGS`` (``command``, as Python's own
    command line) in ``cwd``, as :func:`subprocess.run` with ``capture_output`` and ``text``
    returns it, in a child of the worker's zygote (module doc). ``env``: the child's
    environment (the worker's by default); ``input``: its standard input.

    Raises:
        subprocess.TimeoutExpired: the child ran past ``timeout`` seconds (it is killed).
    """
    with tempfile.TemporaryDirectory(prefix="preloaded-") as folder:
        out, err, stdin = Path(folder, "stdout"), Path(folder, "stderr"), Path(folder, "stdin")
        stdin.write_text(input or "")
        child = start_preloaded(*command, cwd=cwd, env=env, stdin=stdin, stdout=out, stderr=err)
        try:
            returncode = child.wait(timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            raise
        read = {"errors": "replace"}
        return subprocess.CompletedProcess(
            child.args, returncode, out.read_text(**read), err.read_text(**read)
        )


def start_preloaded(
    *command: object,
    cwd: str | Path,
    stdout: Path,
    stderr: Path | None = None,
    stdin: Path | None = None,
    env: dict[str, str] | None = None,
    new_session: bool = False,
) -> PreloadedProcess:
    """Start ``command`` (as :func:`run_preloaded`) with its output written to the file
    ``stdout`` and its errors to ``stderr`` (None: to ``stdout`` as well, as
    ``stderr=subprocess.STDOUT``), reading ``stdin`` (None: nothing); ``new_session``: in a
    process group of its own (``start_new_session``), so that ``os.killpg`` ends it and every
    process it started. One child at a time per worker: wait for it before the next."""
    argv = [str(part) for part in command]
    if argv[:1] not in (["-m"], ["-c"]) or len(argv) < 2:
        raise ValueError(f"expected -m MODULE or -c CODE and their arguments, got {argv[:2]}")
    zygote = _Zygote.of_this_process()
    if zygote.running is not None and zygote.running.poll() is None:
        # the zygote waits for one child at a time: a second's replies would be taken for its
        raise RuntimeError("one preloaded command at a time in a test process: wait for the first")
    pid = zygote.ask(
        {
            "argv": argv,
            "cwd": str(cwd),
            "env": dict(os.environ if env is None else env),
            "stdin": str(stdin or os.devnull),
            "stdout": str(stdout),
            "stderr": str(stderr or stdout),
            "new_session": new_session,
        }
    )["pid"]
    zygote.running = PreloadedProcess(zygote, pid, [sys.executable, *argv])
    return zygote.running


class PreloadedProcess:
    """A child of the zygote (:func:`start_preloaded`), as much of :class:`subprocess.Popen`
    as the tests use: ``pid``, ``args``, ``returncode``, :meth:`poll`, :meth:`wait`,
    :meth:`kill`."""

    def __init__(self, zygote: _Zygote, pid: int, args: list[str]):
        self.zygote, self.pid, self.args = zygote, pid, args
        self.returncode: int | None = None

    def poll(self) -> int | None:
        try:
            return self.wait(0)
        except subprocess.TimeoutExpired:
            return None

    def wait(self, timeout: float | None = None) -> int:
        """The exit code (negative: killed by that signal), once the child has ended.

        Raises:
            subprocess.TimeoutExpired: it is still running after ``timeout`` seconds.
        """
        if self.returncode is None:
            reply = self.zygote.answer(timeout)
            if reply is None:
                raise subprocess.TimeoutExpired(self.args, timeout)
            self.returncode = reply["returncode"]
        return self.returncode

    def kill(self) -> None:
        if self.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
            self.wait(60)


def _without_terminal_size(env) -> dict[str, str]:
    """``env`` less ``COLUMNS`` and ``LINES``, as the zygote starts with them.

    Why: the log handlers that Kedro's import sets up take the terminal's width from
    ``COLUMNS`` when they are made, in the zygote, and from each child's own ``COLUMNS`` as it
    writes only when it was not set then. (A test process may hold a ``COLUMNS`` that its
    ``os.environ`` does not show: a library set it in the C environment.)"""
    return {name: value for name, value in env.items() if name not in ("COLUMNS", "LINES")}


class _Zygote:
    """The worker's zygote process and its reply lines."""

    _current: _Zygote | None = None

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            bufsize=0,
            env=_without_terminal_size(os.environ),
        )
        self.pending = b""
        self.running: PreloadedProcess | None = None
        atexit.register(self.stop)

    @classmethod
    def of_this_process(cls) -> _Zygote:
        if cls._current is None or cls._current.process.poll() is not None:
            cls._current = cls()
        return cls._current

    def ask(self, request: dict) -> dict:
        self.process.stdin.write(json.dumps(request).encode() + b"\n")
        reply = self.answer(timeout=120)
        if reply is None:
            raise RuntimeError("the preloaded Python did not start the command in 120 s")
        return reply

    def answer(self, timeout: float | None) -> dict | None:
        """The next reply line, or None when none comes within ``timeout`` seconds.

        Read from the pipe's file descriptor, not a buffered file: a buffer could hold a
        second line that ``select`` no longer sees on the pipe."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self.pending:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self.process.stdout], [], [], left)
            if not ready:
                return None
            chunk = os.read(self.process.stdout.fileno(), 65536)
            if not chunk:
                raise RuntimeError("the preloaded Python ended; run the command in a subprocess")
            self.pending += chunk
        line, self.pending = self.pending.split(b"\n", 1)
        return json.loads(line)

    def stop(self) -> None:
        """The zygote ends when its requests do."""
        self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


# ---------------------------------------------------------------------------- the zygote
def _read_installed_packages() -> None:
    """Read once, for every child, which installed package provides which module.

    Why: MLflow checks a logged model's pinned requirements against that map, which it builds
    from every installed package's file list on its first model of a process (about 1.1 s of
    CPU), and each forked ``kedro run`` that logs a model would build it again. It describes the
    installation, not any run, as a long-lived Python builds it once. Read through MLflow's
    own (private) initialiser; a version without it builds the map in each child as before."""
    from mlflow.utils import requirements_utils

    build = getattr(requirements_utils, "_init_modules_to_packages_map", None)
    if build is not None:
        build()


def _serve() -> None:
    """Import :data:`PRELOAD`, then fork one child per request line on stdin (``argv``,
    ``cwd``, ``env`` and the files of its three streams); reply the child's pid, then its exit
    code (negative: killed by that signal), one JSON line each."""
    import importlib
    import runpy
    import traceback
    import types

    gc.disable()  # while the libraries load: their objects are frozen below
    replies = os.fdopen(os.dup(1), "w")
    nothing = os.open(os.devnull, os.O_RDWR)
    os.dup2(nothing, 1)  # what an import prints is nobody's reply
    from facevlm.numerics import pin_code_paths, pin_process

    pin_process()  # as `kedro run` and the `facevlm` command do before numpy and torch load
    for name in PRELOAD:
        importlib.import_module(name)
    _read_installed_packages()
    # the libraries' objects out of the garbage collector's reach: a child's collections walk
    # only what the command made, not the 650,000 objects it was forked with (and so leave
    # their memory pages shared with the zygote rather than copied for each child)
    gc.collect()
    gc.freeze()
    gc.enable()

    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                os.chdir(request["cwd"])
                os.environ.clear()
                os.environ.update(request["env"])
                # what the command's pin does in a new interpreter: the child's own processes
                # (render workers, torchrun) inherit the pin with its environment
                pin_code_paths(os.environ)
                if request["new_session"]:
                    os.setsid()
                os.dup2(os.open(request["stdin"], os.O_RDONLY), 0)
                writing = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
                os.dup2(os.open(request["stdout"], writing, 0o600), 1)
                if request["stderr"] == request["stdout"]:
                    os.dup2(1, 2)
                else:
                    os.dup2(os.open(request["stderr"], writing, 0o600), 2)
                replies.close()
                flag, target, *arguments = request["argv"]
                try:
                    if flag == "-m":
                        sys.path[0] = os.getcwd()  # `python -m` puts the working folder first
                        sys.argv = ["-m", *arguments]
                        runpy.run_module(target, run_name="__main__", alter_sys=True)
                    else:
                        sys.path[0] = ""  # and `python -c` the working folder, as ""
                        sys.argv = ["-c", *arguments]
                        main = types.ModuleType("__main__")
                        sys.modules["__main__"] = main
                        exec(compile(target, "<string>", "exec"), main.__dict__)
                    code = 0
                except SystemExit as done:
                    if done.code is None or isinstance(done.code, int):
                        code = done.code or 0
                    else:
                        print(done.code, file=sys.stderr)
            except BaseException:
                traceback.print_exc()
            finally:
                for stream in (sys.stdout, sys.stderr):
                    with contextlib.suppress(Exception):  # a closed stream: nothing to say
                        stream.flush()
                os._exit(code)
        replies.write(json.dumps({"pid": pid}) + "\n")
        replies.flush()
        _, status = os.waitpid(pid, 0)
        replies.write(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}) + "\n")
        replies.flush()


if __name__ == "__main__":
    _serve()
