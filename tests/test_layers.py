"""The package's layers hold: each imports only itself and the layers below it.

The order, bottom to top, is written down here once (docs/architecture.md points to it): scans
and their formats at the bottom; rendering and the face pose above them; the synthetic set above
rendering (its scanner damage, its shading and the face template's builder use the renderer's
geometry); then prompts, models and the trainer (torch code, free of Kedro), evaluation, the
experiments and the runner that trains them, the Kedro datasets, inference and the app, and the
Kedro pipelines on top. The few project-wide helpers (configuration merging, digests, atomic
writes, cores, numerics, one-line command output) sit below every layer and import none.

The imports are read from the source (every ``import`` and ``from ... import`` statement,
including those inside functions), so a lazy import cannot hide a crossing.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "facevlm"

#: The layers, bottom to top: a module may import its own layer and those before it.
LAYERS = (
    "scans",
    "render",
    "face_reader",
    "expression_bank",
    "synthetic",
    "prompts",
    "models",
    "trainer",
    "evaluation",
    "experiments",
    "runner",
    "datasets",
    "inference",
    "app",
    "pipelines",
)
#: Project-wide helpers below every layer: they import no layer.
FOUNDATION = ("config", "digests", "atomic_files", "cores", "numerics", "command_output")
#: The layers whose code is launched without Kedro (``torchrun``, ``python -m facevlm.train``).
WITHOUT_KEDRO = LAYERS[: LAYERS.index("runner") + 1]


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts).removesuffix(".__init__")


def _imports() -> list[tuple[str, str]]:
    """Every ``(importing module, imported module)`` pair of the package."""
    pairs = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                pairs.append((module, node.module))
            elif isinstance(node, ast.Import):
                pairs.extend((module, alias.name) for alias in node.names)
    return pairs


def _part(module: str) -> str | None:
    """The package part a ``facevlm.<part>...`` module belongs to (None outside the package)."""
    parts = module.split(".")
    return parts[1] if parts[0] == "facevlm" and len(parts) > 1 else None


IMPORTS = _imports()


def _crossings() -> set[tuple[str, str]]:
    found = set()
    for module, imported in IMPORTS:
        mine, theirs = _part(module), _part(imported)
        if mine in LAYERS and theirs in LAYERS and LAYERS.index(theirs) > LAYERS.index(mine):
            found.add((module, imported))
    return found


def test_every_layer_imports_only_itself_and_the_layers_below():
    unexpected = sorted(_crossings())
    assert not unexpected, "imports of a higher layer:\n" + "\n".join(
        f"{module} imports {imported}" for module, imported in unexpected
    )


def test_the_foundation_imports_no_layer():
    offending = sorted(
        (module, imported)
        for module, imported in IMPORTS
        if _part(module) in FOUNDATION and _part(imported) not in (None, *FOUNDATION)
    )
    assert not offending, offending


@pytest.mark.parametrize("layer", WITHOUT_KEDRO)
def test_the_layers_torchrun_launches_import_no_kedro(layer):
    offending = sorted(
        (module, imported)
        for module, imported in IMPORTS
        if _part(module) == layer and imported.split(".")[0] in ("kedro", "kedro_mlflow")
    )
    assert not offending, offending


def test_nothing_in_the_library_imports_a_kedro_node():
    """Only the pipelines themselves and the registry that names them import the pipelines."""
    offending = sorted(
        (module, imported)
        for module, imported in IMPORTS
        if _part(imported) == "pipelines"
        and _part(module) != "pipelines"
        and module != "facevlm.pipeline_registry"
    )
    assert not offending, offending


def test_every_package_part_has_a_place():
    """A new folder or top-level module is given its layer here, not left out of the check."""
    project_glue = {
        "pipeline_registry",
        "settings",
        "hooks",
        "stage_timing",
        "mlflow_params_hook",
        "dataset_profiles",
        "model_namespaces",
        "commands",
        "train",
        "__main__",
        "__init__",
    }
    parts = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()}
    parts = {p for p in parts if not p.startswith((".", "_")) or p in ("__main__", "__init__")}
    parts.discard("__pycache__")
    unplaced = sorted(parts - set(LAYERS) - set(FOUNDATION) - project_glue)
    assert not unplaced, unplaced
