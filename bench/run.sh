#!/usr/bin/env bash
# Side-by-side benchmark of SecureTodo against the reference FastAPI app (`just bench`).
#
#   ./bench/run.sh                     # build the release binary, run everything (< 10 min of load)
#   SECURETODO_BIN=/path/to/securetodo ./bench/run.sh     # skip the build
#   ./bench/run.sh --publish           # also write the chart to docs/performance-chart.svg
#   ./bench/run.sh --scenarios list20,create --duration 3  # a subset (see bench/bench.py --help)
#
# Needs: wrk (installed from Debian when missing), python3 with venv (stdlib only for the
# harness), cargo. The reference app is copied from ../shared/peers (or $PEERS_SRC) into
# bench/.peers/ (git-ignored), where its venv is created once. Loopback only; every process
# started is stopped at the end, also on Ctrl-C. Results: bench/runs/<UTC stamp>/ (git-ignored).
set -euo pipefail
BENCH="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$BENCH/.." && pwd)"
PEERS_SRC="${PEERS_SRC:-$ROOT/../shared/peers}"
PEERS="$BENCH/.peers"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v wrk >/dev/null; then
  echo "[bench] installing wrk from Debian" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
  echo "[bench] installing python3-venv from Debian" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
fi

# The reference app, in a writable copy (its run creates a venv and files beside itself).
if [ ! -d "$PEERS_SRC/fastapi-seed" ]; then
  echo "[bench] reference app not found at $PEERS_SRC/fastapi-seed (set PEERS_SRC)" >&2
  exit 1
fi
mkdir -p "$PEERS"
# Refresh the sources but keep an existing venv.
(cd "$PEERS_SRC" && tar --exclude='.venv' --exclude='runs' --exclude='__pycache__' --exclude='*.db' -cf - .) \
  | (cd "$PEERS" && tar -xf -)
chmod -R u+w "$PEERS"
PEER="$PEERS/fastapi-seed"
if [ ! -x "$PEER/.venv/bin/uvicorn" ]; then
  echo "[bench] creating the reference venv (pip, once)" >&2
  rm -rf "$PEER/.venv"
  "$PEER/setup.sh"
fi

# The release binary (LTO, codegen-units=1: see [profile.release] in Cargo.toml).
if [ -z "${SECURETODO_BIN:-}" ]; then
  echo "[bench] cargo build --release --locked --bin securetodo" >&2
  (cd "$ROOT" && cargo build --release --locked --bin securetodo)
  target_dir="${CARGO_TARGET_DIR:-$ROOT/target}"
  SECURETODO_BIN="$target_dir/release/securetodo"
fi
[ -x "$SECURETODO_BIN" ] || { echo "[bench] no binary at $SECURETODO_BIN" >&2; exit 1; }
# A private copy, so that another build cannot replace it mid-run.
mkdir -p "$BENCH/runs"
cp "$SECURETODO_BIN" "$BENCH/runs/securetodo.bin"

exec python3 "$BENCH/bench.py" --securetodo-bin "$BENCH/runs/securetodo.bin" --peer-dir "$PEER" "$@"
