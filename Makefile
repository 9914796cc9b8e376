# ConfigSync. `make help` lists the targets.
SHELL := /usr/bin/env bash
export GOTOOLCHAIN := local

CONTROLLER_GEN := go tool controller-gen
GO_TEST_FLAGS ?= -race

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*##/ {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: ## Generate the CRD and RBAC under deploy/ from the Go markers.
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:artifacts:config=deploy/crd
	$(CONTROLLER_GEN) rbac:roleName=configsync-manager paths=./controllers/... output:rbac:artifacts:config=deploy/rbac
	$(CONTROLLER_GEN) rbac:roleName=configsync-apply,fileName=apply-role.yaml paths=./apply/... output:rbac:artifacts:config=deploy/rbac

.PHONY: generate
generate: ## Generate deepcopy functions for the API types.
	$(CONTROLLER_GEN) object paths=./api/...

.PHONY: docs
docs: ## Generate the API reference docs/api.md from the Go types.
	go run ./hack/apidocs -dir api/v1alpha1 -out docs/api.md

.PHONY: verify
verify: manifests generate docs ## Fail when generated files are out of date.
	@git diff --exit-code -- deploy api docs/api.md || { echo "generated files are stale: run 'make manifests generate docs' and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- deploy api docs/api.md)" || { git status --porcelain -- deploy api docs/api.md; echo "untracked generated files"; exit 1; }

.PHONY: fmt
fmt: ## Format the Go code.
	gofmt -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## Run go vet, and fail on unformatted files.
	go vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }

.PHONY: reference-tools
reference-tools: ## Build helm, kustomize, jsonnet, sops and age at the library versions (for the fidelity test).
	@hack/reference-tools.sh

.PHONY: envtest-path
envtest-path: ## Print the folder holding kube-apiserver and etcd (builds them on first use).
	@hack/control-plane.sh

##@ Test

.PHONY: test
test: verify vet ## Run every test against a real kube-apiserver, etcd, Git servers and the reference CLIs, then each fuzz target briefly.
	@# The control plane and the reference CLIs build side by side: on a cold
	@# machine one downloads modules while the other compiles.
	out="$$(mktemp)" && { hack/control-plane.sh >"$$out" & } && cp=$$! && \
	  tools="$$(hack/reference-tools.sh)" && wait $$cp && assets="$$(cat "$$out")" && rm -f "$$out" && \
	  KUBEBUILDER_ASSETS="$$assets" CONFIGSYNC_REFERENCE_TOOLS="$$tools" go test $(GO_TEST_FLAGS) ./...
	$(MAKE) fuzz FUZZTIME=$(TEST_FUZZTIME)

STRESS_COUNT ?= 2

.PHONY: test-stress
test-stress: ## Run the source and controllers suites STRESS_COUNT times (default 2) under -race with every core busy (stress-ng, installed when missing).
	STRESS_COUNT=$(STRESS_COUNT) hack/test-stress.sh

# Fuzz targets as package:Target; `make fuzz` runs each for FUZZTIME.
FUZZ_TARGETS = ./apply:FuzzDecode ./renderers:FuzzTemplate ./receiver:FuzzEvents ./source:FuzzNormalizeURL
FUZZTIME ?= 2m
TEST_FUZZTIME ?= 15s

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME (default 2m; make test runs each for 15s).
	@for t in $(FUZZ_TARGETS); do \
	  pkg=$${t%%:*}; name=$${t##*:}; echo "fuzz $$pkg $$name for $(FUZZTIME)"; \
	  go test $$pkg -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) || exit 1; \
	done

##@ Build and run

.PHONY: build
build: ## Build the manager and the configsync CLI into bin/.
	go build -o bin/manager ./cmd/manager
	go build -o bin/configsync ./cmd/configsync

.PHONY: run
run: ## Install the CRD into the current kubeconfig's cluster and run the manager against it.
	go run ./cmd/manager --install-crds --leader-elect=false --zap-devel

BENCH_N ?= 1000
BENCH_FLAGS ?=

.PHONY: bench
bench: ## Benchmarks against baselines in the same run (not part of make test); writes docs/benchmarks.md. BENCH_N=1000, BENCH_FLAGS for more.
	assets="$$(hack/control-plane.sh)" && tools="$$(hack/reference-tools.sh)" && out="$$(mktemp)" && \
	  CONFIGSYNC_REFERENCE_TOOLS="$$tools" go test ./renderers -run '^$$' -bench BenchmarkRender -benchtime 20x | tee "$$out" && \
	  KUBEBUILDER_ASSETS="$$assets" go run ./bench -n $(BENCH_N) -render-results "$$out" -out docs/benchmarks.md $(BENCH_FLAGS)

.PHONY: demo
demo: ## Walk through ConfigSync on a control plane started on loopback, with the web UI (configsync ui) at the URL it prints (DEMO_NONINTERACTIVE=1 to exit at the end, DEMO_CLUSTER=existing for $$KUBECONFIG's cluster).
	go run ./hack/demo

.PHONY: demo-record
demo-record: ## Re-record docs/demo.cast (asciinema) from the demo.
	go run ./hack/demo -record docs/demo.cast -kubeconfig-out /tmp/configsync-demo.kubeconfig

.PHONY: docker-build
docker-build: ## Build the container image (needs a Docker engine).
	docker build -t configsync:dev .
