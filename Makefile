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
CORPUS_VOICES := data/corpus-voices
TRAIN_RUN := runs/train-synth-en

.PHONY: setup browser engines notebook main test test-all corpus corpus-big corpus-multi corpus-voices train embedded-model benchmark clean

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

## eSpeak and flite: the 45,000 utterances of $(CORPUS_BIG) (eSpeak, linked from it, not synthesized
## again: --reuse-from) and 15,000 flite ones (train 13,500 with voices kal, kal16, awb, rms; dev 750; test
## 750 in all five voices, slt only there). test-espeak.csv has the rows of $(CORPUS)/test.csv; no dev or
## test sentence of either engine is trained on. About 45 minutes for the flite part on 2 loaded cores.
corpus-multi: setup engines corpus-big
	$(PY) -m deepspeech_audio_features corpus --out $(CORPUS_MULTI) --utterances 30000 --seed 0 --extra-train 30000 \
		--engines espeak:0.5,flite:0.5 --flite-test-voices slt --reuse-from $(CORPUS_BIG)

## All four engine families: the 60,000 eSpeak and flite utterances of $(CORPUS_MULTI) (linked, not synthesized
## again) and 4,000 neural ones: Piper's joe (1,000) and Kokoro (3,000; jf_tebukuro only in the test split).
## About 25 minutes for the neural part on 2 cores.
corpus-voices: setup engines corpus-multi
	$(PY) -m deepspeech_audio_features corpus --out $(CORPUS_VOICES) --utterances 34000 --seed 0 --extra-train 30000 \
		--engines espeak:15000,flite:15000,piper:1000,kokoro:3000 --flite-test-voices slt --reuse-from $(CORPUS_MULTI)

## Four stages on 2 cores (see deepspeech_audio_features/assets/models/README.md): 100 minutes on the
## eSpeak corpus, one epoch over the bigger corpus's new sentences (20 minutes at most), 60 minutes on an
## equal mix of eSpeak and flite utterances (the flite voices kal, kal16, awb, rms; slt stays held out),
## then 45 minutes on all four engine families (6,000 eSpeak, 6,000 flite, every Piper and Kokoro train
## utterance; Kokoro's jf_tebukuro stays held out).
train: corpus corpus-big corpus-multi corpus-voices
	$(PY) -m deepspeech_audio_features train --train $(CORPUS)/train.csv --dev $(CORPUS)/dev.csv \
		--out $(TRAIN_RUN) --n-hidden 384 --epochs 40 --max-minutes 100
	$(PY) -m deepspeech_audio_features train --train $(CORPUS_BIG)/train.csv --dev $(CORPUS)/dev.csv \
		--out $(TRAIN_RUN)-big --init-checkpoint $(TRAIN_RUN)/best --learning-rate 5e-4 --epochs 1 --max-minutes 20
	$(PY) tools/mix_csv.py $(CORPUS_MULTI)/train-espeak.csv $(CORPUS_MULTI)/train-flite.csv \
		--out $(CORPUS_MULTI)/train-mix.csv --per-csv 13500 --seed 0
	$(PY) -m deepspeech_audio_features train --train $(CORPUS_MULTI)/train-mix.csv --dev $(CORPUS_MULTI)/dev.csv \
		--out $(TRAIN_RUN)-multi --init-checkpoint $(TRAIN_RUN)-big/best --learning-rate 5e-4 --frequency-warp 0.1 \
		--epochs 10 --max-minutes 60
	$(PY) tools/mix_csv.py $(CORPUS_VOICES)/train-espeak.csv $(CORPUS_VOICES)/train-flite.csv \
		$(CORPUS_VOICES)/train-piper.csv $(CORPUS_VOICES)/train-kokoro.csv --out $(CORPUS_VOICES)/train-mix.csv \
		--per-csv 6000 --seed 0
	$(PY) -m deepspeech_audio_features train --train $(CORPUS_VOICES)/train-mix.csv --dev $(CORPUS_VOICES)/dev.csv \
		--out $(TRAIN_RUN)-voices --init-checkpoint $(TRAIN_RUN)-multi/best --learning-rate 5e-4 --frequency-warp 0.1 \
		--epochs 20 --max-minutes 45

## Export the best checkpoint of `make train` as the embedded model, with its language model (the
## transcripts of every engine's training split), its weights tuned on 300 dev utterances (75 per engine).
embedded-model: setup
	$(PY) -m deepspeech_audio_features export-model $(TRAIN_RUN)-voices/best --to deepspeech_audio_features/assets/models/synth-en \
		--lm-csv $(CORPUS_VOICES)/train.csv
	$(PY) tools/mix_csv.py $(CORPUS_VOICES)/dev-espeak.csv $(CORPUS_VOICES)/dev-flite.csv $(CORPUS_VOICES)/dev-piper.csv \
		$(CORPUS_VOICES)/dev-kokoro.csv --out $(CORPUS_VOICES)/dev-mix.csv --per-csv 75 --seed 0
	$(PY) tools/tune_lm.py --checkpoint deepspeech_audio_features/assets/models/synth-en --csv $(CORPUS_VOICES)/dev-mix.csv --limit 300 \
		--alphas 0.35,0.5,0.7,0.93 --betas=0,1,2 --write
	$(PY) tools/corpus_mfcc_mean.py --csv $(CORPUS_VOICES)/train-mix.csv --out deepspeech_audio_features/assets/models/synth-en/mfcc_mean.json

benchmark: setup
	$(PY) benchmarks/forward.py

clean:
	rm -rf $(VENV) .pytest_cache
