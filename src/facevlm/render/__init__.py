"""Offscreen multiview rendering of face scans into images (no Kedro here; nodes wrap this).

Modules, one job each:

- :mod:`.views`          camera viewpoints (yaw, pitch) and their parameter forms and names
- :mod:`.normalize`      put every face at the same place and size (robust centre and radius)
- :mod:`.face_pose`      find the face on any scan: its pose, units and face box; refuse non-faces
- :mod:`.face_template`  the mean face (ICT-FaceKit, real people) the pose is fitted with
- :mod:`.arrays`         per-point render arrays of a ``FaceMesh``, fast, and smooth normals
- :mod:`.texture`        texture images from disk to VTK, the right way up
- :mod:`.backend`        check that VTK can render offscreen before it gets a chance to crash
- :mod:`.settings`       ``RenderSettings`` and ``params:render``'s plan keys; no VTK needed
- :mod:`.renderer`       ``MultiviewRenderer``: one offscreen plotter drawing every view
- :mod:`.parallel`       many scans over all cores, one renderer per worker process
- :mod:`.frames`         4D frame selection, dynamic images, the sample(s) made of the frames
- :mod:`.surface_motion` a micro-expression's onset-to-apex surface motion, painted on the face
- :mod:`.contact_sheet`  labelled image grids for eyeballing renders
- :mod:`.fixtures`       synthetic textured face-like meshes for tests and benchmarks

Names are imported lazily, so that ``facevlm.render.frames`` and friends do not pay for
importing VTK and pyvista. (``contact_sheet`` is not re-exported: the package attribute of that
name is its module; use ``from facevlm.render.contact_sheet import contact_sheet``.)
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "View": "views",
    "DEFAULT_VIEWS": "views",
    "parse_views": "views",
    "RenderSettings": "settings",
    "MultiviewRenderer": "renderer",
    "RenderJob": "parallel",
    "RenderResult": "parallel",
    "ParallelRenderer": "parallel",
    "render_many": "parallel",
    "FrameSpec": "frames",
    "PhaseLabels": "frames",
    "parse_frames": "frames",
    "select_frames": "frames",
    "dynamic_image": "frames",
    "surface_motion_mesh": "surface_motion",
    "check_render_backend": "backend",
    "FacePose": "face_pose",
    "NotAFaceError": "face_pose",
    "estimate_face_pose": "face_pose",
    "RenderBackendError": "backend",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
