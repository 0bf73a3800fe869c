# referralops: the two commands are `make demo` and `make test`.
SHELL := /bin/bash
GO ?= go
BIN := bin/referralops
GOTESTSUM := $(GO) run gotest.tools/gotestsum@v1.13.0
export REFERRALOPS_DATA_DIR ?= $(CURDIR)/.data

.PHONY: build test test-unit lint bench pgo demo generate services-up services-down services-status cluster-up cluster-down cluster-status chdb clean fuzz

build: ## build bin/referralops
	$(GO) build -o $(BIN) ./cmd/referralops

services-up: ## install (if missing) and start ClickHouse and Kafka, create the default topics
	deploy/local/services.sh up

services-down: ## stop ClickHouse and Kafka (data is kept under .data/)
	deploy/local/services.sh down

services-status:
	deploy/local/services.sh status

cluster-up: ## start the local cluster: ZooKeeper, 4 ClickHouse (2 shards x 2 replicas), 3 Kafka brokers (ports: docs/scaling.md)
	deploy/local/cluster.sh up

cluster-down: ## stop the local cluster (data is kept under .data/cluster)
	deploy/local/cluster.sh down

cluster-status:
	deploy/local/cluster.sh status

chdb: ## install libchdb.so (ClickHouse 26.7 as a library) for the cross-version tests
	deploy/local/chdb.sh

lint: ## gofmt and go vet
	@unformatted=$$(gofmt -l $$(git ls-files '*.go') 2>/dev/null); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

# The whole suite, unit to end-to-end, against the real servers it starts.
test: lint services-up cluster-up chdb ## the whole test suite
	REFERRALOPS_REQUIRE_SERVERS=1 $(GOTESTSUM) --format testname -- -count=1 -timeout 25m ./...

test-unit: ## fast tests only: no servers needed (the rest skip)
	$(GOTESTSUM) --format testname -- -count=1 -short ./...

fuzz: ## run each decoder fuzz target for a while
	$(GO) test ./ingest/event -run '^$$' -fuzz FuzzDecode -fuzztime 60s
	$(GO) test ./ingest/hl7v2 -run '^$$' -fuzz FuzzParse -fuzztime 60s
	$(GO) test ./ingest/fhir -run '^$$' -fuzz FuzzDecode -fuzztime 60s
	$(GO) test ./ingest/mapping -run '^$$' -fuzz FuzzMap -fuzztime 60s

bench: services-up cluster-up build ## performance figures as `name value unit` lines (ingest, KPI refresh and scrape, cluster ingest)
	deploy/local/bench.sh
	deploy/local/bench-kpi.sh
	deploy/local/bench-cluster.sh

pgo: services-up ## profile the ingester over a generated backlog into cmd/referralops/default.pgo, which go build then optimizes with
	deploy/local/pgo.sh

# Not services-up: the demo embeds its own Kafka on 127.0.0.1:9092, which a
# running real broker would hold (then pass DEMO_FLAGS=--kafka-brokers=127.0.0.1:9092).
demo: build ## the whole pipeline in one process (embedded Kafka) on a quarter of referrals, then live; DEMO_FLAGS=... passes flags
	deploy/local/clickhouse.sh up
	deploy/local/prometheus.sh up
	$(BIN) demo $(DEMO_FLAGS)

# One generation path (package internal/generated); its test fails `make test`
# when a committed generated file is stale.
generate: ## rewrite every committed generated file: Grafana dashboards and provisioning, Prometheus rules, their Kubernetes copies, the README's KPI metrics region
	$(GO) run ./internal/generated/cmd/generate

clean:
	rm -rf bin
