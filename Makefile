# make demo: set up .venv, then preprocess -> train -> eval -> export on the bundled sample.
# make test: set up .venv, then the test suite (slow end-to-end tests included).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export PIP_CACHE_DIR ?= $(HOME)/.cache/pip
export PYTHONDONTWRITEBYTECODE := 1

DEMO_DIR := demo
# The shipped model's flow (from the shipped encoder, with the linear part, SST's sentences and
# phrases mixed in, identity words swapped) on the 1,000-review and 400-sentence samples:
# reviews cut to 300 tokens, and more, faster epochs than 22,500 reviews need.
DEMO_ARGS := --run_dir $(DEMO_DIR)/run --preprocess_path $(DEMO_DIR)/preprocess \
	--num_epochs 8 --learning_rate 0.003 --max_len 300 --bucket_width 100 --batch_size 32 \
	--mix_sst_path data/sst_sample --mix_sst_phrases 2000 --identity_swaps true

.PHONY: demo test venv clean serve browser bench-venv

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt requirements-cloud.txt requirements-track.txt requirements-serve.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-cloud.txt
	$(PY) -m pip install --quiet -r requirements-track.txt
	$(PY) -m pip install --quiet -r requirements-serve.txt
	$(PY) -m pip install --quiet --no-deps -e .   # `import lstm_sentiment` from any folder
	touch $@

demo: venv
	$(PY) train.py $(DEMO_ARGS) --overwrite_run true   # a second `make demo` starts afresh
	$(PY) eval.py $(DEMO_ARGS)
	$(PY) export.py $(DEMO_ARGS) --checkpoint_file $(DEMO_DIR)/run/lstm-best.ckpt \
		--file_name $(DEMO_DIR)/lstm
	$(PY) -m src.inference.compare $(DEMO_DIR)/run model --aclimdb_path data/aclImdb_sample
	@echo "demo done: accuracy in $(DEMO_DIR)/run/eval.json, model in $(DEMO_DIR)/lstm.mindir"

# Three pytest workers, each taking whole test files (a file's fixtures are built once, its
# msrun launches never meet another file's): the tests spend much of their time in
# single-threaded imports, graph compiles and subprocess start-up, so a third worker fills the
# 2 cores' idle time (7.6 min against 10 with two). The 25 slowest are listed, to keep the
# suite's time in view.
test: venv browser
	$(PY) -m pytest -q -n 3 --dist loadfile --durations=25

# Debian's Chromium and ChromeDriver for the page's browser test (never a downloaded browser).
browser:
	@test -x /usr/bin/chromium -a -x /usr/bin/chromedriver || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver; }

# The Gradio page on the model shipped in model/ (no training needed): http://127.0.0.1:7860
serve: venv
	$(PY) app.py --backend onnxruntime

# The bench peers' venv (scikit-learn, VADER, PyTorch: none of them a project dependency); the
# bench scripts take its interpreter as --peer_python .bench-venv/bin/python.
bench-venv:
	python3 -m venv .bench-venv && .bench-venv/bin/pip install -r requirements-bench.txt

clean:
	rm -rf $(DEMO_DIR) preprocess ckpt .pytest_cache
