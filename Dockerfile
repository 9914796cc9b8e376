# Builds the manager image. Not exercised on the project's build machines,
# which have no Docker engine; `make build` builds the same binary.
FROM golang:1.26 AS build
WORKDIR /src
ENV GOTOOLCHAIN=local CGO_ENABLED=0
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN go build -trimpath -ldflags="-s -w" -o /out/manager ./cmd/manager && mkdir -p /out/tmp

# A static binary needs nothing but CA certificates (for HTTPS Git servers)
# and a writable /tmp for the artifact cache (mount an emptyDir there).
FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/
COPY --from=build --chown=65532:65532 /out/tmp /tmp
COPY --from=build /out/manager /manager
USER 65532:65532
ENTRYPOINT ["/manager"]
