# The referralops image: one static binary (every subcommand) on scratch,
# running as an unprivileged user. Build: docker build -t referralops:local .
# (docker compose builds it for the stack in docker-compose.yml).
#
# The builder's Go version is go.mod's go line; deploy/deploytest checks that
# they agree, that the build is static and the runtime stage minimal.

FROM golang:1.26.8 AS build
WORKDIR /src
# Modules first, so a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# Static (no cgo, no libc), stripped, without local paths; healthprobe is the
# compose health check, since scratch has no shell, curl or wget.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w" -o /out/referralops ./cmd/referralops \
 && CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w" -o /out/healthprobe ./deploy/compose/healthprobe \
 && mkdir /out/reports

FROM scratch
# CA roots for TLS to ClickHouse or Kafka (--clickhouse-tls, --kafka-tls) when no
# --clickhouse-tls-ca-file or --kafka-tls-ca-file names a private CA.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/referralops /out/healthprobe /usr/local/bin/
# The report's output directory, owned by the runtime user: a named volume
# mounted there (compose's reports) starts with this owner, so `referralops
# report` can write into it with the root filesystem read-only.
COPY --from=build --chown=65532:65532 /out/reports /reports
# 65532: the conventional "nonroot" uid; numeric, so Kubernetes'
# runAsNonRoot can verify it without an /etc/passwd.
USER 65532:65532
# export's and ingest's /metrics, /healthz, /readyz.
EXPOSE 9464 9465
ENTRYPOINT ["/usr/local/bin/referralops"]
