"""The balancer of the compose "scale" profile (deploy/nginx/scale/): its
retry rules, run for real in front of stub replicas on loopback ports.

The rules under test (docs/scaling.md): GET and HEAD go to another replica
when one fails; POST and PATCH go to another replica only when the first
never received them; PUT and DELETE are never passed on. Each stub replica
records what reached it, so a test sees exactly where every request went.
Skipped when nginx is not installed (deploy/tests/run.sh installs it when
run as root), except under REQUIRE_POSTGRES=1 (CI), where that fails.
"""

from __future__ import annotations

import http.server
import json
import re
import threading
import uuid
from pathlib import Path

import pytest
import yaml

from conftest import (
    DOMAIN,
    NGINX,
    ROOT,
    Nginx,
    adapt_for_local_nginx,
    free_port,
    https_request,
    read,
    render_template,
)
from realapp import unavailable

SCALE_TEMPLATE = "deploy/nginx/scale/securetodo.conf.template"
PROXY_TEMPLATE = "deploy/nginx/proxy/securetodo.conf.template"

# ------------------------------------------------------------ the template --


def upstream_servers(text: str) -> list[str]:
    block = re.search(r"upstream securetodo_replicas \{(.*?)\n\}", text, re.S).group(1)
    return re.findall(r"(?m)^\s*server (\S+)", block)


def test_template_only_uses_securetodo_variables_braced():
    text = read(SCALE_TEMPLATE)
    for name in re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", text):
        assert name.startswith("SECURETODO_"), f"${{{name}}} is not substituted"
    assert "${" not in render_template(text, {"SECURETODO_DOMAIN": DOMAIN})


@pytest.mark.parametrize("line", [
    "server_tokens off;",
    "ssl_protocols TLSv1.2 TLSv1.3;",
    "ssl_reject_handshake on;",
    "proxy_set_header X-Forwarded-For $remote_addr;",
    "proxy_set_header X-Forwarded-Proto $scheme;",
    "proxy_set_header X-Request-Id $securetodo_request_id;",
    "proxy_hide_header Strict-Transport-Security;",
    'add_header Strict-Transport-Security "max-age=63072000" always;',
    "location ^~ /.well-known/acme-challenge/ {",
    "return 301 https://${SECURETODO_DOMAIN}$request_uri;",
])
def test_template_keeps_the_hardening_of_the_single_proxy(line):
    assert line in read(PROXY_TEMPLATE), "the reference line changed in the proxy template"
    assert line in read(SCALE_TEMPLATE)
    assert "$proxy_add_x_forwarded_for" not in read(SCALE_TEMPLATE)


def test_upstream_lists_every_replica_of_the_scale_profile():
    compose = yaml.safe_load(read("docker-compose.yml"))
    replicas = sorted(
        f"{name}:8080" for name, svc in compose["services"].items()
        if "scale" in (svc.get("profiles") or []) and svc.get("healthcheck", {}).get("test")
        and "/health/ready" in " ".join(svc["healthcheck"]["test"])
    )
    assert len(replicas) >= 2
    assert sorted(upstream_servers(read(SCALE_TEMPLATE))) == replicas


def without_comments(text: str) -> str:
    return re.sub(r"(?m)^\s*#.*\n", "", text)


def test_retry_rules_are_explicit():
    text = without_comments(read(SCALE_TEMPLATE))
    assert "non_idempotent" not in text, (
        "POST/PATCH must never be re-sent once a replica received them"
    )
    methods = dict(re.findall(r"(?m)^\s+([A-Z]+|default)\s+(\w+);",
                              re.search(r"map \$request_method .*?\{(.*?)\}", text, re.S).group(1)))
    assert methods == {"GET": "reads", "HEAD": "reads", "POST": "unsent", "PATCH": "unsent",
                       "default": "never"}
    policies = dict(re.findall(r"location (\S+) \{[^}]*?(?:\{[^}]*\}[^}]*?)*proxy_next_upstream ([^;]+);",
                               text))
    assert policies["/"] == "error timeout http_502 http_503 http_504"
    assert policies["@unsent"] == "error timeout"
    assert policies["@never"] == "off"
    assert re.search(r"proxy_next_upstream_tries 2;", text)


def test_body_limit_matches_the_app():
    limit = re.search(r"MAX_BODY_BYTES: usize = (\d+) \* 1024;", read("backend/src/extract.rs"))
    assert limit, "backend/src/extract.rs no longer states MAX_BODY_BYTES as N * 1024"
    assert f"client_max_body_size {limit.group(1)}k;" in read(SCALE_TEMPLATE)


def test_upstream_keepalive_ends_before_the_apps():
    # actix-web's default keep-alive is 5 s; startup.rs does not change it.
    assert "keep_alive(" not in read("backend/src/startup.rs")
    timeout = re.search(r"upstream securetodo_replicas \{.*?keepalive_timeout (\d+)s;",
                        read(SCALE_TEMPLATE), re.S)
    assert timeout and int(timeout.group(1)) < 5


# ---------------------------------------------------- stub replicas, live --


class StubReplica(http.server.ThreadingHTTPServer):
    """Records (method, X-Test-Id) of every request that reaches it and
    answers per method: "ok" (200 naming itself), "502", or "drop" (reads
    the request, then closes the connection without an answer)."""

    daemon_threads = True

    def __init__(self, name: str, behaviour: dict[str, str] | None = None):
        super().__init__(("127.0.0.1", 0), StubHandler)
        self.name = name
        self.behaviour = behaviour or {}
        self.seen: list[tuple[str, str]] = []
        self.headers_seen: list[dict[str, str]] = []
        self.lock = threading.Lock()
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"

    def ids(self, method: str | None = None) -> list[str]:
        with self.lock:
            return [i for m, i in self.seen if method is None or m == method]


class StubHandler(http.server.BaseHTTPRequestHandler):
    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        server: StubReplica = self.server  # type: ignore[assignment]
        with server.lock:
            server.seen.append((self.command, self.headers.get("X-Test-Id", "")))
            server.headers_seen.append(dict(self.headers.items()))
        action = server.behaviour.get(self.command, "ok")
        if action == "drop":
            self.close_connection = True
            return
        status = 502 if action == "502" else 200
        body = b"" if self.command == "HEAD" else json.dumps({"replica": server.name}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_HEAD = do_POST = do_PATCH = do_PUT = do_DELETE = handle_any

    def log_message(self, *args):
        pass


def scale_site(tls: Path, ports: dict[str, int], upstreams: list[str]) -> str:
    """The template as the nginx image renders it, with loopback ports, the
    test certificate and `upstreams` in place of the compose replicas."""
    text = render_template(read(SCALE_TEMPLATE), {"SECURETODO_DOMAIN": DOMAIN})
    text = adapt_for_local_nginx(text)
    text = text.replace("listen 80 default_server;", f"listen 127.0.0.1:{ports['http']} default_server;")
    text = text.replace("listen 443 ssl default_server;",
                        f"listen 127.0.0.1:{ports['https']} ssl default_server;")
    text = text.replace("listen 443 ssl;", f"listen 127.0.0.1:{ports['https']} ssl;")
    text = text.replace("listen 127.0.0.1:8081;", f"listen 127.0.0.1:{ports['health']};")
    text = text.replace("/etc/letsencrypt/", f"{tls}/")
    text = text.replace("root /var/www/certbot;", f"root {tls};")
    servers = re.findall(r"(?m)^(\s*server )app-\d+:8080( .*;)$", text)
    assert servers, "no app-N servers in the upstream"
    prefix, params = servers[0]
    text = re.sub(r"(?m)^\s*server app-\d+:8080 .*;\n", "", text)
    block = "".join(f"{prefix}{address}{params}\n" for address in upstreams)
    return text.replace("    zone securetodo_replicas 64k;\n",
                        "    zone securetodo_replicas 64k;\n" + block)


class Balancer:
    def __init__(self, tmp: Path, tls: Path, upstreams: list[str], worker_connections: int = 64):
        self.ports = {"http": free_port(), "https": free_port(), "health": free_port()}
        self.nginx = Nginx(tmp, scale_site(tls, self.ports, upstreams), worker_connections)
        checked = self.nginx.test_config()
        assert checked.returncode == 0, checked.stderr
        self.nginx.start(self.ports["https"])

    def request(self, method: str, path: str = "/api/v1/todos", body: bytes | None = None,
                headers: dict | None = None):
        return https_request(self.ports["https"], path, method=method, body=body,
                             headers=headers or {})

    def stop(self) -> None:
        self.nginx.stop()


@pytest.fixture
def balancer(tmp_path, tls_material):
    """balancer(upstreams) -> a running Balancer; stopped after the test."""
    if NGINX is None:
        # Skips, except under REQUIRE_POSTGRES=1 (CI), where the deployment
        # checks must run.
        unavailable("nginx is not installed")
    started: list[Balancer] = []

    def start(upstreams: list[str]) -> Balancer:
        lb = Balancer(tmp_path / f"lb{len(started)}", tls_material, upstreams)
        started.append(lb)
        return lb

    yield start
    for lb in started:
        lb.stop()


def send(lb: Balancer, method: str, count: int, body: bytes | None = b"{}") -> list[tuple[str, int]]:
    """`count` requests, each with its own X-Test-Id: [(id, status)]."""
    results = []
    for _ in range(count):
        test_id = uuid.uuid4().hex
        headers = {"X-Test-Id": test_id, "Content-Type": "application/json"}
        response, _ = lb.request(method, body=None if method in ("GET", "HEAD") else body,
                                 headers=headers)
        results.append((test_id, response.status))
    return results


def test_config_passes_nginx_t(balancer):
    a, b = StubReplica("a"), StubReplica("b")
    balancer([a.address, b.address])


def test_requests_are_spread_over_the_replicas_with_forwarding_headers(balancer):
    a, b = StubReplica("a"), StubReplica("b")
    lb = balancer([a.address, b.address])
    answers = [json.loads(lb.request("GET", headers={"X-Forwarded-For": "6.6.6.6"})[1])["replica"]
               for _ in range(6)]
    assert answers.count("a") == 3 and answers.count("b") == 3
    for headers in a.headers_seen + b.headers_seen:
        assert headers["X-Forwarded-For"] == "127.0.0.1"
        assert headers["X-Forwarded-Proto"] == "https"
        assert headers["Host"] == DOMAIN
        assert re.fullmatch(r"[0-9a-f]{32}", headers["X-Request-Id"])


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("failure", ["502", "drop"])
def test_reads_are_retried_on_the_other_replica(balancer, method, failure):
    a, b = StubReplica("a", {method: failure}), StubReplica("b")
    lb = balancer([a.address, b.address])
    results = send(lb, method, 6)
    assert [status for _, status in results] == [200] * 6
    assert a.ids(method), "the failing replica was never tried: the test proves nothing"
    # Every request that failed on a reached b too (the retry).
    assert set(a.ids(method)) <= set(b.ids(method))


@pytest.mark.parametrize("method", ["POST", "PATCH", "PUT", "DELETE"])
def test_a_write_answered_502_is_not_retried(balancer, method):
    a, b = StubReplica("a", {method: "502"}), StubReplica("b")
    lb = balancer([a.address, b.address])
    results = send(lb, method, 6)
    failed = {test_id for test_id, status in results if status == 502}
    assert failed, "no request reached the failing replica: the test proves nothing"
    assert failed == set(a.ids(method))
    assert not failed & set(b.ids(method)), "a write was sent to a second replica"
    assert sorted(a.ids(method) + b.ids(method)) == sorted(i for i, _ in results)


@pytest.mark.parametrize("method", ["POST", "PATCH", "PUT", "DELETE"])
def test_a_write_whose_replica_dies_with_it_is_not_retried(balancer, method):
    # The replica read the request and died before answering: it may have
    # acted on it, so it must not reach another one. (nginx itself would
    # re-send PUT and DELETE here; the @never location stops that.)
    a, b = StubReplica("a", {method: "drop"}), StubReplica("b")
    lb = balancer([a.address, b.address])
    results = send(lb, method, 4)
    lost = {test_id for test_id, status in results if status != 200}
    assert lost, "no request reached the failing replica: the test proves nothing"
    assert lost == set(a.ids(method))
    assert not lost & set(b.ids(method)), "a write was sent to a second replica"
    for test_id, status in results:
        if test_id in lost:
            assert status == 503  # the problem+json answer below


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_a_write_no_replica_received_goes_to_the_other(balancer, method):
    dead = f"127.0.0.1:{free_port()}"  # connection refused: nothing was sent
    b = StubReplica("b")
    lb = balancer([dead, b.address])
    results = send(lb, method, 4)
    assert [status for _, status in results] == [200] * 4
    assert sorted(b.ids(method)) == sorted(i for i, _ in results)


def test_no_replica_left_answers_problem_json(balancer):
    lb = balancer([f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"])
    for method in ("GET", "POST", "DELETE"):
        response, body = lb.request(method, body=b"{}" if method == "POST" else None)
        assert response.status == 503, method
        assert response.getheader("Content-Type") == "application/problem+json"
        problem = json.loads(body)
        assert problem["code"] == "unavailable" and problem["status"] == 503
        assert problem["request_id"] == response.getheader("X-Request-Id")
        assert response.getheader("Retry-After")
        assert response.msg.get_all("Strict-Transport-Security") == ["max-age=63072000"]
        assert response.getheader("X-Content-Type-Options") == "nosniff"


def test_bodies_over_64_kib_stop_at_the_balancer(balancer):
    a = StubReplica("a")
    lb = balancer([a.address])
    response, _ = lb.request("POST", body=b"x" * 65536, headers={"Content-Type": "application/json"})
    assert response.status == 200
    response, body = lb.request("POST", body=b"x" * 65537, headers={"X-Test-Id": "big"})
    assert response.status == 413
    assert response.getheader("Content-Type") == "application/problem+json"
    problem = json.loads(body)
    assert problem["code"] == "payload_too_large"
    assert problem["request_id"] == response.getheader("X-Request-Id")
    assert "big" not in a.ids()


def test_http_redirects_to_the_fixed_https_host(balancer):
    import http.client

    a = StubReplica("a")
    lb = balancer([a.address])
    conn = http.client.HTTPConnection("127.0.0.1", lb.ports["http"], timeout=10)
    conn.request("GET", "/api/v1/todos?x=1", headers={"Host": "evil.example.net"})
    response = conn.getresponse()
    assert response.status == 301
    assert response.getheader("Location") == f"https://{DOMAIN}/api/v1/todos?x=1"
    assert not a.ids()


def test_scale_template_exists_where_compose_mounts_it():
    compose = yaml.safe_load(read("docker-compose.yml"))
    volumes = [str(v) for v in compose["services"]["lb"]["volumes"]]
    assert f"./{SCALE_TEMPLATE}:/etc/nginx/templates/securetodo.conf.template:ro" in volumes
    assert (ROOT / SCALE_TEMPLATE).is_file()
