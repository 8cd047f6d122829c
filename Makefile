# The two commands: `make run` and `make test`. Everything else is a step of theirs.
# Python 3.13 (Lambda's python3.13): pyenv's if it has one, else the one on PATH.
PYTHON ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13) python3.13)
VENV   := .venv
BIN    := $(VENV)/bin
PORT   ?= 3000
STAMP  := $(VENV)/.installed

.PHONY: install browser run test lint typecheck cfn-lint sam-validate unit integration e2e \
	bench clean screenshots deploy-storefront

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

# The storefront's browser tests drive Debian's Chromium through Playwright (its driver comes
# in the pip wheel; Playwright downloads no browser here): installed once, when missing.
CHROMIUM := /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

browser: $(CHROMIUM)

$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium

run: install
	$(BIN)/shop serve --port $(PORT) --demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

cfn-lint: install
	$(BIN)/python -m shop_local.lint_template template.yaml

# SAM's own check (`sam validate --lint`), as deploying runs it; the CLI in a venv of its own,
# since its pins are not the suite's.
SAM_VENV := .local/sam-cli
SAM_CLI_VERSION := 1.170.0

$(SAM_VENV)/bin/sam:
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check aws-sam-cli==$(SAM_CLI_VERSION)

sam-validate: $(SAM_VENV)/bin/sam
	SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam validate --lint --region eu-west-1 --template template.yaml

# The end-to-end tests drive platforms in processes of their own (`shop serve`), the rest one
# platform in pytest's: each mostly keeps one core busy, so on two cores they run side by side.
# The crowd tests (marked `crowd`) run last and wait for the end-to-end ones to finish.
E2E_LOG := .local/e2e-tests.log

test: lint typecheck cfn-lint sam-validate browser
	@mkdir -p .local
	@$(BIN)/pytest -q -p no:cacheprovider tests/e2e > $(E2E_LOG) 2>&1 & e2e=$$!; \
	SHOP_TESTS_BESIDE=$$e2e $(BIN)/pytest -q --ignore=tests/e2e; suite=$$?; \
	wait $$e2e; e2e_status=$$?; \
	echo "--- end-to-end tests (tests/e2e, full log in $(E2E_LOG)):"; \
	grep -v '^{"level"' $(E2E_LOG) | tail -n 40; \
	test $$suite -eq 0 && test $$e2e_status -eq 0

# docs/screenshots/*.png, for the README: the storefront's browser tests, taking them.
screenshots: install browser
	SHOP_STOREFRONT_SCREENSHOTS=1 $(BIN)/pytest -q -p no:cacheprovider tests/e2e/test_storefront.py

# storefront/ to the deployed stack's bucket, with its config.json (see README, Storefront).
deploy-storefront: install
	$(BIN)/python -m shop_local.deploy_storefront --stack $(STACK) \
		--stripe-publishable-key $(STRIPE_PUBLISHABLE_KEY)

bench: install
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .local .pytest_cache .mypy_cache .ruff_cache
