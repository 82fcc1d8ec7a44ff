# One command runs the product (make demo), one runs the tests (make test).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum requirements.txt | cut -d' ' -f1)
HOST ?= 127.0.0.1
PORT ?= 8501

.PHONY: venv system-deps demo test lint bench dashboard serve clean

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	rm -f $(VENV)/.installed-* && touch $(STAMP)

venv: $(STAMP)

system-deps:
	./scripts/install-system-deps.sh

demo: system-deps venv
	$(PY) -m flows.demo
	$(MAKE) dashboard

dashboard: venv
	$(VENV)/bin/streamlit run dashboard/app.py --server.address $(HOST) --server.port $(PORT) --server.headless true --browser.gatherUsageStats false --client.toolbarMode viewer

serve: venv
	./scripts/serve.sh

test: system-deps venv
	$(PY) -m ruff check .
	$(PY) -m pytest

lint: venv
	$(PY) -m ruff check .

bench: venv
	$(PY) -m benchmarks.run_all

clean:
	rm -rf .leadscore .pytest_cache .ruff_cache
