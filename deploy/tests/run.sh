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
#   PostgreSQL      (psql, a server at TEST_DATABASE_URL, default
#                   postgres://postgres@127.0.0.1:5432) and a securetodo build
#                   with PostgreSQL support (SECURETODO_BIN, default
#                   target/debug/securetodo): the failover check behind the
#                   scale profile's nginx and the SQLite-to-PostgreSQL copy;
#                   Redis (TEST_REDIS_URL, default redis://127.0.0.1:6379/15)
#                   joins the failover check when the build reads REDIS_URL.
#                   REQUIRE_POSTGRES=1 (and REQUIRE_REDIS=1) turn their skips
#                   into failures, as .ci/run does.
# Missing nginx and docker-compose are installed from Debian's packages when
# this runs as root with apt-get (as .ci/run does); DEPLOY_TESTS_INSTALL=0
# turns that off. Whatever is still missing is named before the tests run,
# with the tests it skips and how to include them, and pytest lists every
# skip with its reason at the end.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
python="${PYTHON:-python3}"

have_compose() { command -v docker-compose >/dev/null || docker compose version >/dev/null 2>&1; }

if [[ "${DEPLOY_TESTS_INSTALL:-1}" == "1" && "$(id -u)" == "0" ]] && command -v apt-get >/dev/null; then
    missing=()
    command -v nginx >/dev/null || missing+=(nginx)
    have_compose || missing+=(docker-compose)
    if ((${#missing[@]})); then
        echo "deploy tests: installing ${missing[*]} (Debian packages)"
        export DEBIAN_FRONTEND=noninteractive
        # policy-rc.d exiting 101: do not start the packaged nginx service.
        made_policy=0
        if [[ ! -e /usr/sbin/policy-rc.d ]]; then
            printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
            chmod +x /usr/sbin/policy-rc.d
            made_policy=1
        fi
        if ! { apt-get update -qq >/dev/null \
            && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
            echo "deploy tests: could not install ${missing[*]}; the tests that need them are skipped" >&2
        fi
        if ((made_policy)); then rm -f /usr/sbin/policy-rc.d; fi
    fi
fi

# Say plainly what cannot run here, and how to include it.
how="install it, or run this script as root on Debian/Ubuntu to have it installed"
command -v nginx >/dev/null \
    || echo "deploy tests: nginx not found: SKIPPING the nginx config checks (nginx -t, live proxy and SPA requests); $how"
have_compose \
    || echo "deploy tests: docker-compose not found: SKIPPING docker-compose.yml validation (compose config); $how"
if [[ "${REQUIRE_POSTGRES:-0}" != 1 ]]; then
    pg_url="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432}"
    if ! command -v psql >/dev/null || ! psql -X -Atqc 'SELECT 1' "${pg_url%/}/postgres" >/dev/null 2>&1; then
        echo "deploy tests: no PostgreSQL at $pg_url (or no psql): SKIPPING the failover and SQLite-to-PostgreSQL checks; start one or set TEST_DATABASE_URL"
    fi
fi
command -v rustc >/dev/null \
    || echo "deploy tests: rustc not found: SKIPPING the health-probe build and run; install Rust (rustup)"

if [[ ! -x "$venv/bin/python" ]]; then
    "$python" -m venv "$venv"
fi
if ! "$venv/bin/python" -c 'import pytest, yaml' 2>/dev/null \
    || ! cmp -s "$here/requirements.txt" "$venv/.requirements.txt"; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"
    cp "$here/requirements.txt" "$venv/.requirements.txt"
fi

cd "$here/../.."
exec "$venv/bin/python" -m pytest -q -rs -p no:cacheprovider "$here" "$@"
