# syntax=docker/dockerfile:1
#
# SecureTodo container image.
#
#   docker build -t securetodo .
#   docker run --rm --read-only --tmpfs /tmp -v securetodo-data:/data \
#     -e JWT_SECRET="$(openssl rand -base64 48)" \
#     -e MFA_ENCRYPTION_KEY="$(openssl rand -base64 32)" -p 127.0.0.1:8080:8080 securetodo
#
# Stage 1 (builder) compiles the dependencies against a stub crate first, so
# that layer is reused until Cargo.toml/Cargo.lock change, then the real
# sources. Stage 2 (runtime) is distroless: glibc + libgcc, no shell, no package
# manager, user 65532 (nonroot). It holds only the binary (migrations are
# embedded in it), the std-only health probe and the static SPA.
#
# The PostgreSQL driver: pq-sys is built with `bundled`, so libpq is compiled
# from source in the builder (against the image's libssl-dev) and linked
# statically; OpenSSL 3 (libssl.so.3, libcrypto.so.3) stays a dynamic
# dependency. The runtime base provides it: distroless cc-debian12 is built on
# base-debian12, which ships Debian 12's libssl3. Keep `cc-debian12` (the
# `static` images have neither libssl nor glibc).
#
# Why a home-made probe: the runtime has no curl/wget/shell to run a
# HEALTHCHECK with, and `securetodo` has no probe subcommand, so
# deploy/healthcheck/healthcheck.rs (std only, about 60 lines) is compiled with
# plain rustc and does a GET on 127.0.0.1:$PORT/health/ready.

ARG RUST_VERSION=1.95
ARG DEBIAN_SUITE=bookworm

# ---------------------------------------------------------------- builder ---
FROM rust:${RUST_VERSION}-${DEBIAN_SUITE} AS builder
WORKDIR /src
# LIBSQLITE3_FLAGS mirrors .cargo/config.toml (not copied into the build
# context): SQLite's query-planner stability guarantee, without which every
# statement with a bound LIMIT is re-prepared on each execution.
ENV CARGO_TERM_COLOR=never \
    CARGO_INCREMENTAL=0 \
    CARGO_NET_RETRY=5 \
    LIBSQLITE3_FLAGS="-DSQLITE_ENABLE_QPSG -DSQLITE_DEFAULT_MEMSTATUS=0"

# The health probe: one file, no dependencies.
COPY deploy/healthcheck/healthcheck.rs /src/healthcheck.rs
RUN mkdir -p /out \
    && rustc --edition 2021 -C opt-level=z -C strip=symbols -C panic=abort \
        /src/healthcheck.rs -o /out/healthcheck

# Dependency layer: manifests + lock file + stub targets. Bundled SQLite and
# aws-lc-sys build with the C compiler of this image (aws-lc-sys uses its cc
# builder with pre-generated bindings on x86_64/aarch64 Linux: no cmake, no
# bindgen). Swagger UI assets are vendored, so nothing is downloaded from
# outside crates.io.
COPY Cargo.toml Cargo.lock ./
COPY backend/Cargo.toml backend/Cargo.toml
RUN mkdir -p backend/src backend/tests/api \
    && echo 'fn main() {}' > backend/src/main.rs \
    && echo '' > backend/src/lib.rs \
    && echo 'fn main() {}' > backend/tests/api/main.rs \
    && cargo build --release --locked --bin securetodo \
    && rm -rf backend/src backend/tests

# The real sources. COPY keeps the files' original mtimes, which can be older
# than the stub build: touch the crate roots and drop the stub's fingerprints
# so Cargo really rebuilds the crate.
COPY backend backend
RUN touch backend/src/main.rs backend/src/lib.rs \
    && rm -rf target/release/.fingerprint/securetodo-* \
              target/release/deps/securetodo-* target/release/deps/libsecuretodo-* \
    && cargo build --release --locked --bin securetodo \
    && install -D -m 0755 target/release/securetodo /out/securetodo \
    && install -d -m 0750 -o 65532 -g 65532 /out/data

# ---------------------------------------------------------------- runtime ---
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime

LABEL org.opencontainers.image.title="SecureTodo" \
      org.opencontainers.image.description="Secure multi-user ToDo JSON API with a static SPA" \
      org.opencontainers.image.licenses="MIT"

WORKDIR /app
COPY --from=builder /out/securetodo /usr/local/bin/securetodo
COPY --from=builder /out/healthcheck /usr/local/bin/healthcheck
COPY frontend /app/frontend
# The only writable place the app needs: the SQLite file (+ WAL/SHM) lives here.
COPY --from=builder --chown=65532:65532 /out/data /data

# Production by default: without a strong JWT_SECRET and an
# MFA_ENCRYPTION_KEY the server refuses to start, with a clear message. The root filesystem can be read-only; only
# /data (a volume) is written.
ENV APP_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    DATABASE_URL=sqlite:///data/securetodo.db \
    FRONTEND_DIR=/app/frontend \
    RUST_LOG=info

USER 65532:65532
VOLUME ["/data"]
EXPOSE 8080

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/healthcheck", "/health/ready"]

# `serve` applies pending migrations before it listens.
ENTRYPOINT ["/usr/local/bin/securetodo"]
CMD ["serve"]
