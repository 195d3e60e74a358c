#!/usr/bin/env bash
# Installs what the test suite needs and is missing: Debian packages
# (chromium, sqlite3, jq and curl for the docs/api.md walkthrough), npm packages for the browser tests, the Python venv
# for schemathesis and the deployment checks. Idempotent and quick when
# everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs npm)
command -v sqlite3 >/dev/null 2>&1 || need_apt+=(sqlite3)
command -v jq >/dev/null 2>&1 || need_apt+=(jq)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "==> apt-get install ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ -f frontend/package-lock.json ] && [ ! -d frontend/node_modules/playwright-core ]; then
  echo "==> npm ci (frontend test tooling)"
  (cd frontend && npm ci --no-audit --no-fund --loglevel=error)
fi
if [ -f openapi/package-lock.json ] && [ ! -d openapi/node_modules/newman ]; then
  echo "==> npm ci (newman)"
  (cd openapi && npm ci --no-audit --no-fund --loglevel=error)
fi
if [ -f scripts/requirements-test.txt ]; then
  if [ ! -x .venv-test/bin/python ] || ! cmp -s scripts/requirements-test.txt .venv-test/.requirements; then
    echo "==> python venv for schemathesis and deployment checks"
    python3 -m venv .venv-test
    .venv-test/bin/pip install -q --disable-pip-version-check -r scripts/requirements-test.txt
    cp scripts/requirements-test.txt .venv-test/.requirements
  fi
fi
