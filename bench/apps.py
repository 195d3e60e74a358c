"""The two apps under test: how to start each, create users, seed todos, and
which HTTP requests each scenario sends. Used by bench.py (stdlib only).

Users are created and logged in through each app's public HTTP API (so the
password hashes are real bcrypt cost 12). Todos are inserted straight into the
app's SQLite file in one transaction (the API would take minutes for 100,000);
both apps get the same rows.
"""
import datetime as dt
import json
import os
import re
import secrets
import sqlite3
import subprocess
import time
import urllib.parse

from procs import Client, header

SEED_BASE = dt.datetime(2026, 1, 1, 0, 0, 0)
ITEM_RE = re.compile(rb"/todos/delete/\d+")


def ts(i, base=SEED_BASE):
    """Distinct, increasing timestamps in the format both apps store."""
    return (base + dt.timedelta(seconds=i)).strftime("%Y-%m-%d %H:%M:%S.%f")


def _connect(db_path):
    conn = sqlite3.connect(db_path, timeout=30, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 30000")
    return conn


class SecureTodo:
    name = "securetodo"
    label = "SecureTodo"
    ready_path = "/health/ready"
    has_pages = True
    has_patch = True

    def __init__(self, binary):
        self.binary = binary
        self.password = "Bench-Passphrase-" + secrets.token_hex(6)

    def command(self, port, rundir, tag):
        db = os.path.join(rundir, f"securetodo-{tag}.db")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/tmp"),
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "DATABASE_URL": f"sqlite://{db}",
            "JWT_SECRET": secrets.token_urlsafe(48)[:48],
            "BCRYPT_COST": "12",
            "FRONTEND_DIR": "",
            "AUTH_RATE_LIMIT_PER_MINUTE": "1000000",
            # Counted on every request (so its cost is measured) but never reached.
            "API_RATE_LIMIT_PER_MINUTE": "100000000",
            "ACCESS_TOKEN_TTL_SECS": "3600",
            "RUST_LOG": "warn",
        }
        for k in ("SECURETODO_EXTRA_ENV",):  # e.g. "KEY=V,KEY2=V2" for experiments
            for kv in filter(None, os.environ.get(k, "").split(",")):
                key, val = kv.split("=", 1)
                env[key] = val
        return [self.binary, "serve"], env, rundir, db

    # ---- users
    def register_login(self, c, email):
        s, _, body = c.json("POST", "/api/v1/auth/register", {"email": email, "password": self.password})
        if s != 201:
            raise RuntimeError(f"register {email}: HTTP {s} {body}")
        uid = body["id"]
        s, _, body = c.json("POST", "/api/v1/auth/login", {"email": email, "password": self.password})
        if s != 200 or not body.get("access_token"):
            raise RuntimeError(f"login {email}: HTTP {s} {body}")
        return {"email": email, "id": uid, "auth": {"Authorization": f"Bearer {body['access_token']}"}}

    def seed_todos(self, db, user_ids, n, offset=0):
        """n todos for each user id, straight into SQLite (schema read from the file)."""
        conn = _connect(db)
        cols = {r[1]: r for r in conn.execute("PRAGMA table_info(todos)")}
        known = ["user_id", "title", "title_sort", "description", "completed", "priority", "due_date",
                 "created_at", "updated_at", "completed_at", "version"]
        for name, (_, _, _, notnull, default, pk) in cols.items():
            if name not in known and name != "id" and notnull and default is None:
                raise RuntimeError(f"todos.{name} is NOT NULL without a default: teach bench/apps.py to fill it")
        use = [k for k in known if k in cols]
        sql = f"INSERT INTO todos ({', '.join(use)}) VALUES ({', '.join('?' * len(use))})"
        conn.execute("BEGIN IMMEDIATE")
        for uid in user_ids:
            rows = []
            for i in range(n):
                done = i % 4 == 0
                t = ts(offset + i)
                v = {"user_id": uid, "title": f"todo {i}", "title_sort": f"todo {i}",
                     "description": f"seeded description {i}",
                     "completed": 1 if done else 0, "priority": i % 3,
                     "due_date": (SEED_BASE.date() + dt.timedelta(days=i % 90)).isoformat() if i % 2 else None,
                     "created_at": t, "updated_at": t, "completed_at": t if done else None, "version": 1}
                rows.append(tuple(v[k] for k in use))
            conn.executemany(sql, rows)
        conn.execute("COMMIT")
        conn.close()

    def seed_other_users(self, db, count, todos_each):
        """`count` extra accounts (never logged in) with `todos_each` todos each."""
        conn = _connect(db)
        conn.execute("BEGIN IMMEDIATE")
        now = ts(0)
        fake_hash = "$2b$12$" + "x" * 53  # never verified
        conn.executemany(
            "INSERT INTO users (email, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?)",
            [(f"other-{i}@bench.example", fake_hash, now, now) for i in range(count)])
        ids = [r[0] for r in conn.execute("SELECT id FROM users WHERE email LIKE 'other-%@bench.example'")]
        conn.execute("COMMIT")
        conn.close()
        self.seed_todos(db, ids, todos_each, offset=0)
        return len(ids)

    def with_api_token(self, c, user):
        """`user` again, authenticated by a new personal API token (read scope)."""
        s, _, body = c.json("POST", "/api/v1/users/me/tokens",
                            {"name": "bench", "scopes": ["todos:read"], "expires_in_days": 1,
                             "password": self.password}, headers=user["auth"])
        if s != 201 or not str(body.get("token", "")).startswith("stp_"):
            raise RuntimeError(f"create an API token: HTTP {s} {body}")
        return dict(user, auth={"Authorization": f"Bearer {body['token']}"})

    # ---- requests
    def list_req(self, user, cursor=None, limit=20):
        q = {"limit": str(limit)}
        if cursor:
            q["cursor"] = cursor
        return {"method": "GET", "path": "/api/v1/todos?" + urllib.parse.urlencode(q),
                "headers": dict(user["auth"]), "expect": 200}

    def create_req(self, user):
        body = json.dumps({"title": "bench todo", "description": "created by wrk", "priority": "normal"})
        return {"method": "POST", "path": "/api/v1/todos", "body": body, "expect": 201,
                "headers": dict(user["auth"], **{"Content-Type": "application/json"})}

    def patch_req(self, user, todo_id, completed):
        return {"method": "PATCH", "path": f"/api/v1/todos/{todo_id}", "expect": 200,
                "body": json.dumps({"completed": completed}),
                "headers": dict(user["auth"], **{"Content-Type": "application/json"})}

    def login_req(self, user):
        return {"method": "POST", "path": "/api/v1/auth/login", "expect": 200,
                "headers": {"Content-Type": "application/json"},
                "body": json.dumps({"email": user["email"], "password": self.password})}

    # ---- checks
    def list_page(self, c, user, cursor=None, limit=20):
        req = self.list_req(user, cursor, limit)
        s, _, body = c.json("GET", req["path"], headers=req["headers"])
        if s != 200:
            raise RuntimeError(f"GET {req['path']}: HTTP {s} {body}")
        return body["items"], body.get("next_cursor")

    def walk(self, c, user, skip, step=20):
        """Follows next_cursor to the end, `step` items a page (cursors do not
        depend on the page size); returns (the cursor that starts after `skip`
        items, ids seen). Walking it all checks "every item exactly once"."""
        assert skip % step == 0
        cursor, seen, deep = None, [], None
        while True:
            if len(seen) == skip:
                deep = cursor
            items, nxt = self.list_page(c, user, cursor, limit=step)
            seen.extend(t["id"] for t in items)
            if not nxt:
                break
            cursor = nxt
        return deep, seen

    def probe(self, c, req):
        s, hdrs, data = c.request(req["method"], req["path"], req.get("body"), req.get("headers"))
        if s != req["expect"]:
            raise RuntimeError(f"probe {req['method']} {req['path']}: HTTP {s}, expected {req['expect']}: {data[:300]!r}")
        return data


class SecureTodoPg(SecureTodo):
    """SecureTodo on PostgreSQL: the same binary and requests, a fresh
    database per server on the local PostgreSQL (`--pg-url`), seeded with
    psql's COPY instead of sqlite3."""
    name = "securetodo-pg"
    label = "SecureTodo (PostgreSQL)"

    def __init__(self, binary, server_url):
        super().__init__(binary)
        self.server_url = server_url.rstrip("/")
        self.databases = []

    def psql(self, database, sql, stdin=None):
        out = subprocess.run(["psql", f"{self.server_url}/{database}", "-v", "ON_ERROR_STOP=1",
                              "-Atq", "-c", sql], input=stdin, capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"psql: {out.stderr.strip()}")
        return out.stdout

    def command(self, port, rundir, tag):
        cmd, env, cwd, _ = super().command(port, rundir, tag)
        db = f"bench_{tag}_{os.getpid()}_{secrets.token_hex(3)}"
        self.psql("postgres", f"DROP DATABASE IF EXISTS {db}")
        self.psql("postgres", f"CREATE DATABASE {db}")
        self.databases.append(db)
        env["DATABASE_URL"] = f"{self.server_url}/{db}"
        return cmd, env, cwd, db

    def cleanup(self):
        for db in self.databases:
            try:
                self.psql("postgres", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
            except RuntimeError:
                pass
        self.databases = []

    def seed_todos(self, db, user_ids, n, offset=0):
        cols = ["user_id", "title", "title_sort", "description", "completed", "priority", "due_date",
                "created_at", "updated_at", "completed_at", "version"]
        lines = []
        for uid in user_ids:
            for i in range(n):
                done = i % 4 == 0
                t = ts(offset + i)
                due = (SEED_BASE.date() + dt.timedelta(days=i % 90)).isoformat() if i % 2 else "\\N"
                lines.append("\t".join([str(uid), f"todo {i}", f"todo {i}", f"seeded description {i}",
                                        "t" if done else "f", str(i % 3), due, t, t,
                                        t if done else "\\N", "1"]))
        self.psql(db, f"COPY todos ({', '.join(cols)}) FROM STDIN", stdin="\n".join(lines) + "\n")
        self.psql(db, "ANALYZE todos")

    def seed_other_users(self, db, count, todos_each):
        now = ts(0)
        fake_hash = "$2b$12$" + "x" * 53
        rows = "\n".join(f"other-{i}@bench.example\t{fake_hash}\t{now}\t{now}" for i in range(count)) + "\n"
        self.psql(db, "COPY users (email, password_hash, created_at, updated_at) FROM STDIN", stdin=rows)
        ids = [int(x) for x in self.psql(db, "SELECT id FROM users WHERE email LIKE 'other-%@bench.example'").split()]
        self.seed_todos(db, ids, todos_each, offset=0)
        self.psql(db, "ANALYZE")
        return len(ids)


class Reference:
    name = "reference"
    label = "FastAPI reference"
    ready_path = "/"
    has_pages = False
    has_patch = False

    def __init__(self, peer_dir):
        self.peer_dir = peer_dir
        self.password = "Bench-Passphrase-" + secrets.token_hex(6)

    def command(self, port, rundir, tag):
        db = os.path.join(rundir, f"reference-{tag}.db")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/tmp"),
            "PORT": str(port),
            "WORKERS": "1",
            "DATABASE_URL": f"sqlite:///{db}",
            "SECRET_KEY": secrets.token_hex(32),
        }
        return [os.path.join(self.peer_dir, "run.sh")], env, self.peer_dir, db

    def register_login(self, c, email, db=None):
        s, _, d = c.form("POST", "/register", {"email": email, "password": self.password})
        if s != 302:
            raise RuntimeError(f"register {email}: HTTP {s} {d[:200]!r}")
        s, h, d = c.form("POST", "/login", {"email": email, "password": self.password})
        cookie = None
        for v in header(h, "set-cookie"):
            if v.startswith("session="):
                cookie = v.split(";", 1)[0].split("=", 1)[1].strip('"')
        if s != 302 or not cookie:
            raise RuntimeError(f"login {email}: HTTP {s}, cookie={cookie!r}")
        return {"email": email, "id": None, "auth": {"Cookie": f"session={cookie}"}}

    def user_id(self, db, email):
        conn = _connect(db)
        (uid,) = conn.execute('SELECT id FROM "user" WHERE email = ?', (email,)).fetchone()
        conn.close()
        return uid

    def seed_todos(self, db, user_ids, n, offset=0):
        conn = _connect(db)
        conn.execute("BEGIN IMMEDIATE")
        for uid in user_ids:
            conn.executemany(
                "INSERT INTO todo (title, description, completed, created_at, user_id) VALUES (?, ?, ?, ?, ?)",
                [(f"todo {i}", f"seeded description {i}", 1 if i % 4 == 0 else 0, ts(offset + i), uid)
                 for i in range(n)])
        conn.execute("COMMIT")
        conn.close()

    def seed_other_users(self, db, count, todos_each):
        conn = _connect(db)
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany('INSERT INTO "user" (email, hashed_password, role, created_at) VALUES (?, ?, ?, ?)',
                         [(f"other-{i}@bench.example", "$2b$12$" + "x" * 53, "user", ts(0)) for i in range(count)])
        ids = [r[0] for r in conn.execute("SELECT id FROM \"user\" WHERE email LIKE 'other-%@bench.example'")]
        conn.execute("COMMIT")
        conn.close()
        self.seed_todos(db, ids, todos_each)
        return len(ids)

    def list_req(self, user, cursor=None, limit=20):
        return {"method": "GET", "path": "/todos", "headers": dict(user["auth"]), "expect": 200}

    def create_req(self, user):
        return {"method": "POST", "path": "/todos", "expect": 302,
                "body": urllib.parse.urlencode({"title": "bench todo", "description": "created by wrk"}),
                "headers": dict(user["auth"], **{"Content-Type": "application/x-www-form-urlencoded"})}

    def login_req(self, user):
        return {"method": "POST", "path": "/login", "expect": 302,
                "headers": {"Content-Type": "application/x-www-form-urlencoded"},
                "body": urllib.parse.urlencode({"email": user["email"], "password": self.password})}

    def count(self, c, user):
        s, _, d = c.request("GET", "/todos", headers=user["auth"])
        if s != 200:
            raise RuntimeError(f"GET /todos: HTTP {s}")
        return len(ITEM_RE.findall(d)), len(d)

    def probe(self, c, req):
        s, hdrs, data = c.request(req["method"], req["path"], req.get("body"), req.get("headers"))
        if s != req["expect"]:
            raise RuntimeError(f"probe {req['method']} {req['path']}: HTTP {s}, expected {req['expect']}: {data[:300]!r}")
        return data
