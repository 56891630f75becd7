"""Importance masks: the exact batched test, the repair/prune engine, the method itself,
baselines, muting and masks for a whole dataset.
"""
