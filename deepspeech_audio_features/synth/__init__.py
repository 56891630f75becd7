"""Making the embedded model. Imports from ``speech`` and ``infra``.

The corpus: ``espeak`` (libespeak-ng through ctypes), ``voices`` (accents, variants,
mixed voices), ``text`` (sentences), ``plan`` (every utterance drawn before any audio),
``noise`` and ``render`` (one utterance's audio), ``workers`` (rendering in parallel) and
``corpus`` (the corpus folder and the example utterances). Training: ``options``
(``CorpusOptions``, ``TrainConfig``: the defaults, once), ``augmentation`` (MFCC-domain
voice perturbations) and ``training`` (CTC training).
"""
