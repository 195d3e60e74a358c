#!/usr/bin/env python3
"""Side-by-side load benchmark: SecureTodo against the reference FastAPI app.

Both apps run on 127.0.0.1 with equal settings (bcrypt cost 12, one fresh
SQLite file per server, one reference worker), get the same users and todos,
and are driven by wrk (closed loop, keep-alive) through the same scenarios.
Prints one table and writes results.json, results.md and chart.svg into the
run folder. Called by bench/run.sh, which installs wrk and the reference
venv and builds the release binary first.
"""
import argparse
import datetime as dt
import json
import os
import platform
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import report  # noqa: E402
from apps import Reference, SecureTodo, SecureTodoPg  # noqa: E402
from procs import Client, CpuMeter, Server, Wrk, free_port, lua_fixed, lua_weighted  # noqa: E402

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH_DIR)

# key -> label; the order here is the table's order.
SCENARIOS = {
    "list20": "list 20 todos (account of 20)",
    "list20_token": "list 20 todos, API token instead of JWT",
    "list1k": "list, account of 1,000: first page",
    "list1k_deep": "list, account of 1,000: page 50 (cursor)",
    "list100k": "list, account of 100,000: first page",
    "list100k_deep": "list, account of 100,000: page after 90,000 (cursor)",
    "list20_big": "list 20 todos, DB of 2,000 more users",
    "create": "create todo",
    "create_many": "create todo, 64 accounts in turn",
    "patch": "PATCH toggle completed",
    "login1": "login, 1 connection (one hash)",
    "login": "login (bcrypt cost 12)",
    "mixed": "mixed 80 % list / 15 % create / 5 % login",
    "flood": "list p99 during a 64-conn login flood",
}


# Accounts of the create_many scenario.
MANY_WRITERS = 64


class Budget:
    def __init__(self, seconds):
        self.t0, self.seconds = time.time(), seconds
        self.quiet_left = 60.0

    def left(self):
        return self.seconds - (time.time() - self.t0)


class Bench:
    def __init__(self, a, rundir):
        self.a, self.rundir = a, rundir
        self.runs = []
        self.notes = []
        self.info = {}
        self.budget = Budget(a.budget)
        self.srv = None

    # ------------------------------------------------------------------ helpers
    def record(self, app, key, conns, res, extra=None):
        row = {"app": app.name, "scenario": key, "conns": conns}
        row.update(res)
        row.update(extra or {})
        self.runs.append(row)
        self.save()
        self.print_row(app, row)
        return row

    def print_row(self, app, r):
        if r.get("skipped"):
            print(f"[bench] {app.name:10s} {r['scenario']:14s} c={r['conns']:<3} skipped: {r['skipped']}", flush=True)
            return
        flag = " (contended)" if r.get("contended") else ""
        def ms(v):
            return f"{v:8.2f}" if v is not None else "   stall"
        print(f"[bench] {app.name:10s} {r['scenario']:14s} c={r['conns']:<3} {r['rps']:9.1f} req/s "
              f"p50={ms(r['p50_ms'])} ms p99={ms(r['p99_ms'])} ms err={r['errors']} "
              f"rss={r['rss_mib']:.1f} MiB cpu={r['cpu_ms_per_req']:.3f} ms/req "
              f"srv={r['server_cores']} wrk={r['wrk_cores']} other={r['other_cores']}{flag}", flush=True)

    def save(self):
        data = {"machine": self.info, "params": vars(self.a), "runs": self.runs, "notes": self.notes}
        with open(os.path.join(self.rundir, "results.json"), "w") as f:
            json.dump(data, f, indent=1)

    def summarize(self, w, host, rss_bytes, threads, drain, cpu_drain):
        reqs = w["requests"]
        secs = w["duration_us"] / 1e6
        e = w["errors"]
        errors = e["connect"] + e["read"] + e["write"] + e["status"] + e["timeout"]
        lat = w["latency_us"]
        # No response at all within the run: latencies are "longer than the run", not 0.
        ms = (lambda v: v / 1000) if reqs else (lambda v: None)
        return {
            "rps": round(reqs / secs, 1) if secs else 0.0,
            "requests": reqs,
            "mean_ms": ms(round(lat["mean"], 0)),
            "p50_ms": ms(lat["pct"]["50"]),
            "p90_ms": ms(lat["pct"]["90"]),
            "p99_ms": ms(lat["pct"]["99"]),
            "max_ms": ms(lat["max"]),
            "stalled": reqs == 0,
            "errors": errors, "error_detail": e,
            "bytes_per_resp": round(w["bytes"] / reqs) if reqs else 0,
            "rss_mib": round(rss_bytes / 2**20, 1),
            "threads": threads,
            "cpu_ms_per_req": round(1000 * host["server_cpu_s"] / reqs, 3) if reqs else 0.0,
            "server_cores": host["server_cores"], "wrk_cores": host["wrk_cores"],
            "other_cores": host["other_cores"],
            "contended": host["other_cores"] > self.a.contended,
            "drain_s": drain, "server_cpu_drain_s": round(cpu_drain, 2),
            "wrk_cmd": w["cmd"],
        }

    def gate(self, meter):
        wait = min(self.a.quiet_wait, max(0.0, self.budget.quiet_left))
        g = meter.wait_quiet(self.a.quiet, wait)
        self.budget.quiet_left -= g["waited_s"]
        return g

    def measure(self, app, key, script, path, conns, duration=None, warmup=True, extra=None):
        """One measured wrk run (plus an optional unrecorded warmup)."""
        duration = duration or self.a.duration
        if self.budget.left() < duration + 5:
            return self.record(app, key, conns, {"skipped": "time budget"}, extra)
        srv, meter = self.srv, CpuMeter(self.srv.sampler)
        tag = f"{app.name}-{key}-c{conns}"
        if warmup and self.a.warmup > 0:
            Wrk(self.rundir, tag + "-warmup", srv.port, script, path, conns, self.a.warmup,
                self.a.wrk_threads, nice=self.a.nice).start().result()
            srv.wait_idle()
        g = self.gate(meter)
        srv.sampler.reset_window()
        s0 = meter.snap()
        w = Wrk(self.rundir, tag, srv.port, script, path, conns, duration, self.a.wrk_threads, nice=self.a.nice).start().result()
        s1 = meter.snap()
        host = CpuMeter.delta(s0, s1)
        rss, threads = srv.sampler.window_peak, srv.sampler.window_threads
        drain = srv.wait_idle()
        res = self.summarize(w, host, rss, threads, drain, srv.sampler.cpu_seconds() - s1["server"])
        res["quiet_gate"] = g
        return self.record(app, key, conns, res, extra)

    def flood(self, app, login_req, list_req):
        """A 64-connection login flood; meanwhile another client lists (4 conns,
        10 ms think time each): the list client's latency is what counts."""
        key, d = "flood", self.a.duration
        if self.budget.left() < d + 10:
            return self.record(app, key, 4, {"skipped": "time budget"})
        srv, meter = self.srv, CpuMeter(self.srv.sampler)
        g = self.gate(meter)
        srv.sampler.reset_window()
        flood = Wrk(self.rundir, f"{app.name}-flood-login", srv.port, lua_fixed(login_req),
                    login_req["path"], 64, d + 3, self.a.wrk_threads, nice=self.a.nice).start()
        try:
            time.sleep(1.5)  # let the flood fill the hash queue first
            s0 = meter.snap()
            lister = Wrk(self.rundir, f"{app.name}-flood-list", srv.port, lua_fixed(list_req, delay_ms=10),
                         list_req["path"], 4, d, 1, nice=self.a.nice).start()
            lw = lister.result()
            s1 = meter.snap()
            fw = flood.result()
        finally:
            flood.stop()
        host = CpuMeter.delta(s0, s1)
        rss, threads = srv.sampler.window_peak, srv.sampler.window_threads
        drain = srv.wait_idle()
        res = self.summarize(lw, host, rss, threads, drain, srv.sampler.cpu_seconds() - s1["server"])
        # CPU per request is not meaningful here (two clients); keep the flood's own numbers.
        res["cpu_ms_per_req"] = 0.0
        fe = fw["errors"]
        got = fw["requests"] > 0
        res["flood"] = {"login_rps": round(fw["requests"] / (fw["duration_us"] / 1e6), 1),
                        "login_p50_ms": fw["latency_us"]["pct"]["50"] / 1000 if got else None,
                        "login_p99_ms": fw["latency_us"]["pct"]["99"] / 1000 if got else None,
                        "login_errors": sum(fe.values())}
        res["quiet_gate"] = g
        return self.record(app, key, 4, res)

    def start(self, app, tag):
        port = free_port()
        cmd, env, cwd, db = app.command(port, self.rundir, tag)
        srv = Server(app.name, cmd, env, cwd, os.path.join(self.rundir, f"{app.name}-{tag}.log"), self.a.nice)
        srv.port, srv.db = port, db
        t0 = time.time()
        srv.start(port, app.ready_path)
        self.info.setdefault("startup_s", {})[f"{app.name}-{tag}"] = round(time.time() - t0, 2)
        self.srv = srv
        return srv, Client(port)

    def stop(self, app, tag):
        if self.srv is not None:
            st = self.srv.stop()
            self.info.setdefault("stops", {})[f"{app.name}-{tag}"] = st
            if st.get("exit_code") not in (0, None, -15):
                self.notes.append(f"{app.name} {tag}: server exit code {st.get('exit_code')}")
            self.srv = None

    def want(self, key):
        return not self.a.scenarios or key in self.a.scenarios

    # ------------------------------------------------------------------ phases
    def main_phase(self, app):
        """Accounts of 20 and 1,000 todos, writes, logins, mixed, flood."""
        srv, c = self.start(app, "main")
        try:
            tag = app.name[:3]
            users = {}
            t0 = time.time()
            for role in ("reader20", "reader1k", "writer", "patcher", "loginer", "mixwriter"):
                if role == "patcher" and not app.has_patch:
                    continue
                users[role] = app.register_login(c, f"{role}-{tag}-{os.getpid()}@bench.example")
                if users[role]["id"] is None:
                    users[role]["id"] = app.user_id(srv.db, users[role]["email"])
            app.seed_todos(srv.db, [users["reader20"]["id"]], 20)
            app.seed_todos(srv.db, [users["reader1k"]["id"]], 1000)
            if app.has_patch:
                app.seed_todos(srv.db, [users["patcher"]["id"]], 20)
            self.info.setdefault("bootstrap_s", {})[f"{app.name}-main"] = round(time.time() - t0, 2)
            conns = self.a.conns

            # reads
            reads = any(self.want(k) for k in ("list20", "list20_token", "list1k", "list1k_deep"))
            if not reads:
                pass
            elif app.has_pages:
                items, _ = app.list_page(c, users["reader20"])
                assert len(items) == 20, f"reader20 lists {len(items)}"
                deep, seen = app.walk(c, users["reader1k"], 980)
                if len(seen) != 1000 or len(set(seen)) != 1000 or not deep:
                    raise RuntimeError(f"1,000-todo walk: {len(seen)} items, {len(set(seen))} unique")
            else:
                n20, size20 = app.count(c, users["reader20"])
                n1k, size1k = app.count(c, users["reader1k"])
                if (n20, n1k) != (20, 1000):
                    raise RuntimeError(f"reference lists {n20} and {n1k} todos")
            plan = [("list20", app.list_req(users["reader20"])),
                    ("list1k", app.list_req(users["reader1k"]))]
            # The same list, authenticated by a personal API token (SecureTodo only).
            if hasattr(app, "with_api_token") and self.want("list20_token"):
                plan.insert(1, ("list20_token", app.list_req(app.with_api_token(c, users["reader20"]))))
            if app.has_pages and reads:
                plan.append(("list1k_deep", app.list_req(users["reader1k"], deep)))
            for key, req in plan:
                if not self.want(key):
                    continue
                body = app.probe(c, req)
                for i, n in enumerate(conns):
                    self.measure(app, key, lua_fixed(req), req["path"], n, warmup=(i == 0),
                                 extra={"probe_bytes": len(body)})

            # PATCH toggle (SecureTodo only): the patcher's 20 todos, completed true/false in turn
            if app.has_patch and self.want("patch"):
                ids = [t["id"] for t in app.list_page(c, users["patcher"])[0]]
                reqs = [app.patch_req(users["patcher"], i, flag) for flag in (True, False) for i in ids]
                app.probe(c, reqs[0])
                for i, n in enumerate(conns):
                    self.measure(app, "patch", lua_weighted([(1, reqs)]), reqs[0]["path"], n, warmup=(i == 0))

            # logins: one connection gives one hash's time, then the flood levels
            login = app.login_req(users["loginer"])
            if self.want("login"):
                app.probe(c, login)
                self.measure(app, "login1", lua_fixed(login), login["path"], 1,
                             duration=max(3, self.a.duration // 2), warmup=False)
                for n in conns:
                    self.measure(app, "login", lua_fixed(login), login["path"], n, warmup=False)
            if self.want("flood"):
                self.flood(app, login, app.list_req(users["reader20"]))

            # writes last: they grow the tables
            create = app.create_req(users["writer"])
            if self.want("create"):
                app.probe(c, create)
                for i, n in enumerate(conns):
                    self.measure(app, "create", lua_fixed(create), create["path"], n, warmup=(i == 0))
            # The same create spread over 64 accounts, request by request in
            # turn: many users writing at once, as a scaled-out deployment
            # serves them (one account's writes are serialised by its change
            # sequence and quota row; see docs/performance.md).
            if self.want("create_many"):
                many = [app.register_login(c, f"many{i}-{tag}-{os.getpid()}@bench.example")
                        for i in range(MANY_WRITERS)]
                reqs = [app.create_req(u) for u in many]
                app.probe(c, reqs[0])
                for i, n in enumerate(conns):
                    self.measure(app, "create_many", lua_weighted([(1, reqs)]), reqs[0]["path"], n,
                                 warmup=(i == 0))
            if self.want("mixed"):
                mix = lua_weighted([(80, [app.list_req(users["reader20"])]),
                                    (15, [app.create_req(users["mixwriter"])]),
                                    (5, [app.login_req(users["loginer"])])])
                for i, n in enumerate(conns):
                    self.measure(app, "mixed", mix, "/", n, warmup=(i == 0))
            if app.has_pages and reads:
                items, _ = app.list_page(c, users["reader20"])
                if len(items) != 20:
                    raise RuntimeError("reader20's list changed during the run")
            c.close()
        finally:
            self.stop(app, "main")

    def big_phase(self, app):
        """An account of 100,000 todos beside 2,000 other accounts (their own todos)."""
        if not any(self.want(k) for k in ("list100k", "list100k_deep", "list20_big")):
            return
        srv, c = self.start(app, "big")
        try:
            tag = app.name[:3]
            t0 = time.time()
            big = app.register_login(c, f"reader100k-{tag}-{os.getpid()}@bench.example")
            small = app.register_login(c, f"reader20b-{tag}-{os.getpid()}@bench.example")
            for u in (big, small):
                if u["id"] is None:
                    u["id"] = app.user_id(srv.db, u["email"])
            n = self.a.big_todos
            # others first (older rows), then the two measured accounts
            others = app.seed_other_users(srv.db, self.a.other_users, self.a.other_todos)
            app.seed_todos(srv.db, [big["id"]], n)
            app.seed_todos(srv.db, [small["id"]], 20)
            self.info["big_db"] = {"big_account_todos": n, "other_users": others,
                                   "other_todos_each": self.a.other_todos,
                                   "total_todos": n + 20 + others * self.a.other_todos}
            self.info.setdefault("bootstrap_s", {})[f"{app.name}-big"] = round(time.time() - t0, 2)
            if app.has_pages:
                skip = max(100, (9 * n // 10) // 100 * 100)
                t0 = time.time()
                deep, seen = app.walk(c, big, skip, step=100)
                if len(seen) != n or len(set(seen)) != n or not deep:
                    raise RuntimeError(f"{n}-todo walk: {len(seen)} items, {len(set(seen))} unique")
                self.info["list100k_deep_after"] = skip
                self.info["list100k_walk_s"] = round(time.time() - t0, 1)
                for key, req in (("list100k", app.list_req(big)), ("list100k_deep", app.list_req(big, deep))):
                    if self.want(key):
                        body = app.probe(c, req)
                        for i, nc in enumerate(self.a.conns):
                            self.measure(app, key, lua_fixed(req), req["path"], nc, warmup=(i == 0),
                                         extra={"probe_bytes": len(body)})
            elif self.want("list100k"):
                # The reference renders all 100,000 todos per request (~20 MB of HTML, seconds
                # of CPU): one connection only, no warmup, so the run stays bounded.
                req = app.list_req(big)
                t1 = time.time()
                body = app.probe(c, req)
                self.info["reference_100k_single_request_s"] = round(time.time() - t1, 2)
                self.measure(app, "list100k", lua_fixed(req), req["path"], 1, warmup=False,
                             extra={"probe_bytes": len(body), "capped": "1 connection"})
            if self.want("list20_big"):
                req = app.list_req(small)
                body = app.probe(c, req)
                self.measure(app, "list20_big", lua_fixed(req), req["path"], max(self.a.conns), warmup=True,
                             extra={"probe_bytes": len(body)})
            c.close()
        finally:
            self.stop(app, "big")


def machine_info(st_bin, peer_dir):
    info = {"date_utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "nproc": os.cpu_count(), "kernel": platform.release()}
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu"] = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
        with open("/proc/meminfo") as f:
            info["mem_total_gib"] = round(int(f.readline().split()[1]) / 2**20, 1)
    except (OSError, StopIteration):
        pass
    run = lambda cmd: subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()  # noqa: E731
    info["wrk"] = run("wrk -v 2>&1 | head -1 | cut -d' ' -f1-2")
    info["securetodo_bin"] = st_bin
    info["securetodo_commit"] = run(f"git -C {ROOT} rev-parse --short HEAD")
    info["reference_python"] = run(f"{peer_dir}/.venv/bin/python --version")
    info["reference_packages"] = run(
        f"{peer_dir}/.venv/bin/pip freeze 2>/dev/null | grep -iE '^(fastapi|uvicorn|sqlmodel|bcrypt|passlib)==' | tr '\\n' ' '")
    return info


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--securetodo-bin", required=True)
    ap.add_argument("--peer-dir", required=True, help="writable copy of fastapi-seed with its .venv")
    ap.add_argument("--outdir", default=os.path.join(BENCH_DIR, "runs"))
    ap.add_argument("--apps", default="securetodo,securetodo-pg,reference",
                    help="securetodo (SQLite), securetodo-pg (PostgreSQL at --pg-url), reference")
    ap.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432"),
                    help="PostgreSQL server for securetodo-pg (one fresh database per server, dropped after)")
    ap.add_argument("--scenarios", default="", help="comma list of scenario keys (default: all)")
    ap.add_argument("--conns", default="16,64")
    ap.add_argument("--duration", type=int, default=8, help="seconds per measured run")
    ap.add_argument("--warmup", type=int, default=1, help="seconds of unrecorded warmup per scenario")
    ap.add_argument("--wrk-threads", type=int, default=1)
    ap.add_argument("--big-todos", type=int, default=100_000)
    ap.add_argument("--other-users", type=int, default=2000)
    ap.add_argument("--other-todos", type=int, default=100)
    ap.add_argument("--quiet", type=float, default=0.2, help="wait until other processes use < this many cores")
    ap.add_argument("--quiet-wait", type=float, default=8, help="max wait per run for quiet (60 s in total)")
    ap.add_argument("--contended", type=float, default=0.3, help="flag runs where others used more cores")
    ap.add_argument("--nice", type=int, default=0,
                    help="nice value for both servers and wrk, also set on their sessions' autogroups "
                         "(e.g. -10, needs root): on a shared host this gives the measured processes CPU "
                         "priority over unrelated work such as compiles, equally for both apps")
    ap.add_argument("--budget", type=int, default=570, help="seconds; later runs are skipped past this")
    ap.add_argument("--publish", action="store_true", help="also write the chart to docs/performance-chart.svg")
    a = ap.parse_args()
    a.securetodo_bin = os.path.abspath(a.securetodo_bin)
    a.peer_dir = os.path.abspath(a.peer_dir)
    a.outdir = os.path.abspath(a.outdir)
    a.conns = [int(x) for x in a.conns.split(",") if x]
    a.scenarios = [x for x in a.scenarios.split(",") if x]
    a.apps = [x for x in a.apps.split(",") if x]

    def _term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, _term)

    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    rundir = os.path.join(a.outdir, stamp)
    os.makedirs(rundir, exist_ok=True)
    b = Bench(a, rundir)
    b.info = machine_info(a.securetodo_bin, a.peer_dir)
    print(f"[bench] run folder {rundir}", flush=True)
    print(f"[bench] machine {json.dumps(b.info)}", flush=True)
    apps = {"securetodo": SecureTodo(a.securetodo_bin),
            "securetodo-pg": SecureTodoPg(a.securetodo_bin, a.pg_url),
            "reference": Reference(a.peer_dir)}
    failed = False
    try:
        for name in a.apps:
            app = apps[name]
            for phase in (b.main_phase, b.big_phase):
                try:
                    phase(app)
                except KeyboardInterrupt:
                    raise
                except Exception as e:  # record, go on with the next phase
                    failed = True
                    b.notes.append(f"{name} {phase.__name__}: {e!r}")
                    print(f"[bench] ERROR {name} {phase.__name__}: {e!r}", flush=True)
    finally:
        b.stop(apps.get("securetodo"), "interrupted")
        apps["securetodo-pg"].cleanup()
        b.info["elapsed_s"] = round(time.time() - b.budget.t0, 1)
        b.save()
    data = json.load(open(os.path.join(rundir, "results.json")))
    text, md, targets = report.render(data, SCENARIOS)
    svg = report.chart(data, SCENARIOS)
    with open(os.path.join(rundir, "results.md"), "w") as f:
        f.write(md)
    with open(os.path.join(rundir, "chart.svg"), "w") as f:
        f.write(svg)
    latest = os.path.join(a.outdir, "latest")
    if os.path.islink(latest) or not os.path.exists(latest):
        if os.path.islink(latest):
            os.unlink(latest)
        os.symlink(stamp, latest)
    if a.publish:
        with open(os.path.join(ROOT, "docs", "performance-chart.svg"), "w") as f:
            f.write(svg)
    print()
    print(text)
    print(f"[bench] {rundir}/results.json, results.md, chart.svg ({b.info['elapsed_s']} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
