# The two commands a newcomer needs: `make run` and `make test`. See README.md.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
export PYTHONPATH := $(CURDIR):$(CURDIR)/gen
INFRA = servers="$$(bash deploy/local/infra.sh)" && eval "$$servers"
PROTOS = $(shell find proto/loyalty -name '*.proto')

help:
	@echo "make run    start PostgreSQL + RabbitMQ (if needed) and every service"
	@echo "make test   the whole test suite against real PostgreSQL + RabbitMQ"
	@echo "make demo   the services seeded with a year of demo data (DEMO_MEMBERS=2000), and a tour"
	@echo "make lint   ruff, mypy, buf lint, buf breaking, generated-file checks, deploy linters"
	@echo "make proto  generate Python code from proto/"
	@echo "make bench  benchmarks (tests/perf), JSON in .bench/"
	@echo "make asyncapi  regenerate docs/asyncapi.yaml from proto/loyalty/*/v1/events.proto"
	@echo "make deploy-files  regenerate deploy/ files from services/kit/ports.py"
	@echo "make chaos  the suite under load while processes are killed and servers restarted,"
	@echo "            then the conservation checks (private servers; CHAOS_SECONDS, CHAOS_SEED)"

$(VENV)/.installed: requirements.lock pyproject.toml clients/storefront/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements.lock
	touch $@

venv: $(VENV)/.installed

gen/.stamp: $(PROTOS) $(VENV)/.installed
	rm -rf gen && mkdir -p gen
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(PY) -m grpc_tools.protoc -I proto \
	  --python_out=gen --grpc_python_out=gen --mypy_out=quiet:gen $(PROTOS)
	find gen -mindepth 1 -type d -exec touch {}/__init__.py \;
	touch $@

proto: gen/.stamp

# The deploy linters in a virtualenv of their own: checkov pins many libraries of its own.
LINT_VENV := .venv-lint
# The Kubernetes versions the manifests are validated against (oldest and newest supported).
K8S_VERSIONS := 1.30 1.37

$(LINT_VENV)/.installed: requirements-lint.lock
	$(PYTHON) -m venv $(LINT_VENV)
	$(LINT_VENV)/bin/pip install -q --disable-pip-version-check -r requirements-lint.lock
	touch $@

# kubernetes-validate looks a kind's schema up in its own folders of schemas: the CRDs' schemas
# (deploy/k8s/schemas, see its README) go beside the strict ones of every Kubernetes version.
$(LINT_VENV)/.schemas: $(LINT_VENV)/.installed $(wildcard deploy/k8s/schemas/*.json)
	schemas="$$($(LINT_VENV)/bin/python -c 'import kubernetes_validate, pathlib; \
	  print(pathlib.Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema")')" && \
	for dir in "$$schemas"/v*-local-strict; do cp deploy/k8s/schemas/*.json "$$dir"/ || exit 1; done
	touch $@

# Renders every overlay (full: prod with every component), validates the result strictly
# (a kind without a schema counts as a failure: kubernetes-validate only warns of it) and runs
# checkov on it (its skips are annotations beside their reasons); parses the alerts' PromQL;
# lints the Dockerfile.
lint-deploy: $(LINT_VENV)/.schemas
	$(LINT_VENV)/bin/hadolint deploy/docker/Dockerfile
	@rendered="$$(mktemp -d)" && trap 'rm -rf "$$rendered"' EXIT && \
	for overlay in dev prod full; do \
	  $(LINT_VENV)/bin/kubectl kustomize deploy/k8s/overlays/$$overlay > "$$rendered/$$overlay.yaml" || exit 1; \
	done && \
	echo "kubernetes-validate --strict: $(K8S_VERSIONS)" && \
	found="$$($(LINT_VENV)/bin/kubernetes-validate --strict --quiet $(addprefix -k ,$(K8S_VERSIONS)) "$$rendered"/*.yaml 2>&1)"; \
	status=$$?; if [ $$status -ne 0 ] || [ -n "$$found" ]; then echo "$$found"; exit 1; fi && \
	$(LINT_VENV)/bin/checkov --quiet --compact --skip-download --framework kubernetes -d "$$rendered"
	$(LINT_VENV)/bin/python -m tools.check_rules deploy/k8s/components/monitoring/rules.yaml

node_modules/.bin/buf: package.json package-lock.json
	npm ci --silent --no-audit --no-fund
	touch $@

lint: venv proto node_modules/.bin/buf
	$(VENV)/bin/ruff check services tests tools clients
	$(VENV)/bin/ruff format --check services tests tools clients
	$(VENV)/bin/mypy
	cd proto && ../node_modules/.bin/buf lint
	@if git rev-parse --verify -q main >/dev/null && git cat-file -e main:proto/buf.yaml 2>/dev/null; then \
	  cd proto && ../node_modules/.bin/buf breaking --against '../.git#branch=main,subdir=proto'; \
	else echo "buf breaking: no proto on main yet, skipped"; fi
	$(PY) -m tools.asyncapi --check
	$(PY) -m tools.deploy_files --check
	CI=true ASYNCAPI_METRICS_CONFIG_PATH=node_modules/.asyncapi-analytics node_modules/.bin/asyncapi validate docs/asyncapi.yaml
	@$(MAKE) --no-print-directory lint-deploy

asyncapi: venv proto
	$(PY) -m tools.asyncapi

deploy-files: venv
	$(PY) -m tools.deploy_files

run: venv proto
	@deploy/local/run.sh

# buf runs the README's examples in a test; without npm that test is skipped, saying why.
NPM_TOOLS = $(if $(shell command -v npm 2>/dev/null),node_modules/.bin/buf)

test: venv proto $(NPM_TOOLS)
	@$(INFRA) && $(PY) -m pytest $(PYTEST_ARGS)

# The services as `make run` starts them, a storefront's year seeded through their public API
# (tools/demo), then a tour of `buf curl` lines (buf from npm, as the README's examples use it).
demo: venv proto $(NPM_TOOLS)
	@tools/demo/demo.sh

bench: venv proto
	@$(INFRA) && $(PY) -m tests.perf $(BENCH)

# Runs its own PostgreSQL and RabbitMQ (deploy/local/infra.sh on other ports, .local/chaos/),
# which it restarts and removes: never the servers `make run` and `make test` use.
chaos: venv proto
	@$(PY) -m tools.chaos

.PHONY: help venv proto lint lint-deploy asyncapi deploy-files run test bench demo chaos
