# partnercart-operator. Every tool is pinned here and installed into bin/ on first use.

# Pinned tool versions.
CONTROLLER_TOOLS_VERSION ?= v0.23.0
KUSTOMIZE_VERSION ?= v5.8.2
GOLANGCI_LINT_VERSION ?= v2.15.0
# The local control plane, built from Go modules by hack/build-control-plane.sh.
KUBERNETES_VERSION ?= v1.37.0
ETCD_VERSION ?= v3.6.16

IMG ?= partnercart-operator:latest

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

LOCALBIN ?= $(CURDIR)/bin
K8S_BIN ?= $(LOCALBIN)/k8s
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
KUSTOMIZE ?= $(LOCALBIN)/kustomize-$(KUSTOMIZE_VERSION)
GOLANGCI_LINT ?= $(LOCALBIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
KUBECTL ?= $(K8S_BIN)/kubectl

# envtest and the e2e harness find kube-apiserver and etcd here.
export KUBEBUILDER_ASSETS := $(K8S_BIN)
export KUBERNETES_VERSION ETCD_VERSION

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate the CRD, RBAC role and admission policy inputs from markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./..." output:crd:artifacts:config=config/crd/bases

.PHONY: generate
generate: controller-gen ## Generate deepcopy code.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./..."

.PHONY: fmt
fmt: ## Run go fmt.
	go fmt ./...

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: lint
lint: golangci-lint ## Run golangci-lint with the house-style configuration.
	$(GOLANGCI_LINT) run ./...

.PHONY: verify
verify: manifests generate ## Regenerate everything and fail if anything generated or go.mod is stale.
	go mod tidy
	@if ! git diff --quiet --exit-code -- config api go.mod go.sum || [ -n "$$(git status --porcelain --untracked-files=all -- config api)" ]; then \
		echo "error: generated files or go.mod are stale; run 'make manifests generate' and 'go mod tidy' and commit:" >&2; \
		git status --porcelain -- config api go.mod go.sum >&2; git --no-pager diff --stat -- config api go.mod go.sum >&2; exit 1; \
	fi
	@echo "verify: generated files are up to date"

.PHONY: test
test: manifests generate control-plane ## Run unit and envtest integration tests against a real kube-apiserver.
	go test -race -count=1 ./... -coverprofile cover.out

.PHONY: test-e2e
test-e2e: build control-plane ## Run the end-to-end suite: control plane, pcsim and the manager as processes, driven with kubectl.
	go build -o $(LOCALBIN)/localcp ./hack/localcp
	go build -o $(LOCALBIN)/e2ekit ./hack/e2ekit
	hack/e2e.sh

.PHONY: test-chaos
test-chaos: build control-plane ## Buy 200 carts through pcsim faults, manager SIGKILLs and a kube-apiserver restart; prove nothing is bought twice or lost (CHAOS_SEED=n reproduces a run).
	hack/chaos.sh $(if $(CHAOS_SEED),--seed $(CHAOS_SEED))

.PHONY: bench
bench: build control-plane ## Benchmark the manager binary against pcsim (BENCH_N, BENCH_LATENCY, BENCH_QPS, BENCH_WORKERS); prints a markdown table.
	go run ./test/bench

.PHONY: demo
demo: build control-plane ## Start a local control plane, pcsim and the manager; apply the samples and show them progress (DEMO_EXIT=1: stop after the show).
	@go build -o $(LOCALBIN)/localcp ./hack/localcp
	@hack/demo.sh

##@ Build

.PHONY: build
build: ## Build the manager, pcsim and kubectl-partnercart binaries into bin/.
	go build -o $(LOCALBIN)/manager ./cmd/manager
	go build -o $(LOCALBIN)/pcsim ./cmd/pcsim
	go build -o $(LOCALBIN)/kubectl-partnercart ./cmd/kubectl-partnercart

.PHONY: docker-build
docker-build: ## Build the manager image (needs Docker; IMG sets the tag).
	docker build -t $(IMG) .

.PHONY: docker-push
docker-push: ## Push the manager image.
	docker push $(IMG)

.PHONY: run
run: manifests generate ## Run the manager against the cluster in ~/.kube/config.
	go run ./cmd/manager

##@ Deployment

.PHONY: install
install: manifests kustomize ## Install the CRD and the admission policy into the cluster in ~/.kube/config.
	$(KUSTOMIZE) build config/crd | kubectl apply --server-side -f -
	$(KUSTOMIZE) build config/policy | kubectl apply --server-side -f -

.PHONY: uninstall
uninstall: manifests kustomize ## Remove the CRD (and every PartnerCart) from the cluster.
	$(KUSTOMIZE) build config/crd | kubectl delete --ignore-not-found -f -

.PHONY: deploy
deploy: manifests kustomize ## Deploy the operator to the cluster in ~/.kube/config (IMG sets the image).
	cd config/manager && $(KUSTOMIZE) edit set image controller=$(IMG)
	$(KUSTOMIZE) build config/default | kubectl apply --server-side -f -

.PHONY: undeploy
undeploy: kustomize ## Remove the operator from the cluster.
	$(KUSTOMIZE) build config/default | kubectl delete --ignore-not-found -f -

.PHONY: build-installer
build-installer: manifests kustomize ## Write one dist/install.yaml with the CRD, policy, RBAC and deployment.
	mkdir -p dist
	cd config/manager && $(KUSTOMIZE) edit set image controller=$(IMG)
	$(KUSTOMIZE) build config/default > dist/install.yaml
	@echo "wrote dist/install.yaml"

##@ Tools

.PHONY: control-plane
control-plane: ## Build kube-apiserver, etcd and kubectl from Go modules into bin/k8s (skipped when up to date).
	@BIN_DIR=$(K8S_BIN) hack/build-control-plane.sh

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN) ## Install controller-gen into bin/.
$(CONTROLLER_GEN):
	$(call go-install-tool,$(CONTROLLER_GEN),sigs.k8s.io/controller-tools/cmd/controller-gen,$(CONTROLLER_TOOLS_VERSION))

.PHONY: kustomize
kustomize: $(KUSTOMIZE) ## Install kustomize into bin/.
$(KUSTOMIZE):
	$(call go-install-tool,$(KUSTOMIZE),sigs.k8s.io/kustomize/kustomize/v5,$(KUSTOMIZE_VERSION))

.PHONY: golangci-lint
golangci-lint: $(GOLANGCI_LINT) ## Install golangci-lint into bin/.
$(GOLANGCI_LINT):
	$(call go-install-tool,$(GOLANGCI_LINT),github.com/golangci/golangci-lint/v2/cmd/golangci-lint,$(GOLANGCI_LINT_VERSION))

# go-install-tool installs a pinned Go tool as bin/<name>-<version> and links bin/<name> to it.
define go-install-tool
@[ -f "$(1)" ] || { \
set -e; \
package=$(2)@$(3) ;\
echo "Downloading $${package}" ;\
rm -f $(1) ;\
GOBIN=$(LOCALBIN) go install $${package} ;\
mv $(LOCALBIN)/$$(basename "$$(echo "$(2)" | sed 's|/v[0-9]*$$||')") $(1) ;\
} ;\
ln -sf $$(basename $(1)) $(LOCALBIN)/$$(basename "$$(echo "$(2)" | sed 's|/v[0-9]*$$||')")
endef
