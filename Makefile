# riskgate — the two front-door commands are `make dev` and `make test`.
# Both install what they need (the pinned Temporal CLI and promtool, built
# with go install).

TEMPORAL_VERSION := v1.5.1
TOOLS            := $(CURDIR)/.bin
TEMPORAL         := $(TOOLS)/temporal
TEMPORAL_STAMP   := $(TOOLS)/.temporal-$(TEMPORAL_VERSION)
STATICCHECK_VERSION := v0.8.2
STATICCHECK      := $(TOOLS)/staticcheck
STATICCHECK_STAMP := $(TOOLS)/.staticcheck-$(STATICCHECK_VERSION)
# promtool of Prometheus 3.16.0 (the Go module is versioned v0.316.0),
# without the service-discovery plugins it does not need to check rules.
PROMTOOL_VERSION := v0.316.0
PROMTOOL         := $(TOOLS)/promtool
PROMTOOL_STAMP   := $(TOOLS)/.promtool-$(PROMTOOL_VERSION)
OBSERVABILITY    := deploy/observability/prometheus
SERVER_VERSION   := v1.29.1
TEMPORAL_SERVER  := $(TOOLS)/temporal-server
TEMPORAL_SQL     := $(TOOLS)/temporal-sql-tool
SERVER_STAMP     := $(TOOLS)/.temporal-server-$(SERVER_VERSION)
PROD_STATE       := $(CURDIR)/data/prod-stack.json
RISKGATE         := $(CURDIR)/bin/riskgate
GO_TEST_FLAGS    ?= -race -count=1 -timeout 45m
# Fuzz budgets are execution counts, not durations: Go 1.26's fuzz coordinator
# can fail a duration run at its deadline with nothing found (golang/go#75804).
# Sized to about 10 s per target on a loaded 2-core machine; domain's small
# decoders run about ten times as many executions per second as the targets of
# bigger packages. Setting FUZZTIME alone sets both.
FUZZTIME         ?= 40000x
FUZZTIME_DOMAIN  ?= $(if $(filter command line environment,$(origin FUZZTIME)),$(FUZZTIME),400000x)
export RISKGATE_TEMPORAL_BIN := $(TEMPORAL)
export RISKGATE_PROMTOOL_BIN := $(PROMTOOL)
export RISKGATE_TEMPORAL_SERVER_BIN := $(TEMPORAL_SERVER)
export RISKGATE_TEMPORAL_SQL_BIN := $(TEMPORAL_SQL)

.PHONY: dev test build tools lint-tools promtool rules temporal-server postgres browser check lint unit fuzz bench prod-up prod-down prod-bench clean

## dev: run the whole system on the embedded stack (Kafka 9092, Temporal 7233, Web UI 8233, API 8080)
dev: tools build
	$(RISKGATE) dev $(ARGS)

## test: the full test suite (format, vet, staticcheck, alert rules, unit, end-to-end, production topology, fuzz smoke)
test: tools lint-tools promtool temporal-server postgres browser check lint rules
	npm ci --prefix index/dynamo/testdata/node --no-audit --no-fund
	go test $(GO_TEST_FLAGS) ./...
	cd deploy && go test ./...
	$(MAKE) fuzz

## build: the riskgate binary in bin/
build:
	go build -buildvcs=auto -o $(RISKGATE) ./cmd/riskgate

## tools: the pinned Temporal CLI in .bin/ (about 11 minutes on a cold build cache)
tools: $(TEMPORAL_STAMP)

## lint-tools: the pinned staticcheck in .bin/ (about a minute to build)
lint-tools: $(STATICCHECK_STAMP)

$(STATICCHECK_STAMP):
	@mkdir -p $(TOOLS)
	GOBIN=$(TOOLS) go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	@touch $@

## lint: staticcheck over the whole module
lint: lint-tools
	$(STATICCHECK) ./...

$(TEMPORAL_STAMP):
	@mkdir -p $(TOOLS)
	@echo "installing temporal CLI $(TEMPORAL_VERSION) into $(TOOLS) (a cold build takes several minutes)"
	GOBIN=$(TOOLS) go install github.com/temporalio/cli/cmd/temporal@$(TEMPORAL_VERSION)
	@touch $@

## promtool: the pinned promtool in .bin/ (cold: about 5 CPU-minutes and 1 GB of modules)
promtool: $(PROMTOOL_STAMP)

$(PROMTOOL_STAMP):
	@mkdir -p $(TOOLS)
	@echo "installing promtool $(PROMTOOL_VERSION) into $(TOOLS) (a cold build takes several minutes)"
	GOBIN=$(TOOLS) go install -tags remove_all_sd github.com/prometheus/prometheus/cmd/promtool@$(PROMTOOL_VERSION)
	@touch $@

## rules: check the Prometheus config and rules, and run the rules' unit tests
rules: promtool
	$(PROMTOOL) check config $(OBSERVABILITY)/prometheus.yml
	$(PROMTOOL) check rules $(OBSERVABILITY)/alerts.yaml $(OBSERVABILITY)/recording.yaml
	$(PROMTOOL) test rules $(OBSERVABILITY)/alerts_test.yaml
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

## fuzz: run every fuzz target for its budget (FUZZTIME, FUZZTIME_DOMAIN for domain/)
fuzz:
	@for pkg in $$(go list ./...); do \
	  budget='$(FUZZTIME)'; case $$pkg in */domain) budget='$(FUZZTIME_DOMAIN)';; esac; \
	  for f in $$(go test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f ($$budget)"; \
	    go test -run '^$$' -fuzz "^$$f$$" -fuzztime $$budget $$pkg || exit 1; \
	  done; \
	done

## bench: the Go micro-benchmarks
bench:
	go test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin data artifacts
