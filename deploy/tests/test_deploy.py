"""Static checks of the deployment files: compose, Dockerfile, .dockerignore,
.env.example, CI workflow, deny.toml and the HTTPS guide."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path, PurePosixPath

import pytest
import yaml

from conftest import (
    JWT_PLACEHOLDER,
    NOT_YET_IMPLEMENTED,
    ROOT,
    SPEC_VARIABLES,
    parse_dockerfile,
    parse_dotenv,
    read,
    stages,
)

# ------------------------------------------------------------------ compose --


def service(compose: dict, name: str) -> dict:
    assert name in compose["services"], f"service {name!r} missing"
    return compose["services"][name]


def as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def env_map(svc: dict) -> dict[str, str]:
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def test_compose_app_reads_env_file(compose):
    app = service(compose, "app")
    files = [f if isinstance(f, str) else f["path"] for f in as_list(app["env_file"])]
    assert ".env" in files


def test_compose_app_database_on_named_volume(compose):
    app = service(compose, "app")
    env = env_map(app)
    assert env["HOST"] == "0.0.0.0"
    url = env["DATABASE_URL"]
    assert url.startswith("sqlite:///"), "absolute sqlite://PATH inside the container"
    db_dir = str(PurePosixPath(url.removeprefix("sqlite://")).parent)
    named = set((compose.get("volumes") or {}).keys())
    mounts = {}
    for volume in app["volumes"]:
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            source, target = volume["source"], volume["target"]
        mounts[target] = source
    assert db_dir in mounts, f"nothing mounted at {db_dir}"
    assert mounts[db_dir] in named, "the database directory must be a named volume"


def test_compose_app_is_locked_down(compose):
    app = service(compose, "app")
    assert app["read_only"] is True
    assert as_list(app["cap_drop"]) == ["ALL"]
    assert not app.get("cap_add")
    assert "no-new-privileges:true" in as_list(app["security_opt"])
    assert not app.get("privileged")
    assert str(app.get("user", "")).split(":")[0] not in ("", "0", "root")


def test_compose_app_published_on_loopback_only(compose):
    app = service(compose, "app")
    for port in as_list(app.get("ports")):
        assert str(port).startswith("127.0.0.1:"), port


def test_compose_app_healthcheck_probes_readiness(compose):
    test = service(compose, "app")["healthcheck"]["test"]
    assert "/health/ready" in " ".join(as_list(test))


@pytest.mark.parametrize("name", ["proxy", "frontend"])
def test_compose_nginx_services_are_locked_down(compose, name):
    svc = service(compose, name)
    assert svc["image"].split(":")[0] in ("nginx", "nginxinc/nginx-unprivileged")
    assert re.fullmatch(r"\d+\.\d+(\.\d+)?-alpine", svc["image"].split(":")[1]), (
        "pin the nginx version"
    )
    assert svc["read_only"] is True
    assert as_list(svc["cap_drop"]) == ["ALL"]
    assert "no-new-privileges:true" in as_list(svc["security_opt"])
    assert not svc.get("privileged")
    assert svc.get("healthcheck", {}).get("test")


def test_compose_proxy_profile_terminates_tls_with_deploy_nginx_config(compose):
    proxy = service(compose, "proxy")
    assert proxy["profiles"] == ["proxy"]
    ports = [str(p) for p in as_list(proxy["ports"])]
    assert "443:443" in ports and "80:80" in ports
    volumes = [str(v) for v in proxy["volumes"]]
    templates = [v for v in volumes if v.startswith("./deploy/nginx/")]
    assert templates, "proxy config must come from deploy/nginx/"
    for volume in templates:
        assert (ROOT / volume.split(":")[0]).is_file(), volume
        assert volume.endswith(":ro")
    assert any(v.startswith("/etc/letsencrypt:") and v.endswith(":ro") for v in volumes)
    assert "SECURETODO_DOMAIN" in env_map(proxy)
    # Only minimal capabilities for the nginx master (key read, user switch).
    assert set(as_list(proxy.get("cap_add"))) <= {"CHOWN", "SETGID", "SETUID", "NET_BIND_SERVICE"}
    assert proxy["depends_on"]["app"]["condition"] == "service_healthy"


def test_compose_frontend_profile_serves_the_spa_on_its_own_origin(compose):
    front = service(compose, "frontend")
    assert front["profiles"] == ["frontend"]
    volumes = [str(v) for v in front["volumes"]]
    assert "./frontend:/usr/share/nginx/html:ro" in volumes
    for volume in volumes:
        if volume.startswith("./deploy/"):
            assert (ROOT / volume.split(":")[0]).is_file(), volume
    env = env_map(front)
    assert "SECURETODO_API_ORIGIN" in env
    assert not as_list(front.get("cap_add"))
    # Its own origin: a port of its own, loopback by default.
    assert all(str(p).startswith("127.0.0.1:") for p in as_list(front["ports"]))


def test_compose_only_the_app_runs_without_a_profile(compose):
    default = [n for n, s in compose["services"].items() if not s.get("profiles")]
    assert default == ["app"]


def compose_command() -> list[str] | None:
    docker = shutil.which("docker")
    if docker and subprocess.run(
        [docker, "compose", "version"], capture_output=True
    ).returncode == 0:
        return [docker, "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def test_compose_config_validates(tmp_path):
    command = compose_command()
    if command is None:
        pytest.skip("neither `docker compose` nor docker-compose is installed")
    text = read("docker-compose.yml")
    if command == ["docker-compose"]:
        # Compose v1 (Debian's docker-compose 1.29) predates the top-level
        # `name:` of the Compose Specification; validate the rest.
        text = re.sub(r"(?m)^name: .*\n", "", text)
    (tmp_path / "docker-compose.yml").write_text(text)
    for name in ("deploy", "frontend"):
        if (ROOT / name).exists():
            (tmp_path / name).symlink_to(ROOT / name)
    env = read(".env.example").replace(JWT_PLACEHOLDER, "x" * 64)
    (tmp_path / ".env").write_text(env)
    every = ["proxy", "frontend", "tools", "monitoring", "scale"]
    for profiles in [[], ["scale"], ["scale", "monitoring"], every]:
        result = subprocess.run(
            [*command, *(f"--profile={p}" for p in profiles), "config", "-q"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env={k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")},
        )
        assert result.returncode == 0, f"profiles {profiles}: {result.stderr}"


# --------------------------------------------------------------- Dockerfile --


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return parse_dockerfile(read("Dockerfile"))


def final_stage(dockerfile):
    return stages(dockerfile)[-1]


def test_dockerfile_is_multi_stage(dockerfile):
    all_stages = stages(dockerfile)
    assert len(all_stages) >= 2
    runtime = all_stages[-1]
    assert any(i == "COPY" and "--from=builder" in a for i, a in runtime)
    base = runtime[0][1].split()[0]
    assert "distroless" in base or "slim" in base, base
    assert not any(i == "RUN" for i, _ in runtime), "runtime stage has no shell to RUN"


def test_dockerfile_caches_dependencies_before_sources(dockerfile):
    builder = stages(dockerfile)[0]
    copies = [a for i, a in builder if i == "COPY"]
    runs = [a for i, a in builder if i == "RUN"]
    lock = next(n for n, a in enumerate(builder) if a[0] == "COPY" and "Cargo.lock" in a[1])
    sources = next(
        n for n, a in enumerate(builder) if a[0] == "COPY" and a[1].split()[0] == "backend"
    )
    dep_build = next(
        n for n, a in enumerate(builder) if a[0] == "RUN" and "cargo build" in a[1]
    )
    assert lock < dep_build < sources, "dependency layer must be built before COPY backend"
    assert all("--locked" in r for r in runs if "cargo build" in r)
    assert any("--release" in r for r in runs)
    assert copies


def test_dockerfile_runtime_runs_as_non_root(dockerfile):
    users = [a for i, a in final_stage(dockerfile) if i == "USER"]
    assert users, "USER missing in the runtime stage"
    assert users[-1].split(":")[0] not in ("0", "root")


def test_dockerfile_healthcheck_probes_readiness(dockerfile):
    checks = [a for i, a in final_stage(dockerfile) if i == "HEALTHCHECK"]
    assert checks and "/health/ready" in checks[-1]
    assert "CMD" in checks[-1]


def test_dockerfile_defaults_to_production_with_db_on_volume(dockerfile):
    runtime = final_stage(dockerfile)
    env = " ".join(a for i, a in runtime if i == "ENV")
    assert re.search(r"\bAPP_ENV=production\b", env)
    assert re.search(r"\bHOST=0\.0\.0\.0\b", env)
    url = re.search(r"\bDATABASE_URL=(\S+)", env).group(1)
    assert url == "sqlite:///data/securetodo.db"
    volumes = " ".join(a for i, a in runtime if i == "VOLUME")
    assert "/data" in volumes
    assert any(i == "COPY" and "--chown=65532:65532" in a and a.endswith("/data") for i, a in runtime)
    assert re.search(r"\bFRONTEND_DIR=/app/frontend\b", env)
    assert any(i == "COPY" and a.split()[-1] == "/app/frontend" for i, a in runtime)


def test_dockerfile_copies_only_existing_context_files(dockerfile):
    for instruction, args in dockerfile:
        if instruction != "COPY" or "--from=" in args:
            continue
        parts = [p for p in args.split() if not p.startswith("--")]
        for source in parts[:-1]:
            if source == "frontend" and not (ROOT / "frontend").exists():
                continue  # the SPA is written in parallel
            assert (ROOT / source).exists(), f"COPY source {source} missing"


def dockerignore_excludes(path: str, patterns: list[str]) -> bool:
    """Last matching pattern wins, like Docker's .dockerignore."""
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern[1:] if negate else pattern
        pat = pat.strip("/")
        candidates = [pat, pat.replace("**/", "")]
        parts = path.split("/")
        prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        matched = any(
            fnmatch.fnmatchcase(prefix, cand) or fnmatch.fnmatchcase(parts[n], cand)
            if cand.startswith("*") and "/" not in cand
            else fnmatch.fnmatchcase(prefix, cand)
            for n, prefix in enumerate(prefixes)
            for cand in candidates
        )
        if matched:
            excluded = not negate
    return excluded


def test_dockerignore_keeps_secrets_and_build_output_out():
    patterns = [
        line.strip()
        for line in read(".dockerignore").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for path in [".env", ".git/config", "target/release/securetodo", "data/securetodo.db",
                 "backend/target/x", "frontend/node_modules/x/index.js",
                 "deploy/tests/.venv/bin/python", "docs/deploy-https.md",
                 "frontend/e2e/app.spec.js", "frontend/package.json", "frontend/README.md"]:
        assert dockerignore_excludes(path, patterns), f"{path} would be in the build context"
    for path in ["Cargo.toml", "Cargo.lock", "backend/Cargo.toml", "backend/src/main.rs",
                 "backend/migrations/x/up.sql", "frontend/index.html", "frontend/js/app.js",
                 "deploy/healthcheck/healthcheck.rs"]:
        assert not dockerignore_excludes(path, patterns), f"{path} must be in the build context"


# ------------------------------------------------------------- .env.example --


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    return parse_dotenv(read(".env.example"))


def test_env_example_lists_every_spec_variable(env_example):
    missing = sorted(set(SPEC_VARIABLES) - set(env_example))
    assert not missing, f".env.example lacks {missing}"


def test_env_example_matches_spec_section_2_table():
    spec = ROOT.parent / "shared" / "SPEC.md"
    if not spec.exists():
        pytest.skip("shared/SPEC.md is not beside the repository")
    text = spec.read_text(encoding="utf-8")
    section = text.split("### Configuration", 1)[1].split("### Command line", 1)[0]
    names = set(re.findall(r"^\| `([A-Z_]+)`(?:, `([A-Z_]+)`)?", section, re.M))
    flat = {n for pair in names for n in pair if n}
    assert not set(SPEC_VARIABLES) & NOT_YET_IMPLEMENTED
    assert flat == set(SPEC_VARIABLES) | NOT_YET_IMPLEMENTED, (
        "update SPEC_VARIABLES (or NOT_YET_IMPLEMENTED) in conftest.py"
    )


def test_env_example_placeholder_secret_and_how_to_generate():
    text = read(".env.example")
    assert re.search(rf"(?m)^JWT_SECRET={re.escape(JWT_PLACEHOLDER)}$", text)
    assert "openssl rand -base64 48" in text


def test_env_example_defaults_are_the_documented_ones(env_example):
    for name, default in SPEC_VARIABLES.items():
        if name in ("APP_ENV", "JWT_SECRET"):
            continue
        assert env_example[name] == default, name
    # The shipped example is for `cp .env.example .env && cargo run`: development,
    # with the production values beside it in comments.
    assert env_example["APP_ENV"] == "development"
    assert re.search(r"(?m)^# APP_ENV=production$", read(".env.example"))


def test_compose_runs_the_app_in_production_whatever_env_says(compose):
    # env_file would hand the development APP_ENV of .env.example to the
    # container; `environment` wins over it.
    assert env_map(service(compose, "app"))["APP_ENV"] == "production"


def seconds(duration: str) -> float:
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration):
        total += float(number) * units[unit]
    return total


def test_compose_waits_for_the_graceful_shutdown(compose):
    startup = read("backend/src/startup.rs")
    timeout = int(re.search(r"\.shutdown_timeout\((\d+)\)", startup).group(1))
    grace = service(compose, "app").get("stop_grace_period", "10s")  # Docker's default
    assert seconds(grace) >= timeout, f"stop_grace_period {grace} < shutdown timeout {timeout}s"


def test_license_is_the_mit_licence_of_cargo_toml():
    cargo = tomllib.loads(read("Cargo.toml"))
    assert cargo["workspace"]["package"]["license"] == "MIT"
    text = read("LICENSE")
    assert text.startswith("MIT License")
    assert "Copyright (c) 2026 SecureTodo contributors" in text
    assert "Permission is hereby granted, free of charge" in text


def test_env_file_is_git_ignored():
    if not (ROOT / ".git").exists() or not shutil.which("git"):
        pytest.skip("not a git checkout")
    result = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=ROOT)
    assert result.returncode == 0, ".env must be listed in .gitignore"
    tracked = subprocess.run(
        ["git", "ls-files", "--error-unmatch", ".env"], cwd=ROOT, capture_output=True
    )
    assert tracked.returncode != 0, ".env is tracked by git"


# ---------------------------------------------------------------- workflow --

# The recipes CI runs, each as one step. `test` is the local all-in-one
# (coverage + contract + walkthrough + deploy-check + e2e), split into jobs in CI.
REQUIRED_RECIPES = [
    "lint", "openapi-check", "audit", "deny", "coverage", "contract",
    "walkthrough", "e2e", "deploy-check", "docker-build",
]


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(read(".github/workflows/ci.yml"))


def all_steps(workflow: dict):
    for job_name, job in workflow["jobs"].items():
        for step in job["steps"]:
            yield job_name, step


def test_workflow_runs_on_push_and_pull_request(workflow):
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads `on` as True
    assert "push" in triggers and "pull_request" in triggers


def test_workflow_also_runs_weekly(workflow):
    # New advisories surface even in weeks without a push.
    triggers = workflow.get("on", workflow.get(True))
    crons = [entry["cron"] for entry in triggers.get("schedule") or []]
    assert crons, "no schedule"
    for cron in crons:
        fields = cron.split()
        assert len(fields) == 5 and fields[4] != "*", f"{cron!r} is not weekly"


def test_dependabot_watches_every_ecosystem():
    config = yaml.safe_load(read(".github/dependabot.yml"))
    assert config["version"] == 2
    watched = {(u["package-ecosystem"], u["directory"].rstrip("/") or "/") for u in config["updates"]}
    for wanted in [("cargo", "/"), ("npm", "/frontend"), ("npm", "/openapi"),
                   ("github-actions", "/"), ("docker", "/")]:
        assert wanted in watched, wanted


def test_workflow_steps_mirror_just_recipes_one_to_one(workflow):
    recipes = []
    for _, step in all_steps(workflow):
        run = step.get("run", "")
        if re.search(r"(^|\s)just(\s|$)", run):
            match = re.fullmatch(r"just ([a-z][a-z0-9-]*)((?: [a-z0-9-]+)*)", run.strip())
            assert match, f"a just step runs exactly one recipe: {run!r}"
            recipes.append(match.group(1))
            assert step.get("name") == f"just {match.group(1)}", step
    assert sorted(recipes) == sorted(REQUIRED_RECIPES)


def test_workflow_runs_every_cargo_deny_check(workflow):
    runs = [step.get("run", "") for _, step in all_steps(workflow)]
    deny = next(r for r in runs if r.startswith("just deny"))
    assert set(deny.split()[2:]) >= {"licenses", "bans", "sources", "advisories"}


def justfile_recipes() -> set[str]:
    text = (ROOT / "justfile").read_text()
    return set(re.findall(r"(?m)^@?([a-z][a-z0-9-]*)(?:\s[^:\n]*)?:(?!=)", text))


def test_workflow_recipes_exist_in_justfile(workflow):
    if not (ROOT / "justfile").exists():
        pytest.skip("justfile not written yet")
    defined = justfile_recipes()
    assert set(REQUIRED_RECIPES) <= defined, sorted(set(REQUIRED_RECIPES) - defined)


def test_workflow_actions_are_pinned_by_version(workflow):
    for job_name, step in all_steps(workflow):
        uses = step.get("uses")
        if uses:
            ref = uses.split("@", 1)[1] if "@" in uses else ""
            assert re.fullmatch(r"v\d+(\.\d+){0,2}|[0-9a-f]{40}", ref), (job_name, uses)


def test_workflow_caches_cargo_and_installs_the_tools(workflow):
    uses = [step.get("uses", "") for _, step in all_steps(workflow)]
    assert any(u.startswith("Swatinem/rust-cache@") or u.startswith("actions/cache@") for u in uses)
    text = read(".github/workflows/ci.yml")
    for tool in ("cargo-audit", "cargo-deny", "cargo-llvm-cov", "llvm-tools-preview",
                 "chromium", "clippy", "rustfmt"):
        assert tool in text, tool
    assert workflow["permissions"] == {"contents": "read"}


def test_workflow_docker_build_runs_on_a_docker_host(workflow):
    job = workflow["jobs"]["docker-build"]
    assert "container" not in job
    assert any(step.get("run") == "just docker-build" for step in job["steps"])


# --------------------------------------------------------------- deny.toml --


def test_deny_toml_policy():
    deny = tomllib.loads(read("deny.toml"))
    licenses = deny["licenses"]
    assert licenses["private"]["ignore"] is True
    allow = set(licenses["allow"])
    assert {"MIT", "Apache-2.0", "BSD-3-Clause", "ISC", "Unicode-3.0", "Zlib"} <= allow
    assert not any("GPL" in lic and "LGPL" not in lic for lic in allow)
    assert not any(lic.startswith(("GPL", "AGPL", "LGPL", "SSPL")) for lic in allow)
    bans = deny["bans"]
    assert bans["wildcards"] == "deny" and bans["allow-wildcard-paths"] is True
    assert bans["multiple-versions"] == "warn"
    sources = deny["sources"]
    assert sources["unknown-registry"] == "deny" and sources["unknown-git"] == "deny"
    assert sources["allow-registry"] == ["https://github.com/rust-lang/crates.io-index"]
    assert not sources.get("allow-git")
    assert deny["advisories"]["yanked"] == "deny"


def test_workspace_crates_are_not_published():
    cargo = tomllib.loads(read("Cargo.toml"))
    assert cargo["workspace"]["package"]["publish"] is False


# -------------------------------------------------------------------- docs --


def test_https_guide_covers_a_fresh_vps():
    guide = read("docs/deploy-https.md")
    for needle in [
        "A record", "AAAA", "ufw", "docker compose --profile proxy up -d",
        "openssl rand -base64 48", "certbot certonly", "--webroot", "renew --dry-run",
        "renewal-hooks/deploy", "nginx -s reload", "TRUST_PROXY_HEADERS=true",
        "Strict-Transport-Security", ".backup", "VACUUM INTO", "restore",
        "create-admin", "SECURETODO_ADMIN_PASSWORD", "git pull", "migrate",
        "deploy/nginx/proxy/securetodo.conf.template", "CORS_ALLOWED_ORIGINS",
    ]:
        assert needle in guide, f"docs/deploy-https.md does not mention {needle!r}"
    for path in re.findall(r"`((?:deploy|docs)/[A-Za-z0-9_./-]+)`", guide):
        assert (ROOT / path).exists(), f"the guide names {path}, which does not exist"


def test_compose_backup_tool_runs_as_the_app_user_without_network(compose):
    backup = service(compose, "backup")
    assert backup["profiles"] == ["tools"]
    assert backup["user"] == service(compose, "app")["user"]
    assert backup["network_mode"] == "none"
    assert backup["read_only"] is True
    assert as_list(backup["cap_drop"]) == ["ALL"]
    assert "no-new-privileges:true" in as_list(backup["security_opt"])
    assert any(str(v).startswith("securetodo-data:/data") for v in backup["volumes"])
    dockerfile = parse_dockerfile(read(backup["build"]["context"] + "/Dockerfile"))
    assert ("USER", "65532:65532") in dockerfile
    assert any(i == "ENTRYPOINT" and "sqlite3" in a for i, a in dockerfile)


@pytest.mark.parametrize("script", ["deploy/tests/run.sh", "deploy/tests/docker-smoke.sh"])
def test_shell_scripts_are_executable_and_parse(script):
    path = ROOT / script
    assert os.access(path, os.X_OK), f"{script} is not executable"
    result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# --------------------------------------------------------------- monitoring --

SERIES = re.compile(r"\b((?:http|securetodo|process)_[a-z_]+)\b")


def exported_series() -> set[str]:
    """Every series name backend/src/metrics.rs writes."""
    source = read("backend/src/metrics.rs")
    return set(re.findall(r'"((?:http|securetodo|process)_[a-z_]+)"', source))


def used_series(text: str) -> set[str]:
    names = set(SERIES.findall(text))
    return {re.sub(r"_(bucket|sum|count)$", "", n) if n.startswith("http_request_duration") else n
            for n in names}


def test_prometheus_scrapes_every_app_replica_on_the_metrics_port():
    config = yaml.safe_load(read("deploy/prometheus/prometheus.yml"))
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "securetodo" and job["metrics_path"] == "/metrics"
    (sd,) = job["dns_sd_configs"]
    assert sd["names"] == ["app"] and sd["port"] == 9090
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]


def test_alert_rules_and_dashboard_use_only_series_the_app_exports():
    exported = exported_series()
    assert {"http_requests_total", "http_request_duration_seconds", "process_cpu_seconds_total",
            "process_resident_memory_bytes", "securetodo_build_info"} <= exported
    rules = yaml.safe_load(read("deploy/prometheus/alerts.yml"))
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    for rule in (r for g in rules["groups"] for r in g["rules"]):
        assert rule["alert"].startswith("SecureTodo") and rule["for"] and rule["labels"]["severity"]
    dashboard = json.loads(read("deploy/grafana/securetodo-dashboard.json"))
    exprs += [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    for expr in exprs:
        unknown = used_series(expr) - exported
        assert not unknown, f"{unknown} in {expr}"
    titles = " ".join(p["title"] for p in dashboard["panels"]).lower()
    for topic in ["p50", "p99", "error", "cpu", "memory", "pool"]:
        assert topic in titles, topic
    # The operations guide documents every alert.
    guide = read("docs/operations.md")
    for rule in (r for g in rules["groups"] for r in g["rules"]):
        assert rule["alert"] in guide, rule["alert"]


def test_compose_monitoring_profile_runs_prometheus_and_grafana_on_loopback(compose):
    for name in ("prometheus", "grafana"):
        svc = service(compose, name)
        assert svc["profiles"] == ["monitoring"]
        assert all(str(p).startswith("127.0.0.1:") for p in svc["ports"]), svc["ports"]
        assert svc["cap_drop"] == ["ALL"]
    mounts = " ".join(service(compose, "prometheus")["volumes"])
    assert "./deploy/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in mounts
    assert "./deploy/prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro" in mounts
    # The app's metrics port is for the compose network only.
    assert not any("9090" in str(p) for p in service(compose, "app").get("ports", []))
