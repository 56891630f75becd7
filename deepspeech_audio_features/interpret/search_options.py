"""The settings of the dataset search (:class:`SearchOptions`), each default written once.

No TensorFlow here: the command line builds its parser from these options.
"""
from __future__ import annotations

import dataclasses

from ..infra.options import Options, check_int, option


@dataclasses.dataclass(frozen=True)
class SearchOptions(Options):
    """Options of :func:`~deepspeech_audio_features.interpret.dataset_search.search_dataset`.

    ``batch_size`` and ``max_utterances`` are part of a search's identity (resuming
    compares them); the cluster settings are not (they change no score).
    """
    batch_size: int = option(128, "utterances per forward pass (the study used 128)")
    max_utterances: int | None = option(None, "only the first n utterances of the dataset (none: all)")
    shards: int | None = option(None, "shards of work on a Dask cluster (none: 4 per worker)")
    worker_threads: int | None = option(None, "TensorFlow threads per Dask worker process (none: TF's choice)")

    def validate(self) -> None:
        check_int("batch_size", self.batch_size, 1)
        for name in ("max_utterances", "shards", "worker_threads"):
            if getattr(self, name) is not None:
                check_int(name, getattr(self, name), 1)

