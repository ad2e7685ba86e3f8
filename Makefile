# partnercart-operator. Every tool is pinned here and installed into bin/ on first use.

# Pinned tool versions.
CONTROLLER_TOOLS_VERSION ?= v0.23.0
KUSTOMIZE_VERSION ?= v5.8.2
GOLANGCI_LINT_VERSION ?= v2.15.0
HELM_VERSION ?= v3.22.0
# promtool checks and unit-tests the alert rules (module github.com/prometheus/prometheus).
PROMETHEUS_VERSION ?= v0.316.0
# The local control plane, built from Go modules by hack/build-control-plane.sh.
KUBERNETES_VERSION ?= v1.37.0
ETCD_VERSION ?= v3.6.16

IMG ?= partnercart-operator:latest
# The kustomize install of deploy, undeploy and build-installer: default (PartnerCenterAccounts
# and per-namespace Secrets) or accounts-only (docs/accounts.md#install-modes).
INSTALL_MODE ?= default
INSTALL_MODES := default accounts-only
INSTALLER = dist/install$(if $(filter-out default,$(INSTALL_MODE)),-$(INSTALL_MODE)).yaml
CHART = charts/partnercart-operator

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

LOCALBIN ?= $(CURDIR)/bin
K8S_BIN ?= $(LOCALBIN)/k8s
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
KUSTOMIZE ?= $(LOCALBIN)/kustomize-$(KUSTOMIZE_VERSION)
GOLANGCI_LINT ?= $(LOCALBIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
HELM ?= $(LOCALBIN)/helm-$(HELM_VERSION)
PROMTOOL ?= $(LOCALBIN)/promtool-$(PROMETHEUS_VERSION)
KUBECTL ?= $(K8S_BIN)/kubectl

# envtest and the e2e harness find kube-apiserver and etcd here.
export KUBEBUILDER_ASSETS := $(K8S_BIN)
export KUBERNETES_VERSION ETCD_VERSION
# config/prometheus/promtool_test.go runs this promtool; config/install_test.go and
# internal/controller/gitops_install_test.go (docs/gitops.md's Argo CD kustomization, checked
# to be KUSTOMIZE_VERSION) this kustomize.
export PROMTOOL KUSTOMIZE KUSTOMIZE_VERSION

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate the CRDs and the RBAC role from markers; copy them, the policies and the alerts into the Helm chart.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./..." output:crd:artifacts:config=config/crd/bases
	@# The chart renders these copies (charts/partnercart-operator/README.md#sources); make verify keeps them current.
	@rm -f $(CHART)/files/crds/*.yaml && cp config/crd/bases/*.yaml $(CHART)/files/crds/
	@cp config/rbac/role.yaml config/rbac/partnercart_*_role.yaml $(CHART)/files/rbac/
	@cp config/policy/approval.yaml config/policy/cancellation.yaml config/policy/freeze_after_checkout.yaml $(CHART)/files/policy/
	@cp config/prometheus/alerts.yaml $(CHART)/files/prometheus/alerts.yaml

.PHONY: generate
generate: controller-gen ## Generate deepcopy code.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./..."

.PHONY: fmt
fmt: ## Run go fmt.
	go fmt ./...

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: helm-lint
helm-lint: manifests kustomize helm control-plane ## Lint the Helm chart; check its renders against both kustomize installs, the manager's flags, the alerts and the API server (hack/helm-lint.sh).
	HELM=$(HELM) KUSTOMIZE=$(KUSTOMIZE) hack/helm-lint.sh

.PHONY: lint
lint: golangci-lint promtool-check ## Run golangci-lint with the house-style configuration, and promtool on the alert rules.
	$(GOLANGCI_LINT) run ./...

.PHONY: promtool-check
promtool-check: promtool ## Check the alert rules and dashboard queries (promtool check rules, promtool test rules with config/prometheus/tests/).
	go test -count=1 ./config/prometheus/

.PHONY: verify
verify: manifests generate ## Regenerate everything and fail if anything generated or go.mod is stale.
	go mod tidy
	@if ! git diff --quiet --exit-code -- config api $(CHART)/files go.mod go.sum || [ -n "$$(git status --porcelain --untracked-files=all -- config api $(CHART)/files)" ]; then \
		echo "error: generated files or go.mod are stale; run 'make manifests generate' and 'go mod tidy' and commit:" >&2; \
		git status --porcelain -- config api $(CHART)/files go.mod go.sum >&2; git --no-pager diff --stat -- config api $(CHART)/files go.mod go.sum >&2; exit 1; \
	fi
	@echo "verify: generated files are up to date"
	@# The licence the source headers (hack/boilerplate.go.txt) name is the one shipped.
	@grep -q 'Apache License, Version 2.0' hack/boilerplate.go.txt && [ "$$(sed -n 2,3p LICENSE | tr -s ' ' | sed 's/^ //')" = "$$(printf 'Apache License\nVersion 2.0, January 2004')" ] || \
		{ echo "error: LICENSE is not the Apache License 2.0 that hack/boilerplate.go.txt names" >&2; exit 1; }

.PHONY: test
test: manifests generate control-plane kustomize promtool ## Run unit and envtest integration tests against a real kube-apiserver.
	go test -race -count=1 ./... -coverprofile cover.out

# Seeds the checkout simulation runs in test-sim; SIM_SEED=n replays one seed with its full trace.
SIM_SEEDS ?= 500

.PHONY: test-sim
test-sim: ## Soak the deterministic checkout simulation: SIM_SEEDS seeds (default 500), or SIM_SEED=n alone with its trace.
	SIM_SEEDS=$(SIM_SEEDS) $(if $(SIM_SEED),SIM_SEED=$(SIM_SEED)) go test -count=1 ./internal/controller -run TestPurchaseSimulation -v

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
deploy: manifests kustomize check-install-mode ## Deploy the operator to the cluster in ~/.kube/config (IMG: the image; INSTALL_MODE=accounts-only: the mode).
	cd config/manager && $(KUSTOMIZE) edit set image controller=$(IMG)
	$(KUSTOMIZE) build config/$(INSTALL_MODE) | kubectl apply --server-side -f -

.PHONY: undeploy
undeploy: kustomize check-install-mode ## Remove the operator from the cluster.
	$(KUSTOMIZE) build config/$(INSTALL_MODE) | kubectl delete --ignore-not-found -f -

.PHONY: build-installer
build-installer: manifests kustomize check-install-mode ## Write dist/install.yaml: CRDs, policies, RBAC, Deployment (INSTALL_MODE=accounts-only: dist/install-accounts-only.yaml).
	mkdir -p dist
	cd config/manager && $(KUSTOMIZE) edit set image controller=$(IMG)
	$(KUSTOMIZE) build config/$(INSTALL_MODE) > $(INSTALLER)
	@echo "wrote $(INSTALLER)"

.PHONY: check-install-mode
check-install-mode:
	@case " $(INSTALL_MODES) " in *" $(INSTALL_MODE) "*) ;; *) echo "INSTALL_MODE=$(INSTALL_MODE): want one of $(INSTALL_MODES)" >&2; exit 1;; esac

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

# helm.sh/helm/v3 for v3.x.y, helm.sh/helm/v4 for v4.x.y.
HELM_MODULE = helm.sh/helm/$(firstword $(subst ., ,$(HELM_VERSION)))
.PHONY: helm
helm: $(HELM) ## Install helm into bin/.
$(HELM):
	$(call go-install-tool,$(HELM),$(HELM_MODULE)/cmd/helm,$(HELM_VERSION))

.PHONY: promtool
promtool: $(PROMTOOL) ## Install promtool into bin/.
# remove_all_sd leaves Prometheus' service-discovery plugins (cloud SDKs) out of the build,
# which checking and testing rules never use: half the build time and download.
$(PROMTOOL): export GOFLAGS := $(GOFLAGS) -tags=remove_all_sd
$(PROMTOOL):
	$(call go-install-tool,$(PROMTOOL),github.com/prometheus/prometheus/cmd/promtool,$(PROMETHEUS_VERSION))

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
