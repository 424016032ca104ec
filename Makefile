# Every target installs what it needs, so each one works on a fresh clone.
SHELL := /bin/bash
.DEFAULT_GOAL := help

NODE_MODULES := node_modules/.package-lock.json
# The image that `make image` builds; deploy/overlays/minikube runs this tag
# (test/deploy checks that they agree).
IMAGE := lookaside:dev
MINIKUBE_OVERLAY := deploy/overlays/minikube
# Node 24, the image's Node, for test/deploy (the built output must start under it).
# Its own package: the npm `node` package links node_modules/.bin/node, which in
# the root package would move every npm script and npx command onto it.
NODE24 := test/node24/node_modules/.package-lock.json

.PHONY: help install build test test-unit test-integration test-e2e test-greet demo bench-gateway bench-missing-names bench-resolve bench-endpoints-file bench-stream-flood run-lookaside clean

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | column -t -s $$'\t'

$(NODE_MODULES): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

install: $(NODE_MODULES) ## Install npm dependencies (npm ci)

build: $(NODE_MODULES) ## Compile TypeScript into dist/
	rm -rf dist && npx tsc -p tsconfig.json

test: build $(NODE24) ## Run every test (unit, integration, end to end, deploy/ checks)
	npx mocha 'dist/test/**/*.test.js'

test-unit: build ## Run the fast unit tests only
	npx mocha 'dist/test/unit/**/*.test.js'

test-integration: build ## Run the integration tests (fake Kubernetes API server)
	npx mocha 'dist/test/integration/**/*.test.js'

test-e2e: build ## Run the end-to-end tests (built processes, buf curl)
	npx mocha 'dist/test/e2e/**/*.test.js'

test-greet: build ## Run the greet server and gateway tests only (unit, then end to end)
	npx mocha 'dist/test/unit/greet/**/*.test.js' 'dist/test/e2e/greet/**/*.test.js'

demo: build ## Run the local demo: 3 greet servers, the lookaside (DISCOVERY=file) and the gateway on :9091
	node dist/src/demo/main.js

bench-gateway: build ## Benchmark the gateway's BALANCING modes (lookaside, round_robin, none) against the same 3 greet servers
	node dist/bench/gateway.js

bench-endpoints-file: build ## Measure a reload of a large endpoints file: event-loop stall and memory, parsed in place vs in a worker
	node dist/bench/endpoints-file-reload.js

run-lookaside: build ## Run the lookaside against deploy/local/endpoints.yaml
	ENDPOINTS_FILE=$${ENDPOINTS_FILE:-deploy/local/endpoints.yaml} node dist/src/lookaside/main.js

bench-missing-names: build ## Measure what made-up Service names cost the lookaside (time per Resolve, heap, API requests)
	node --expose-gc dist/bench/missing-names.js

bench-resolve: build ## Benchmark Resolve against an empty grpc-js handler with h2load (installs nghttp2-client if needed)
	command -v h2load >/dev/null || (apt-get update && apt-get install -y nghttp2-client)
	node dist/bench/resolve-bench.js

bench-stream-flood: build ## Flood the built lookaside with connections and idle streams; print its peak RSS and heap
	node dist/bench/stream-flood.js

clean: ## Remove build output
	rm -rf dist

.PHONY: kube-binaries test-apiserver bench-scale

kube-binaries: ## Build (or reuse) kube-apiserver, etcd and kubectl for the apiserver tests (Go; 10-20 min cold)
	test/kube/build.sh >/dev/null

test-apiserver: build kube-binaries ## Run the tests against a real kube-apiserver and etcd (builds them first)
	LOOKASIDE_APISERVER=1 npx mocha 'dist/test/apiserver/**/*.test.js'

bench-scale: build kube-binaries ## 1,000 Services x 100 endpoints on a real kube-apiserver: warm-up, connections, LISTs, RSS, random vs one Service, a 10k-endpoint slice change
	node --expose-gc dist/bench/scale.js

.PHONY: node24 test-deploy image minikube-demo minikube-requests minikube-clean

$(NODE24): test/node24/package.json test/node24/package-lock.json
	npm ci --prefix test/node24 --no-audit --no-fund
	@touch $@

node24: $(NODE24) ## Install Node 24 (the image's Node) into test/node24/ for the deploy checks

test-deploy: build $(NODE24) ## Check the Dockerfile and deploy/ without Docker or a cluster (also runs in make test)
	npx mocha 'dist/test/deploy/**/*.test.js'

image: ## Build the image (lookaside:dev) into minikube's Docker
	eval $$(minikube docker-env) && docker build -t $(IMAGE) .

minikube-demo: image ## On minikube: apply deploy/overlays/minikube, wait for the rollouts, count the answers per pod
	OVERLAY=$(MINIKUBE_OVERLAY) deploy/minikube-demo.sh

minikube-requests: ## On minikube: send REQUESTS (30) through the gateway and count the answers per pod, changing nothing
	APPLY=0 deploy/minikube-demo.sh

minikube-clean: ## Delete the minikube demo's objects
	kubectl delete -k $(MINIKUBE_OVERLAY) --ignore-not-found
