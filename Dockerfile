# Build: the release binary, with the registry and target cached between builds.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin intake \
    && install -m 0755 target/release/intake /usr/local/bin/intake

# Run: a small Debian with CA certificates (SMTP and S3 over TLS) and an unprivileged user.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/intake --create-home intake
COPY --from=build /usr/local/bin/intake /usr/local/bin/intake
USER intake
WORKDIR /var/lib/intake
ENV INTAKE_ADDR=0.0.0.0:8000 \
    INTAKE_DATA_DIR=/var/lib/intake
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=6s --start-period=15s --retries=3 CMD ["intake", "health"]
ENTRYPOINT ["intake"]
CMD ["serve"]
