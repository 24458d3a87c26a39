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
	@echo "make lint   ruff, mypy, buf lint, buf breaking, generated-file checks"
	@echo "make proto  generate Python code from proto/"
	@echo "make bench  benchmarks (tests/perf), JSON in .bench/"
	@echo "make asyncapi  regenerate docs/asyncapi.yaml from proto/loyalty/*/v1/events.proto"
	@echo "make deploy-files  regenerate deploy/ files from services/kit/ports.py"

$(VENV)/.installed: requirements.lock pyproject.toml
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

node_modules/.bin/buf: package.json package-lock.json
	npm ci --silent --no-audit --no-fund
	touch $@

lint: venv proto node_modules/.bin/buf
	$(VENV)/bin/ruff check services tests tools
	$(VENV)/bin/ruff format --check services tests tools
	$(VENV)/bin/mypy
	cd proto && ../node_modules/.bin/buf lint
	@if git rev-parse --verify -q main >/dev/null && git cat-file -e main:proto/buf.yaml 2>/dev/null; then \
	  cd proto && ../node_modules/.bin/buf breaking --against '../.git#branch=main,subdir=proto'; \
	else echo "buf breaking: no proto on main yet, skipped"; fi
	$(PY) -m tools.asyncapi --check
	$(PY) -m tools.deploy_files --check
	CI=true ASYNCAPI_METRICS_CONFIG_PATH=node_modules/.asyncapi-analytics node_modules/.bin/asyncapi validate docs/asyncapi.yaml

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

bench: venv proto
	@$(INFRA) && $(PY) -m tests.perf $(BENCH)

.PHONY: help venv proto lint asyncapi deploy-files run test bench
