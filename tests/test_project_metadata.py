"""The project's metadata agrees with itself: .kedro.yml vs pyproject, README vs CI."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_kedro_yml_agrees_with_pyproject_tool_kedro():
    tool_kedro = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["kedro"]
    kedro_yml = yaml.safe_load((ROOT / ".kedro.yml").read_text())
    assert kedro_yml, ".kedro.yml is empty"
    for key, value in kedro_yml.items():
        assert key in tool_kedro, f".kedro.yml has {key!r}, [tool.kedro] does not"
        assert str(tool_kedro[key]) == str(value), (
            f"{key}: .kedro.yml {value!r} != {tool_kedro[key]!r}"
        )
    for key in ("package_name", "project_name", "kedro_init_version", "source_dir"):
        assert key in kedro_yml, f".kedro.yml lacks {key}"


def _readme_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```(?:bash|sh|shell)\n(.*?)```", readme, flags=re.S)
    return [line.strip() for block in blocks[:2] for line in block.splitlines() if line.strip()]


def test_readme_opens_with_two_commands_and_ci_runs_the_test_command():
    commands = _readme_commands()
    assert len(commands) == 2, (
        f"the README's first two code blocks should hold one command each: {commands}"
    )
    run_command, test_command = commands
    assert "kedro run" in run_command and "pytest" in test_command
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_command in ci_lines, ".ci/run must run the README's test command verbatim"


def test_package_version_matches_pyproject():
    import facevlm

    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert facevlm.__version__ == version


def test_readme_installs_the_locked_environment_and_ci_builds_the_docs():
    run_command, test_command = _readme_commands()
    for command in (run_command, test_command):
        assert "pip install -c constraints.txt" in command, command
    pins = dict(
        line.split("==", 1)
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if line and not line.startswith("#")
    )
    locked = ("torch", "torchvision", "kedro", "mlflow", "open_clip_torch", "mkdocs-material")
    for package in locked:
        assert package in pins, f"constraints.txt does not pin {package}"
    assert "mkdocs build --strict" in (ROOT / ".ci" / "run").read_text()


#: A reference to a Markdown document in a comment, docstring or conf file: ``docs/methods.md``.
_DOCUMENT = re.compile(r"(?<![\w/.-])((?:[\w.-]+/)*[\w.-]+\.md)\b")


def test_every_document_the_code_and_conf_point_to_is_in_the_repository():
    # paths from the repository root; mkdocs.yml's nav is relative to docs/
    sources = {
        **{path: ROOT for path in (ROOT / "src").rglob("*.py")},
        **{path: ROOT for path in (ROOT / "conf").rglob("*.yml")},
        **{path: ROOT for path in (ROOT / "benchmarks").glob("*.py")},
        ROOT / "constraints.txt": ROOT,
        ROOT / "mkdocs.yml": ROOT / "docs",
    }
    missing = {
        f"{path.relative_to(ROOT)}: {reference}"
        for path, base in sources.items()
        for reference in _DOCUMENT.findall(path.read_text())
        if not (base / reference).is_file()
    }
    assert not missing, "references to documents not in the repository:\n" + "\n".join(
        sorted(missing)
    )


#: A command that runs a script of the repository: ``python benchmarks/train_step.py``.
_SCRIPT_COMMAND = re.compile(r"\bpython3? ((?:benchmarks|tools)/[\w.-]+\.py)")


def test_every_script_a_command_runs_is_in_the_repository():
    """A script that leaves ``benchmarks/`` or ``tools/`` takes every command naming it along
    (prose may still point at it in the git history)."""
    texts = [
        ROOT / "README.md",
        *(ROOT / "docs").rglob("*.md"),
        *(ROOT / "src").rglob("*.py"),
        *(ROOT / "conf").rglob("*.yml"),
        *(ROOT / "tests").rglob("*.py"),
        *(ROOT / "benchmarks").glob("*"),
        *(ROOT / "tools").glob("*"),
    ]
    missing = {
        f"{path.relative_to(ROOT)}: {script}"
        for path in texts
        if path.is_file()  # benchmarks/results/ is a folder
        for script in _SCRIPT_COMMAND.findall(path.read_text())
        if not (ROOT / script).is_file()
    }
    assert not missing, "commands that run scripts not in the repository:\n" + "\n".join(
        sorted(missing)
    )
