# slsrtc. The two commands:
#   make run    the local stack (the same Lambda code behind an in-process
#               API Gateway WebSocket emulator and an embedded DynamoDB)
#   make test   every check; .ci/run calls exactly this
# `make help` lists the other targets.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules --no-print-directory

GO ?= go
PYTHON ?= python3
VENV := .venv
SAM := $(VENV)/bin/sam
CFN_LINT := $(VENV)/bin/cfn-lint
CHECKOV := $(VENV)/checkov/bin/checkov
TEMPLATE := template.yaml
SAM_BOOTSTRAP := .aws-sam/build/SignalingFunction/bootstrap

# go test: a run that hangs fails with a goroutine dump instead of eating CI's
# 90 minutes; in CI (CI=true) results are never taken from the test cache.
GO_TEST_TIMEOUT ?= 15m
GO_TEST_FLAGS ?= $(if $(CI),-count=1,)

# The Lambda binary: a static linux/arm64 executable named bootstrap for
# provided.al2023. lambda.norpc drops the Go 1.x RPC shim the OS-only runtime
# never uses; -s -w drop the symbol table and DWARF (about half the size).
LAMBDA_GOENV := GOOS=linux GOARCH=arm64 CGO_ENABLED=0
LAMBDA_GOFLAGS := -tags lambda.norpc -trimpath -ldflags "-s -w"

# The AWS tools run offline: no telemetry, a fixed region for the tools that
# want one, and no instance-metadata probes for credentials. Nothing here calls
# AWS. (SAM CLI still asks PyPI once a week whether it is the latest version;
# that check has no switch, and a failure of it is ignored.)
export SAM_CLI_TELEMETRY := 0
OFFLINE := AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true

.PHONY: help run test lint fmt-check vet tidy-check go-test template-check cfn-lint \
	sam-validate sam-build checkov js-check test-e2e smoke bootstrap bench loadtest test-minidyn minidyn-patch tools tools-python \
	tools-checkov tools-npm clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

run: ## the main job: the local stack (cmd/local; flags via ARGS="...")
	$(GO) build -o bin/local ./cmd/local
	exec bin/local $(ARGS)

test: lint go-test template-check test-e2e smoke ## every check: lint, go test -race, template checks, end-to-end tests
	@echo "make test: all checks passed"

lint: fmt-check vet tidy-check js-check ## gofmt, go vet, go mod tidy, tsc on the browser client

fmt-check: ## fail listing the Go files gofmt would change
	@files="$$($(GO) list -e -f '{{$$d := .Dir}}{{range .GoFiles}}{{$$d}}/{{.}} {{end}}{{range .CgoFiles}}{{$$d}}/{{.}} {{end}}{{range .TestGoFiles}}{{$$d}}/{{.}} {{end}}{{range .XTestGoFiles}}{{$$d}}/{{.}} {{end}}{{range .IgnoredGoFiles}}{{$$d}}/{{.}} {{end}}' ./...)"; \
	unformatted="$$(gofmt -l $$files)"; \
	if [ -n "$$unformatted" ]; then \
		echo "gofmt: these files are not formatted (run gofmt -w on them):"; \
		echo "$$unformatted" | sed "s|^$$(pwd)/|  |"; \
		exit 1; \
	fi; \
	echo "gofmt: ok"

vet: ## go vet ./... (and the e2e-tagged tests)
	$(GO) vet ./...
	$(GO) vet -tags e2e ./test/e2e/... ./test/turnserver/...

tidy-check: ## fail when go.mod/go.sum differ from what go mod tidy writes
	@$(GO) mod tidy -diff || { echo "go mod tidy: go.mod/go.sum are not tidy (run go mod tidy)"; exit 1; }
	@echo "go mod tidy: ok"

# The browser client (web/static/slsrtc.js) has no build step: its types are
# JSDoc, checked by the pinned typescript (package.json) without emitting.
js-check: tools-npm ## tsc --checkJs --noEmit on web/static/slsrtc.js (web/tsconfig.json)
	node_modules/.bin/tsc -p web
	@echo "tsc: ok"

go-test: ## go test -race ./... (includes test/deploy/, which holds template.yaml to the code)
	$(GO) test -race -timeout $(GO_TEST_TIMEOUT) $(GO_TEST_FLAGS) ./...

template-check: cfn-lint sam-validate sam-build checkov ## every offline check of template.yaml

# Every region's resource specification: sam deploy --guided lets the user
# pick any region, and a property or value one region lacks fails only there.
cfn-lint: tools-python ## cfn-lint template.yaml, against every region
	$(OFFLINE) $(CFN_LINT) --regions ALL_REGIONS -- $(TEMPLATE)
	@echo "cfn-lint: ok"

sam-validate: tools-python ## sam validate (SAM transform) and sam validate --lint
	$(OFFLINE) $(SAM) validate --template $(TEMPLATE)
	$(OFFLINE) $(SAM) validate --lint --template $(TEMPLATE)

# checkov, an independent IaC scanner, on the template as written (the SAM
# resources as such). Offline: --skip-download and BC_SKIP_MAPPING=TRUE keep
# it from fetching policy metadata from its vendor's platform (without an API
# key it uploads nothing), and CKV_SKIP_PACKAGE_UPDATE_CHECK from asking PyPI
# for a newer checkov. A template it cannot parse counts as 0 checks and exit
# 0 unless CKV_PARSE_ERROR_FAIL is set; a run that passed no check at all
# fails too. Any failed check fails the target: fix the template, or skip the
# check in the resource's Metadata (checkov: skip: - id, comment) with the
# reason, which test/deploy/ requires.
CHECKOV_OFFLINE := BC_SKIP_MAPPING=TRUE CKV_SKIP_PACKAGE_UPDATE_CHECK=TRUE CKV_PARSE_ERROR_FAIL=TRUE
checkov: tools-checkov ## checkov on template.yaml, offline; fails on any failed check
	@out="$$(mktemp)"; trap 'rm -f "$$out"' EXIT; status=0; \
	echo "checkov --file $(TEMPLATE) --framework cloudformation --skip-download --compact --quiet"; \
	$(OFFLINE) $(CHECKOV_OFFLINE) $(CHECKOV) --file $(TEMPLATE) --framework cloudformation \
		--skip-download --compact --quiet >"$$out" 2>&1 || status=$$?; \
	cat "$$out"; \
	if [ "$$status" -ne 0 ]; then \
		echo "checkov: failed (exit $$status): fix the template, or skip the check in the resource's Metadata with a reason"; \
		exit 1; \
	fi; \
	grep -q 'Passed checks: [1-9]' "$$out" || { echo "checkov: passed no check; did it read $(TEMPLATE)?"; exit 1; }; \
	echo "checkov: ok"

# --build-in-source: the makefile builder otherwise copies the whole checkout,
# .venv and node_modules included, to a scratch directory first.
sam-build: tools-python ## sam build, then check the bootstrap is a static linux/arm64 ELF
	rm -rf .aws-sam/build
	$(OFFLINE) $(SAM) build --build-in-source --template $(TEMPLATE)
	$(PYTHON) scripts/check-bootstrap.py $(SAM_BOOTSTRAP)

# sam build runs this target (template.yaml: Metadata.BuildMethod makefile)
# with ARTIFACTS_DIR set to the function's build directory.
build-SignalingFunction:
	$(LAMBDA_GOENV) $(GO) build $(LAMBDA_GOFLAGS) -o $(ARTIFACTS_DIR)/bootstrap .

# End-to-end tests behind the build tag e2e: pion/webrtc peers through the
# local stack and through coturn, and the demo page in headless Chromium.
# Chromium and coturn are installed from Debian when missing
# (SLSRTC_SKIP_BROWSER=1 skips the browser test; coturn's service is left
# stopped, the tests start their own turnserver on loopback).
test-e2e: ## end-to-end tests (./test/e2e, ./test/turnserver, build tag e2e): pion peers, TURN relays, the demo page in headless Chromium
	@scripts/ensure-chromium.sh
	@scripts/ensure-coturn.sh
	$(GO) test -race -tags e2e -timeout $(GO_TEST_TIMEOUT) $(GO_TEST_FLAGS) ./test/e2e/... ./test/turnserver/...

smoke: ## the seed's wscat session and the AWS CLI v2 against a built local stack
	scripts/smoke-wscat.sh

bench: ## fan-out, relay handler, embedded DynamoDB and cold-start benchmarks (about 3 minutes; not in make test)
	$(GO) test -run '^$$' -bench . -benchmem ./handlers ./test/budget ./test/coldstart

loadtest: ## the local stack beside PeerJS server under load; writes docs/perf/ (about 4 minutes; not in make test)
	scripts/loadtest.sh $(ARGS)

# The patched minidyn (third_party/minidyn, its own module) has its own tests,
# which need its test dependencies (testify, ...) from the module proxy. Its
# server tests load the SDK's default config with a custom HTTP client, which
# fails when AWS_CA_BUNDLE is set.
test-minidyn: ## the vendored minidyn's tests (-race) and a check that third_party/minidyn.patch is up to date (not in make test)
	cd third_party/minidyn && env -u AWS_CA_BUNDLE $(GO) test -race $(GO_TEST_FLAGS) ./core/... ./server/... ./types/... ./interpreter/... ./aws-v2/...
	scripts/minidyn-patch.sh -check

minidyn-patch: ## rewrite third_party/minidyn.patch from the vendored copy
	scripts/minidyn-patch.sh

bootstrap: ## build the Lambda bootstrap into bin/ and print its size
	$(LAMBDA_GOENV) $(GO) build $(LAMBDA_GOFLAGS) -o bin/bootstrap .
	$(PYTHON) scripts/check-bootstrap.py bin/bootstrap

tools: tools-python tools-checkov tools-npm ## install every pinned tool that is missing

tools-python: ## .venv with the pinned cfn-lint and aws-sam-cli, when missing
	@scripts/ensure python

tools-checkov: ## .venv/checkov with the pinned checkov, when missing
	@scripts/ensure checkov

tools-npm: ## node_modules from package-lock.json (wscat, typescript), when missing
	@scripts/ensure npm

clean: ## remove build output (not .venv or node_modules)
	rm -rf .aws-sam bin
