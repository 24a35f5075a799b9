# Rebound: two commands set up a fresh machine.
#   make run   - install what is missing, build, serve with a demo partner site
#   make test  - install what is missing, run every test (unit, integration on
#                SQLite and Postgres, Playwright across two origins), fmt, clippy
# Tools are installed once per machine (~/.cargo/bin, end2end/node_modules)
# and skipped when present at the right version.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
# With pipefail, `cmd | grep -q x` can fail on a match: grep -q exits at the
# first one, cmd dies of SIGPIPE. Checks below use `grep x >/dev/null`.
.DEFAULT_GOAL := help

export CARGO_BUILD_JOBS ?= 2
# Build outputs go to a per-user cache shared by every checkout on the machine,
# so a fresh clone (CI) reuses compiled dependencies instead of spending twenty
# minutes on them. Override with CARGO_TARGET_DIR=target for an in-tree build.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/rebound/target
export PATH := $(CURDIR)/end2end/node_modules/.bin:$(HOME)/.cargo/bin:$(PATH)

CARGO_LEPTOS_VERSION := 0.3.10
# wasm-bindgen's CLI must match the library version in Cargo.lock exactly.
WASM_BINDGEN_VERSION := $(shell awk '/^name = "wasm-bindgen"$$/ {getline; gsub(/"/, "", $$3); print $$3}' Cargo.lock)
WASM_TARGET := wasm32-unknown-unknown
SDK_DIR := target/sdk
LISTENER_WASM := $(CARGO_TARGET_DIR)/$(WASM_TARGET)/wasm-release/listener.wasm
# wasm-opt must accept what rustc's wasm target emits by default.
WASM_OPT_FEATURES := --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
	--enable-mutable-globals --enable-reference-types --enable-multivalue

# cargo-leptos would build the page (wasm) and the server at the same time;
# on two cores one after the other is as fast and keeps memory and logs sane.
# It copies public/ only on a combined build, so that is done here.
leptos_build = cargo leptos build --frontend-only $(1) && cargo leptos build --server-only $(1) \
	&& cp -R public/. target/site/

# `cargo leptos build` (dev) compiles with these; giving `cargo test` the same
# lets it reuse the server's dependencies instead of building them again.
LEPTOS_DEV_ENV := RUSTFLAGS="--cfg erase_components" LEPTOS_OUTPUT_NAME=rebound

# Postgres runs on every dev/CI machine; set TEST_POSTGRES_URL= (empty) to skip.
TEST_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/test

say = @printf '\n\033[1m==> %s\033[0m\n' "$(1)"

.PHONY: help
help:
	@echo "make run    build and start the server with the demo partner site"
	@echo "make test   run every test (unit, integration on SQLite + Postgres, Playwright)"
	@echo "make bench  benchmarks (sizes)"
	@echo "make setup  install missing tools only"

# ---------------------------------------------------------------- tools ----

.PHONY: setup
setup: tool-wasm-target tool-cargo-leptos tool-wasm-bindgen tool-node tool-chromium

.PHONY: tool-wasm-target
tool-wasm-target:
	@rustup target list --installed | grep -x $(WASM_TARGET) >/dev/null || { \
	  printf '==> adding the %s Rust target\n' $(WASM_TARGET); rustup target add $(WASM_TARGET); }

.PHONY: tool-cargo-leptos
tool-cargo-leptos:
	@if [ "$$(cargo-leptos --version 2>/dev/null)" != "cargo-leptos $(CARGO_LEPTOS_VERSION)" ]; then \
	  printf '==> installing cargo-leptos %s (about 15 minutes, once per machine)\n' $(CARGO_LEPTOS_VERSION); \
	  cargo install cargo-leptos --version $(CARGO_LEPTOS_VERSION) --locked --features no_downloads; \
	fi

.PHONY: tool-wasm-bindgen
tool-wasm-bindgen:
	@if [ "$$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $(WASM_BINDGEN_VERSION)" ]; then \
	  printf '==> installing wasm-bindgen-cli %s to match Cargo.lock (about 6 minutes)\n' $(WASM_BINDGEN_VERSION); \
	  cargo install wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION) --force; \
	fi

# npm ci when node_modules is missing or older than the lock file. It brings
# wasm-opt (npm binaryen) and Playwright; no browser is downloaded.
end2end/node_modules/.package-lock.json: end2end/package-lock.json
	$(call say,installing end2end npm packages (npm ci))
	cd end2end && npm ci --no-audit --no-fund
	@touch $@

.PHONY: tool-node
tool-node: end2end/node_modules/.package-lock.json

.PHONY: tool-chromium
tool-chromium:
	@command -v chromium >/dev/null || { \
	  printf '==> installing Debian chromium for the browser tests\n'; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get install -y chromium || { $$SUDO apt-get update && $$SUDO apt-get install -y chromium; }; }
	@# Korean glyphs, so e2e screenshots show text rather than empty boxes.
	@fc-list 2>/dev/null | grep -i nanum >/dev/null || { \
	  printf '==> installing Korean fonts (fonts-nanum) for screenshots\n'; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get install -y fonts-nanum || { $$SUDO apt-get update && $$SUDO apt-get install -y fonts-nanum; }; }

# ---------------------------------------------------------------- build ----

# The partner listener: its own small wasm-bindgen bundle under /sdk/.
.PHONY: listener
listener: tool-wasm-target tool-wasm-bindgen tool-node
	$(call say,building the partner listener (wasm))
	cargo build -p listener --lib --target $(WASM_TARGET) --profile wasm-release
	mkdir -p $(SDK_DIR)
	wasm-bindgen --target web --no-typescript --out-dir $(SDK_DIR) --out-name rebound_listener $(LISTENER_WASM)
	wasm-opt -Oz $(WASM_OPT_FEATURES) -o $(SDK_DIR)/rebound_listener_bg.wasm $(SDK_DIR)/rebound_listener_bg.wasm
	@# The glue is generated, readable JS; partners download it on every page.
	terser $(SDK_DIR)/rebound_listener.js --module --compress --mangle -o $(SDK_DIR)/rebound_listener.js
	terser listener/js/embed.js --module --compress --mangle -o $(SDK_DIR)/embed.js

.PHONY: build-dev
build-dev: setup listener
	$(call say,building server and page (cargo leptos build, dev profile))
	$(call leptos_build,)

.PHONY: build-release
build-release: setup listener
	$(call say,building server and page (cargo leptos build --release))
	$(call leptos_build,--release)

# ------------------------------------------------------------------ run ----

.PHONY: run
run: build-release
	$(call say,starting Rebound on http://127.0.0.1:3000 with the demo partner on http://localhost:3001)
	REBOUND_SITE_ROOT=target/site REBOUND_SDK_DIR=$(SDK_DIR) $(CARGO_TARGET_DIR)/release/server serve --demo

# ----------------------------------------------------------------- test ----

.PHONY: test
test: build-dev lint test-rust test-postgres test-e2e test-commands test-contract
	$(call say,all tests passed)

.PHONY: lint
lint:
	$(call say,cargo fmt --check and clippy)
	cargo fmt --all -- --check
	cargo clippy --workspace --exclude frontend --all-targets -- -D warnings
	cargo clippy -p frontend --target $(WASM_TARGET) -- -D warnings
	@# Alone: together with the page, wasm-bindgen's std feature would unify in.
	cargo clippy -p listener --target $(WASM_TARGET) -- -D warnings

.PHONY: test-rust
test-rust:
	$(call say,unit and integration tests (SQLite))
	$(LEPTOS_DEV_ENV) cargo test --workspace --exclude frontend

.PHONY: test-postgres
test-postgres:
	@if [ -z "$(TEST_POSTGRES_URL)" ]; then echo "TEST_POSTGRES_URL is empty: skipping the Postgres suite"; else \
	  printf '\n==> integration tests on PostgreSQL (%s)\n' "$(TEST_POSTGRES_URL)"; \
	  REBOUND_TEST_DB=postgres TEST_POSTGRES_URL="$(TEST_POSTGRES_URL)" $(LEPTOS_DEV_ENV) cargo test -p server --test '*'; fi

.PHONY: test-commands
test-commands:
	$(call say,every command README, the partner guide and the demo banner print, as pasted)
	scripts/printed-commands.sh

.PHONY: test-contract
test-contract:
	$(call say,the API contract: openapi-spec-validator and Schemathesis (all checks) against a real server)
	REBOUND_SERVER_BIN=$(CARGO_TARGET_DIR)/debug/server scripts/contract.sh

.PHONY: test-e2e
test-e2e:
	$(call say,Playwright: recovery page and partner listener on two origins)
	cd end2end && REBOUND_SERVER_BIN=$(CARGO_TARGET_DIR)/debug/server npx playwright test

# ---------------------------------------------------------------- bench ----

.PHONY: tool-wrk
tool-wrk:
	@command -v wrk >/dev/null || { printf '==> installing wrk (load generator)\n'; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; $$SUDO apt-get install -y wrk; }

.PHONY: bench
bench: build-release tool-wrk
	$(call say,ratios measured in one run: order creates to /healthz, the recovery page to a static file, stage sends to outbox inserts, notice deliveries to plain POSTs; SQLite and Postgres)
	TEST_POSTGRES_URL="$(TEST_POSTGRES_URL)" bench/run.sh $(CARGO_TARGET_DIR)/release/server
	$(call say,sizes (gzip -9))
	@for f in target/site/pkg/rebound.wasm target/site/pkg/rebound.js $(SDK_DIR)/rebound_listener_bg.wasm $(SDK_DIR)/rebound_listener.js $(SDK_DIR)/embed.js; do \
	  printf '%-45s %8d bytes raw %8d bytes gzip\n' $$f $$(stat -c %s $$f) $$(gzip -9c $$f | wc -c); done
	@total=$$(( $$(gzip -9c $(SDK_DIR)/rebound_listener_bg.wasm | wc -c) + $$(gzip -9c $(SDK_DIR)/rebound_listener.js | wc -c) )); \
	  printf 'listener wasm + JS glue: %d bytes gzip (budget 15000; the e2e suite fails above it)\n' $$total
