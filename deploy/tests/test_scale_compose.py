"""The compose "scale" profile (docs/scaling.md): PostgreSQL, Redis, the
one-shot migration, the app replicas and the balancer, read from
docker-compose.yml. `docker compose config` over the profile combinations
runs in test_deploy.py."""

from __future__ import annotations

import re

import pytest

from conftest import parse_dockerfile, parse_dotenv, read, stages
from test_deploy import as_list, env_map, service

SCALE = ["postgres", "redis", "migrate", "lb"]


def replicas(compose: dict) -> list[str]:
    return sorted(n for n in compose["services"] if re.fullmatch(r"app-\d+", n))


def test_profile_has_every_piece(compose):
    names = replicas(compose)
    assert len(names) >= 2, "two or more app replicas"
    for name in SCALE + names:
        assert service(compose, name)["profiles"] == ["scale"], name


def test_database_and_redis_images_are_pinned(compose):
    assert service(compose, "postgres")["image"] == "postgres:16-alpine"
    assert service(compose, "redis")["image"] == "redis:7-alpine"
    assert re.fullmatch(r"nginx:\d+\.\d+(\.\d+)?-alpine", service(compose, "lb")["image"])


@pytest.mark.parametrize("name", SCALE)
def test_support_services_are_locked_down(compose, name):
    svc = service(compose, name)
    assert svc["read_only"] is True
    assert as_list(svc["cap_drop"]) == ["ALL"]
    assert "no-new-privileges:true" in as_list(svc["security_opt"])
    assert not svc.get("privileged")
    assert svc["logging"]["options"]["max-size"]
    if name == "lb":
        assert set(as_list(svc.get("cap_add"))) <= {"CHOWN", "SETGID", "SETUID", "NET_BIND_SERVICE"}
    else:
        assert not svc.get("cap_add")
        assert str(svc["user"]).split(":")[0] not in ("", "0", "root")


def test_replicas_keep_the_app_hardening(compose):
    app = service(compose, "app")
    for name in replicas(compose) + ["migrate"]:
        svc = service(compose, name)
        for key in ("read_only", "cap_drop", "security_opt", "user", "pids_limit", "logging",
                    "tmpfs", "image", "env_file"):
            assert svc.get(key) == app.get(key), f"{name}.{key} differs from app's"
        assert not svc.get("cap_add")
    for name in replicas(compose):
        svc = service(compose, name)
        assert svc["healthcheck"]["test"] == app["healthcheck"]["test"]
        assert svc["restart"] == "unless-stopped"
        assert svc["stop_grace_period"] == app["stop_grace_period"]
        assert not svc.get("ports"), "replicas are reached through lb only"


def test_replicas_run_on_postgres_and_redis_without_migrating(compose):
    for name in replicas(compose) + ["migrate"]:
        env = env_map(service(compose, name))
        assert env["APP_ENV"] == "production"
        assert env["DATABASE_URL"] == (
            "postgres://securetodo:${POSTGRES_PASSWORD:-}@postgres:5432/securetodo"
        ), "the password comes from .env, never from the file"
        assert env["REDIS_URL"] == "redis://redis:6379/0"
        assert env["MIGRATE_ON_START"] == "false"
        assert env["TRUST_PROXY_HEADERS"] == "true"  # lb overwrites X-Forwarded-For


def test_replicas_start_after_the_migration_and_the_stores(compose):
    for name in replicas(compose):
        depends = service(compose, name)["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"
    lb = service(compose, "lb")
    assert {n: d["condition"] for n, d in lb["depends_on"].items()} == {
        n: "service_healthy" for n in replicas(compose)
    }


def test_migrate_is_a_one_shot(compose):
    migrate = service(compose, "migrate")
    assert migrate["command"] == ["migrate"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert migrate["healthcheck"] == {"disable": True}


def test_postgres_secret_comes_from_env_and_data_from_a_volume(compose):
    postgres = service(compose, "postgres")
    env = env_map(postgres)
    assert env["POSTGRES_PASSWORD"] == "${POSTGRES_PASSWORD:-}"
    assert "env_file" not in postgres, "the database needs no JWT_SECRET"
    mounts = {str(v).split(":")[1]: str(v).split(":")[0] for v in postgres["volumes"]}
    assert mounts["/var/lib/postgresql/data"] in compose["volumes"]
    test = " ".join(postgres["healthcheck"]["test"])
    assert "pg_isready" in test and "-h 127.0.0.1" in test, "ready means TCP, not the init socket"
    assert not postgres.get("ports") and not service(compose, "redis").get("ports")
    text = read("docker-compose.yml")
    assert not re.search(r"(?m)^\s*POSTGRES_PASSWORD:\s*[^$\s]", text), "a hard-coded password"
    assert not re.search(r"postgres://\w+:[^$@]+@", text), "a hard-coded password in a URL"


def test_redis_keeps_nothing_on_disk(compose):
    command = service(compose, "redis")["command"]
    assert command[:5] == ["redis-server", "--save", "", "--appendonly", "no"]
    assert "--maxmemory" in command


def test_env_example_documents_the_postgres_password():
    values = parse_dotenv(read(".env.example"))
    assert values["POSTGRES_PASSWORD"] == "", "ship no password: empty refuses to initialise"
    assert "openssl rand -hex 32" in read(".env.example")
    assert "POSTGRES_PASSWORD" in read("docs/scaling.md")


def test_lb_is_the_public_entry_with_the_scale_config(compose):
    lb = service(compose, "lb")
    ports = [str(p) for p in as_list(lb["ports"])]
    assert "443:443" in ports and "80:80" in ports
    assert "SECURETODO_DOMAIN" in env_map(lb)
    assert any(str(v).startswith("/etc/letsencrypt:") and str(v).endswith(":ro") for v in lb["volumes"])


def test_runtime_image_carries_libssl_for_the_postgres_driver():
    # libpq is linked statically (pq-sys `bundled`), OpenSSL 3 dynamically:
    # the distroless cc image has libssl3, the static one does not.
    runtime = stages(parse_dockerfile(read("Dockerfile")))[-1]
    assert runtime[0][1].startswith("gcr.io/distroless/cc-debian12")


def test_scaling_guide_names_what_exists():
    guide = read("docs/scaling.md")
    for needle in ["--profile scale up -d --build lb", "sqlite-to-postgres.sh", "max_connections",
                   "pgbouncer", "MIGRATE_ON_START", "JWT_PREVIOUS_SECRETS", "advisory lock",
                   "1M users", "partition", "bcrypt", "non_idempotent"]:
        assert needle in guide, needle
