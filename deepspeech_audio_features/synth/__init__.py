"""Making the embedded model: the eSpeak NG binding, sentence text, corpus planning and
rendering, MFCC-domain augmentation and training. Imports from ``speech`` and ``infra``.
"""
