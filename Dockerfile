# syntax=docker/dockerfile:1
# Gaia IAM: a static gaia-iam on a distroless base, run as a non-root user.
#
#   docker build --build-arg VERSION=$(git describe --tags --always) -t gaia-iam .
#   docker run --env-file gaia-iam.env -p 8080:8080 \
#     -v $PWD/seed.yaml:/etc/gaia-iam/seed.yaml:ro -v gaia-data:/var/lib/gaia-iam gaia-iam
#
# Secrets (the key-encryption key, client secrets, the database password) are
# never baked in: pass them at run time (--env-file, or a secret file named by
# GAIA_KEY_ENCRYPTION_KEY_FILE). See docs/deployment.md.

FROM golang:1.26.8 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=devel
# The same build as `make build`: no cgo, so the binary is static.
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-X main.version=${VERSION}" -o /out/gaia-iam ./cmd/gaia-iam
# The data directory, owned by the image's non-root user.
RUN mkdir -p /out/data && chown 65532:65532 /out/data && chmod 700 /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/gaia-iam /usr/local/bin/gaia-iam
COPY --from=build --chown=65532:65532 /out/data /var/lib/gaia-iam
WORKDIR /var/lib/gaia-iam
# Listening on every address, the server cannot take its issuer from the
# listen address: set GAIA_ISSUER to the URL clients use.
ENV GAIA_LISTEN=0.0.0.0:8080 \
    GAIA_DATABASE_URL=sqlite:/var/lib/gaia-iam/gaia.db \
    GAIA_SEED_FILE=/etc/gaia-iam/seed.yaml \
    GAIA_LOG_FORMAT=json
USER 65532:65532
EXPOSE 8080
VOLUME ["/var/lib/gaia-iam"]
# No curl in a static image: the binary asks its own /healthz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["/usr/local/bin/gaia-iam", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/gaia-iam"]
CMD ["serve"]
