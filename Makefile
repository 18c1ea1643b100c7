# riskgate — the two front-door commands are `make dev` and `make test`.
# Both install what they need (the pinned Temporal CLI, built with go install).

TEMPORAL_VERSION := v1.5.1
TOOLS            := $(CURDIR)/.bin
TEMPORAL         := $(TOOLS)/temporal
TEMPORAL_STAMP   := $(TOOLS)/.temporal-$(TEMPORAL_VERSION)
SERVER_VERSION   := v1.29.1
TEMPORAL_SERVER  := $(TOOLS)/temporal-server
TEMPORAL_SQL     := $(TOOLS)/temporal-sql-tool
SERVER_STAMP     := $(TOOLS)/.temporal-server-$(SERVER_VERSION)
PROD_STATE       := $(CURDIR)/data/prod-stack.json
RISKGATE         := $(CURDIR)/bin/riskgate
GO_TEST_FLAGS    ?= -race -count=1 -timeout 45m
FUZZTIME         ?= 10s
export RISKGATE_TEMPORAL_BIN := $(TEMPORAL)
export RISKGATE_TEMPORAL_SERVER_BIN := $(TEMPORAL_SERVER)
export RISKGATE_TEMPORAL_SQL_BIN := $(TEMPORAL_SQL)

.PHONY: dev test build tools temporal-server postgres browser check unit fuzz bench prod-up prod-down prod-bench clean

## dev: run the whole system on the embedded stack (Kafka 9092, Temporal 7233, Web UI 8233, API 8080)
dev: tools build
	$(RISKGATE) dev $(ARGS)

## test: the full test suite (format, vet, unit, end-to-end, production topology, fuzz smoke)
test: tools temporal-server postgres browser check
	npm ci --prefix index/dynamo/testdata/node --no-audit --no-fund
	go test $(GO_TEST_FLAGS) ./...
	cd deploy && go test ./...
	$(MAKE) fuzz

## build: the riskgate binary in bin/
build:
	go build -o $(RISKGATE) ./cmd/riskgate

## tools: the pinned Temporal CLI in .bin/ (about 11 minutes on a cold build cache)
tools: $(TEMPORAL_STAMP)

$(TEMPORAL_STAMP):
	@mkdir -p $(TOOLS)
	@echo "installing temporal CLI $(TEMPORAL_VERSION) into $(TOOLS) (a cold build takes several minutes)"
	GOBIN=$(TOOLS) go install github.com/temporalio/cli/cmd/temporal@$(TEMPORAL_VERSION)
	@touch $@

## temporal-server: the pinned Temporal server and temporal-sql-tool in .bin/, for the production
## harness (one go install; about 4 minutes with the CLI's modules cached, 12 on a loaded machine)
temporal-server: $(SERVER_STAMP)

$(SERVER_STAMP):
	@mkdir -p $(TOOLS)/server-$(SERVER_VERSION)
	@echo "installing temporal server and sql tool $(SERVER_VERSION) into $(TOOLS) (a cold build takes several minutes)"
	GOBIN=$(TOOLS)/server-$(SERVER_VERSION) go install go.temporal.io/server/cmd/server@$(SERVER_VERSION) go.temporal.io/server/cmd/tools/sql@$(SERVER_VERSION)
	mv $(TOOLS)/server-$(SERVER_VERSION)/server $(TEMPORAL_SERVER)
	mv $(TOOLS)/server-$(SERVER_VERSION)/sql $(TEMPORAL_SQL)
	@rmdir $(TOOLS)/server-$(SERVER_VERSION)
	@touch $@

## postgres: Debian's PostgreSQL for the production harness (its tests skip without it)
postgres:
	@command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  echo "installing postgresql for the production harness"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null \
	  || echo "warning: postgresql could not be installed; the production harness tests will be skipped"; }

## prod-up: the production topology in the background (PostgreSQL, Temporal server, 3-broker Kafka,
## every riskgate role as its own process); prints its endpoints. prod-down stops it.
prod-up: tools temporal-server
	go run ./tests/production/prodstack up --state $(PROD_STATE)

prod-down:
	go run ./tests/production/prodstack down --state $(PROD_STATE) $(if $(KEEP),--keep)

## prod-bench: kill latency and the 1,000-scope mass kill, dev stack next to the production topology
## (ARGS="--mass 200 --limit 30m" to change them)
prod-bench: tools temporal-server
	go run ./tests/production/prodstack bench $(ARGS)

## browser: Debian's chromium for the dashboard browser test (skipped when it cannot be installed)
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing chromium for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
	  || echo "warning: chromium could not be installed; browser tests will be skipped"; }

## check: gofmt and go vet
check:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	go vet ./...

## fuzz: run every fuzz target for FUZZTIME each
fuzz:
	@for pkg in $$(go list ./...); do \
	  for f in $$(go test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f ($(FUZZTIME))"; \
	    go test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

## bench: the Go micro-benchmarks
bench:
	go test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin data artifacts
