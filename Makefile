# Two commands from a fresh clone:  `make demo`  and  `make test`  (each installs what it needs first).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
# torch is pinned on every pip line: a free resolution pulls a newer torch plus gigabytes of CUDA packages.
# --no-compile: Python compiles what it imports on first use; byte-compiling all of torch & co. up front
# cost minutes of every fresh install (CI included).
TORCH  := torch==2.13.0
# Python's own bytecode cache stays on for everything make runs, whatever the shell says: with
# PYTHONDONTWRITEBYTECODE set (some sandboxes and CI images set it) every `s2l` process compiles torch & co.
# from source again, about 5 s per start, and the tests start the CLI more than a hundred times.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: install demo test lint bench clean

$(BIN)/s2l: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-compile "$(TORCH)" -e ".[dev,ray,tts,nle]"
	touch $@

install: $(BIN)/s2l

# The main job on the built-in sample speaker.
demo: install
	mkdir -p demo
	$(BIN)/s2l sample speaker -o demo/sample --force
	$(BIN)/s2l profile build demo/sample/speaker.mp4 -o demo/sample.prof --preset fast --budget 4 --force
	$(BIN)/s2l profile info demo/sample.prof
	$(BIN)/s2l evaluate demo/sample.prof --report demo/sample.report --force
	$(BIN)/s2l sample speech -o demo/line.wav --seconds 10 --seed 7 --force
	$(BIN)/s2l dub demo/sample.prof demo/line.wav -o demo/line.mp4 --force
	@echo "demo outputs in demo/: sample/ (speaker.mp4, speech.wav, truth.csv), sample.prof, sample.report/report.html,"
	@echo "  line.mp4 (the sample speaker saying line.wav, new speech it never heard)"

# Two pytest-xdist workers, a whole test file at a time (module fixtures built once); the long-trained and
# the tiny profile are built once for both (tests/conftest.py: built_once). About half the wall time on 2 cores.
TEST_WORKERS ?= 2
test: install
	$(BIN)/python -m pytest -q -rs -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

lint: install
	$(BIN)/ruff check s2l_model s2l_cli tests bench
	$(BIN)/ruff format --check s2l_model s2l_cli tests bench

bench: install
	$(BIN)/python bench/media.py

clean:
	rm -rf $(VENV) demo bench/out .pytest_cache
