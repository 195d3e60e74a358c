#!/usr/bin/env bash
# Deployment tests: Dockerfile, docker-compose.yml, nginx configs, .env.example,
# the CI workflow, deny.toml and the container health probe.
#
#   deploy/tests/run.sh [pytest args...]
#
# Uses a virtualenv at deploy/tests/.venv (git-ignored) with pinned pytest and
# PyYAML. Optional tools make more tests run instead of skip:
#   nginx           `nginx -t` and live requests against the nginx configs
#   rustc           builds and exercises the health probe
#   docker-compose  (v1, Debian) or `docker compose` (v2): `config` validation
# With DEPLOY_TESTS_INSTALL=1 (and root + apt-get) nginx and docker-compose are
# installed from Debian's packages when missing.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
python="${PYTHON:-python3}"

if [[ "${DEPLOY_TESTS_INSTALL:-0}" == "1" && "$(id -u)" == "0" ]] && command -v apt-get >/dev/null; then
    missing=()
    command -v nginx >/dev/null || missing+=(nginx)
    command -v docker-compose >/dev/null || docker compose version >/dev/null 2>&1 || missing+=(docker-compose)
    if ((${#missing[@]})); then
        echo "deploy tests: installing ${missing[*]} (Debian packages)"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null
        # policy-rc.d exiting 101: do not start the packaged nginx service.
        made_policy=0
        if [[ ! -e /usr/sbin/policy-rc.d ]]; then
            printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
            chmod +x /usr/sbin/policy-rc.d
            made_policy=1
        fi
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
        if ((made_policy)); then rm -f /usr/sbin/policy-rc.d; fi
    fi
fi

if [[ ! -x "$venv/bin/python" ]]; then
    "$python" -m venv "$venv"
fi
if ! "$venv/bin/python" -c 'import pytest, yaml' 2>/dev/null \
    || ! cmp -s "$here/requirements.txt" "$venv/.requirements.txt"; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"
    cp "$here/requirements.txt" "$venv/.requirements.txt"
fi

cd "$here/../.."
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider "$here" "$@"
