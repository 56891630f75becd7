"""Interpretability methods on DeepSpeech models: objectives, feature visualization, dataset
search and importance masks, with the optimizer they share. Imports from ``speech`` and ``infra``.
"""
