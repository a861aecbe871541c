# The two commands a newcomer needs: `make demo` and `make test`. Each creates .venv/ from the
# lock when it is missing or older than the lock or setup.py.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: setup demo test test-quick lock bench clean

setup: $(STAMP)

$(STAMP): requirements.lock setup.py .ci/setup-venv
	bash .ci/setup-venv
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/tfx-transfer demo --workdir demo_out

test: $(STAMP)
	$(PY) -m pytest tests $(PYTEST_ARGS)

test-quick: $(STAMP)
	$(PY) -m pytest tests -m "not slow" $(PYTEST_ARGS)

lock:
	uv pip compile --quiet --python-version 3.10 requirements.in -o requirements.lock

bench: $(STAMP)
	$(PY) bench/extract_throughput.py

clean:
	rm -rf $(VENV) .cache demo_out
