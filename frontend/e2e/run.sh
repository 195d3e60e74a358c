#!/usr/bin/env bash
# End-to-end tests of the SPA in headless Chromium against a real SecureTodo server.
#
# Starts `securetodo` (SECURETODO_BIN, default <repo>/target/debug/securetodo) on a free
# port with a fresh temporary SQLite database, creates an admin, runs every
# e2e/*.test.mjs with Node's test runner and always stops the server.
#
# Needs: node >= 20 and npm, Chromium (CHROMIUM_PATH, default /usr/bin/chromium).
# To test a server that is already running instead, set E2E_BASE_URL,
# E2E_ADMIN_EMAIL and E2E_ADMIN_PASSWORD.
set -euo pipefail

E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
FRONTEND_DIR="$(dirname "$E2E_DIR")"
REPO_DIR="$(dirname "$FRONTEND_DIR")"
export CHROMIUM_PATH="${CHROMIUM_PATH:-/usr/bin/chromium}"

if [ ! -x "$CHROMIUM_PATH" ]; then
  echo "e2e: Chromium not found at $CHROMIUM_PATH (install it, e.g. apt-get install chromium, or set CHROMIUM_PATH)" >&2
  exit 2
fi

cd "$FRONTEND_DIR"
if [ ! -d node_modules/playwright-core ]; then
  echo "e2e: installing test dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi
mkdir -p "$E2E_DIR/artifacts"

SERVER_PID=""
WORK_DIR=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [ -n "$WORK_DIR" ]; then
    rm -rf "$WORK_DIR"
  fi
}
trap cleanup EXIT INT TERM

if [ -z "${E2E_BASE_URL:-}" ]; then
  BIN="${SECURETODO_BIN:-$REPO_DIR/target/debug/securetodo}"
  if [ ! -x "$BIN" ]; then
    echo "e2e: server binary not found at $BIN (build it with 'cargo build' or set SECURETODO_BIN)" >&2
    exit 2
  fi
  WORK_DIR="$(mktemp -d "${TMPDIR:-/tmp}/securetodo-e2e.XXXXXX")"
  PORT="$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close();});')"
  ADMIN_PASSWORD="e2e-steward-$(node -e 'console.log(require("crypto").randomBytes(12).toString("hex"))')"

  export HOST=127.0.0.1
  export PORT
  export DATABASE_URL="sqlite://$WORK_DIR/e2e.db"
  export BCRYPT_COST=4
  export JWT_SECRET="$(node -e 'console.log(require("crypto").randomBytes(36).toString("base64"))')"
  export FRONTEND_DIR
  export AUTH_RATE_LIMIT_PER_MINUTE=1000
  export RUST_LOG="${RUST_LOG:-warn}"
  export APP_ENV=development

  "$BIN" serve >"$WORK_DIR/server.log" 2>&1 &
  SERVER_PID=$!

  BASE="http://127.0.0.1:$PORT"
  for _ in $(seq 1 150); do
    if node -e "fetch('$BASE/health/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"; then
      break
    fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "e2e: the server exited during start-up:" >&2
      cat "$WORK_DIR/server.log" >&2
      exit 1
    fi
    sleep 0.2
  done
  if ! node -e "fetch('$BASE/health/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"; then
    echo "e2e: the server did not become ready at $BASE:" >&2
    cat "$WORK_DIR/server.log" >&2
    exit 1
  fi

  SECURETODO_ADMIN_PASSWORD="$ADMIN_PASSWORD" "$BIN" create-admin --email admin@example.com </dev/null >>"$WORK_DIR/server.log" 2>&1 || {
    echo "e2e: create-admin failed:" >&2
    cat "$WORK_DIR/server.log" >&2
    exit 1
  }

  export E2E_BASE_URL="$BASE"
  export E2E_ADMIN_EMAIL=admin@example.com
  export E2E_ADMIN_PASSWORD="$ADMIN_PASSWORD"
  echo "e2e: server ready at $E2E_BASE_URL"
fi

status=0
# Arguments select test files (default: all of them).
if [ "$#" -gt 0 ]; then
  TEST_FILES=("$@")
else
  TEST_FILES=("$E2E_DIR"/*.test.mjs)
fi
node --test --test-concurrency=1 --test-reporter=spec "${TEST_FILES[@]}" || status=$?
if [ "$status" -ne 0 ] && [ -n "$WORK_DIR" ]; then
  echo "e2e: last server log lines:" >&2
  tail -n 40 "$WORK_DIR/server.log" >&2 || true
fi
exit "$status"
