"""scripts/sqlite-to-postgres.sh, end to end: data made through the real API
on SQLite is copied into a fresh, migrated PostgreSQL database, compared
table by table, then read back through the API of an instance on the copy.

Skips with the reason when PostgreSQL or a build with PostgreSQL support is
missing; under REQUIRE_POSTGRES=1 (CI) it fails instead.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT
from realapp import Api, Server, binary, migrate, unavailable

SCRIPT = ROOT / "scripts" / "sqlite-to-postgres.sh"

# Titles and descriptions that break naive CSV or SQL quoting.
AWKWARD = [
    {"title": "Ünïcödé ✓ 日本語 🎉", "priority": "high",
     "description": 'multi\nline\r\nwith "double", \'single\', commas, a tab\t and \\ backslash'},
    {"title": "comma, separated, title", "description": "", "due_date": "2026-12-31",
     "priority": "low"},
    {"title": '"quoted", all of it"', "description": "x" * 5000, "due_date": "2027-01-01"},
    {"title": "\\N", "description": "NULL"},
    {"title": "=1+2 ,\"\n", "description": ",,,\n\n\"\"", "due_date": None},
    {"title": "  padded  ", "description": "ends with a backslash \\"},
]


def run_script(source: Path, target_url: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), str(source), target_url],
                          capture_output=True, text=True, timeout=300)


def test_script_is_executable_and_parses():
    assert SCRIPT.stat().st_mode & 0o111, "scripts/sqlite-to-postgres.sh is not executable"
    result = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.fixture
def tools():
    for tool in ("sqlite3", "tsort"):
        if shutil.which(tool) is None:
            unavailable(f"{tool} is not installed")


def make_sqlite_data(bin_path: Path, workdir: Path, source: Path) -> dict:
    """Two users with todos (awkward strings, NULL and set due dates, a
    completed one, a deleted one), sessions, a rotated refresh token, a
    failed login: what the API shows of it."""
    server = Server(bin_path, workdir, "sqlite", f"sqlite://{source}")
    try:
        api = Api(server.request)
        shown: dict = {}
        for email, todos in [("alice@example.com", AWKWARD), ("bob@example.com", AWKWARD[:2])]:
            api.register(email)
            status, _, _ = api.send("POST", "/api/v1/auth/login",
                                    {"email": email, "password": "wrong password 1"}, None)
            assert status == 401
            api.login(email)  # a second session
            status, _, pair = api.send("POST", "/api/v1/auth/login",
                                       {"email": email, "password": Api.PASSWORD}, None)
            assert status == 200
            status, _, pair = api.send("POST", "/api/v1/auth/refresh",
                                       {"refresh_token": pair["refresh_token"]}, None)
            assert status == 200, pair
            token = pair["access_token"]
            created = [api.create_todo(token, **fields) for fields in todos]
            status, _, done = api.send("PATCH", f"/api/v1/todos/{created[-1]['id']}",
                                       {"completed": True}, token)
            assert status == 200 and done["completed_at"], done
            extra = api.create_todo(token, title="deleted before the copy")
            status, _, _ = api.send("DELETE", f"/api/v1/todos/{extra['id']}", None, token)
            assert status == 204
            status, _, me = api.send("GET", "/api/v1/users/me", None, token)
            assert status == 200
            shown[email] = {"me": me, "todos": api.all_todos(token)}
        alice = shown["alice@example.com"]["todos"]
        assert any(t["due_date"] is None for t in alice) and any(t["due_date"] for t in alice)
        return shown
    finally:
        server.stop()


def pg_columns(postgres, database: str, table: str) -> dict[str, str]:
    rows = postgres.psql(database, f"""
        SELECT column_name, data_type FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name = '{table}' AND is_generated = 'NEVER'
        ORDER BY ordinal_position""")
    return dict(line.split("|", 1) for line in rows.splitlines())


def microseconds(text: str) -> dt.datetime:
    """A timestamp as PostgreSQL keeps it: rounded to the microsecond.
    SQLite holds what the clock gave (nanoseconds on Linux)."""
    match = re.fullmatch(r"(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?", text)
    assert match, text
    base = dt.datetime.fromisoformat(match.group(1).replace(" ", "T"))
    fraction = match.group(2) or "0"
    return base + dt.timedelta(microseconds=round(int(fraction) * 10 ** (6 - len(fraction))))


def normalised(value, data_type: str):
    if value is None:
        return None
    if data_type == "boolean":
        return bool(value)
    if data_type.startswith("timestamp"):
        return microseconds(str(value))
    return value


def as_postgres_keeps_it(value):
    """API bodies with every `*_at` timestamp rounded to the microsecond."""
    if isinstance(value, list):
        return [as_postgres_keeps_it(v) for v in value]
    if isinstance(value, dict):
        return {k: microseconds(v) if k.endswith("_at") and isinstance(v, str) else as_postgres_keeps_it(v)
                for k, v in value.items()}
    return value


def assert_tables_identical(source: Path, postgres, database: str) -> list[str]:
    """Every table of the SQLite file has the same rows in PostgreSQL."""
    lite = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    tables = [name for (name,) in lite.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "AND name <> '__diesel_schema_migrations'")]
    assert {"users", "sessions", "todos", "audit_events"} <= set(tables)
    for table in tables:
        columns = pg_columns(postgres, database, table)
        names = ", ".join(f'"{c}"' for c in columns)
        expected = sorted(
            (tuple(normalised(v, t) for v, t in zip(row, columns.values()))
             for row in lite.execute(f'SELECT {names} FROM "{table}"')),
            key=repr,
        )
        copied = json.loads(postgres.psql(
            database, f"SELECT coalesce(json_agg(t), '[]') FROM (SELECT {names} FROM \"{table}\") t"))
        actual = sorted((tuple(normalised(row[c], t) for c, t in columns.items()) for row in copied),
                        key=repr)
        assert actual == expected, f"table {table} differs after the copy"
    lite.close()
    return tables


def test_copy_keeps_every_row_and_the_app_reads_it_back(tmp_path, postgres, tools):
    bin_path = binary()
    database = postgres.create_database("copy")
    target = postgres.url(database)
    migrate(bin_path, target, tmp_path)  # first: skips early on a build without PostgreSQL

    source = tmp_path / "source.db"
    shown = make_sqlite_data(bin_path, tmp_path, source)
    result = run_script(source, target)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "copied" in result.stdout
    tables = assert_tables_identical(source, postgres, database)
    print(f"copied tables: {tables}")

    # A second run refuses the now non-empty target and changes nothing.
    before = postgres.psql(database, "SELECT count(*) FROM todos")
    again = run_script(source, target)
    assert again.returncode != 0
    assert "not empty" in again.stderr
    assert postgres.psql(database, "SELECT count(*) FROM todos") == before

    max_id = int(postgres.psql(database, "SELECT max(id) FROM todos"))
    server = Server(bin_path, tmp_path, "postgres", target, MIGRATE_ON_START="false")
    try:
        api = Api(server.request)
        for email, seen in shown.items():
            token = api.login(email)  # the password hash came along; a new session gets a new id
            status, _, me = api.send("GET", "/api/v1/users/me", None, token)
            assert status == 200
            assert as_postgres_keeps_it(me) == as_postgres_keeps_it(seen["me"])
            todos = api.all_todos(token)
            assert [t["id"] for t in todos] == [t["id"] for t in seen["todos"]]
            assert as_postgres_keeps_it(todos) == as_postgres_keeps_it(seen["todos"])
        fresh = api.create_todo(token, title="made on PostgreSQL")
        assert fresh["id"] > max_id
    finally:
        server.stop()


def test_refuses_a_target_that_is_not_migrated(tmp_path, postgres, tools):
    source = tmp_path / "empty.db"
    sqlite3.connect(source).close()
    result = run_script(source, postgres.url(postgres.create_database("bare")))
    assert result.returncode != 0
    assert "securetodo migrate" in result.stderr


def test_refuses_databases_at_different_migration_versions(tmp_path, postgres, tools):
    bin_path = binary()
    database = postgres.create_database("versions")
    migrate(bin_path, postgres.url(database), tmp_path)
    source = tmp_path / "old.db"
    migrate(bin_path, f"sqlite://{source}", tmp_path)
    lite = sqlite3.connect(source)
    lite.execute("DELETE FROM __diesel_schema_migrations WHERE version = "
                 "(SELECT max(version) FROM __diesel_schema_migrations)")
    lite.commit()
    lite.close()
    result = run_script(source, postgres.url(database))
    assert result.returncode != 0
    assert "different migration versions" in result.stderr


def migrated_pair(tmp_path: Path, postgres) -> tuple[Path, str]:
    """A SQLite file and a PostgreSQL database, both migrated, with one user."""
    bin_path = binary()
    database = postgres.create_database("catalog")
    migrate(bin_path, postgres.url(database), tmp_path)
    source = tmp_path / "catalog.db"
    migrate(bin_path, f"sqlite://{source}", tmp_path)
    lite = sqlite3.connect(source)
    lite.execute("INSERT INTO users (id, email, password_hash, created_at, updated_at) "
                 "VALUES (7, 'carol@example.com', 'x', '2026-01-02 03:04:05.123456', "
                 "'2026-01-02 03:04:05')")
    lite.commit()
    lite.close()
    return source, database


def test_a_table_added_later_is_copied_parents_first(tmp_path, postgres, tools):
    # A later migration's table, named so that alphabetical order would put
    # it before its parent: the script finds it in the catalog and orders it
    # by its foreign key, without being edited.
    source, database = migrated_pair(tmp_path, postgres)
    postgres.psql(database, """
        CREATE TABLE aa_later (
            id BIGSERIAL PRIMARY KEY,
            user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            parent_id BIGINT REFERENCES aa_later (id),
            flag BOOLEAN NOT NULL,
            seen_at TIMESTAMP,
            note TEXT,
            pg_only TEXT NOT NULL DEFAULT 'default'
        )""")
    lite = sqlite3.connect(source)
    lite.execute("""CREATE TABLE aa_later (
        id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
        user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        parent_id INTEGER REFERENCES aa_later (id),
        flag BOOLEAN NOT NULL, seen_at TIMESTAMP, note TEXT)""")
    lite.executemany("INSERT INTO aa_later VALUES (?, 7, ?, ?, ?, ?)", [
        (3, None, 1, "2026-05-06 07:08:09.5", "a,\n\"b\""),
        (5, 3, 0, None, None),
        (9, 5, 1, "2026-05-06 07:08:10", ""),
    ])
    lite.commit()
    lite.close()

    result = run_script(source, postgres.url(database))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "aa_later.pg_only exists only in PostgreSQL" in result.stdout
    rows = postgres.psql(database, "SELECT id, parent_id, flag, seen_at, note IS NULL, note, pg_only "
                                   "FROM aa_later ORDER BY id")
    assert rows.split("\n")[:2] == ['3||t|2026-05-06 07:08:09.5|f|a,', '"b"|default']
    assert '5|3|f||t||default' in rows and '9|5|t|2026-05-06 07:08:10|f||default' in rows
    assert postgres.psql(database, "SELECT nextval('aa_later_id_seq')").strip() == "10"
    assert postgres.psql(database, "SELECT nextval('users_id_seq')").strip() == "8"
    assert postgres.psql(database, "SELECT created_at FROM users").strip() == "2026-01-02 03:04:05.123456"


def test_refuses_a_column_postgres_lacks(tmp_path, postgres, tools):
    source, database = migrated_pair(tmp_path, postgres)
    lite = sqlite3.connect(source)
    lite.execute("ALTER TABLE users ADD COLUMN nickname TEXT")
    lite.commit()
    lite.close()
    result = run_script(source, postgres.url(database))
    assert result.returncode != 0
    assert "users: columns only in SQLite" in result.stderr and "nickname" in result.stderr
    assert postgres.psql(database, "SELECT count(*) FROM users").strip() == "0"


def test_refuses_a_table_postgres_lacks(tmp_path, postgres, tools):
    source, database = migrated_pair(tmp_path, postgres)
    lite = sqlite3.connect(source)
    lite.execute("CREATE TABLE only_here (id INTEGER PRIMARY KEY)")
    lite.commit()
    lite.close()
    result = run_script(source, postgres.url(database))
    assert result.returncode != 0
    assert "tables only in SQLite" in result.stderr and "only_here" in result.stderr
