# PayPortal's commands; README.md explains each.

GO           ?= go
TEMPORAL_CLI := .payportal/bin/temporal
HELM         := .payportal/bin/helm
MANIFESTCHECK := .payportal/bin/manifestcheck
HELM_CHART   := deploy/helm/payportal
GOBIN_DIR    := $(shell $(GO) env GOPATH)/bin

# Pinned linters (see lint-tool and vulncheck-tool) and the fuzzers' time per target.
GOLANGCI_LINT_VERSION := v2.15.0
GOVULNCHECK_VERSION   := v1.9.0
REDOCLY_CLI_VERSION   := 2.77.0
FUZZTIME              ?= 3s

.PHONY: dev test bench load loadgen compose-check helm-check ci build temporal-cli record-histories lint lint-openapi vulncheck fuzz lint-tool vulncheck-tool

## dev: run everything (Temporal dev server with its UI on :8233, migrations, demo data, worker, API on :8080)
dev: $(TEMPORAL_CLI)
	$(GO) build -o .payportal/bin/payportal ./cmd/payportal
	.payportal/bin/payportal dev

## test: every test, integration tests included (Postgres on 127.0.0.1:5432; each test binary
## starts its own in-memory Temporal dev server unless PAYPORTAL_TEST_TEMPORAL_ADDRESS names one)
test: $(TEMPORAL_CLI)
	CI=$${CI:-} $(GO) test -race -count=1 ./...

## bench: every benchmark (see BENCHMARKS.md)
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

## load: wrk against a real `payportal api` on 127.0.0.1:18480 (Postgres needed; see BENCHMARKS.md)
load: $(TEMPORAL_CLI)
	scripts/load.sh

## loadgen: `payportal loadgen` against a real API and worker on 127.0.0.1:18481, ceilings in
## the same run (Postgres needed; see BENCHMARKS.md). One run per argument of LOADGEN_RUNS
## ("-customers 5 -mix card" "-customers 20 -mix card"), or LOADGEN_ARGS; all of them once per
## Temporal state of LOADGEN_STATES: file (as `payportal dev` keeps it), then memory
LOADGEN_STATES ?= file memory
loadgen: $(TEMPORAL_CLI)
	@status=0; for state in $(LOADGEN_STATES); do \
		echo "#### Temporal dev server state: $$state"; \
		LOADGEN_TEMPORAL_STATE=$$state scripts/loadgen.sh $(LOADGEN_RUNS) || status=1; \
	done; exit $$status

## record-histories: re-record the replay corpus in workflows/testdata from a real dev server
record-histories: $(TEMPORAL_CLI)
	scripts/record-histories.sh

## compose-check: validate docker-compose.yml as Compose v2 does (its schema and model), without a Docker engine
compose-check:
	cd tools/composecheck && go run . ../../docker-compose.yml

## helm-check: the Helm chart (deploy/helm/payportal), offline: helm lint and helm template with
## the default values and with its ci-values.yaml, each rendering decoded strictly into the
## Kubernetes API types and checked for the pods' security settings (tools/helm/manifestcheck)
helm-check: $(HELM) $(MANIFESTCHECK)
	$(HELM) lint --strict $(HELM_CHART)
	$(HELM) lint --strict $(HELM_CHART) -f $(HELM_CHART)/ci-values.yaml
	$(HELM) template payportal $(HELM_CHART) | $(MANIFESTCHECK)
	$(HELM) template payportal $(HELM_CHART) -f $(HELM_CHART)/ci-values.yaml | $(MANIFESTCHECK)

# Helm, pinned in tools/helm/go.mod, built once into .payportal/bin (as the Temporal CLI). The
# -X flags are those of Helm's own release build: without them it renders and lints for
# Kubernetes 1.20 (its client-go's minor version, 37 for v0.37.0, is the Kubernetes 1.x).
$(HELM): tools/helm/go.mod tools/helm/go.sum
	cd tools/helm && \
	helm_version=$$($(GO) list -m -f '{{.Version}}' helm.sh/helm/v3) && \
	k8s_minor=$$($(GO) list -m -f '{{.Version}}' k8s.io/client-go | cut -d. -f2) && \
	$(GO) build -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$$helm_version \
		-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$$k8s_minor \
		-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$$k8s_minor" \
		-o ../../$@ helm.sh/helm/v3/cmd/helm

$(MANIFESTCHECK): tools/helm/go.mod tools/helm/go.sum tools/helm/manifestcheck/main.go
	cd tools/helm && $(GO) build -o ../../$@ ./manifestcheck

## lint: golangci-lint (pinned) over the whole module, with .golangci.yml
lint: lint-tool
	$(GOBIN_DIR)/golangci-lint run ./...

## lint-openapi: Redocly CLI (pinned, from npm; needs Node.js 20.19+) lints api/openapi.yaml
## with redocly.yaml's rules (recommended); any error fails. No telemetry, no update check.
lint-openapi:
	REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true npx --yes @redocly/cli@$(REDOCLY_CLI_VERSION) lint api/openapi.yaml

## vulncheck: govulncheck (pinned) against vuln.go.dev: known vulnerabilities in the
## dependencies and the Go standard library that PayPortal's code reaches
vulncheck: vulncheck-tool
	$(GOBIN_DIR)/govulncheck ./...

# The pinned linters, installed into $(go env GOPATH)/bin when missing or at another version.
lint-tool:
	@$(GO) version -m $(GOBIN_DIR)/golangci-lint 2>/dev/null | grep -q 'mod[[:space:]]*github.com/golangci/golangci-lint/v2[[:space:]]*$(GOLANGCI_LINT_VERSION)[[:space:]]' || \
		$(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

vulncheck-tool:
	@$(GO) version -m $(GOBIN_DIR)/govulncheck 2>/dev/null | grep -q 'mod[[:space:]]*golang.org/x/vuln[[:space:]]*$(GOVULNCHECK_VERSION)[[:space:]]' || \
		$(GO) install golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK_VERSION)

## fuzz: each fuzz target for FUZZTIME (3s); seed corpora in each package's testdata/fuzz
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

## ci: what CI runs, from installing tools to `make test` with CI=true
ci:
	.ci/run

## build: the payportal binary in bin/
build:
	CGO_ENABLED=0 $(GO) build -o bin/payportal ./cmd/payportal

## temporal-cli: the Temporal CLI pinned in tools/go.mod, built once into .payportal/bin
temporal-cli: $(TEMPORAL_CLI)

# Built before the tests so that parallel test binaries never race to build it themselves.
$(TEMPORAL_CLI): tools/go.mod tools/go.sum
	$(GO) build -modfile=tools/go.mod -o $@ github.com/temporalio/cli/cmd/temporal
