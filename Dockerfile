# PayPortal's one binary, for the api, worker and migrate services of docker-compose.yml.

# Build: a static binary, so the runtime image needs no libc.
FROM golang:1.26 AS build
WORKDIR /src
# Modules first: this layer is reused until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/payportal ./cmd/payportal

# Run: distroless (no shell, no package manager) as its unprivileged "nonroot" user.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/payportal /usr/local/bin/payportal
USER nonroot:nonroot
# 8080: the API; 9090: the ops listener (PAYPORTAL_OPS_ADDR), for `payportal healthcheck`,
# Prometheus and the Temporal UI's codec server.
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/payportal"]
CMD ["api"]
