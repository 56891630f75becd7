"""Importance masks, one module per concern:

- :mod:`.options`: :class:`MaskOptions`, every setting of the method with its default.
- :mod:`.fill`: what a masked entry becomes (zeros, digital silence, the corpus mean).
- :mod:`.problem`: the exact batched test (:class:`MaskProblem`), the final verification
  and the 1-minimality check.
- :mod:`.engine`: moves on binary masks: repair, speculative batched prune, swap moves.
- :mod:`.incremental`: the exact test scored from the first changed frame (same decisions).
- :mod:`.importance`: the method, :func:`importance_mask`, phase by phase.
- :mod:`.store`: a mask run's folder; reading masks back.
- :mod:`.baselines`: random, saliency and greedy-occlusion masks; deletion curves.
- :mod:`.mute`: muting the audio a mask calls unimportant.
- :mod:`.batch`: masks for a whole dataset, in-process or on Dask.
"""
