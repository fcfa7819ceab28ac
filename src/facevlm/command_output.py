"""What ``facevlm inspect | render | predict`` write: their results and their failures, nothing else.

Why: a script that runs ``facevlm predict`` reads stdout as JSON lines and stderr as "what went
wrong". Opening the Kedro project, its MLflow hook and open_clip log about a hundred lines
(telemetry notices, deprecation warnings, database migrations), which drown the one line that
names a bad file. So by default a command runs inside :func:`command_output`:

- its results go to the real stdout, its failures (one line each) to the real stderr;
- Python logging is switched off, warnings are ignored, and whatever libraries print to
  ``sys.stdout``/``sys.stderr`` is discarded.

``--verbose`` keeps the libraries' logging and warnings, on stderr, and stdout still holds only
the results (Kedro and MLflow also log to stdout, which is why it is redirected then too).
Output written by C libraries straight to the file descriptors (VTK's own warnings) is not
Python's to silence and is left alone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TextIO


@dataclass(frozen=True)
class CommandStreams:
    """Where a command writes its results (``out``) and its one-line failures (``err``)."""

    out: TextIO
    err: TextIO


@contextlib.contextmanager
def command_output(verbose: bool = False) -> Iterator[CommandStreams]:
    """Run a command's body with library output silenced (or, ``verbose``, sent to stderr)."""
    streams = CommandStreams(out=sys.stdout, err=sys.stderr)
    if verbose:
        with contextlib.redirect_stdout(sys.stderr):
            yield streams
        return
    previous_disable = logging.root.manager.disable
    with (
        open(os.devnull, "w") as discard,
        warnings.catch_warnings(),
        contextlib.redirect_stdout(discard),
        contextlib.redirect_stderr(discard),
    ):
        warnings.simplefilter("ignore")
        logging.disable(logging.CRITICAL)
        try:
            yield streams
        finally:
            logging.disable(previous_disable)
