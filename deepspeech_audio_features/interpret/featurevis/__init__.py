"""Feature visualization (Lucid-style): objectives, parameterizations, transforms and the
batched render loop.
"""
