# Parley. `make run` starts the whole platform locally; `make test` runs every test.
# Both work on a fresh Debian/Ubuntu machine as root with Go >= 1.26 installed;
# missing server packages (postgresql, redis-server) are installed on demand.

SHELL := /bin/bash
GO ?= go
BIN := bin
STATE := .parley
# libonnxruntime ships inside the onnxruntime-node npm package; it is taken
# from there (npm pack, no install scripts) because no other registry has it.
ORT_VERSION := 1.30.0
ORT_LIB := $(STATE)/lib/libonnxruntime.so.1
DEMO_MODEL := $(STATE)/models/demo
# make model installs a trained classifier here; make run and make deploy
# use it once it is there, else the demo model.
TRAINED_MODEL := $(STATE)/models/toxic-minilm
RUN_MODEL = $(abspath $(if $(wildcard $(TRAINED_MODEL)/model.onnx),$(TRAINED_MODEL),$(DEMO_MODEL)))
export ONNXRUNTIME_LIB ?= $(abspath $(ORT_LIB))
# SeaweedFS (the local S3 store for files) is built from its module at the
# version knative/devstack/seaweedfs pins, in that nested module so its large
# dependency graph stays out of Parley's; once per version, kept under
# $(STATE) (a cold build takes minutes), as the tests do (devstacktest).
WEED_VERSION := $(shell cd knative/devstack/seaweedfs && $(GO) list -m -f '{{.Version}}' github.com/seaweedfs/seaweedfs)
WEED := $(STATE)/seaweedfs/weed-$(WEED_VERSION)
SERVICES := functions/auth functions/persist functions/moderation functions/notification functions/search functions/thumbnail connector
GOTEST_FLAGS ?= -count=1 -timeout 25m

.PHONY: all run build test test-go test-web web lint generate bench bench-peers clean deps help onnxruntime model deploy undeploy

all: build

help:
	@echo "make run       start Parley locally and print its URL (Ctrl-C stops it)"
	@echo "make test      run every test (needs postgresql and redis-server: see .ci/run)"
	@echo "make build     build the services, the launcher, FerretDB, SeaweedFS and queue-proxy into $(BIN)/"
	@echo "make bench     run the benchmarks and print the numbers"
	@echo "make bench-peers  Parley beside Centrifugo under the same load (issue 16; ~15-20 min)"
	@echo "make lint      gofmt, go vet, staticcheck, shellcheck, actionlint"
	@echo "make generate  regenerate generated code"
	@echo "make model     download a trained toxic-comment classifier (pinned, checksummed; needs internet)"
	@echo "make deploy    deploy to Knative on Minikube (needs minikube, kubectl, ko)"
	@echo "make undeploy  remove the Minikube deployment"
	@echo "make clean     remove build outputs (keeps .parley/ data)"

# Knative's queue-proxy runs beside every Service in the emulator. It is
# built in serving's own module (go install pkg@version) at the version
# go.mod pins: built inside Parley's module, newer OpenTelemetry versions
# make it exit at start.
build: $(WEED)
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ $(addprefix ./,$(SERVICES)) ./knative/cmd/parley-dev
	cd knative/devstack/ferretdb && $(GO) build -o ../../../$(BIN)/ferretdb .
	ln -sf $(abspath $(WEED)) $(BIN)/weed
	GOBIN=$(abspath $(BIN)) $(GO) install knative.dev/serving/cmd/queue@$$($(GO) list -m -f '{{.Version}}' knative.dev/serving)

$(STATE)/seaweedfs/weed-%:
	@mkdir -p $(@D)
	cd knative/devstack/seaweedfs && $(GO) build -o $(abspath $@).tmp github.com/seaweedfs/seaweedfs/weed
	mv $@.tmp $@

run: build web $(ORT_LIB) $(DEMO_MODEL)/model.onnx
	PARLEY_MODEL_DIR=$(RUN_MODEL) ./$(BIN)/parley-dev

$(ORT_LIB):
	@command -v npm >/dev/null || { echo "fetching onnxruntime needs npm (apt-get install npm)"; exit 1; }
	@mkdir -p $(STATE)/lib $(STATE)/tmp
	cd $(STATE)/tmp && npm pack --silent onnxruntime-node@$(ORT_VERSION) >/dev/null && \
		tar xzf onnxruntime-node-$(ORT_VERSION).tgz package/bin/napi-v6/linux/x64/libonnxruntime.so.1 && \
		mv package/bin/napi-v6/linux/x64/libonnxruntime.so.1 ../lib/ && rm -rf package onnxruntime-node-$(ORT_VERSION).tgz

onnxruntime: $(ORT_LIB)

# The browser client (web/), served by the connector from web/dist.
web: web/node_modules
	cd web && npm run --silent build

web/node_modules: web/package-lock.json
	cd web && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch web/node_modules

$(DEMO_MODEL)/model.onnx:
	$(GO) run ./functions/moderation/cmd/demomodel -out $(DEMO_MODEL)

# The source, commit and checksums are in functions/moderation/internal/modelfetch.
model: $(ORT_LIB)
	$(GO) run ./functions/moderation/cmd/fetchmodel -out $(TRAINED_MODEL)

test: lint test-go test-web

test-web: web/node_modules
	cd web && npx vitest run

# The packages whose tests start Redis (devstacktest.Run with Redis or All)
# run once more on a Redis Cluster of three masters (sharded pub/sub, slots
# by hash tag; knative/stores.RedisURL).
REDIS_PACKAGES = $(shell grep -rlE --include='*_test.go' 'devstacktest\.Run\(m, [^)]*(devstack\.Redis|devstack\.All)' \
	connector functions knative proto | xargs -n1 dirname | sort -u | sed 's|^|./|')

test-go: $(ORT_LIB) $(WEED)
	$(GO) test $(GOTEST_FLAGS) ./...
	PARLEY_TEST_REDIS_CLUSTER=3 $(GO) test $(GOTEST_FLAGS) $(REDIS_PACKAGES)

# staticcheck and actionlint are pinned as tools in go.mod; shellcheck is
# Debian's (actionlint also runs it on workflow steps when it is installed).
lint:
	@fmt=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$fmt" ]; then echo "gofmt needed:"; echo "$$fmt"; exit 1; fi
	$(GO) vet ./...
	cd knative/devstack/ferretdb && $(GO) vet ./...
	$(GO) tool staticcheck ./...
	shellcheck .ci/run knative/deploy/*.sh
	$(GO) tool actionlint

# protoc comes from Debian's protobuf-compiler; the Go plugins are pinned
# as tools in go.mod, so the generated code is reproducible.
generate:
	@command -v protoc >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -q protobuf-compiler libprotobuf-dev; } || \
		{ echo "make generate needs protoc: apt-get install protobuf-compiler"; exit 1; }
	$(GO) generate ./...

# Macro benchmarks run once (they measure distributions inside); micro
# benchmarks run on one core so their rates are per core.
bench: $(ORT_LIB)
	$(GO) test -run '^$$' -bench . -benchtime 1x -count 1 ./knative/emulator/ ./functions/auth/
	$(GO) test -run '^$$' -bench . -cpu 1 -count 1 ./connector/internal/authn/ ./connector/internal/seqs/
	$(GO) test -run '^$$' -bench 'SendPath|ReactPath' -benchtime 2000x -count 1 ./connector/internal/ws/
	$(GO) test -run '^$$' -bench Envelope -benchtime 2000x -cpu 1,2 -count 1 ./connector/internal/hub/
	$(GO) test -run '^$$' -bench . -benchtime 3s -count 1 ./functions/moderation/internal/classify/
	$(GO) test -run '^$$' -bench . -count 1 ./functions/moderation/internal/wordpiece/
	$(GO) test -run '^$$' -bench 'StoreOpsPer(Message|Reply)|ReserveSeqs' -benchtime 1x -count 1 -v ./functions/persist/ ./functions/moderation/ ./functions/notification/ ./functions/search/
	$(GO) test -run '^$$' -bench . -benchtime 1x -count 1 -timeout 30m ./knative/platform/

# Parley beside Centrifugo, the server people would pick instead (see
# knative/BENCHMARKS.md). Centrifugo is built from the Go module proxy in
# module mode, outside Parley's go.mod, with build and module caches of its
# own under $(PEERS) (about 5 minutes cold); PEERS_* shorten the runs.
PEERS := $(STATE)/peers
CENTRIFUGO_VERSION := 6.9.1
CENTRIFUGO := $(PEERS)/centrifugo-$(CENTRIFUGO_VERSION)/centrifugo

bench-peers: $(ORT_LIB) $(DEMO_MODEL)/model.onnx $(CENTRIFUGO)
	PEERS_CENTRIFUGO=$(abspath $(CENTRIFUGO)) PARLEY_MODEL_DIR=$(RUN_MODEL) $(GO) run ./knative/cmd/parley-peers

$(CENTRIFUGO):
	@mkdir -p $(@D)
	GOBIN=$(abspath $(PEERS)/gobin) GOCACHE=$(abspath $(PEERS)/gocache) GOMODCACHE=$(abspath $(PEERS)/gomod) GOFLAGS=-modcacherw \
		$(GO) install -ldflags "-X github.com/centrifugal/centrifugo/v6/internal/build.Version=$(CENTRIFUGO_VERSION)" \
		github.com/centrifugal/centrifugo/v6@v$(CENTRIFUGO_VERSION)
	mv $(PEERS)/gobin/centrifugo $@

# Knative on Minikube (needs minikube, kubectl, ko): see knative/deploy/.
deploy:
	PARLEY_MODEL_DIR=$${PARLEY_MODEL_DIR:-$(if $(wildcard $(TRAINED_MODEL)/model.onnx),$(abspath $(TRAINED_MODEL)))} knative/deploy/deploy.sh

undeploy:
	knative/deploy/undeploy.sh

clean:
	rm -rf $(BIN) web/dist
