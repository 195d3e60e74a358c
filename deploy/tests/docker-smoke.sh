#!/usr/bin/env bash
# Smoke test of the built image under the same restrictions as
# docker-compose.yml: read-only root, no capabilities, no-new-privileges,
# database on a volume. Needs a Docker engine (CI's docker-build job).
#
#   deploy/tests/docker-smoke.sh [IMAGE]      (default securetodo:local)
#
# Checks: non-root user; refuses to start in production without a secret or
# with the .env.example placeholder (without echoing it); `migrate`; `serve`
# becomes healthy through the image's HEALTHCHECK; /health/live,
# /health/ready, the SPA at / and the OpenAPI document answer; the database
# file lands on the volume; `create-admin` reads the password from stdin;
# data survives a container restart.
set -euo pipefail

image="${1:-securetodo:local}"
name="securetodo-smoke-$$"
volume="securetodo-smoke-data-$$"
port="${SMOKE_PORT:-18080}"
secret="$(head -c 48 /dev/urandom | base64 | tr -d '\n')"
mfa_key="$(head -c 32 /dev/urandom | base64 | tr -d '\n')"
placeholder="change-me-use-openssl-rand-base64-48-output-here"
hardening=(--read-only --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges:true
           -v "$volume:/data")

passed=0
failed=0
ok() { echo "ok   - $*"; passed=$((passed + 1)); }
fail() { echo "FAIL - $*"; failed=$((failed + 1)); }
check() { local what="$1"; shift; if "$@"; then ok "$what"; else fail "$what"; fi; }

cleanup() {
    docker rm -f "$name" "$name-nosecret" "$name-placeholder" >/dev/null 2>&1 || true
    docker volume rm -f "$volume" >/dev/null 2>&1 || true
}
trap cleanup EXIT

user="$(docker image inspect -f '{{.Config.User}}' "$image")"
check "image runs as a non-root user ($user)" test -n "$user" -a "${user%%:*}" != "0" -a "${user%%:*}" != "root"
check "image defaults to APP_ENV=production" \
    bash -c "docker image inspect -f '{{json .Config.Env}}' '$image' | grep -q 'APP_ENV=production'"
check "image HEALTHCHECK probes /health/ready" \
    bash -c "docker image inspect -f '{{json .Config.Healthcheck}}' '$image' | grep -q '/health/ready'"

# A server that wrongly starts is stopped by `timeout` (exit 124 = failure).
set +e
out="$(timeout 60 docker run --rm --name "$name-nosecret" "${hardening[@]}" "$image" 2>&1)"
rc=$?
set -e
check "production without JWT_SECRET exits non-zero" test "$rc" -ne 0 -a "$rc" -ne 124
check "... with a message naming JWT_SECRET" grep -q "JWT_SECRET" <<<"$out"
set +e
out="$(timeout 60 docker run --rm --name "$name-placeholder" "${hardening[@]}" -e JWT_SECRET="$placeholder" "$image" 2>&1)"
rc=$?
set -e
check "the .env.example placeholder is refused" test "$rc" -ne 0 -a "$rc" -ne 124
check "... without printing the secret" bash -c '! grep -qF -- "$1" <<<"$2"' _ "$placeholder" "$out"

set +e
out="$(timeout 60 docker run --rm --name "$name-nomfakey" "${hardening[@]}" -e JWT_SECRET="$secret" "$image" 2>&1)"
rc=$?
set -e
check "production without MFA_ENCRYPTION_KEY exits non-zero" test "$rc" -ne 0 -a "$rc" -ne 124
check "... with a message naming MFA_ENCRYPTION_KEY" grep -q "MFA_ENCRYPTION_KEY" <<<"$out"

check "migrate succeeds on a read-only root" \
    docker run --rm "${hardening[@]}" -e JWT_SECRET="$secret" -e MFA_ENCRYPTION_KEY="$mfa_key" "$image" migrate

docker run -d --name "$name" "${hardening[@]}" -e JWT_SECRET="$secret" -e MFA_ENCRYPTION_KEY="$mfa_key" \
    -p "127.0.0.1:$port:8080" "$image" serve >/dev/null
status=""
for _ in $(seq 1 60); do
    status="$(docker inspect -f '{{.State.Health.Status}}' "$name" 2>/dev/null || echo gone)"
    [[ "$status" == "healthy" || "$status" == "gone" ]] && break
    sleep 2
done
check "container becomes healthy (HEALTHCHECK via the probe)" test "$status" = "healthy"
[[ "$status" == "healthy" ]] || docker logs "$name" 2>&1 | tail -30

code() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port$1"; }
check "GET /health/live is 200" test "$(code /health/live)" = "200"
check "GET /health/ready is 200" test "$(code /health/ready)" = "200"
check "GET / serves the SPA" bash -c "curl -s http://127.0.0.1:$port/ | grep -q 'securetodo-api-base'"
check "GET /api-docs/openapi.json is 200" test "$(code /api-docs/openapi.json)" = "200"
check "security headers are present" \
    bash -c "curl -s -D - -o /dev/null http://127.0.0.1:$port/health/live | grep -qi '^content-security-policy:'"
check "the database file is on the /data volume" \
    bash -c "docker cp '$name:/data/securetodo.db' - >/dev/null"

check "create-admin reads the password from stdin" bash -c \
    "printf '%s\n' 'smoke-Test-passphrase-9241' | docker exec -i '$name' securetodo create-admin --email admin@smoke.test"
login="$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
    -d '{"email":"admin@smoke.test","password":"smoke-Test-passphrase-9241"}' \
    "http://127.0.0.1:$port/api/v1/auth/login")"
check "the admin can log in" test "$login" = "200"

docker restart "$name" >/dev/null
for _ in $(seq 1 30); do
    [[ "$(docker inspect -f '{{.State.Health.Status}}' "$name")" == "healthy" ]] && break
    sleep 2
done
login="$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
    -d '{"email":"admin@smoke.test","password":"smoke-Test-passphrase-9241"}' \
    "http://127.0.0.1:$port/api/v1/auth/login")"
check "data survives a restart" test "$login" = "200"

echo
echo "docker-smoke: $passed passed, $failed failed"
[[ "$failed" -eq 0 ]]
