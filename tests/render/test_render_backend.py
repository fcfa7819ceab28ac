"""The offscreen backend check: OK here, and a clear error where VTK would segfault."""

from __future__ import annotations

import ctypes.util
import json
import os
import subprocess
import sys

import pytest

from facevlm.render.backend import (
    ENV_BACKEND,
    RenderBackendError,
    check_render_backend,
    probe_backend,
)


def test_backend_is_available_here_and_cached_for_workers():
    backend = check_render_backend()
    assert backend.window_class.startswith("vtk") and backend.vtk_version
    assert check_render_backend() is backend
    assert json.loads(os.environ[ENV_BACKEND])["window_class"] == backend.window_class


@pytest.mark.skipif(ctypes.util.find_library("OSMesa") is not None, reason="OSMesa is installed")
def test_a_missing_backend_is_an_error_that_says_what_to_install_not_a_crash():
    # forcing VTK onto OSMesa, which is absent here, makes a first render segfault
    env = {**os.environ, "VTK_DEFAULT_OPENGL_WINDOW": "vtkOSOpenGLRenderWindow"}
    with pytest.raises(RenderBackendError, match=r"signal 11.*libosmesa6") as caught:
        probe_backend(env)
    assert "libegl" in str(caught.value) and "vtk-osmesa" in str(caught.value)


def test_the_models_can_be_imported_after_a_scan_was_rendered():
    """A notebook renders a scan, then imports the models (torch's compiler stack, whose Triton
    brings its own LLVM beside the software OpenGL driver's): the process must survive."""
    script = (
        "from facevlm.render.fixtures import face_like_mesh\n"
        "from facevlm.render.renderer import MultiviewRenderer, RenderSettings\n"
        "MultiviewRenderer(RenderSettings(size=32, modality='shaded')).render(face_like_mesh())\n"
        "import torchvision, open_clip\n"
        "import facevlm.models\n"
        "print('imported')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("imported")
