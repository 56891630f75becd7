"""Dataset search and batch masks on a real Dask LocalCluster of 2 worker processes,
compared with the in-process answers; a worker is killed mid-shard."""
import csv
import os
import signal
import sys
import threading
import time

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
import cloudpickle  # noqa: E402  (ships with distributed)

from deepspeech_audio_features import DeepSpeech, random_weights  # noqa: E402
from deepspeech_audio_features.infra.cluster import balanced_shards  # noqa: E402
from deepspeech_audio_features.interpret.dataset_search import (  # noqa: E402
    get_top_examples,
    search_dataset,
)
from deepspeech_audio_features.interpret.featurevis import Objective  # noqa: E402
from deepspeech_audio_features.interpret.masks.batch import mask_dataset  # noqa: E402
from deepspeech_audio_features.interpret.masks.options import MaskOptions  # noqa: E402

# Functions defined here run on the workers, which cannot import this test module.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

OBJECTIVES = [Objective("layer_2", (0, 3)), Objective("rnn_output", (5,)), Objective("layer_6", (2, 7), name="logits")]
MASK_OPTIONS = {"steps": 20, "snapshot_every": 10, "max_prune_passes": 2}  # MaskOptions fields


def test_balanced_shards_cover_every_item_once_and_balance_cost():
    rng = np.random.default_rng(1)
    costs = rng.uniform(1, 20, 101)
    shards = balanced_shards(costs, 7)
    assert sorted(i for s in shards for i in s) == list(range(101))
    totals = [costs[s].sum() for s in shards]
    assert max(totals) - costs.sum() / 7 <= costs.max()  # the LPT bound
    assert max(totals) / min(totals) < 1.2
    assert shards == balanced_shards(costs, 7)  # deterministic
    assert balanced_shards([3.0, 1.0], 5) == [[0], [1]]  # no empty shards
    with pytest.raises(ValueError):
        balanced_shards(costs, 0)


@pytest.fixture(scope="module")
def tiny():
    return DeepSpeech(random_weights(32, seed=4), metadata={"name": "tiny"})


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """The project's synthesized corpus (eSpeak NG, 16 utterances): its train split plus a
    corrupt file (4th row) and an empty one (last row)."""
    from deepspeech_audio_features.synth.corpus import synthesize_corpus

    folder = tmp_path_factory.mktemp("corpus")
    synthesize_corpus(folder, 16, seed=3, dev_fraction=0.0, test_fraction=0.0, workers=2, progress=False)
    with open(folder / "train.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    header, rows = rows[0], rows[1:15]
    (folder / "corrupt.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt garbage")
    (folder / "empty.wav").write_bytes(b"")
    rows[3:3] = [["corrupt.wav", 0, "broken"]]
    rows.append(["empty.wav", 0, "empty"])
    path = folder / "data.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      worker_class="distributed.Nanny") as cluster, Client(cluster) as c:
        yield c


def _slow_down(seconds):
    """Runs on each worker: make every batch take ``seconds`` longer (to kill a worker mid-shard)."""
    import time as time_

    from deepspeech_audio_features.interpret import dataset_search as ds

    original = getattr(ds, "original_score_batch", ds.score_batch)
    ds.original_score_batch = original

    def slowed(*args):
        time_.sleep(seconds)
        return original(*args)

    ds.score_batch = slowed if seconds else original
    return os.getpid()


def _assert_same_search(a, b):
    assert a.paths == b.paths
    np.testing.assert_allclose(a.activations, b.activations, rtol=1e-5, atol=1e-6)
    assert np.array_equal(np.isnan(a.activations), np.isnan(b.activations))
    assert sorted(a.skipped) == sorted(b.skipped)


def test_search_on_cluster_equals_in_process(tiny, corpus, client, tmp_path):
    local = search_dataset(tiny, corpus, OBJECTIVES, tmp_path / "local", batch_size=2, progress=False)
    remote = search_dataset(tiny, corpus, OBJECTIVES, tmp_path / "remote", batch_size=2, progress=False,
                            scheduler=client, shards=3)
    _assert_same_search(local, remote)
    assert len(remote.skipped) == 2 and any("corrupt.wav" in s for s in remote.skipped)
    top_local, top_remote = get_top_examples(14, local.out), get_top_examples(14, remote.out)
    for name in top_local:  # the merged ranking is the in-process ranking
        assert [e.path for e in top_local[name]] == [e.path for e in top_remote[name]]
    session = remote.report["this_session"]["distributed"]
    assert session["shards"] == 3 and session["failed_shards"] == []
    # one model load per worker process, however many tasks it ran
    assert all(w["model_loads"] == 1 for w in session["workers"].values())
    assert sum(w["tasks"] for w in session["workers"].values()) == 3

    # a re-run after losing two batch files redoes exactly those two
    (tmp_path / "remote" / "batch_1.npz").unlink()
    (tmp_path / "remote" / "batch_4.npz").unlink()
    again = search_dataset(tiny, corpus, OBJECTIVES, tmp_path / "remote", batch_size=2, progress=False,
                           scheduler=client)
    assert again.report["this_session"]["batches"] == 2
    assert again.report["this_session"]["utterances"] == 4
    _assert_same_search(local, again)


def test_killed_worker_costs_only_its_shard(tiny, corpus, client, tmp_path):
    local = search_dataset(tiny, corpus, OBJECTIVES, tmp_path / "local", batch_size=1, progress=False)
    client.run(_slow_down, 0.4)
    out = tmp_path / "remote"
    box = {}
    runner = threading.Thread(target=lambda: box.setdefault("result", search_dataset(
        tiny, corpus, OBJECTIVES, out, batch_size=1, progress=False, scheduler=client, shards=4)))
    runner.start()
    try:
        deadline, killed = time.time() + 120, None
        while time.time() < deadline and killed is None:
            busy = [w for w, keys in client.processing().items() if keys]
            if busy and list(out.glob("batch_*.npz")):
                before = {p.name: p.stat().st_mtime_ns for p in out.glob("batch_*.npz")}
                pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
                os.kill(pid, signal.SIGKILL)
                killed = pid
            time.sleep(0.02)
        assert killed is not None, "the run finished before a worker could be killed"
    finally:
        runner.join(300)
        client.run(_slow_down, 0)
    result = box["result"]
    _assert_same_search(local, result)
    assert result.report["missing_batches"] == []
    # batches finished before the kill were never redone
    after = {p.name: p.stat().st_mtime_ns for p in out.glob("batch_*.npz")}
    assert all(after[name] == mtime for name, mtime in before.items())
    workers = result.report["this_session"]["distributed"]["workers"]
    assert str(killed) not in workers  # the killed process reported nothing; its shard ran again elsewhere
    assert all(w["model_loads"] == 1 for w in workers.values())


def test_mask_dataset_on_cluster_equals_in_process(tiny, corpus, client, tmp_path):
    local = mask_dataset(corpus, tiny, tmp_path / "local", max_utterances=6, progress=False, **MASK_OPTIONS)
    remote = mask_dataset(corpus, tiny, tmp_path / "remote", MaskOptions(**MASK_OPTIONS), max_utterances=6,
                          progress=False, scheduler=client)  # options travel to the workers as a dict
    assert set(local.results) == set(remote.results) and len(local.results) == 5  # the corrupt file is 4th
    assert len(remote.skipped) == 1 and "corrupt.wav" in remote.skipped[0]
    assert remote.skipped == local.skipped
    for name in local.results:
        assert remote.results[name]["frame_agreement"] == 1.0
        np.testing.assert_array_equal(local.mask(name), remote.mask(name))
    assert remote.report["all_frames_agree"]
    workers = remote.report["this_session"]["distributed"]["workers"]
    assert all(w["model_loads"] == 1 for w in workers.values())
    again = mask_dataset(corpus, tiny, tmp_path / "remote", max_utterances=6, progress=False, scheduler=client,
                         **MASK_OPTIONS)
    assert again.report["this_session"]["utterances"] == 0  # nothing finished is redone


def test_cli_runs_search_and_masks_on_a_scheduler_address(tiny, corpus, client, tmp_path, capsys):
    import json

    from deepspeech_audio_features.app.cli import main as cli_main
    from deepspeech_audio_features.interpret.dataset_search import load_search
    from deepspeech_audio_features.speech.checkpoints import save_checkpoint

    checkpoint = save_checkpoint(tiny, tmp_path / "tiny")
    address = client.scheduler.address
    assert cli_main(["search", "--json", "--checkpoint", checkpoint, "--dataset", str(corpus), "--objective", "layer_3:1,4",
                     "--out", str(tmp_path / "search"), "--batch-size", "4", "--scheduler", address]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["report"]["this_session"]["distributed"]["scheduler"] == address
    local = search_dataset(tiny, corpus, [Objective("layer_3", (1, 4))], tmp_path / "local", batch_size=4, progress=False)
    np.testing.assert_allclose(load_search(tmp_path / "search").activations, local.activations, rtol=1e-5,
                               atol=1e-6)
    assert cli_main(["mask-dataset", str(corpus), "--checkpoint", checkpoint, "--out", str(tmp_path / "masks"),
                     "--max-utterances", "2", "--steps", "10", "--max-prune-passes", "1", "--no-progress",
                     "--scheduler", address]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["masked"] == 2 and printed["all_frames_agree"]
    # the workers loaded the model from the checkpoint the command named
    assert printed["this_session"]["distributed"]["workers"]


DISSECT = {"layers": ["layer_2", "rnn_output", "layer_6"], "batch_size": 2, "top_k": 3, "window": 4, "quantile": 0.05,
           "histogram_bins": 12, "progress": False}


def _assert_same_dissection(a, b):
    """Exact for positions and counts; sums to float tolerance."""
    from deepspeech_audio_features.interpret.frame_examples import load_frame_examples

    for layer in DISSECT["layers"]:
        x, y = load_frame_examples(a.out, layer), load_frame_examples(b.out, layer)
        for name in ("top_utterance", "top_frame", "bottom_utterance", "bottom_frame", "histogram_counts",
                     "histogram_edges"):
            np.testing.assert_array_equal(getattr(x, name), getattr(y, name), err_msg=f"{layer} {name}")
        for name in ("top_value", "bottom_value", "top_trace", "bottom_trace"):
            np.testing.assert_allclose(getattr(x, name), getattr(y, name), rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(a.layers[layer].counts, b.layers[layer].counts)
        np.testing.assert_allclose(a.layers[layer].mean, b.layers[layer].mean, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(a.layers[layer].iou, b.layers[layer].iou, atol=1e-12)
        np.testing.assert_allclose(a.layers[layer].selectivity, b.layers[layer].selectivity, rtol=1e-5, atol=1e-9)
    assert sorted(a.report["skipped"]) == sorted(b.report["skipped"])


def test_dissection_on_cluster_equals_in_process(tiny, corpus, client, tmp_path):
    from deepspeech_audio_features.interpret.dissection import dissect_dataset

    local = dissect_dataset(tiny, corpus, tmp_path / "local", **DISSECT)
    remote = dissect_dataset(tiny, corpus, tmp_path / "remote", scheduler=client, shards=3, **DISSECT)
    _assert_same_dissection(local, remote)
    assert len(remote.report["skipped"]) == 2 and any("corrupt.wav" in s for s in remote.report["skipped"])
    session = remote.report["this_session"]["distributed"]
    assert session["shards"] == 3 and session["failed_shards"] == []
    assert all(w["model_loads"] == 1 for w in session["workers"].values())
    assert not list((tmp_path / "remote").glob("shard_*.npz"))  # merged into state.npz


def test_dissection_resumes_from_the_shards_that_finished(tiny, corpus, tmp_path):
    """A Dask pass interrupted after one shard: its file is merged, the rest computed."""
    from deepspeech_audio_features.infra.runfolder import RunFolder
    from deepspeech_audio_features.interpret import dissection
    from deepspeech_audio_features.interpret.distributed import model_source

    local = dissection.dissect_dataset(tiny, corpus, tmp_path / "local", **DISSECT)
    options = dissection.DissectionOptions(**{k: v for k, v in DISSECT.items() if k not in ("layers", "progress")})
    out = tmp_path / "resumed"
    run, index = dissection._open_run(tiny, corpus, out, DISSECT["layers"], options)
    edges = dissection._histogram_edges(tiny, run, index, DISSECT["layers"], options)
    checkpoint, fingerprint = model_source(tiny, tmp_path / "model-copy")
    members = [0, 2, 3]
    tag = dissection._shard_tag(run, members)
    shard = {"batches": members, "tag": tag, "name": f"shard_0_{tag}.npz"}
    k = max(1, int(np.ceil(options.quantile * index["labelled_frames"])))
    dissection._dissect_shard([shard], str(out), checkpoint, fingerprint, DISSECT["layers"], k,
                              {layer: e.tolist() for layer, e in edges.items()}, options.to_dict(), None)
    (out / "shard_9_0123456789abcdef.npz").write_bytes(b"not a shard")  # a damaged file: deleted, unused
    resumed = dissection.dissect_dataset(tiny, corpus, out, **DISSECT)
    assert resumed.report["this_session"]["batches"] == len(index["batches"]) - 3
    assert RunFolder(out, {}).load_arrays("state.npz")["done"].all() and not list(out.glob("shard_*"))
    _assert_same_dissection(local, resumed)
