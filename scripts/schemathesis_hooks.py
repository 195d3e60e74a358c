"""Schemathesis hooks for scripts/contract-tests.sh: bearer tokens per test case.

Several operations end the session of the token they are called with
(logout, logout-all, DELETE /users/me/sessions/{id}, and on the admin side
DELETE /admin/users/{id}/sessions, disabling or deleting a user). With one
static token the first such call would turn every later test case into a
401, so the fuzzing would silently stop testing anything behind
authentication. Instead every test case of an operation that declares the
bearer scheme gets a token from a fresh login (bcrypt cost 4 makes that
about a millisecond): a destructive call only ends its own session.

Identities come from the environment (set by contract-tests.sh):
  SECURETODO_FUZZ_BASE_URL          e.g. http://127.0.0.1:40123
  SECURETODO_FUZZ_USER_EMAIL/_PASSWORD    an ordinary user
  SECURETODO_FUZZ_ADMIN_EMAIL/_PASSWORD   an admin (for /api/v1/admin/*)
  SECURETODO_BIN, DATABASE_URL, BCRYPT_COST   to re-run `create-admin`
  SECURETODO_FUZZ_ADMIN_PATHS_AS=user    use the user's token on /api/v1/admin/*
  SECURETODO_FUZZ_TODOS_WITH=api_token   call the operations that accept API
                                         tokens with one (both scopes) instead

Fuzzed admin calls may delete, disable, demote or promote these accounts. The
passwords are random and unknown to the fuzzer, so it can never change or
guess them; when a login fails anyway the account is restored the way an
operator would: the user is registered again, the admin is re-created or
re-promoted (and re-enabled) with `securetodo create-admin`. If that still
does not give a working login with the expected role (say the user was
disabled, or promoted to admin), a new identity with a random suffix is made.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import threading

import requests
import schemathesis

BASE_URL = os.environ["SECURETODO_FUZZ_BASE_URL"].rstrip("/")
TIMEOUT = 10
_lock = threading.Lock()


def _login(email: str, password: str) -> dict | None:
    response = requests.post(
        f"{BASE_URL}/api/v1/auth/login",
        json={"email": email, "password": password},
        timeout=TIMEOUT,
    )
    if response.status_code != 200:
        return None
    return response.json()


def _register(email: str, password: str) -> None:
    requests.post(
        f"{BASE_URL}/api/v1/auth/register",
        json={"email": email, "password": password},
        timeout=TIMEOUT,
    )


def _create_admin(email: str, password: str) -> None:
    env = dict(os.environ, SECURETODO_ADMIN_PASSWORD=password, RUST_LOG="error")
    subprocess.run(
        [os.environ["SECURETODO_BIN"], "create-admin", "--email", email],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        check=False,
        timeout=60,
    )


class _Identity:
    def __init__(self, role: str) -> None:
        prefix = f"SECURETODO_FUZZ_{role.upper()}"
        self.role = role
        self.email = os.environ[f"{prefix}_EMAIL"]
        self.password = os.environ[f"{prefix}_PASSWORD"]

    def _restore(self) -> None:
        print(f"[hooks] restoring the fuzzing {self.role} {self.email}", file=sys.stderr)
        if self.role == "admin":
            _create_admin(self.email, self.password)
        else:
            _register(self.email, self.password)

    def _fits(self, pair: dict | None) -> bool:
        if pair is None:
            return False
        return pair["user"]["role"] == self.role

    def token(self) -> str:
        with _lock:
            pair = _login(self.email, self.password)
            if not self._fits(pair):
                self._restore()
                pair = _login(self.email, self.password)
            if not self._fits(pair):
                local, domain = self.email.split("@", 1)
                self.email = f"{local.split('+')[0]}+{secrets.token_hex(4)}@{domain}"
                self._restore()
                pair = _login(self.email, self.password)
            if not self._fits(pair):
                raise RuntimeError(f"could not log in as the fuzzing {self.role}")
            return pair["access_token"]


_USER = _Identity("user")
_ADMIN = _Identity("admin")
# SECURETODO_FUZZ_ADMIN_PATHS_AS=user: call the admin operations with the
# ordinary user's token (every answer must then be a documented 403).
_ADMIN_PATHS_AS_USER = os.environ.get("SECURETODO_FUZZ_ADMIN_PATHS_AS") == "user"


# SECURETODO_FUZZ_TODOS_WITH=api_token: the operations that declare the
# `api_token` scheme (the todo endpoints) get a personal API token of the
# user with both scopes, made once and made again if it stops working (a
# fuzzed password change or disable ends it).
_TODOS_WITH_TOKEN = os.environ.get("SECURETODO_FUZZ_TODOS_WITH") == "api_token"
_api_token: str | None = None


def _user_api_token() -> str:
    global _api_token
    with _lock:
        if _api_token is not None:
            probe = requests.get(
                f"{BASE_URL}/api/v1/todos",
                headers={"Authorization": f"Bearer {_api_token}"},
                timeout=TIMEOUT,
            )
            if probe.status_code == 200:
                return _api_token
    access = _USER.token()
    response = requests.post(
        f"{BASE_URL}/api/v1/users/me/tokens",
        headers={"Authorization": f"Bearer {access}"},
        json={
            "name": "schemathesis",
            "scopes": ["todos:read", "todos:write"],
            "expires_in_days": 1,
            "password": _USER.password,
        },
        timeout=TIMEOUT,
    )
    if response.status_code != 201:
        raise RuntimeError(f"could not create an API token: {response.status_code} {response.text}")
    with _lock:
        _api_token = response.json()["token"]
        return _api_token


def _declares_api_token(operation) -> bool:
    security = operation.definition.raw.get("security") or []
    return any("api_token" in requirement for requirement in security)


def _declares_bearer(operation) -> bool:
    security = operation.definition.raw.get("security") or []
    return any("bearer" in requirement for requirement in security)


@schemathesis.auth(refresh_interval=None)
class FreshLoginPerCase:
    def get(self, case, ctx):
        if not _declares_bearer(ctx.operation):
            return None
        if _TODOS_WITH_TOKEN and _declares_api_token(ctx.operation):
            return _user_api_token()
        admin_path = ctx.operation.path.startswith("/api/v1/admin/")
        identity = _ADMIN if admin_path and not _ADMIN_PATHS_AS_USER else _USER
        return identity.token()

    def set(self, case, data, ctx):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"
