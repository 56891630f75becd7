"""How many threads TensorFlow uses in this process, set once before it starts.

TensorFlow fixes its intra-op and inter-op thread pools when its runtime starts, so the
setting must come before the first operation. It matters for the importance-mask search,
whose operations are small (an LSTM step on a few candidates, batch-1 gradients): on the
2-core CPU it was measured on, one thread ran the whole method on the embedded model
(n_hidden 384) 1.47x as fast as TensorFlow's default of all cores
(``benchmarks/masks.py --threads 1`` vs ``--threads 0``, the 3 example files, in one
session: 5.58 vs 8.21 s per second of audio, the same masks), because each tiny operation
no longer waits for the pool's threads to meet. Larger networks turn it round
(``benchmarks/threads.py``, the same session: a batch-1 mask gradient over 121 frames ran
1.82x / 1.63x / 1.17x / 0.98x / 0.66x as fast on one thread at n_hidden 384 / 512 / 768 /
1,024 / 2,048; a batch-64 forward pass 0.73x at 384; ``benchmarks/masks.py``'s n_hidden
2048 relaxed step and prune batches were 1.35x and 1.6x slower on one thread), hence
:data:`ONE_THREAD_UP_TO`. No TensorFlow import at module level.
"""
from __future__ import annotations

import numbers

from .errors import ParameterError

#: Models up to this n_hidden run the mask search on one thread by default (``mask`` command).
ONE_THREAD_UP_TO = 512
#: The most threads a caller may ask for (a typo such as 10000 would only thrash).
MAX_THREADS = 1024


def check_threads(threads, name: str = "threads") -> int:
    """``threads`` as an int in 1 .. :data:`MAX_THREADS`, else :class:`ParameterError` naming ``name``."""
    if isinstance(threads, bool) or not isinstance(threads, numbers.Integral) or not 1 <= threads <= MAX_THREADS:
        raise ParameterError(f"{name}: expected a whole number of threads from 1 to {MAX_THREADS}, got {threads!r}")
    return int(threads)  # NumPy integers too


def set_tensorflow_threads(threads: int) -> bool:
    """Use ``threads`` intra-op and inter-op threads in this process.

    Returns:
        True when applied; False when TensorFlow's runtime had already started with other
        settings (it cannot change them then; computations are the same either way, only
        their speed differs).
    Raises:
        ParameterError: ``threads`` is not a whole number from 1 to :data:`MAX_THREADS`.
    """
    threads = check_threads(threads)
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # the runtime already started: the pools are fixed
        return (tf.config.threading.get_intra_op_parallelism_threads() == threads
                and tf.config.threading.get_inter_op_parallelism_threads() == threads)
    return True
