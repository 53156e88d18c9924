# Gaia IAM. `make run` starts a development server on embedded SQLite;
# `make test` runs every test (PostgreSQL ones too when GAIA_TEST_POSTGRES_URL is set).

GO    ?= go
BIN   ?= bin/gaia-iam
# The race detector needs cgo; use it wherever a C compiler is present.
RACE  ?= $(if $(filter 1,$(shell $(GO) env CGO_ENABLED)),-race,)

.PHONY: run build test lint bench tidy clean spa demo

## run: start the server on gaia-data/gaia.db with the example seed
# The binary is exec'd, not `go run`, so SIGINT/SIGTERM reach the server itself.
run: build gaia-data/dev.env
	set -a && . ./gaia-data/dev.env && set +a && \
	  GAIA_CORS_ALLOWED_ORIGINS="$${GAIA_CORS_ALLOWED_ORIGINS-$(SPA_ORIGIN)}" exec $(BIN) serve

# Development-only client secrets for the example seed's clients, made once
# with mode 0600. A variable already set in the environment wins.
gaia-data/dev.env:
	@mkdir -p gaia-data && chmod 700 gaia-data
	@umask 077 && { \
	  echo '# Development-only secrets written by make run. Never use them in production.'; \
	  echo "GAIA_WEB_CLIENT_SECRET=\$${GAIA_WEB_CLIENT_SECRET:-$$(head -c 30 /dev/urandom | base64 | tr '+/' '-_')}"; \
	  echo "INVENTORY_SERVICE_SECRET=\$${INVENTORY_SERVICE_SECRET:-$$(head -c 30 /dev/urandom | base64 | tr '+/' '-_')}"; \
	} > $@
	@echo "make: wrote development client secrets to $@ (mode 0600)" >&2

## build: the gaia-iam binary, without cgo, stamped with git describe (gaia-iam --version)
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null)
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/gaia-iam

## test: every test, with the race detector where cgo is available
test:
	@if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory spa; \
	  else echo "make: npm not found: the demo SPA is not built and its browser test skips" >&2; fi
	$(GO) test $(RACE) -count=1 -timeout 20m ./...

## test-replicas: two gaia-iam serve processes on one PostgreSQL behave as one server
# Needs GAIA_TEST_POSTGRES_URL (it fails without it); `make test` runs it too when it is set.
.PHONY: test-replicas
test-replicas:
	GAIA_REQUIRE_POSTGRES=1 $(GO) test $(RACE) -count=1 -timeout 10m -run '^TestReplicas' -v ./conformance/

## lint: gofmt, go vet, staticcheck, and a tidy go.mod
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:" $$out; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...
	$(GO) mod tidy -diff

## bench: the benchmarks, with their figures
bench:
	$(GO) test -run '^$$' -bench . -benchtime 3s -count 1 -timeout 30m ./...

tidy:
	$(GO) mod tidy

clean:
	rm -rf bin

## spa: build the demo SPA (web/demo-spa) with the locked npm packages
SPA_ORIGIN ?= http://127.0.0.1:5173
spa:
	cd web/demo-spa && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build

## demo: the example inventory service, the BFF demo (http://127.0.0.1:8090) and
## the demo SPA ($(SPA_ORIGIN)), against the server of `make run`
IAM_URL ?= http://127.0.0.1:8080
demo: spa gaia-data/dev.env
	$(GO) build -o bin/example-inventory ./cmd/example-inventory
	$(GO) build -o bin/example-bff ./cmd/example-bff
	set -a; . ./gaia-data/dev.env; set +a; \
	  bin/example-inventory --issuer $(IAM_URL) --audience gaia --cors-allowed-origins $(SPA_ORIGIN) & inv=$$!; \
	  trap 'kill $$inv 2>/dev/null' EXIT INT TERM; \
	  BFF_CLIENT_SECRET="$$GAIA_WEB_CLIENT_SECRET" bin/example-bff --issuer $(IAM_URL) \
	    --spa-listen $(patsubst http://%,%,$(SPA_ORIGIN))
