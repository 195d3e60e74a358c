"""The container health probe (deploy/healthcheck/healthcheck.rs), built with
plain rustc like the Dockerfile does and run against a local stub server."""

from __future__ import annotations

import http.server
import os
import shutil
import socket
import subprocess
import threading

import pytest

from conftest import ROOT

RUSTC = shutil.which("rustc")


@pytest.fixture(scope="module")
def probe(tmp_path_factory) -> str:
    if RUSTC is None:
        pytest.skip("rustc is not installed")
    out = tmp_path_factory.mktemp("probe") / "healthcheck"
    subprocess.run(
        [RUSTC, "--edition", "2021", "-C", "opt-level=z", "-C", "strip=symbols",
         "-C", "panic=abort", str(ROOT / "deploy/healthcheck/healthcheck.rs"), "-o", str(out)],
        check=True, capture_output=True, text=True,
    )
    return str(out)


class Handler(http.server.BaseHTTPRequestHandler):
    statuses = {"/health/ready": 200, "/health/live": 200, "/down": 503}

    def do_GET(self):
        self.send_response(self.statuses.get(self.path, 404))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv.server_address[1]
    srv.shutdown()


def run(probe: str, *args: str, port: int | str | None = None):
    env = {k: v for k, v in os.environ.items() if k != "PORT"}
    if port is not None:
        env["PORT"] = str(port)
    return subprocess.run([probe, *args], env=env, capture_output=True, text=True, timeout=20)


def test_probe_succeeds_when_ready(probe, server):
    assert run(probe, port=server).returncode == 0
    assert run(probe, "/health/ready", port=server).returncode == 0


def test_probe_fails_on_503(probe, server):
    result = run(probe, "/down", port=server)
    assert result.returncode == 1 and "503" in result.stderr


def test_probe_fails_when_nothing_listens(probe):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run(probe, port=port)
    assert result.returncode == 1 and "connect" in result.stderr


def test_probe_rejects_bad_input(probe, server):
    assert run(probe, port="not-a-port").returncode == 1
    assert run(probe, "no-slash", port=server).returncode == 1
    assert run(probe, "/a b", port=server).returncode == 1


def test_probe_defaults_to_port_8080():
    text = (ROOT / "deploy/healthcheck/healthcheck.rs").read_text()
    assert "const DEFAULT_PORT: u16 = 8080;" in text
    assert 'const DEFAULT_PATH: &str = "/health/ready";' in text
