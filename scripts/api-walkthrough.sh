#!/usr/bin/env bash
# Runs the curl walkthrough of docs/api.md, so that the guide cannot rot.
#
# Every fenced ```sh block of docs/api.md is run in document order, in one
# bash shell with `set -euo pipefail`, against a fresh server:
#   - the server (SECURETODO_BIN, default target/debug/securetodo, under
#     CARGO_TARGET_DIR when that is set) on a free loopback port with a
#     temporary SQLite database; the blocks' `http://127.0.0.1:8080` becomes
#     that address;
#   - `curl` fails on any HTTP error status (--fail-with-body), so a step
#     that answers 4xx/5xx fails the run, and so does a failing `jq`;
#   - the blocks run in a temporary directory (their cookies.txt, login.json
#     and todo.json land there).
# Needs bash, curl >= 7.76, jq and python3 (for a free port).
#
# Usage: ./scripts/api-walkthrough.sh   (or `just walkthrough`)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
doc="$root/docs/api.md"
bin="${SECURETODO_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/securetodo}"

log() { printf '[walkthrough] %s\n' "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }

[ -x "$bin" ] || die "server binary $bin not found; run \`cargo build --bin securetodo\` or set SECURETODO_BIN"
for tool in curl jq python3; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (scripts/setup-test-deps.sh installs it)"
done

tmp="$(mktemp -d "${TMPDIR:-/tmp}/securetodo-walkthrough.XXXXXX")"
server_pid=""
cleanup() {
  local status=$?
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ "$status" -ne 0 ] && [ -s "$tmp/server.log" ]; then
    log "last server log lines:"
    tail -n 30 "$tmp/server.log" >&2 || true
  fi
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the blocks -------------------------------------------------------------
python3 - "$doc" "$tmp/walkthrough.sh" <<'PY'
import re, sys
doc, out = sys.argv[1], sys.argv[2]
lines = open(doc, encoding="utf-8").read().splitlines()
blocks, i = [], 0
while i < len(lines):
    if re.fullmatch(r"```sh\s*", lines[i]):
        start = i + 2
        body = []
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i])
            i += 1
        blocks.append((start, "\n".join(body)))
    i += 1
with open(out, "w", encoding="utf-8") as f:
    for n, (start, body) in enumerate(blocks, 1):
        f.write(f"printf '\\n[walkthrough] block {n} (docs/api.md line {start})\\n' >&2\n")
        f.write(body + "\n")
PY
count="$(grep -c '^printf .*\[walkthrough\] block' "$tmp/walkthrough.sh")"
[ "$count" -ge 10 ] || die "only $count sh blocks found in docs/api.md"

# --- server -----------------------------------------------------------------
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
mkdir -p "$tmp/run"
(
  cd "$tmp"
  export APP_ENV=development HOST=127.0.0.1 PORT="$port" DATABASE_URL="sqlite://$tmp/walkthrough.db"
  export BCRYPT_COST=4 FRONTEND_DIR="" RUST_LOG=warn
  export JWT_SECRET="$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')"
  exec "$bin" serve
) >"$tmp/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 150); do
  curl -fsS -o /dev/null "$base/health/ready" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || die "the server exited during start-up"
  sleep 0.2
done
curl -fsS -o /dev/null "$base/health/ready" || die "the server did not become ready at $base"
log "server ready at $base; running $count blocks of docs/api.md"

# --- run --------------------------------------------------------------------
cd "$tmp/run"
{
  printf 'set -euo pipefail\n'
  printf 'curl() { command curl --fail-with-body "$@"; }\n'
  sed "s#http://127\.0\.0\.1:8080#$base#g" "$tmp/walkthrough.sh"
} >"$tmp/run.sh"
if ! bash "$tmp/run.sh" >"$tmp/output.txt" 2>&1; then
  cat "$tmp/output.txt" >&2
  die "a step of docs/api.md failed (the output above ends with it)"
fi
tail -n 5 "$tmp/output.txt" >&2
log "all $count blocks of docs/api.md ran without an error"
