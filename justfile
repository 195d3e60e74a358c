# SecureTodo tasks. Each recipe mirrors one CI step (.github/workflows/ci.yml).

set shell := ["bash", "-euo", "pipefail", "-c"]

# Run the app with development defaults (SQLite in data/, SPA, Swagger UI).
run:
    cargo run

# Every test: Rust unit + API tests (coverage gate), contract, deploy and browser tests.
test:
    ./scripts/test-all.sh

# Formatting and lints.
lint:
    cargo fmt --all -- --check
    cargo clippy --locked --all-targets -- -D warnings

# Rust tests with the 90 % line-coverage gate.
coverage:
    TEST_DATABASE_URL= cargo llvm-cov --locked --workspace --no-report
    if [ -n "${TEST_DATABASE_URL:-}" ]; then cargo llvm-cov --locked --test api --no-report; else echo "SKIPPED: the API suite on PostgreSQL (TEST_DATABASE_URL is not set)"; fi
    cargo llvm-cov report --fail-under-lines 90 --ignore-filename-regex 'tests/' --summary-only

# Regenerate the committed OpenAPI document.
openapi:
    cargo run --quiet -- openapi > openapi/openapi.json

# Fail when openapi/openapi.json differs from what the code produces.
openapi-check:
    cargo test --locked --test api openapi::committed_document_matches_the_code

# Known-vulnerability scan (offline snapshot here; CI uses the live database).
audit db="../shared/advisory-db":
    if [ -d "{{db}}" ]; then cargo audit --db "{{db}}" --no-fetch; else cargo audit; fi

# Licences, bans and sources (and advisories when online).
deny *checks="licenses bans sources":
    cargo deny check {{checks}}

# Schema fuzzing and the Postman collection against a fresh server.
contract:
    cargo build --locked --bin securetodo
    ./scripts/contract-tests.sh

# Run every curl block of docs/api.md in order against a fresh server.
walkthrough:
    cargo build --locked --bin securetodo
    ./scripts/api-walkthrough.sh

# Browser end-to-end tests in headless Chromium.
e2e:
    cargo build --locked --bin securetodo
    ./frontend/e2e/run.sh

# Dockerfile, compose and workflow checks.
deploy-check:
    ./deploy/tests/run.sh

# Build the container image (needs a Docker engine).
docker-build:
    docker build -t securetodo:local .

# Side-by-side benchmark against the reference FastAPI app.
bench:
    ./bench/run.sh
