"""Failover of the compose "scale" profile, for real: the repository's
balancer config (deploy/nginx/scale/, rendered as in test_scale_nginx.py) in
front of two `securetodo serve` processes on one fresh PostgreSQL database
(migrated first by `securetodo migrate`, the replicas started with
MIGRATE_ON_START=false) and Redis when the build reads REDIS_URL.

Under a bounded read load (a few threads, about 5 s, at most a few thousand
requests, loopback only) one replica is killed with SIGKILL (a crash), or
stopped with SIGTERM (a rolling restart). Every GET must
still succeed (nginx passes it on to the other replica), and every todo whose
creation was acknowledged, before or during the load, must be there after.

Skips with the reason when nginx, PostgreSQL or a build with PostgreSQL
support is missing; under REQUIRE_POSTGRES=1 (CI) it fails instead.
"""

from __future__ import annotations

import http.client
import signal
import subprocess
import threading
import time

import pytest

from conftest import NGINX, https_connection
from realapp import (
    Api,
    Server,
    app_env,
    binary,
    binary_mentions,
    http_json,
    migrate,
    redis_url_if_up,
    unavailable,
)
from test_scale_nginx import Balancer

READERS = 4
LOAD_SECONDS = 5.0
KILL_AFTER = 1.5
MAX_REQUESTS = 3000
LIST_PATH = "/api/v1/todos?limit=20"


@pytest.mark.parametrize("stop", ["SIGKILL", "SIGTERM"])
def test_losing_a_replica_loses_no_read_and_no_acknowledged_write(tmp_path, postgres, tls_material, stop):
    # SIGKILL: a crash. SIGTERM: a rolling restart (the replica finishes its
    # in-flight requests and refuses new connections).
    if NGINX is None:
        unavailable("nginx is not installed")
    bin_path = binary()
    database_url = postgres.url(postgres.create_database("failover"))
    migrate(bin_path, database_url, tmp_path)
    env = {"MIGRATE_ON_START": "false", "TRUST_PROXY_HEADERS": "true"}
    redis = redis_url_if_up() if binary_mentions(bin_path, b"REDIS_URL") else None
    if redis:
        env["REDIS_URL"] = redis

    replicas: list[Server] = []
    lb = None
    try:
        replicas = [Server(bin_path, tmp_path, f"app-{n}", database_url, **env) for n in (1, 2)]
        lb = Balancer(tmp_path / "lb", tls_material,
                      [f"127.0.0.1:{r.port}" for r in replicas], worker_connections=256)
        port = lb.ports["https"]
        api = Api(lambda method, path, body, token: http_json(https_connection(port), method, path,
                                                             body, token))
        api.register("failover@example.com")
        token = api.login("failover@example.com")
        acknowledged = {}
        for n in range(20):
            todo = api.create_todo(token, title=f"before the load {n}")
            acknowledged[todo["id"]] = todo["title"]

        run = Load(port, token)
        run.start()
        time.sleep(KILL_AFTER)
        killed_at = time.monotonic()
        if stop == "SIGKILL":
            replicas[0].kill()
        else:
            replicas[0].process.send_signal(signal.SIGTERM)
        run.wait()

        # Both replicas served reads before the kill: the load was balanced.
        served = replicas[0].served_paths()
        assert any(p.startswith("/api/v1/todos") for p in served), (
            "app-1 served no list before it was killed: nothing was failed over"
        )
        reads = run.reads
        assert len(reads) >= 50, f"only {len(reads)} reads: the load did not run"
        after = [r for r in reads if r[0] > killed_at]
        assert len(after) >= 10, f"only {len(after)} reads after the kill"
        # nginx met the dead replica (and, every read being 200 below,
        # passed those requests on).
        assert f"127.0.0.1:{replicas[0].port}" in lb.nginx.log(), (
            "nginx never tried the killed replica: nothing was failed over"
        )
        failed = [r for r in reads if r[1] != 200]
        assert not failed, (
            f"{len(failed)} of {len(reads)} reads failed, e.g. {failed[:5]}\n"
            f"nginx: {lb.nginx.log()[-2000:]}"
        )

        # Every acknowledged write is there, with its title; the survivor
        # still takes new ones.
        acknowledged.update(run.created)
        todo = api.create_todo(token, title="after the kill")
        acknowledged[todo["id"]] = todo["title"]
        stored = {t["id"]: t["title"] for t in api.all_todos(token)}
        missing = {i: t for i, t in acknowledged.items() if stored.get(i) != t}
        assert not missing, f"acknowledged todos missing after the kill: {missing}"
        print(f"failover ({stop}): {len(reads)} reads ({len(after)} after the kill), all 200; "
              f"{len(run.created)} writes acknowledged during the load, "
              f"{run.unacknowledged} not; redis={'on' if redis else 'off'}")
    finally:
        if lb:
            lb.stop()
        for replica in replicas:
            replica.stop()


class Load:
    """READERS threads listing todos on kept-alive HTTPS connections, and one
    creating todos, for LOAD_SECONDS or MAX_REQUESTS requests in all."""

    def __init__(self, port: int, token: str):
        self.port = port
        self.token = token
        self.deadline = 0.0
        self.lock = threading.Lock()
        self.count = 0
        self.reads: list[tuple[float, object]] = []  # (time, status or error)
        self.created: dict[int, str] = {}
        self.unacknowledged = 0
        self.threads = [threading.Thread(target=self.reader) for _ in range(READERS)]
        self.threads.append(threading.Thread(target=self.writer))

    def start(self) -> None:
        self.deadline = time.monotonic() + LOAD_SECONDS
        for thread in self.threads:
            thread.start()

    def wait(self) -> None:
        for thread in self.threads:
            thread.join(timeout=LOAD_SECONDS + 60)

    def take(self) -> bool:
        with self.lock:
            if time.monotonic() > self.deadline or self.count >= MAX_REQUESTS:
                return False
            self.count += 1
            return True

    def reader(self) -> None:
        conn = None
        while self.take():
            if conn is None:
                conn = https_connection(self.port, timeout=30)
            try:
                conn.request("GET", LIST_PATH, headers={"Authorization": f"Bearer {self.token}"})
                response = conn.getresponse()
                response.read()
                outcome: object = response.status
            except (OSError, http.client.HTTPException) as error:
                outcome = repr(error)
                conn.close()
                conn = None
            with self.lock:
                self.reads.append((time.monotonic(), outcome))
        if conn is not None:
            conn.close()

    def writer(self) -> None:
        n = 0
        while self.take():
            n += 1
            title = f"during the load {n}"
            try:
                status, _, todo = http_json(https_connection(self.port, timeout=30), "POST",
                                            "/api/v1/todos", {"title": title}, self.token)
            except (OSError, http.client.HTTPException):
                status, todo = None, None
            with self.lock:
                if status == 201:
                    self.created[todo["id"]] = title
                else:
                    # Not acknowledged: it may or may not have been stored.
                    self.unacknowledged += 1
            time.sleep(0.02)


def test_a_replica_refuses_to_start_before_the_one_shot_migration(tmp_path, postgres):
    # The compose profile starts the replicas after `migrate` succeeded; a
    # replica started too early must stop, naming the command, not migrate.
    bin_path = binary()
    database = postgres.create_database("premigrate")
    result = subprocess.run([str(bin_path), "serve"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=60, env=app_env(postgres.url(database), PORT="0",
                                                    MIGRATE_ON_START="false"))
    if result.returncode != 0 and "not supported" in result.stderr:
        unavailable(f"{bin_path} has no PostgreSQL support yet")
    assert result.returncode != 0, "serve started on an unmigrated database"
    assert "securetodo migrate" in result.stdout + result.stderr
    # Nothing of the app's schema was applied (Diesel's own bookkeeping
    # table may have been created by the pending-migrations check).
    tables = postgres.psql(database, "SELECT table_name FROM information_schema.tables "
                                     "WHERE table_schema = current_schema()").split()
    assert set(tables) <= {"__diesel_schema_migrations"}, (
        f"serve applied migrations although MIGRATE_ON_START=false: {tables}"
    )
