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
