# Every target installs what it needs, so each one works on a fresh clone.
SHELL := /bin/bash
.DEFAULT_GOAL := help

NODE_MODULES := node_modules/.package-lock.json

.PHONY: help install build test test-unit test-integration test-e2e test-greet demo bench-gateway run-lookaside clean

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | column -t -s $$'\t'

$(NODE_MODULES): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

install: $(NODE_MODULES) ## Install npm dependencies (npm ci)

build: $(NODE_MODULES) ## Compile TypeScript into dist/
	rm -rf dist && npx tsc -p tsconfig.json

test: build ## Run every test (unit, integration, end to end)
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

run-lookaside: build ## Run the lookaside against deploy/local/endpoints.yaml
	ENDPOINTS_FILE=$${ENDPOINTS_FILE:-deploy/local/endpoints.yaml} node dist/src/lookaside/main.js

clean: ## Remove build output
	rm -rf dist

.PHONY: kube-binaries test-apiserver

kube-binaries: ## Build (or reuse) kube-apiserver, etcd and kubectl for the apiserver tests (Go; 10-20 min cold)
	test/kube/build.sh >/dev/null

test-apiserver: build kube-binaries ## Run the tests against a real kube-apiserver and etcd (builds them first)
	LOOKASIDE_APISERVER=1 npx mocha 'dist/test/apiserver/**/*.test.js'
