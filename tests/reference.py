"""Independent NumPy implementations used as references by the tests.

Written from the published math of DeepSpeech's features and network (see
``shared/reference/deepspeech-0.9.md``), sharing no code with the package.
"""
from __future__ import annotations

import numpy as np


def hz_to_mel(f):
    return 1127.0 * np.log1p(np.asarray(f, dtype=np.float64) / 700.0)


def mel_filterbank(n_bins=257, sample_rate=16000, n_bands=40, low=20.0, high=8000.0):
    """[n_bins, n_bands] triangles, equally spaced in mel between low and high.

    Band b rises from edge b to edge b+1 and falls to edge b+2 (n_bands + 2 edges), linear
    in mel. Only bins strictly inside the [low, high] range (bin >= low/hz + 1.5 rounded
    down, bin <= high/hz) contribute, as in TensorFlow's Mfcc op.
    """
    hz_per_bin = 0.5 * sample_rate / (n_bins - 1)
    edges = np.linspace(hz_to_mel(low), hz_to_mel(high), n_bands + 2)
    mel = hz_to_mel(np.arange(n_bins) * hz_per_bin)
    first, last = int(1.5 + low / hz_per_bin), int(high / hz_per_bin)
    fb = np.zeros((n_bins, n_bands))
    for b in range(n_bands):
        left, centre, right = edges[b], edges[b + 1], edges[b + 2]
        rising = (mel - left) / (centre - left)
        falling = (right - mel) / (right - centre)
        fb[:, b] = np.clip(np.minimum(rising, falling), 0.0, None)
    fb[:first] = 0.0
    fb[last + 1:] = 0.0
    return fb


def dct2(n_in=40, n_out=26):
    """[n_in, n_out] DCT-II basis scaled by sqrt(2 / n_in) (no special first row)."""
    i = np.arange(n_out)[None, :]
    j = np.arange(n_in)[:, None]
    return np.sqrt(2.0 / n_in) * np.cos(np.pi / n_in * i * (j + 0.5))


def mfcc_reference(samples, sample_rate=16000, window=512, step=320, high=8000.0):
    """[T, 26] MFCCs: periodic Hann, |rfft|^2, mel bands on the magnitude, log, DCT-II."""
    x = np.asarray(samples, dtype=np.float64)
    t = (len(x) - window) // step + 1
    frames = np.stack([x[i * step:i * step + window] for i in range(t)])
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(window) / window)
    power = np.abs(np.fft.rfft(frames * hann, n=window)) ** 2
    bands = np.sqrt(power) @ mel_filterbank(power.shape[1], sample_rate, high=high)
    return np.log(np.maximum(bands, 1e-12)) @ dct2()


def context_reference(x, n_context=9):
    t, n = x.shape
    out = np.zeros((t, (2 * n_context + 1) * n), dtype=np.float64)
    for i in range(t):
        for k in range(2 * n_context + 1):
            src = i - n_context + k
            if 0 <= src < t:
                out[i, k * n:(k + 1) * n] = x[src]
    return out


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def forward_reference(weights, mfccs, forget_bias=0.0, relu_clip=20.0):
    """All six layer outputs of DeepSpeech for one utterance, float64.

    ``weights`` maps the release's variable names to arrays. The LSTM kernel's rows are
    [x; h] and its columns are the gates in i, c~, f, o order.
    """
    def dense(h, name, clip=True):
        z = h @ weights[f"{name}/weights"] + weights[f"{name}/bias"]
        return np.minimum(np.maximum(z, 0.0), relu_clip) if clip else z

    out = {}
    h = context_reference(np.asarray(mfccs, dtype=np.float64))
    for name in ("layer_1", "layer_2", "layer_3"):
        h = out[name] = dense(h, name)
    prefix = "cudnn_lstm/rnn/multi_rnn_cell/cell_0/cudnn_compatible_lstm_cell"
    kernel, bias = weights[f"{prefix}/kernel"], weights[f"{prefix}/bias"]
    n = kernel.shape[1] // 4
    state_h, state_c = np.zeros(n), np.zeros(n)
    rnn = []
    for x_t in h:
        z = np.concatenate([x_t, state_h]) @ kernel + bias
        i, g, f, o = z[:n], z[n:2 * n], z[2 * n:3 * n], z[3 * n:]
        state_c = np.tanh(g) * sigmoid(i) + state_c * sigmoid(f + forget_bias)
        state_h = np.tanh(state_c) * sigmoid(o)
        rnn.append(state_h)
    h = out["rnn_output"] = np.stack(rnn)
    h = out["layer_5"] = dense(h, "layer_5")
    out["layer_6"] = dense(h, "layer_6", clip=False)
    return out


def median_f0(audio, rate, low_hz=60, high_hz=400):
    """Median F0 (Hz) of the voiced 40 ms frames (10 ms hop), by autocorrelation between ``low_hz`` and ``high_hz``."""
    frame, hop, found = int(0.04 * rate), int(0.01 * rate), []
    loud = 0.05 * np.max(np.abs(audio))
    for start in range(0, len(audio) - frame, hop):
        x = audio[start:start + frame].astype(np.float64)
        x = x - x.mean()
        if np.sqrt(np.mean(x ** 2)) < loud:
            continue
        ac = np.correlate(x, x, "full")[frame - 1:]
        low, high = rate // high_hz, rate // low_hz
        lag = low + int(np.argmax(ac[low:high]))
        if ac[lag] > 0.5 * ac[0]:
            found.append(rate / lag)
    return float(np.median(found))
