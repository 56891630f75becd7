# One venv in the repo root; every target installs what it needs first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# requirements-gpu.txt installs TensorFlow with CUDA instead (see README, "GPU").
REQUIREMENTS ?= requirements.txt
CORPUS := data/corpus
CORPUS_BIG := data/corpus-big
CORPUS_MULTI := data/corpus-multi
TRAIN_RUN := runs/train-synth-en

.PHONY: setup browser engines notebook main test test-all corpus corpus-big corpus-multi train embedded-model benchmark clean

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

## Headless Chromium for the tests that open HTML outputs (Debian's package, installed once).
browser:
	@command -v chromium >/dev/null || (test "$$(id -u)" = 0 && command -v apt-get >/dev/null && \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)) || \
		echo "note: chromium is missing and could not be installed: the browser tests will be skipped"

## Speech synthesis engines that are system programs (flite: Debian's package, installed once).
## eSpeak NG comes with the Python requirements.
engines:
	@command -v flite >/dev/null && command -v t2p >/dev/null || (test "$$(id -u)" = 0 && command -v apt-get >/dev/null && \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq flite >/dev/null)) || \
		echo "note: flite is missing and could not be installed (apt-get install -y flite as root): the flite tests will be skipped"

## Open the notebook in JupyterLab (installed into .venv on first use; not needed by main or test).
notebook: setup
	$(PY) -c "import jupyterlab" 2>/dev/null || $(PY) -m pip install -q jupyterlab==4.6.6
	$(PY) -m jupyter lab notebook.ipynb

## The test suite (fast default; slow paths are marked and run by test-all).
test: setup browser engines
	$(PY) -m pytest -q -m "not slow"

test-all: setup browser engines
	$(PY) -m pytest -q

## The synthesized corpus (deterministic, git-ignored) and the embedded model's training.
corpus: setup engines
	$(PY) -m deepspeech_audio_features corpus --out $(CORPUS) --utterances 15000 --seed 0

## The same corpus plus 30,000 train utterances with new sentences (dev and test identical).
corpus-big: setup
	$(PY) -m deepspeech_audio_features corpus --out $(CORPUS_BIG) --utterances 15000 --seed 0 --extra-train 30000

## Issue 18 (not run yet): 15,000 eSpeak utterances, exactly those of $(CORPUS) (indices 0-14,999, so
## its wavs can be copied in and are kept: cp -al $(CORPUS)/wav $(CORPUS_MULTI)/ before the first run is
## NOT enough, the plan digest differs; run it and let it synthesize, about 40 min on 2 loaded cores),
## then 15,000 flite utterances (voices kal, kal16, awb, rms; slt only in test-flite.csv), with
## 30,000 more eSpeak train utterances with new sentences. Splits per engine: dev-espeak.csv,
## test-espeak.csv, dev-flite.csv, test-flite.csv (and the combined dev.csv/test.csv).
## Proposed recipe for the retrained model (2-hour CPU budget, 2 cores):
##   1. 80 min from scratch on train.csv (15,000 eSpeak + 13,500 flite train + 30,000 extra eSpeak),
##      dev = dev.csv (both engines), n_hidden 384;
##   2. 25 min fine-tune at learning rate 5e-4 on the same train.csv, dev = dev-flite.csv;
##   3. 15 min: export, LM from train.csv (it holds no dev or test sentence of any engine), tune_lm on dev.csv,
##      evaluate --csv test.csv --corpus $(CORPUS_MULTI) (per engine and per held-out voice).
corpus-multi: setup engines
	$(PY) -m deepspeech_audio_features corpus --out $(CORPUS_MULTI) --utterances 30000 --seed 0 \
		--engines espeak:0.5,flite:0.5 --flite-test-voices slt --extra-train 30000

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
