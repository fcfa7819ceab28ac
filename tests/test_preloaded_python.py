"""The commands the tests start from a preloaded Python (tests/preloaded_python.py) run as a new
interpreter would run them: in a process of their own with their own folder, environment,
streams and exit code, the package's numerical pin in place; one past its time is killed, one
in a session of its own ends with its process group, and a second waits for the first."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from facevlm.numerics import PINNED_ENVIRONMENT
from preloaded_python import run_preloaded, start_preloaded

#: A child's view of itself: its pid, folder, argv, stdin, a variable, the pin's variables, and
#: the width of the log Kedro's import sets up.
PROBE = """
import json, logging, os, sys
from facevlm.numerics import PINNED_ENVIRONMENT, pin_process
pin_process()  # as the commands do, before anything loads numpy
import kedro.framework.project  # sets up the log handlers, as a Kedro run's start does
print(json.dumps({
    "log_width": logging.getLogger().handlers[0].console.width,
    "pid": os.getpid(),
    "cwd": os.getcwd(),
    "argv": sys.argv[1:],
    "stdin": sys.stdin.read(),
    "probe": os.environ.get("PROBE"),
    "pinned": {name: os.environ.get(name) for name in PINNED_ENVIRONMENT},
    "main": __name__,
}))
print("to stderr", file=sys.stderr)
sys.exit(3)
"""


def test_a_child_has_its_own_folder_environment_streams_and_exit_code(tmp_path):
    # without the pin's variables: the probe pins, as a command does, in either
    env = {k: v for k, v in os.environ.items() if k not in PINNED_ENVIRONMENT}
    env["PROBE"] = "set for this child"
    env["COLUMNS"] = "123"  # the log's width
    done = run_preloaded("-c", PROBE, "an argument", cwd=tmp_path, env=env, input="given")
    fresh = subprocess.run(
        [sys.executable, "-c", PROBE, "an argument"],
        cwd=tmp_path,
        env=env,
        input="given",
        capture_output=True,
        text=True,
        check=False,
    )

    # the last line: a new interpreter logs which logging configuration Kedro's import read
    child, new_interpreter = (json.loads(run.stdout.splitlines()[-1]) for run in (done, fresh))
    assert done.returncode == fresh.returncode == 3
    assert done.stderr == fresh.stderr == "to stderr\n"
    assert child["pid"] not in (os.getpid(), new_interpreter["pid"])
    for key in ("cwd", "argv", "stdin", "probe", "pinned", "main", "log_width"):
        assert child[key] == new_interpreter[key], key
    assert child["cwd"] == str(tmp_path) and child["probe"] == "set for this child"
    assert child["pinned"] == PINNED_ENVIRONMENT and child["log_width"] == 123


def test_a_module_runs_as_main(tmp_path):
    done = run_preloaded("-m", "facevlm.commands", "--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: facevlm") and "predict" in done.stdout


def test_a_child_past_its_timeout_is_killed_and_the_next_one_runs(tmp_path):
    with pytest.raises(subprocess.TimeoutExpired):
        run_preloaded("-c", "import time; time.sleep(60)", cwd=tmp_path, timeout=1)
    assert run_preloaded("-c", "print('next')", cwd=tmp_path).stdout == "next\n"


def test_a_child_in_a_session_of_its_own_ends_with_its_process_group(tmp_path):
    grandchild = tmp_path / "grandchild.pid"
    code = (
        "import subprocess, sys, time\n"
        "started = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(grandchild)!r}, 'w').write(str(started.pid))\n"
        "time.sleep(60)\n"
    )
    child = start_preloaded("-c", code, cwd=tmp_path, stdout=tmp_path / "log", new_session=True)
    deadline = time.monotonic() + 60
    while not grandchild.exists() or not grandchild.read_text():
        assert child.poll() is None, (tmp_path / "log").read_text()
        assert time.monotonic() < deadline
        time.sleep(0.05)

    os.killpg(child.pid, signal.SIGKILL)

    assert child.wait(30) == -signal.SIGKILL
    pid = int(grandchild.read_text())
    for _ in range(100):  # killed too; reaped by init once its parent is gone
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the grandchild outlived its process group's kill")


def test_a_second_child_waits_for_the_first(tmp_path):
    first = start_preloaded("-c", "import time; time.sleep(2)", cwd=tmp_path, stdout=tmp_path / "a")
    with pytest.raises(RuntimeError, match="one preloaded command at a time"):
        start_preloaded("-c", "pass", cwd=tmp_path, stdout=tmp_path / "b")
    assert first.wait(30) == 0
    assert start_preloaded("-c", "pass", cwd=tmp_path, stdout=tmp_path / "b").wait(30) == 0
