#!/usr/bin/env bash
# Contract tests: proves that the served OpenAPI document tells the truth.
#
#   1. starts the server (SECURETODO_BIN, default target/debug/securetodo,
#      under CARGO_TARGET_DIR when that is set) on
#      a free loopback port with a fresh temporary SQLite database;
#   2. registers a user and creates an admin (`securetodo create-admin`);
#   3. schemathesis fuzzes every operation of /api-docs/openapi.json with
#      bearer tokens, then every protected operation without one, then the
#      admin operations with a non-admin token, checking
#      not_a_server_error, response_schema_conformance,
#      content_type_conformance and status_code_conformance;
#   4. newman runs openapi/securetodo.postman_collection.json (the journey
#      of docs/api.md) against the same server.
# The server is always stopped and the temporary files removed.
#
# The fuzzing is bounded and reproducible: deterministic generation
# (schemathesis' equivalent of --hypothesis-derandomize; a fixed --seed is
# passed too), a fixed number of examples per operation
# (SCHEMATHESIS_MAX_EXAMPLES, default 25), no shrinking, no example database,
# no crash replay (scripts/schemathesis.toml), no time budget. Phases:
# examples, coverage (boundary and invalid values), fuzzing, and stateful
# (sequences through links inferred from Location headers, e.g. create a
# todo, then read, patch and delete it).
#
# Usage: ./scripts/contract-tests.sh        (or `just contract`)
# Tools: .venv-test (scripts/requirements-test.txt) and openapi/node_modules
# (openapi/package-lock.json); both are installed here when missing, the same
# way scripts/setup-test-deps.sh does it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

bin="${SECURETODO_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/securetodo}"
max_examples="${SCHEMATHESIS_MAX_EXAMPLES:-25}"
seed="${SCHEMATHESIS_SEED:-20240601}"

log() { printf '[contract] %s\n' "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

[ -x "$bin" ] || die "server binary $bin not found; run \`cargo build --bin securetodo\` or set SECURETODO_BIN"

# --- tools ------------------------------------------------------------------
if [ ! -x .venv-test/bin/schemathesis ] || ! cmp -s scripts/requirements-test.txt .venv-test/.requirements; then
  log "creating .venv-test from scripts/requirements-test.txt"
  python3 -m venv .venv-test
  .venv-test/bin/pip install -q --disable-pip-version-check -r scripts/requirements-test.txt
  cp scripts/requirements-test.txt .venv-test/.requirements
fi
if [ ! -x openapi/node_modules/.bin/newman ]; then
  log "npm ci in openapi/ (newman)"
  (cd openapi && npm ci --no-audit --no-fund --loglevel=error)
fi
schemathesis="$root/.venv-test/bin/schemathesis"
newman="$root/openapi/node_modules/.bin/newman"

# --- server -----------------------------------------------------------------
tmp="$(mktemp -d "${TMPDIR:-/tmp}/securetodo-contract.XXXXXX")"
server_pid=""
cleanup() {
  local status=$?
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ "$status" -ne 0 ] && [ -s "$tmp/server.log" ]; then
    log "last server log lines:"
    tail -n 40 "$tmp/server.log" >&2 || true
  fi
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
random_secret() { python3 -c 'import secrets, string; a = string.ascii_letters + string.digits; print("".join(secrets.choice(a) for _ in range(int(__import__("sys").argv[1]))))' "$1"; }

export DATABASE_URL="sqlite://$tmp/c.db"
export BCRYPT_COST=4
JWT_SECRET="$(random_secret 48)"
export JWT_SECRET
export FRONTEND_DIR=
# Every test case of the fuzzing logs in (see scripts/schemathesis_hooks.py)
# and register/login are themselves fuzzed: thousands of credential requests
# a minute, far over the default budget of 20. The limiter itself is covered
# by the Rust API tests; here it must stay out of the way.
export AUTH_RATE_LIMIT_PER_MINUTE=100000
# Likewise the per-user API limit (600 a minute by default): the fuzzer's
# user makes far more requests than that. Counted (the Postman collection
# checks the RateLimit headers) but never reached.
export API_RATE_LIMIT_PER_MINUTE=1000000000
unset REDIS_URL
export RUST_LOG=warn
export HOST=127.0.0.1
export PORT="$port"
unset APP_ENV CORS_ALLOWED_ORIGINS TRUST_PROXY_HEADERS ACCESS_TOKEN_TTL_SECS REFRESH_TOKEN_TTL_SECS

log "starting $bin on $base"
"$bin" serve >"$tmp/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 200); do
  if curl -fsS -o /dev/null "$base/health/ready" 2>/dev/null; then break; fi
  kill -0 "$server_pid" 2>/dev/null || die "the server exited during start-up"
  sleep 0.1
done
curl -fsS -o /dev/null "$base/health/ready" || die "the server did not become ready"

# --- identities -------------------------------------------------------------
json_field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
user_email="fuzz-user-$(random_secret 8 | tr 'A-Z' 'a-z')@example.com"
user_password="$(random_secret 24)"
admin_email="admin@example.com"
admin_password="$(random_secret 24)"

status="$(curl -sS -o "$tmp/register.json" -w '%{http_code}' -X POST "$base/api/v1/auth/register" \
  -H 'Content-Type: application/json' \
  -d "{\"email\":\"$user_email\",\"password\":\"$user_password\"}")"
[ "$status" = 201 ] || die "registering the fuzzing user answered $status: $(cat "$tmp/register.json")"
SECURETODO_ADMIN_PASSWORD="$admin_password" "$bin" create-admin --email "$admin_email" </dev/null \
  || die "securetodo create-admin failed"
login() {
  curl -fsS -X POST "$base/api/v1/auth/login" -H 'Content-Type: application/json' \
    -d "{\"email\":\"$1\",\"password\":\"$2\"}" | json_field access_token
}
user_token="$(login "$user_email" "$user_password")" || die "the fuzzing user cannot log in"
admin_token="$(login "$admin_email" "$admin_password")" || die "the admin cannot log in"
[ -n "$user_token" ] && [ -n "$admin_token" ] || die "login returned no access token"
curl -fsS -o /dev/null -H "Authorization: Bearer $admin_token" "$base/api/v1/users/me" \
  || die "the admin token is not accepted"

# --- schema fuzzing ---------------------------------------------------------
curl -fsS -o "$tmp/openapi.json" "$base/api-docs/openapi.json" || die "no /api-docs/openapi.json"
# JUnit and HAR (every request and response) reports; kept when
# CONTRACT_REPORT_DIR is set, for CI artifacts or for reading a failure.
report_dir="${CONTRACT_REPORT_DIR:-$tmp/reports}"
mkdir -p "$report_dir"
common=(
  --checks not_a_server_error,response_schema_conformance,content_type_conformance,status_code_conformance
  --seed "$seed"
  --generation-deterministic
  --no-shrink
  --workers 1
  --request-timeout 10
  --no-color
  --warnings off
)
fuzz=("$schemathesis" --config-file "$root/scripts/schemathesis.toml"
  run "$base/api-docs/openapi.json" --url "$base" "${common[@]}")

# Bearer tokens come from scripts/schemathesis_hooks.py (see 1.).
hooks=(
  SCHEMATHESIS_HOOKS="$root/scripts/schemathesis_hooks.py"
  SECURETODO_FUZZ_BASE_URL="$base"
  SECURETODO_FUZZ_USER_EMAIL="$user_email" SECURETODO_FUZZ_USER_PASSWORD="$user_password"
  SECURETODO_FUZZ_ADMIN_EMAIL="$admin_email" SECURETODO_FUZZ_ADMIN_PASSWORD="$admin_password"
  SECURETODO_BIN="$bin"
)

# 1. Authorized: every operation. scripts/schemathesis_hooks.py gives each
#    test case of an operation that declares the bearer scheme a token from a
#    fresh login (the admin's for /api/v1/admin/*, the user's elsewhere), so
#    the operations that end sessions are fuzzed authorized too without
#    killing the token of the cases after them: logout, logout-all,
#    DELETE /users/me/sessions/{id}, and the admin's disable/delete/end-sessions.
#    PUT /users/me/password and DELETE /users/me need the account's
#    password, which is random and never in the document, so fuzzing reaches
#    their validation and 422 paths but cannot change or delete the account.
log "schemathesis: authorized run (max $max_examples examples per operation, seed $seed)"
env "${hooks[@]}" "${fuzz[@]}" --max-examples "$max_examples" \
  --phases examples,coverage,fuzzing,stateful \
  --report junit,har --report-dir "$report_dir/authorized"

# A run whose tokens silently stopped working would still pass (every 401
# is documented). Show which statuses each operation reached, and fail
# unless the protected operations were really called authorized.
python3 - "$tmp/openapi.json" "$report_dir"/authorized/har-*.json <<'PY' || die "the authorized run never got past authentication"
import collections, json, re, sys
doc = json.load(open(sys.argv[1]))
ops = [(m.upper(), p, re.compile("^" + re.sub(r"\{[^/]+\}", "[^/]+", p) + "$"))
       for p, item in doc["paths"].items() for m in item]
seen = collections.defaultdict(collections.Counter)
for har in sys.argv[2:]:
    for entry in json.load(open(har))["log"]["entries"]:
        method = entry["request"]["method"]
        path = "/" + entry["request"]["url"].split("?")[0].split("/", 3)[3]
        for m, p, rx in ops:
            if m == method and rx.match(path):
                seen[f"{m} {p}"][entry["response"]["status"]] += 1
for key in sorted(seen):
    print(f"  {key:45} " + " ".join(f"{s}x{n}" for s, n in sorted(seen[key].items())))
me = seen.get("GET /api/v1/users/me", {})
sys.exit(0 if any(200 <= s < 300 for s in me) else 1)
PY

# 2. Unauthenticated: every operation that declares the bearer scheme, with
#    no token. Everything must still be a documented, well-formed problem
#    (401 with the Problem schema) and never a server error. Operations with
#    no security (register, login, refresh, health) were fully covered above.
log "schemathesis: unauthenticated run of the protected operations"
mapfile -t protected < <(python3 - "$tmp/openapi.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
for item in doc["paths"].values():
    for op in item.values():
        if isinstance(op, dict) and any("bearer" in r for r in op.get("security", [])):
            print("--include-operation-id")
            print(op["operationId"])
PY
)
[ "${#protected[@]}" -gt 0 ] || die "the document declares no protected operation"
"${fuzz[@]}" --max-examples 5 "${protected[@]}" \
  --phases examples,coverage,fuzzing \
  --report junit,har --report-dir "$report_dir/unauthenticated"

# 3. Forbidden: the admin operations with an ordinary user's token. Every
#    answer must be a documented 403 problem (or a 4xx the document lists
#    for input that is rejected before the permission check).
if grep -q '"/api/v1/admin/' "$tmp/openapi.json"; then
  log "schemathesis: admin operations with a non-admin token"
  env "${hooks[@]}" SECURETODO_FUZZ_ADMIN_PATHS_AS=user "${fuzz[@]}" \
    --max-examples 5 --include-path-regex '^/api/v1/admin/' \
    --phases examples,coverage,fuzzing \
    --report junit,har --report-dir "$report_dir/forbidden"
fi

# 4. API tokens: the operations that accept a personal API token (the todo
#    endpoints), called with one of the user's tokens (both scopes) instead
#    of an access token. Everything must still be documented.
log "schemathesis: the todo operations with an API token"
env "${hooks[@]}" SECURETODO_FUZZ_TODOS_WITH=api_token "${fuzz[@]}" \
  --max-examples 10 --include-path-regex '^/api/v1/todos' \
  --phases examples,coverage,fuzzing \
  --report junit,har --report-dir "$report_dir/api-token"

# --- Postman collection -------------------------------------------------------
log "newman: openapi/securetodo.postman_collection.json"
"$newman" run openapi/securetodo.postman_collection.json \
  --env-var "baseUrl=$base" \
  --bail failure \
  --color off \
  --reporters cli

log "contract tests passed"
