"""Schema and lint checks with pinned tools from deploy/tests/requirements.txt:
check-jsonschema (vendored Compose Specification and GitHub workflow
schemas, no network) and hadolint for the Dockerfiles."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if not found:
        pytest.skip(f"{name} is not installed (deploy/tests/run.sh installs it)")
    return found


@pytest.mark.parametrize(
    "schema, path",
    [
        ("vendor.compose-spec", "docker-compose.yml"),
        ("vendor.github-workflows", ".github/workflows/ci.yml"),
    ],
)
def test_file_matches_its_published_schema(schema, path):
    result = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", schema, str(ROOT / path)],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "deploy/sqlite/Dockerfile"])
def test_dockerfile_passes_hadolint(dockerfile):
    result = subprocess.run(
        [tool("hadolint"), "--no-color", str(ROOT / dockerfile)],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("script", ["scripts/sqlite-to-postgres.sh", "deploy/tests/run.sh"])
def test_shell_script_passes_shellcheck(script):
    result = subprocess.run(
        [tool("shellcheck"), "--color=never", str(ROOT / script)],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
