"""Check, before any plotter exists, that VTK can render offscreen on this machine.

Why a separate check: without a display, VTK falls back from X to EGL to OSMesa; when neither
EGL nor OSMesa can be loaded it does not raise, it **segfaults** on the first render, taking the
Python process (or a whole worker pool) with it and leaving no message. So the first render of a
process is rehearsed in a throw-away subprocess; a crash there becomes a
:class:`RenderBackendError` that says what to install.

The result is cached for the process, and recorded in the environment variable
``FACEVLM_RENDER_BACKEND`` so that worker processes (which inherit the environment) skip the
probe. When no display is set the working window class (normally ``vtkEGLRenderWindow``) is
pinned through ``VTK_DEFAULT_OPENGL_WINDOW`` unless the user chose one, which spares every
process VTK's failed X connection attempt and its warning.

The check also loads Triton's compiler library (the GPU compiler torch imports with
``torch._dynamo``, which torchvision and open_clip import) when it is installed, before the first
render: Triton bundles its own LLVM, and so does Mesa's software OpenGL driver (llvmpipe) behind
EGL; loaded after Mesa's, Triton's segfaults the process, so a script or notebook that renders a
scan and then imports the models would crash. Loaded first, both work.
"""

from __future__ import annotations

import contextlib
import ctypes.util
import functools
import importlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass

#: Environment variable holding the probed backend (JSON), inherited by worker processes.
ENV_BACKEND = "FACEVLM_RENDER_BACKEND"
#: VTK's own variable choosing the OpenGL window class (VTK >= 9.4).
ENV_VTK_WINDOW = "VTK_DEFAULT_OPENGL_WINDOW"

INSTALL_HINT = (
    "VTK needs EGL or OSMesa to render without a display. Install one of: EGL with Mesa's "
    "software driver (`apt-get install libegl1 libegl-mesa0`; or a GPU driver's EGL), OSMesa "
    "(`apt-get install libosmesa6`), or VTK's OSMesa build "
    "(`pip install --extra-index-url https://wheels.vtk.org vtk-osmesa`)."
)

# Creates a 4x4 offscreen window, clears it to red and reads one pixel back: proves that a
# context can be made *and* that pixels come back, which is everything the renderer needs.
_PROBE = r"""
import json, vtk
window = vtk.vtkRenderWindow()
window.SetOffScreenRendering(1)
window.SetSize(4, 4)
window.SetMultiSamples(0)
renderer = vtk.vtkRenderer()
renderer.SetBackground(1.0, 0.0, 0.0)
window.AddRenderer(renderer)
window.Render()
pixels = vtk.vtkUnsignedCharArray()
window.GetPixelData(0, 0, 0, 0, 0, pixels, 0)
capabilities = window.ReportCapabilities() or ""
gl = [line.split(":", 1)[1].strip() for line in capabilities.splitlines()
      if line.startswith("OpenGL renderer string")]
print(json.dumps({
    "window_class": window.GetClassName(),
    "opengl_renderer": gl[0] if gl else "unknown",
    "vtk_version": vtk.vtkVersion.GetVTKVersion(),
    "pixel": [pixels.GetValue(k) for k in range(3)],
}))
window.Finalize()
"""


_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # VTK colours its log lines


class RenderBackendError(RuntimeError):
    """VTK cannot render offscreen here; the message says why and what to install."""


@dataclass(frozen=True)
class RenderBackend:
    """What the probe found: VTK's window class, the OpenGL renderer and VTK's version."""

    window_class: str
    opengl_renderer: str
    vtk_version: str


def _libraries_found() -> str:
    egl = ctypes.util.find_library("EGL")
    osmesa = ctypes.util.find_library("OSMesa")
    return f"libEGL: {egl or 'not found'}, libOSMesa: {osmesa or 'not found'}"


def probe_backend(env: Mapping[str, str] | None = None, timeout: float = 120.0) -> RenderBackend:
    """Rehearse a first offscreen render in a subprocess (uncached; ``env`` replaces os.environ).

    Raises :class:`RenderBackendError` if the subprocess crashes, fails, hangs or reads back
    wrong pixels.
    """
    try:
        done = subprocess.run(
            [sys.executable, "-c", _PROBE],
            env=dict(os.environ if env is None else env),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        raise RenderBackendError(
            f"VTK's offscreen render probe hung for {timeout:.0f} s. {INSTALL_HINT}"
        ) from exc
    vtk_said = " ".join(_ANSI.sub("", done.stderr).strip().splitlines()[-3:])
    if done.returncode != 0:
        how = (
            f"crashed with signal {-done.returncode}"
            if done.returncode < 0
            else f"failed with exit code {done.returncode}"
        )
        raise RenderBackendError(
            f"VTK's offscreen render probe {how} ({_libraries_found()}; VTK said: "
            f"{vtk_said or 'nothing'}). {INSTALL_HINT}"
        )
    try:
        found = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError) as exc:
        raise RenderBackendError(
            f"VTK's offscreen render probe printed no result: {vtk_said}"
        ) from exc
    if found.pop("pixel") != [255, 0, 0]:
        raise RenderBackendError(
            f"VTK renders offscreen with {found['window_class']} but reads back wrong pixels. "
            f"{INSTALL_HINT}"
        )
    return RenderBackend(**found)


def load_triton_before_opengl() -> None:
    """Load Triton's native library now, if Triton is installed (see the module docstring)."""
    with contextlib.suppress(ImportError):  # no Triton, or one without its native part
        importlib.import_module("triton._C.libtriton")


@functools.cache
def check_render_backend() -> RenderBackend:
    """The offscreen backend of this process, probed once (see the module docstring).

    Call before creating any plotter; raises :class:`RenderBackendError` instead of letting VTK
    crash.
    """
    load_triton_before_opengl()
    recorded = os.environ.get(ENV_BACKEND)
    if recorded:
        try:
            return RenderBackend(**json.loads(recorded))
        except (TypeError, json.JSONDecodeError):
            pass  # not ours or stale: probe again
    backend = probe_backend()
    os.environ[ENV_BACKEND] = json.dumps(asdict(backend))
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault(ENV_VTK_WINDOW, backend.window_class)
    return backend
