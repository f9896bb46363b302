# Builds the one `herald` binary; every role runs from it (`--roles api|worker`).
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release -p herald

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 herald
COPY --from=build /src/target/release/herald /usr/local/bin/herald
USER herald
EXPOSE 8080
ENV HERALD_BIND=0.0.0.0:8080
ENTRYPOINT ["herald", "serve"]
