# One venv in the repo root; every target installs what it needs first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# requirements-gpu.txt installs TensorFlow with CUDA instead (see README, "GPU").
REQUIREMENTS ?= requirements.txt
CORPUS := data/corpus
CORPUS_BIG := data/corpus-big
TRAIN_RUN := runs/train-synth-en

.PHONY: setup browser notebook main test test-all corpus corpus-big train embedded-model benchmark clean

setup: $(STAMP)

$(STAMP): $(REQUIREMENTS) requirements-base.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r $(REQUIREMENTS)
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

## The main job: all experiments on the embedded model, then the executed notebook (+ HTML).
main: setup
	$(PY) tools/build_notebook.py
	$(PY) -m deepspeech_audio_features transcribe deepspeech_audio_features/assets/audio/*.wav
	$(PY) -m deepspeech_audio_features experiments
	$(PY) tools/run_notebook.py notebook.ipynb --html notebook.html

## Headless Chromium and Firefox for the tests that open HTML outputs (Debian's packages, installed once;
## the tests drive them over their own debugging ports: no driver download).
browser:
	@command -v chromium >/dev/null || (test "$$(id -u)" = 0 && command -v apt-get >/dev/null && \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)) || \
		echo "note: chromium is missing and could not be installed: the browser tests will be skipped"
	@command -v firefox-esr >/dev/null || command -v firefox >/dev/null || (test "$$(id -u)" = 0 && \
		command -v apt-get >/dev/null && (apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq firefox-esr >/dev/null)) || \
		echo "note: firefox-esr is missing and could not be installed: the Firefox tests will be skipped"

## Open the notebook in JupyterLab (installed into .venv on first use; not needed by main or test).
notebook: setup
	$(PY) -c "import jupyterlab" 2>/dev/null || $(PY) -m pip install -q jupyterlab==4.6.6
	$(PY) -m jupyter lab notebook.ipynb

## The test suite (fast default; slow paths are marked and run by test-all).
test: setup browser
	$(PY) -m pytest -q -m "not slow"

test-all: setup browser
	$(PY) -m pytest -q

## The synthesized corpus (deterministic, git-ignored) and the embedded model's training.
corpus: setup
	$(PY) -m deepspeech_audio_features corpus --out $(CORPUS) --utterances 15000 --seed 0

## The same corpus plus 30,000 train utterances with new sentences (dev and test identical).
corpus-big: setup
	$(PY) -m deepspeech_audio_features corpus --out $(CORPUS_BIG) --utterances 15000 --seed 0 --extra-train 30000

## Two stages, under 2 hours of training on 2 cores: 100 minutes on the corpus, then one
## epoch over the bigger corpus's new sentences (what helped most; see deepspeech_audio_features/assets/models/README.md).
train: corpus corpus-big
	$(PY) -m deepspeech_audio_features train --train $(CORPUS)/train.csv --dev $(CORPUS)/dev.csv \
		--out $(TRAIN_RUN) --n-hidden 384 --epochs 40 --max-minutes 100
	$(PY) -m deepspeech_audio_features train --train $(CORPUS_BIG)/train.csv --dev $(CORPUS)/dev.csv \
		--out $(TRAIN_RUN)-big --init-checkpoint $(TRAIN_RUN)/best --learning-rate 5e-4 --epochs 1 --max-minutes 20

## Export the best checkpoint of `make train` as the embedded model, with its language model.
embedded-model: setup
	$(PY) -m deepspeech_audio_features export-model $(TRAIN_RUN)-big/best --to deepspeech_audio_features/assets/models/synth-en \
		--lm-csv $(CORPUS_BIG)/train.csv
	$(PY) tools/tune_lm.py --checkpoint deepspeech_audio_features/assets/models/synth-en --csv $(CORPUS)/dev.csv --limit 300 \
		--alphas 0.2,0.35,0.5,0.7,0.93 --betas=-1,0,1,2 --write

benchmark: setup
	$(PY) benchmarks/forward.py

clean:
	rm -rf $(VENV) .pytest_cache
