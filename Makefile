# Two commands on a fresh machine with only Node and npm:  make dev  /  make test
SHELL := /bin/bash
NPM_STAMP := node_modules/.install-stamp

.PHONY: dev test install tools generate check-generated typecheck unit bench clean

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $(NPM_STAMP)

install: $(NPM_STAMP)

## Run a local cluster: embedded Postgres (unless BATON_DATABASE_URL is set), a coordinator, two workers.
dev: install
	node bin/baton.mjs dev

## The whole test suite against real Postgres, gRPC and processes.
test: install tools check-generated typecheck
	node scripts/run-tests.mjs

## Test tools outside npm: Debian's prometheus + promtool under .tools/ (not installed system-wide).
tools: .tools/prometheus/usr/bin/prometheus

.tools/prometheus/usr/bin/prometheus:
	bash scripts/install-prometheus.sh

## Regenerate TypeScript from proto/ (generated code is never edited by hand).
generate: install
	npx buf generate

## Fails when shared/gen is stale against proto/.
check-generated: install
	@tmp=$$(mktemp -d) && npx buf generate -o $$tmp && \
	  if diff -r shared/gen $$tmp/shared/gen >/dev/null; then echo "generated code is up to date"; rm -rf $$tmp; \
	  else echo "shared/gen is stale: run 'make generate' and commit the result" >&2; diff -r shared/gen $$tmp/shared/gen | head -20 >&2; rm -rf $$tmp; exit 1; fi

typecheck: install
	npx tsc --noEmit -p .

bench: install
	node bin/baton.mjs --help >/dev/null
	npx tsx bench/full-path.ts --runs 3

clean:
	rm -rf node_modules .baton
