# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # What does a DeepSpeech model listen to?
#
# This notebook looks inside a speech recognizer of the DeepSpeech family in two ways:
#
# 1. **Feature visualization**: for each layer, an input learned by gradient ascent so that a few chosen
#    neurons of that layer respond as strongly as possible, and the training utterances that make the
#    same neurons respond most.
# 2. **Importance masks**: for a given utterance, a sparse binary mask over its features that still
#    leaves every frame's classification unchanged (as sparse as the search finds: a local optimum,
#    not provably the sparsest), and what happens to the audio when the time windows
#    the mask calls unimportant are muted.
#
# Every figure, animation and sound below is produced by calls into the `deepspeech_audio_features`
# package. Cells load an experiment's saved outputs when they exist and run the experiment (as
# `python -m deepspeech_audio_features ...` would) when they do not.

# %%
from pathlib import Path

import matplotlib.pyplot as plt
from IPython.display import Audio, Video, display

from deepspeech_audio_features import *
from deepspeech_audio_features.app.study import *

# %matplotlib inline
SETTINGS = StudySettings.from_env()   # DAF_QUICK=1: the small setting the tests use
CHECKPOINT = SETTINGS.checkpoint      # None = the embedded model; or a path to e.g. deepspeech-0.9.3-checkpoint/
model = load_model(CHECKPOINT)
VIDEOS = SETTINGS.runs / "videos"
# Every MFCC picture shows each coefficient as a z-score against real speech (a dev-set sample),
# so learned inputs, recordings and masks share one colour scale; removed mask entries are black.
SCALE = real_speech_scale(model, SETTINGS)
DECODER = "beam search, width 100, with the model's language model"
print(model, "| quick setting" if SETTINGS.quick else "")

# %% [markdown]
# ## DeepSpeech in one paragraph
#
# The input $X$ is a $T \times N$ matrix of mel-frequency cepstral coefficients (MFCCs): one row per
# 20 ms step of audio (each row summarizes a 32 ms window), $N = 26$ coefficients per row. The output
# $y(X)$ is a $T \times K$ matrix whose row $t$ is a probability distribution over the $K = 29$ symbols
# (space, the letters a-z, the apostrophe and the CTC blank) for time step $t$.
#
# In between are six layers, the ones this notebook looks into: each frame is stacked with 9 neighbours
# on each side ($19 \times 26 = 494$ values), then three fully connected layers with clipped ReLUs
# (`layer_1`, `layer_2`, `layer_3`), a unidirectional LSTM (`rnn_output`), another clipped dense layer
# (`layer_5`) and the output layer (`layer_6`, the logits; $y(X)$ is their softmax).
#
# By default the notebook runs the model that ships with the project (trained on speech synthesized with
# eSpeak NG and CMU flite, see its model card `deepspeech_audio_features/assets/models/README.md`); set `DAF_CHECKPOINT`
# (or `CHECKPOINT` above) to the folder of Mozilla's release checkpoint to run the original.

# %% [markdown]
# ## Three example utterances
#
# The study's three sentences, each in a voice the model never heard: `example-1` and `example-3` in eSpeak NG
# voices with held-out voice variants, `example-2` in flite's `slt` (a voice built from recordings of a woman,
# kept out of the training corpus; see below). Their MFCCs (time along the x axis, coefficients up), the audio,
# and the model's transcription (beam search with the model's language model).

# %%
for path, reference in SETTINGS.example_paths():
    x = audio_file_to_mfccs(path, model.upper_frequency_limit)
    example_figure(x, Path(path).name, SCALE, model.upper_frequency_limit)
    plt.show()
    display(Audio(path))
    print(f"reference:           {reference!r}")
    print(f"transcription ({DECODER}): {transcribe(path, model)!r}")
    print(f"transcription (greedy, as in the mask sections below): {transcribe(path, model, beam_width=1)!r}")

# %% [markdown]
# ### Voices of another engine
#
# CMU flite's voices were built from recordings of people (`make engines` installs flite). The embedded model
# was trained on eSpeak NG and, in its last stage, on flite's voices `kal`, `kal16`, `awb` and `rms` (other
# sentences than this one); `slt` was held out of training. The same sentence in four of them, transcribed
# with both decoders (the model card gives the error rates per engine and voice over 1,500 test utterances).

# %%
for path, voice in show_engine_examples(model, SETTINGS)[:2]:
    print(voice)
    display(Audio(path))

# %% [markdown]
# ## Feature visualization
#
# Let $y_i(X)$ be the output of layer $i$ for input $X$, a $T \times F$ matrix (time by neurons). For a
# set $J \subset \{1, \ldots, F\}$ of neurons, the basic problem is
#
# \begin{gather}
# \underset{X}{\operatorname{arg\,max}}\, \frac{1}{T \cdot |J|} \sum_{t=1}^{T} \sum_{f \in J} \left[y_i(X)\right]_{t,f}
# \tag{1}
# \end{gather}
#
# Gradient ascent on (1) alone gives noisy inputs. A total-variation penalty (as in Olah et al.'s
# feature-visualization work) favours inputs whose neighbouring entries are similar:
#
# \begin{gather}
# \underset{X}{\operatorname{arg\,max}}\, \frac{1}{T \cdot |J|} \sum_{t=1}^{T} \sum_{f \in J} \left[y_i(X)\right]_{t,f}
# - \frac{\lambda}{T \cdot N} \sum_{t,n} \left( |X_{t+1,n} - X_{t,n}| + |X_{t,n+1} - X_{t,n}| \right)
# \tag{2}
# \end{gather}
#
# with $\lambda > 0$. We solve (2) for all six layers at once (one batched forward and backward pass per
# Adam step; each input only runs the network up to its own layer), three neurons per layer, for two
# values of $\lambda$. The neurons are the three most variable ones of each layer on real utterances
# (recorded in each run's `config.json`).

# %%
runs = {}
for name, title in [("run_train_inputs_experiment_more_noise", "smaller lambda"),
                    ("run_train_inputs_experiment", "larger lambda")]:
    runs[name] = ensure_visualization(name, model, SETTINGS)
    lam = run_objectives(runs[name])[0]["lam"]
    learned_inputs_grid(runs[name], title=f"Learned inputs, {title} (lambda = {lam:g})", scale=SCALE)
    plt.show()
final_inputs_log_mel({f"lambda = {run_objectives(r)[0]['lam']:g}": r for r in runs.values()},
                     model.upper_frequency_limit)
plt.show()

# %% [markdown]
# ### How the inputs develop
#
# For both values of $\lambda$, one animation per layer (the optimization step is counted in the corner;
# colours are z-scores against real speech, as in every MFCC picture here), then the mean activation
# of the chosen neurons and the total variation per element of the input over the optimization steps.

# %%
for name, run in runs.items():
    lam = run_objectives(run)[0]["lam"]
    for objective in run_objectives(run):
        video = layer_animation(run, objective, VIDEOS / f"{name}-{objective['layer']}.mp4", scale=SCALE)
        display(Video(str(video), embed=True, html_attributes="controls loop muted"))
        layer_curves(run, objective)
        plt.title(f"{plt.gca().get_title()}, lambda = {lam:g}")
        plt.show()
run = runs["run_train_inputs_experiment"]

# %% [markdown]
# ### What the learned inputs sound like
#
# `mfccs_to_audio` inverts the MFCCs approximately (pseudo-inverse of the DCT and the mel filterbank, then
# Griffin-Lim phase reconstruction): the spectral envelope survives, the pitch does not, so these are
# whispery impressions rather than exact sounds.

# %%
for objective in run_objectives(run):
    print(neuron_title(objective).replace("\n", ": "))
    display(Audio(mfccs_to_audio(final_input(run, objective)), rate=16000))

# %% [markdown]
# ## The training utterances that excite the same neurons
#
# Every utterance of the synthesized training corpus is scored by the same objective (the mean
# activation of the chosen neurons over its frames, padding excluded), in length-bucketed batches.
# Top examples first, then the utterances that excite the neurons least.

# %%
search = ensure_search(model, SETTINGS)
examples_grid(search, run, n=2 if SETTINGS.quick else 4, top=True, upper_frequency_limit=model.upper_frequency_limit,
              scale=SCALE)
plt.show()
examples_grid(search, run, n=2 if SETTINGS.quick else 3, top=False, upper_frequency_limit=model.upper_frequency_limit,
              scale=SCALE)
plt.show()
for objective in run_objectives(run):
    best = get_top_examples(1, search)[objective.get("name") or objective["layer"]][0]
    print(f"{neuron_title(objective).replace(chr(10), ': ')} -> {Path(best.path).name} ({best.activation:.3f})")
    display(Audio(best.path))

# %% [markdown]
# ## What the neurons and layers encode
#
# The corpus carries eSpeak's own word and phone alignments (Praat TextGrids, phones folded to TIMIT's 39
# classes), so frames can be labelled with what is being said. **Dissection** (Bau et al., 2017, in time):
# a neuron "fires" on its top 0.5 % of frames; the IoU of those frames with each phone's frames says which
# phone it detects (a detector: IoU above 0.04), and the selectivity index is the preferred phone's mean
# activation minus the mean over the other phones, in units of the neuron's standard deviation. Computed
# over the test split (held-out voices).

# %%
dissection = ensure_dissection(model, SETTINGS)
show_dissection(dissection)

# %% [markdown]
# ### When a neuron fires: time-localized examples
#
# The dissection pass also kept, for every neuron, the test frames where it is most active, with its
# activation ±0.5 s around each and the words and phones aligned there. Below, the best phone detectors
# of three layers: the activation around their strongest frames (phones shaded; time 0 is the peak), then
# what is said at those moments, playable.

# %%
for layer in ["layer_2", "layer_3", "rnn_output"]:
    neurons = best_detectors(dissection, layer, n=2)
    frame_examples_figure(dissection.out, layer, neurons, n=2 if SETTINGS.quick else 4)
    plt.show()
    show_frame_examples(dissection.out, layer, neurons[:1], n=2 if SETTINGS.quick else 3)

# %% [markdown]
# ### The learned inputs' neurons in real speech
#
# For each neuron the feature visualization optimized (the objectives above), the phone at the centre of
# its eight most active test frames, then the top snippets of the first neuron of each objective.

# %%
show_learned_input_phones(dissection.out, run)
for objective in run_objectives(run):
    show_frame_examples(dissection.out, objective["layer"], objective["neurons"][:1], n=2)

# %% [markdown]
# **Probes** (Belinkov & Glass, 2017): a linear classifier per layer (and on the MFCC input, one frame and
# the 19-frame window layer 1 sees, as baselines) predicts each frame's phone and character, trained on
# training voices and scored on the held-out voices of the dev and test splits. Belinkov & Glass found
# phone information strongest in the lower and middle layers of DeepSpeech2 and falling towards the top.

# %%
probes = ensure_probes(model, SETTINGS)
probe_figure(probes)
plt.show()
for target, rows in probes.table.items():
    print(target, "  ".join(f"{name} {row['test']:.3f}" for name, row in rows.items()))

# %% [markdown]
# ## The neuron atlas
#
# All of this for every neuron, as a static site: each neuron's learned input (MFCC z-scores and the log-mel view
# they imply), its sonification, its preferred phones (selectivity, IoU), its activation histogram, and its top and
# bottom moments of the test split as playable one-second snippets with the aligned words and phones. `make main`
# builds a small one (24 units per layer, spread over each layer's selectivity ranking); the whole atlas of the 1,949
# units is one command (README, "The neuron atlas"). It opens from the link below, with no server and no network.

# %%
atlas = ensure_atlas(model, SETTINGS)
show_atlas(atlas)

# %% [markdown]
# ## Importance masks
#
# Let $f$ map a $T \times K$ matrix to the vector of its row-wise argmaxes,
#
# \begin{gather}
# f\left(\begin{bmatrix} a_{1,1} & \cdots & a_{1,K} \\ \vdots & \ddots & \vdots \\ a_{T,1} & \cdots & a_{T,K}
# \end{bmatrix}\right) = \begin{bmatrix} \operatorname{arg\,max}_k a_{1,k} \\ \vdots \\
# \operatorname{arg\,max}_k a_{T,k} \end{bmatrix},
# \end{gather}
#
# so $f(y(X))$ is the model's classification of every frame. An **importance mask** for an input $X$ is a
# binary matrix $M$ of the same shape with
#
# \begin{gather}
# f\left(y(M \odot X)\right) = f\left(y(X)\right)
# \end{gather}
#
# and as many zeros as possible: the zeros are entries of $X$ the model's frame-by-frame decision does
# not need. We optimize a relaxed (sigmoid) mask with a per-frame margin loss and annealed pressure
# towards zero, binarize it, then repair and prune it with batched exact checks; swap moves (turn one 0
# on, remove the 1s nearby that the check allows; kept when no 1s are added) then move the search on
# from that local optimum, in rounds of 50 moves with a prune after each round, and the last prune
# leaves a mask that keeps every frame's class by construction and from which no single remaining 1
# can be removed (1-minimal). The same
# exact check is applied to three baselines: random masks of equal sparsity, greedy occlusion and
# gradient-saliency thresholding.
#
# Each animation shows the mask as the optimization progresses (black = 0), the MFCCs it keeps (removed
# entries in black, a colour no value takes) and the MFCCs, with the snapshot counted in the corner.
# Transcriptions in this section and the next are greedy (per-frame argmax), the decoder whose
# per-frame decisions the mask preserves; the first section gives both decoders for each example.

# %%
mask_results = ensure_masks(model, SETTINGS)
for path, result in mask_results.items():
    video = mask_result_animation(result, VIDEOS / f"mask-{Path(path).stem}.mp4", scale=SCALE)
    display(Video(str(video), embed=True, html_attributes="controls loop muted"))
    show_mask_summary(result)

# %% [markdown]
# ## Muting what the mask calls unimportant
#
# For each example, the mean of the final mask over the 26 coefficients gives one number per frame.
# The least important 25 %, 50 % and 75 % of the frames by that mean are muted (frame $t$ covers samples
# $[320t, 320t + 512)$; a sample is kept if any frame covering it is kept), and the muted audio is
# transcribed again with the greedy decoder of the original above. (The study muted frames whose mean
# is under 0.1 / 0.2 / 0.3; with masks of over 90 % zeros that mutes 46-100 % of each example (on the shipped model), so the
# notebook ranks frames instead; `show_muted_audio(..., by="threshold", thresholds=(0.1, 0.2, 0.3))`
# gives the study's version.)

# %%
for path, result in mask_results.items():
    show_muted_audio(path, result, model, SETTINGS)

# %% [markdown]
# ## Masks scored against the words
#
# A mask that must keep the model's output on one word only (`preserve_frames` = the frames whose centre lies in
# the word's aligned interval, from the TextGrid eSpeak's events give) should keep the input where the word is.
# For the examples and the first 20 test utterances the longest word is chosen; our method, random masks and
# gradient saliency find such masks over MFCC entries and over whole frames. **inside**: the share of a mask's ones
# in the word's frames widened by DeepSpeech's 9 context frames on each side; **hit** (the pointing game): the frame
# with the most ones lies there. The fair reference is **reach.**: the widened span's share of the frames that can
# influence the word at all (the LSTM runs forwards, so nothing after the word's last frame + 9 matters), which is
# what a mask spread at random over them scores. Greedy occlusion is slow and left to the `pointing-game` command.

# %%
pointing = ensure_pointing_game(model, SETTINGS)
show_pointing_game(pointing)
names = [u["name"] for u in pointing.utterances]
pointing_figure(pointing, names.index("example-2.wav") if "example-2.wav" in names else 0,
                variant="time" if SETTINGS.quick else "time-frequency",
                upper_frequency_limit=model.upper_frequency_limit, scale=SCALE)
plt.show()

# %% [markdown]
# ## What "masked" means: the fill
#
# The study replaces a masked MFCC entry by 0. But an MFCC of 0 is not an absence: coefficient 0 is the
# log energy, about -247 in digital silence and near 0 in loud speech, so a zeroed c0 makes a frame loud.
# Attribution methods face the same choice of a baseline (Sturmfels et al., 2020, "Visualizing the Impact
# of Feature Attribution Baselines", Distill). Here the first example's mask is computed again with two
# other fills: the MFCCs of digital silence (DeepSpeech's MFCC op on a zero waveform) and the training
# corpus's mean per coefficient. Each mask keeps every frame's class for its own fill and is 1-minimal.
# For each fill: the mask's ones, how many of them the study's (zeros) mask shares, the per-frame mask
# mean that ranks frames for muting, and the greedy transcription after muting the least important
# 25 / 50 / 75 % of the frames, in the audio (digital silence) and in the features (the fill).

# %%
fill_results = ensure_fill_masks(model, SETTINGS, example=0)
display(fill_figure(fill_results))
plt.close("all")
show_fill_comparison(fill_comparison(model, fill_results, SETTINGS))
