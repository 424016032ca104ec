# Every target installs what it needs, so each one works on a fresh clone.
SHELL := /bin/bash
.DEFAULT_GOAL := help

NODE_MODULES := node_modules/.package-lock.json

.PHONY: help install build test test-unit test-integration test-e2e lint run-lookaside bench-resolve clean

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

run-lookaside: build ## Run the lookaside against deploy/local/endpoints.yaml
	ENDPOINTS_FILE=$${ENDPOINTS_FILE:-deploy/local/endpoints.yaml} node dist/src/lookaside/main.js

bench-resolve: build ## Benchmark Resolve against an empty grpc-js handler with h2load (installs nghttp2-client if needed)
	command -v h2load >/dev/null || (apt-get update && apt-get install -y nghttp2-client)
	node dist/bench/resolve-bench.js

clean: ## Remove build output
	rm -rf dist
