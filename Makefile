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
main: setup engines
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

## Issue 18 (corpus and recipe proposed, not run yet). 60,000 utterances: the 45,000 of
## $(CORPUS_BIG) (eSpeak, linked from it, not synthesized again: --reuse-from) and 15,000 flite ones
## (train 13,500 with voices kal, kal16, awb, rms; dev 750; test 750 in all five voices, slt only
## there). test-espeak.csv has the rows of $(CORPUS)/test.csv; no dev or test sentence of either
## engine is trained on. Synthesis: about 45 minutes for the flite part on 2 loaded cores
## (5.9 utterances/s measured; eSpeak 10.9/s, so about 70 more minutes without --reuse-from).
## Proposed training, within today's 2-hour budget on 2 cores (train.csv: about 57,000 utterances,
## 40 h of audio; today's stage 2 read 29.7 h in 13.7 minutes, today's stage 1 146 h in 100 minutes):
##   1. from scratch, 100 minutes (about 3.5 epochs):
##      train --train $(CORPUS_MULTI)/train.csv --dev $(CORPUS_MULTI)/dev.csv --out runs/train-multi \
##            --n-hidden 384 --epochs 40 --max-minutes 100
##   2. 20 minutes from stage 1's best at learning rate 5e-4, model chosen on the flite dev split:
##      train --train $(CORPUS_MULTI)/train.csv --dev $(CORPUS_MULTI)/dev-flite.csv --out runs/train-multi-2 \
##            --init-checkpoint runs/train-multi/best --learning-rate 5e-4 --epochs 2 --max-minutes 20
##   3. export-model with --lm-csv $(CORPUS_MULTI)/train.csv, tools/tune_lm.py on $(CORPUS_MULTI)/dev.csv, then
##      evaluate --csv $(CORPUS_MULTI)/test.csv --corpus $(CORPUS_MULTI) (CER/WER per engine and per voice).
## Baseline of today's model (README, "Corpora from several synthesis engines"): flite CER 0.70 beam + LM.
corpus-multi: setup engines corpus-big
	$(PY) -m deepspeech_audio_features corpus --out $(CORPUS_MULTI) --utterances 30000 --seed 0 --extra-train 30000 \
		--engines espeak:0.5,flite:0.5 --flite-test-voices slt --reuse-from $(CORPUS_BIG)

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
