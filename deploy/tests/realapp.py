"""Real `securetodo` processes, PostgreSQL databases and Redis for the
deployment checks that need them (test_failover.py, test_sqlite_to_postgres.py).

Where things are found:
- the binary: SECURETODO_BIN (scripts/test-all.sh sets it), else
  target/debug/securetodo of this checkout;
- PostgreSQL: TEST_DATABASE_URL (a server URL without a database name, as
  scripts/test-all.sh exports it), default postgres://postgres@127.0.0.1:5432;
  each test run creates its own `deploycheck_*` database and drops it after;
- Redis: TEST_REDIS_URL, default redis://127.0.0.1:6379/15.

What is missing makes these tests skip with the reason, except under
REQUIRE_POSTGRES=1 (.ci/run sets it), where a missing PostgreSQL, psql or
nginx, or a binary without PostgreSQL support, fails them instead: a green
CI run never means they did not run. REQUIRE_REDIS=1 does the same for
Redis.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from functools import cache
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest

from conftest import ROOT, free_port

JWT_SECRET = "deploy-check-" + "k" * 40


def required(variable: str) -> bool:
    return os.environ.get(variable, "") == "1"


def unavailable(reason: str, variable: str = "REQUIRE_POSTGRES") -> None:
    """Skip, or fail when `variable`=1 says this check must run."""
    if required(variable):
        pytest.fail(f"{reason} ({variable}=1: this check must run)")
    pytest.skip(reason)


# ------------------------------------------------------------------ binary --


def binary() -> Path:
    path = Path(os.environ.get("SECURETODO_BIN") or ROOT / "target" / "debug" / "securetodo")
    if not (path.is_file() and os.access(path, os.X_OK)):
        unavailable(f"no securetodo binary at {path} (cargo build, or set SECURETODO_BIN)")
    return path


@cache
def binary_mentions(path: Path, word: bytes) -> bool:
    """Whether the binary carries `word` (a configuration variable's name):
    how these tests tell which round-2 features a build has."""
    with path.open("rb") as file:
        tail = b""
        while chunk := file.read(1 << 22):
            if word in tail + chunk:
                return True
            tail = chunk[-len(word):]
    return False


# -------------------------------------------------------------- PostgreSQL --


class Postgres:
    """psql against the test server: one throw-away database per test."""

    def __init__(self, server_url: str):
        self.server_url = server_url.rstrip("/")
        self.created: list[str] = []

    def url(self, database: str) -> str:
        return f"{self.server_url}/{database}"

    def psql(self, database: str, sql: str, check: bool = True) -> str:
        result = subprocess.run(
            ["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", self.url(database), "-c", sql],
            capture_output=True, text=True, timeout=60,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"psql failed: {result.stderr}")
        return result.stdout

    def create_database(self, prefix: str) -> str:
        name = f"deploycheck_{prefix}_{uuid.uuid4().hex[:10]}"
        self.psql("postgres", f"CREATE DATABASE {name}")
        self.created.append(name)
        return name

    def drop_all(self) -> None:
        for name in self.created:
            self.psql("postgres", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", check=False)
        self.created.clear()


def postgres_server():
    """The `postgres` fixture (conftest.py): a Postgres whose databases are
    dropped after the test."""
    if shutil.which("psql") is None:
        unavailable("psql is not installed (the PostgreSQL client)")
    server = Postgres(os.environ.get("TEST_DATABASE_URL") or "postgres://postgres@127.0.0.1:5432")
    probe = subprocess.run(["psql", "-X", "-Atqc", "SELECT 1", server.url("postgres")],
                           capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        unavailable(f"PostgreSQL does not answer at {server.server_url}: {probe.stderr.strip()}")
    yield server
    server.drop_all()


def migrate(bin_path: Path, database_url: str, cwd: Path) -> None:
    """`securetodo migrate`; a build without PostgreSQL support skips the test
    (fails under REQUIRE_POSTGRES=1)."""
    result = subprocess.run([str(bin_path), "migrate"], env=app_env(database_url), cwd=cwd,
                            capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        if database_url.startswith("postgres") and "not supported" in result.stderr:
            unavailable(f"{bin_path} has no PostgreSQL support yet: {result.stderr.strip()}")
        raise AssertionError(f"securetodo migrate failed: {result.stderr}")


# ------------------------------------------------------------------- Redis --


def redis_url_if_up() -> str | None:
    """TEST_REDIS_URL when a Redis answers PING there, else None (or a
    failure under REQUIRE_REDIS=1)."""
    url = os.environ.get("TEST_REDIS_URL") or "redis://127.0.0.1:6379/15"
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            if sock.recv(64).startswith(b"+PONG"):
                return url
    except OSError:
        pass
    if required("REQUIRE_REDIS"):
        pytest.fail(f"Redis does not answer at {url} (REQUIRE_REDIS=1)")
    return None


# -------------------------------------------------------------- the server --


def app_env(database_url: str, **extra: str) -> dict[str, str]:
    """A complete environment: nothing leaks in from the caller's shell or
    a .env file (the processes run in a directory without one)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "APP_ENV": "development",
        "HOST": "127.0.0.1",
        "DATABASE_URL": database_url,
        "JWT_SECRET": JWT_SECRET,
        "BCRYPT_COST": "4",
        "FRONTEND_DIR": "",
        "RUST_LOG": "info",
        "LOG_FORMAT": "json",
        "AUTH_RATE_LIMIT_PER_MINUTE": "10000",
        "API_RATE_LIMIT_PER_MINUTE": "0",
    }
    if "LLVM_PROFILE_FILE" in os.environ:  # coverage builds (scripts/test-all.sh)
        env["LLVM_PROFILE_FILE"] = os.environ["LLVM_PROFILE_FILE"]
    env.update(extra)
    return env


class Server:
    """One `securetodo serve` on a free loopback port, its log in a file."""

    def __init__(self, bin_path: Path, workdir: Path, name: str, database_url: str, **env: str):
        self.name = name
        self.port = free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [str(bin_path), "serve"], cwd=workdir, stdout=self._log, stderr=subprocess.STDOUT,
            env=app_env(database_url, PORT=str(self.port), **env),
        )
        self.wait_ready()

    def wait_ready(self, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited {self.process.returncode}:\n{self.log()}")
            try:
                status, _, _ = self.request("GET", "/health/ready")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{self.name} is not ready after {seconds} s:\n{self.log()}")

    def request(self, method: str, path: str, body=None, token: str | None = None):
        return http_json(http.client.HTTPConnection("127.0.0.1", self.port, timeout=30),
                         method, path, body, token)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def served_paths(self) -> list[str]:
        """Paths of the access-log lines (LOG_FORMAT=json)."""
        paths = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and "status" in record and "path" in record:
                paths.append(record["path"])
        return paths

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


def http_json(conn: http.client.HTTPConnection, method: str, path: str, body=None,
              token: str | None = None):
    """(status, headers, parsed JSON or None) of one request on `conn`."""
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        raw = response.read()
    finally:
        conn.close()
    parsed = json.loads(raw) if raw and "json" in (response.getheader("Content-Type") or "") else None
    return response.status, response, parsed


class Api:
    """The few API calls these checks make, over any transport:
    `send(method, path, body, token) -> (status, response, json)`."""

    PASSWORD = "deploy-check correct horse 42"

    def __init__(self, send):
        self.send = send

    def register(self, email: str, password: str = PASSWORD) -> dict:
        status, _, user = self.send("POST", "/api/v1/auth/register",
                                    {"email": email, "password": password}, None)
        assert status == 201, (status, user)
        return user

    def login(self, email: str, password: str = PASSWORD) -> str:
        status, _, pair = self.send("POST", "/api/v1/auth/login",
                                    {"email": email, "password": password}, None)
        assert status == 200, (status, pair)
        return pair["access_token"]

    def create_todo(self, token: str, **fields) -> dict:
        status, _, todo = self.send("POST", "/api/v1/todos", fields, token)
        assert status == 201, (status, todo)
        return todo

    def all_todos(self, token: str) -> list[dict]:
        """Every todo of the caller, oldest first (walking the cursors)."""
        items: list[dict] = []
        path = "/api/v1/todos?sort=created_at&limit=100"
        while True:
            status, _, page = self.send("GET", path, None, token)
            assert status == 200, (status, page)
            items += page["items"]
            if not page["next_cursor"]:
                return items
            path = f"/api/v1/todos?sort=created_at&limit=100&cursor={quote(page['next_cursor'], safe='')}"
