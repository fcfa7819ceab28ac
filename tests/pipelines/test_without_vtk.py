"""Training needs no VTK: a machine that cannot draw (a GPU node of a cluster, say) lists the
project's pipelines and runs the model stages on renders made elsewhere; only the render stage
itself imports VTK and pyvista."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from facevlm.model_namespaces import BASE_MODELS
from facevlm.pipeline_registry import data_stages, register_pipelines

# A Python whose VTK and pyvista are missing: any import of them fails as it would there.
_WITHOUT_VTK = textwrap.dedent(
    """
    import importlib.abc, json, sys

    class NoVtk(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("vtk", "vtkmodules", "pyvista"):
                raise ModuleNotFoundError(f"No module named {name!r}")
            return None

    sys.meta_path.insert(0, NoVtk())

    from facevlm.pipeline_registry import register_pipelines
    from facevlm.pipelines.render import nodes  # the render pipeline's planning
    from facevlm.render.settings import RenderSettings

    pipelines = register_pipelines()
    RenderSettings(size=64, pose="estimate")
    drawing = sorted(m for m in sys.modules if m.split(".")[0] in ("vtk", "vtkmodules", "pyvista"))
    print(json.dumps({"pipelines": sorted(pipelines), "drawing": drawing}))
    """
)


def test_the_pipelines_load_on_a_machine_without_vtk():
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_VTK], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"__default__", "train_from_renders", "report"} <= set(loaded["pipelines"])
    assert loaded["drawing"] == []


def test_training_from_renders_runs_the_default_models_without_the_data_stages():
    pipelines = register_pipelines()
    data_nodes = {node.name for node in data_stages(*BASE_MODELS).nodes}
    default = {node.name for node in pipelines["__default__"].nodes}
    from_renders = {node.name for node in pipelines["train_from_renders"].nodes}

    assert from_renders == default - data_nodes
    assert {"affectvlm.report", "smile.report", "backbone_for_recipe"} <= from_renders
    assert {"scan_index", "renders"} <= pipelines["train_from_renders"].inputs()
