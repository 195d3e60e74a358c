"""Shared helpers for the deployment tests (run from the repository root)."""

from __future__ import annotations

import http.client
import os
import re
import shutil
import socket
import ssl
import subprocess
import time
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
    "JWT_PREVIOUS_SECRETS": "",
    "MFA_ENCRYPTION_KEY": "",
    "ACCESS_TOKEN_TTL_SECS": "900",
    "REFRESH_TOKEN_TTL_SECS": "1209600",
    "BCRYPT_COST": "12",
    "CORS_ALLOWED_ORIGINS": "",
    "AUTH_RATE_LIMIT_PER_MINUTE": "20",
    "FRONTEND_DIR": "frontend",
    "TRUST_PROXY_HEADERS": "false",
    "RUST_LOG": "info",
    "AUDIT_RETENTION_DAYS": "365",
    "MAX_TODOS_PER_USER": "100000",
    "TRASH_RETENTION_DAYS": "30",
    "METRICS_ADDR": "",
    "LOG_FORMAT": "text",
    "API_RATE_LIMIT_PER_MINUTE": "600",
    "REDIS_URL": "",
    "MIGRATE_ON_START": "true",
}

# Variables SPEC section 2 names for round-2 features that have not landed
# yet (PostgreSQL/Redis, MFA, API tokens). `.env.example` lists a variable once the app reads
# it; move it into SPEC_VARIABLES then.
NOT_YET_IMPLEMENTED: set[str] = set()

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


# ------------------------------------------------------------ nginx runner --

NGINX = nginx_binary()
# The server name the nginx tests render the TLS templates with.
DOMAIN = "todo.example.com"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Nginx:
    """An nginx master in the foreground with its own prefix directory."""

    def __init__(self, prefix: Path, site: str, worker_connections: int = 64):
        self.prefix = prefix
        (prefix / "logs").mkdir(parents=True, exist_ok=True)
        user = "user root root;\n" if os.geteuid() == 0 else ""
        mime = "include /etc/nginx/mime.types;" if Path("/etc/nginx/mime.types").exists() else (
            "types { text/html html; text/css css; application/javascript js; image/svg+xml svg; }"
        )
        (prefix / "site.conf").write_text(site)
        (prefix / "nginx.conf").write_text(
            f"""{user}daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log warn;
events {{ worker_connections {worker_connections}; }}
http {{
    {mime}
    default_type application/octet-stream;
    access_log off;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    include {prefix}/site.conf;
}}
"""
        )
        self.process: subprocess.Popen | None = None

    def command(self, *extra: str) -> list[str]:
        # -e: never touch the packaged /var/log/nginx (not writable without root).
        return [NGINX, "-p", str(self.prefix), "-c", str(self.prefix / "nginx.conf"),
                "-e", str(self.prefix / "logs" / "error.log"), *extra]

    def test_config(self) -> subprocess.CompletedProcess:
        return subprocess.run(self.command("-t"), capture_output=True, text=True)

    def start(self, port: int) -> None:
        self.process = subprocess.Popen(self.command(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(self.process.stderr.read().decode() + self.log())
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("nginx did not start: " + self.log())

    def log(self) -> str:
        path = self.prefix / "logs" / "error.log"
        return path.read_text() if path.exists() else ""

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def adapt_for_local_nginx(text: str) -> str:
    """Directives newer than Debian 12's nginx 1.22 are rewritten to their
    older equivalents (the images use nginx 1.30)."""
    version = nginx_version(NGINX)
    if version < (1, 25, 1):
        text = text.replace("    http2 on;\n", "")
    if version < (1, 27, 3):
        # Re-resolving upstream names (`server ... resolve`) came to open
        # source nginx in 1.27.3.
        text = re.sub(r"(?m)^(\s*server \S+ .*?) resolve;$", r"\1;", text)
    return text


def https_connection(port: int, sni: str = DOMAIN, timeout: float = 10) -> http.client.HTTPSConnection:
    """A connection to 127.0.0.1:port that sends `sni` as the TLS server name
    (and Host), without verifying the throw-away certificate."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    conn = http.client.HTTPSConnection(sni, port, context=context, timeout=timeout)
    conn._create_connection = lambda addr, timeout=None, source=None: socket.create_connection(
        ("127.0.0.1", addr[1]), timeout, source
    )
    return conn


def https_request(port: int, path: str, sni: str = DOMAIN, headers: dict | None = None,
                  method: str = "GET", body: bytes | None = None):
    conn = https_connection(port, sni)
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response, data


@pytest.fixture(scope="session")
def tls_material(tmp_path_factory) -> Path:
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    live = tmp_path_factory.mktemp("letsencrypt") / "live" / DOMAIN
    live.mkdir(parents=True)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", f"/CN={DOMAIN}", "-addext", f"subjectAltName=DNS:{DOMAIN}",
         "-keyout", str(live / "privkey.pem"), "-out", str(live / "fullchain.pem")],
        check=True, capture_output=True,
    )
    return live.parent.parent




@pytest.fixture
def postgres():
    """The PostgreSQL test server (realapp.py); skips, or fails under
    REQUIRE_POSTGRES=1, when it does not answer."""
    from realapp import postgres_server

    yield from postgres_server()
