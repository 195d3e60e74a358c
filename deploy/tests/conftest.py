"""Shared helpers for the deployment tests (run from the repository root)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

# SPEC section 2: every configuration variable the app reads, with its
# documented default.
SPEC_VARIABLES = {
    "APP_ENV": "development",
    "HOST": "127.0.0.1",
    "PORT": "8080",
    "DATABASE_URL": "sqlite://data/securetodo.db",
    "JWT_SECRET": None,
    "ACCESS_TOKEN_TTL_SECS": "900",
    "REFRESH_TOKEN_TTL_SECS": "1209600",
    "BCRYPT_COST": "12",
    "CORS_ALLOWED_ORIGINS": "",
    "AUTH_RATE_LIMIT_PER_MINUTE": "20",
    "FRONTEND_DIR": "frontend",
    "TRUST_PROXY_HEADERS": "false",
    "RUST_LOG": "info",
    "AUDIT_RETENTION_DAYS": "365",
    "METRICS_ADDR": "",
    "LOG_FORMAT": "text",
    "API_RATE_LIMIT_PER_MINUTE": "600",
    "REDIS_URL": "",
}

# Variables SPEC section 2 names for round-2 features that have not landed
# yet (PostgreSQL/Redis, MFA, API tokens, trash and quotas: issues 14-17). `.env.example` lists a variable once the app reads
# it; move it into SPEC_VARIABLES then.
NOT_YET_IMPLEMENTED = {
    "MIGRATE_ON_START",
    "JWT_PREVIOUS_SECRETS",
    "MFA_ENCRYPTION_KEY",
    "MAX_TODOS_PER_USER",
    "TRASH_RETENTION_DAYS",
}

JWT_PLACEHOLDER = "change-me-use-openssl-rand-base64-48-output-here"


def read(rel: str) -> str:
    return (ROOT / rel).read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def compose() -> dict:
    return yaml.safe_load(read("docker-compose.yml"))


def parse_dockerfile(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuations joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if current and line.startswith("#"):
            continue  # comment inside a continued instruction
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        if current.strip():
            word, _, rest = current.strip().partition(" ")
            instructions.append((word.upper(), rest.strip()))
        current = ""
    return instructions


def stages(instructions: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for ins in instructions:
        if ins[0] == "FROM":
            result.append([])
        if result:
            result[-1].append(ins)
    return result


def parse_dotenv(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Z][A-Z0-9_]*)=(.*)", line)
        assert match, f".env.example line {number} is not KEY=VALUE: {raw!r}"
        key, value = match.groups()
        assert key not in values, f"{key} is set twice in .env.example"
        values[key] = value
    return values


def render_template(text: str, env: dict[str, str]) -> str:
    """What the nginx image's 20-envsubst-on-templates.sh does with
    NGINX_ENVSUBST_FILTER=^SECURETODO_: substitute only those variables."""

    def sub(match: re.Match) -> str:
        name = match.group(1) or match.group(2)
        if name.startswith("SECURETODO_") and name in env:
            return env[name]
        return match.group(0)

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Z_][A-Z0-9_]*)", sub, text)


def nginx_binary() -> str | None:
    return shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )


def nginx_version(binary: str) -> tuple[int, ...]:
    out = subprocess.run([binary, "-v"], capture_output=True, text=True).stderr
    match = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", out)
    assert match, out
    return tuple(int(x) for x in match.groups())
