"""The nginx configs under deploy/nginx/, rendered like the nginx image does,
checked with `nginx -t` and then run for real on loopback ports.

The live tests rewrite only what differs between the container and this
machine: listen ports (to free loopback ports), the certificate paths (to a
throw-away self-signed certificate), the upstream (to a local stub app) and
paths of included files. Skipped when nginx is not installed
(deploy/tests/run.sh installs it when run as root, and says so when it cannot).
"""

from __future__ import annotations

import http.client
import http.server
import json
import re
import shutil
import ssl
import threading
from pathlib import Path

import pytest

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

API_ORIGIN = "https://api.example.com"
PROXY_TEMPLATE = "deploy/nginx/proxy/securetodo.conf.template"
SPA_TEMPLATE = "deploy/nginx/frontend/spa.conf.template"
SPA_HEADERS_TEMPLATE = "deploy/nginx/frontend/spa-headers.inc.template"

needs_nginx = pytest.mark.skipif(NGINX is None, reason="nginx is not installed")


# ------------------------------------------------------- template hygiene --


@pytest.mark.parametrize("rel", [PROXY_TEMPLATE, SPA_TEMPLATE, SPA_HEADERS_TEMPLATE])
def test_templates_only_use_securetodo_variables_braced(rel):
    text = read(rel)
    for name in re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", text):
        assert name.startswith("SECURETODO_"), f"{rel}: ${{{name}}} is not substituted"
    assert not re.search(r"\$SECURETODO_", text), "use the braced ${SECURETODO_...} form"
    # After rendering nothing of ours is left, and nginx's own $variables stay.
    rendered = render_template(text, {"SECURETODO_DOMAIN": DOMAIN, "SECURETODO_API_ORIGIN": API_ORIGIN})
    assert "${" not in rendered


def test_proxy_config_hardening():
    text = read(PROXY_TEMPLATE)
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in text
    assert "$proxy_add_x_forwarded_for" not in text, "append lets clients forge X-Forwarded-For"
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in text
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in text
    assert "Strict-Transport-Security" in text and "proxy_hide_header Strict-Transport-Security;" in text
    assert "server_tokens off;" in text
    assert "http://app:8080" in text
    assert "/.well-known/acme-challenge/" in text and "root /var/www/certbot;" in text
    assert "proxy_set_header X-Request-Id $securetodo_request_id;" in text


def test_spa_meta_tag_rewrite_matches_frontend_index():
    index = ROOT / "frontend" / "index.html"
    if not index.exists():
        pytest.skip("frontend/index.html not written yet")
    match = re.search(r"sub_filter '([^']+)'", read(SPA_TEMPLATE))
    assert match, "sub_filter missing"
    assert index.read_text(encoding="utf-8").count(match.group(1)) == 1, (
        "frontend/index.html must contain the meta tag the frontend profile rewrites"
    )


# ------------------------------------------------------------------- proxy --


class StubApp(http.server.ThreadingHTTPServer):
    daemon_threads = True


class StubHandler(http.server.BaseHTTPRequestHandler):
    """Echoes the request headers; also sends its own HSTS header so the test
    can see the proxy replace it."""

    def do_GET(self):
        body = json.dumps({"path": self.path, "headers": dict(self.headers.items())}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Strict-Transport-Security", "max-age=1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def proxy_site(tls: Path, http_port: int, https_port: int, health_port: int,
               upstream: str, webroot: Path) -> str:
    text = render_template(read(PROXY_TEMPLATE), {"SECURETODO_DOMAIN": DOMAIN})
    text = adapt_for_local_nginx(text)
    text = text.replace("listen 80 default_server;", f"listen 127.0.0.1:{http_port} default_server;")
    text = text.replace("listen 443 ssl default_server;", f"listen 127.0.0.1:{https_port} ssl default_server;")
    text = text.replace("listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;")
    text = text.replace("listen 127.0.0.1:8081;", f"listen 127.0.0.1:{health_port};")
    text = re.sub(r"(?m)^\s*listen \[::\]:\d+.*\n", "", text)
    text = text.replace("/etc/letsencrypt/", f"{tls}/")
    text = text.replace("http://app:8080", upstream)
    text = text.replace("root /var/www/certbot;", f"root {webroot};")
    return text


def http_request(port: int, path: str, host: str = DOMAIN):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path, headers={"Host": host})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response, body


@pytest.fixture(scope="module")
def proxy(tmp_path_factory, tls_material):
    if NGINX is None:
        pytest.skip("nginx is not installed")
    stub = StubApp(("127.0.0.1", 0), StubHandler)
    threading.Thread(target=stub.serve_forever, daemon=True).start()
    webroot = tmp_path_factory.mktemp("webroot")
    challenge = webroot / ".well-known" / "acme-challenge"
    challenge.mkdir(parents=True)
    (challenge / "token123").write_text("token123.thumbprint")
    ports = {"http": free_port(), "https": free_port(), "health": free_port()}
    nginx = Nginx(
        tmp_path_factory.mktemp("proxy"),
        proxy_site(tls_material, ports["http"], ports["https"], ports["health"],
                   f"http://127.0.0.1:{stub.server_address[1]}", webroot),
    )
    checked = nginx.test_config()
    assert checked.returncode == 0, checked.stderr
    nginx.start(ports["https"])
    yield ports
    nginx.stop()
    stub.shutdown()


@needs_nginx
def test_proxy_config_passes_nginx_t(proxy):
    pass  # the fixture ran `nginx -t` and started it


@needs_nginx
def test_proxy_redirects_http_to_the_fixed_https_host(proxy):
    response, _ = http_request(proxy["http"], "/api/v1/todos?x=1", host="evil.example.net")
    assert response.status == 301
    assert response.getheader("Location") == f"https://{DOMAIN}/api/v1/todos?x=1"


@needs_nginx
def test_proxy_serves_acme_challenges_over_http(proxy):
    response, body = http_request(proxy["http"], "/.well-known/acme-challenge/token123")
    assert response.status == 200 and body == b"token123.thumbprint"
    response, _ = http_request(proxy["http"], "/.well-known/acme-challenge/missing")
    assert response.status == 404


@needs_nginx
def test_proxy_forwards_with_overwritten_forwarding_headers(proxy):
    response, body = https_request(
        proxy["https"], "/api/v1/users/me",
        headers={"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Proto": "http"},
    )
    assert response.status == 200
    seen = json.loads(body)
    assert seen["path"] == "/api/v1/users/me"
    assert seen["headers"]["X-Forwarded-For"] == "127.0.0.1"
    assert seen["headers"]["X-Forwarded-Proto"] == "https"
    assert seen["headers"]["Host"] == DOMAIN
    assert response.getheader("Server") == "nginx"  # no version
    # nginx's own id when the client sent none...
    generated = seen["headers"]["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated), generated
    # ...the client's when it is well formed, and a fresh one otherwise.
    for sent, kept in [("client-id_1.2", True), ("bad id;", False), ("x" * 65, False)]:
        _, body = https_request(proxy["https"], "/api/v1/users/me", headers={"X-Request-Id": sent})
        forwarded = json.loads(body)["headers"]["X-Request-Id"]
        if kept:
            assert forwarded == sent
        else:
            assert re.fullmatch(r"[0-9a-f]{32}", forwarded), forwarded


@needs_nginx
def test_proxy_sends_exactly_one_hsts_header(proxy):
    response, _ = https_request(proxy["https"], "/health/ready")
    values = response.msg.get_all("Strict-Transport-Security")
    assert values == ["max-age=63072000"]


@needs_nginx
def test_proxy_refuses_tls_for_unknown_names(proxy):
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        https_request(proxy["https"], "/", sni="other.example.org")


@needs_nginx
def test_proxy_health_endpoint_is_local(proxy):
    conn = http.client.HTTPConnection("127.0.0.1", proxy["health"], timeout=5)
    conn.request("GET", "/health")
    assert conn.getresponse().status == 200


@needs_nginx
def test_proxy_answers_problem_json_when_the_app_is_down(tmp_path, tls_material):
    ports = {"http": free_port(), "https": free_port(), "health": free_port()}
    dead = f"http://127.0.0.1:{free_port()}"
    nginx = Nginx(tmp_path / "p", proxy_site(tls_material, ports["http"], ports["https"],
                                              ports["health"], dead, tmp_path))
    nginx.start(ports["https"])
    try:
        response, body = https_request(ports["https"], "/api/v1/todos")
    finally:
        nginx.stop()
    assert response.status == 503
    assert response.getheader("Content-Type") == "application/problem+json"
    problem = json.loads(body)
    assert problem["status"] == 503 and problem["code"] == "internal"
    assert problem["request_id"] == response.getheader("X-Request-Id")
    assert re.fullmatch(r"[0-9a-f]{32}", problem["request_id"])
    for header in ["Strict-Transport-Security", "Content-Security-Policy", "X-Content-Type-Options",
                   "Referrer-Policy", "X-Frame-Options", "Permissions-Policy",
                   "Cross-Origin-Opener-Policy", "Retry-After"]:
        assert response.getheader(header), header
    assert len(response.msg.get_all("Strict-Transport-Security")) == 1


# ---------------------------------------------------------------- frontend --


@pytest.fixture(scope="module")
def spa(tmp_path_factory):
    if NGINX is None:
        pytest.skip("nginx is not installed")
    prefix = tmp_path_factory.mktemp("spa")
    html = prefix / "html"
    if (ROOT / "frontend" / "index.html").exists():
        shutil.copytree(ROOT / "frontend", html, ignore=shutil.ignore_patterns("node_modules"))
    else:
        (html / "js").mkdir(parents=True)
        (html / "index.html").write_text(
            '<!doctype html><meta name="securetodo-api-base" content=""><script type="module" src="/js/app.js"></script>'
        )
        (html / "js" / "app.js").write_text("export {};\n")
    (html / ".secret").write_text("nope")
    for name in ("package.json", "package-lock.json", "README.md"):
        (html / name).write_text("{}")
    for sub in ("node_modules/x/index.js", "e2e/run.sh"):
        (html / sub).parent.mkdir(parents=True, exist_ok=True)
        (html / sub).write_text("x")
    env = {"SECURETODO_API_ORIGIN": API_ORIGIN}
    headers = render_template(read(SPA_HEADERS_TEMPLATE), env)
    (prefix / "spa-headers.inc").write_text(headers)
    port = free_port()
    site = render_template(read(SPA_TEMPLATE), env)
    site = site.replace("listen 8080;", f"listen 127.0.0.1:{port};")
    site = re.sub(r"(?m)^\s*listen \[::\]:\d+.*\n", "", site)
    site = site.replace("root /usr/share/nginx/html;", f"root {html};")
    site = site.replace("/etc/nginx/conf.d/spa-headers.inc", str(prefix / "spa-headers.inc"))
    nginx = Nginx(prefix / "run", adapt_for_local_nginx(site))
    checked = nginx.test_config()
    assert checked.returncode == 0, checked.stderr
    nginx.start(port)
    yield port
    nginx.stop()


def get(port: int, path: str):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response, body


BASELINE = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def assert_baseline(response) -> None:
    for header, value in BASELINE.items():
        assert response.getheader(header) == value, header
    csp = response.getheader("Content-Security-Policy")
    assert csp and "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert f"connect-src 'self' {API_ORIGIN}" in csp
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert response.getheader("Permissions-Policy")


@needs_nginx
def test_spa_index_points_at_the_api_origin(spa):
    response, body = get(spa, "/")
    assert response.status == 200
    assert f'<meta name="securetodo-api-base" content="{API_ORIGIN}"'.encode() in body
    assert_baseline(response)
    assert response.getheader("Cache-Control") == "no-cache"


@needs_nginx
def test_spa_fallback_serves_index_for_client_routes(spa):
    response, body = get(spa, "/dashboard/some/route")
    assert response.status == 200
    assert b'name="securetodo-api-base"' in body
    assert_baseline(response)


@needs_nginx
def test_spa_static_assets_keep_the_headers(spa):
    response, body = get(spa, "/js/app.js")
    assert response.status == 200
    assert "javascript" in response.getheader("Content-Type")
    assert_baseline(response)


@needs_nginx
@pytest.mark.parametrize("path", ["/.secret", "/package.json", "/package-lock.json",
                                  "/README.md", "/node_modules/x/index.js", "/e2e/run.sh"])
def test_spa_hides_dotfiles_and_tooling(spa, path):
    response, body = get(spa, path)
    assert response.status == 404, path
    assert b"securetodo-api-base" not in body
    assert_baseline(response)
