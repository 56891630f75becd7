"""The DeepSpeech model stack: audio, framing constants, MFCCs (TensorFlow), NumPy filters and
MFCC inversion, the network, checkpoints, alphabet, decoding, language model, inference, batching.
Imports only from ``infra``.
"""
