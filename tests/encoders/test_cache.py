"""The embedding cache: keyed by encoder identity, data and max_len; computed once even when several
processes ask at the same time; written atomically; read memory-mapped."""

from __future__ import annotations

import json
import multiprocessing
import multiprocessing.synchronize
from pathlib import Path

import numpy as np
import pytest

from ablab.families.amp.encoders.base import Encoder
from ablab.families.amp.encoders.cache import EVENTS_FILE, EmbeddingCache, EmbeddingStore
from ablab.families.amp.encoders.onehot import OneHotEncoder

SEQUENCES = ["GIGKFLHSAKKFGKAFVGEIMNS", "KWKLFKKIGAVLKVL", "ACDX", "MKV" * 20]


class SlowOneHot(OneHotEncoder):
    """One-hot that takes a while per batch, so concurrent jobs overlap."""

    def _embed_batch(self, sequences: list[str]) -> list[np.ndarray]:
        import time

        time.sleep(0.3)
        return super()._embed_batch(sequences)


class Exploding(OneHotEncoder):
    """Fails half-way, as an out-of-memory or a killed job would."""

    def _embed_batch(self, sequences: list[str]) -> list[np.ndarray]:
        raise RuntimeError("boom")


def _computed(root: Path) -> int:
    return sum(e["event"] == "computed" for e in EmbeddingCache(root).events())


def _worker(root: str, start: multiprocessing.synchronize.Barrier) -> None:
    start.wait(timeout=60)
    EmbeddingCache(root).get_or_compute(SlowOneHot(max_tokens=10), SEQUENCES, 40)


def test_second_request_reads_the_stored_embeddings(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path)
    first = cache.get_or_compute(OneHotEncoder(), SEQUENCES, 40)
    second = cache.get_or_compute(OneHotEncoder(), SEQUENCES, 40)
    assert first.folder == second.folder
    assert [e["event"] for e in cache.events()] == ["computed", "hit"]
    expected = OneHotEncoder().encode(SEQUENCES, 40)
    values, lengths = second.rows(np.arange(4), trim=False)
    assert np.array_equal(values, expected.values) and lengths.tolist() == [23, 15, 4, 40]
    meta = json.loads((second.folder / "meta.json").read_text())
    assert meta["shape"] == [4, 40, 21] and meta["encoder"]["name"] == "onehot"


def test_key_changes_with_encoder_data_and_max_len(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path)
    base = cache.folder(OneHotEncoder(), SEQUENCES, 40)
    assert cache.folder(OneHotEncoder(), SEQUENCES, 41) != base
    assert cache.folder(OneHotEncoder(), SEQUENCES[:3], 40) != base
    assert cache.folder(OneHotEncoder(), [*SEQUENCES[:3], "MKV" * 19 + "MKA"], 40) != base
    from ablab.families.amp.encoders.blosum62 import Blosum62Encoder

    assert cache.folder(Blosum62Encoder(scale=4.0), SEQUENCES, 40) != cache.folder(
        Blosum62Encoder(scale=2.0), SEQUENCES, 40
    )


def test_concurrent_jobs_compute_once_and_all_read_the_same_result(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(3)
    jobs = [context.Process(target=_worker, args=(str(tmp_path), start)) for _ in range(3)]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join(timeout=120)
    assert [job.exitcode for job in jobs] == [0, 0, 0]
    events = EmbeddingCache(tmp_path).events()
    assert sorted(e["event"] for e in events) == ["computed", "hit", "hit"]
    assert all(e["waited"] for e in events if e["event"] == "hit")  # they waited for the one computing
    assert len({e["key"] for e in events}) == 1
    assert not list(tmp_path.glob(".tmp-*"))


def test_a_failed_computation_leaves_no_entry_behind(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path)
    with pytest.raises(RuntimeError, match="boom"):
        cache.get_or_compute(Exploding(), SEQUENCES, 40)
    assert not [p for p in tmp_path.iterdir() if p.is_dir()]
    assert _computed(tmp_path) == 0
    cache.get_or_compute(OneHotEncoder(), SEQUENCES, 40)
    assert _computed(tmp_path) == 1


def test_store_trims_batches_to_their_longest_sequence_and_pickles_without_its_map(tmp_path: Path) -> None:
    import pickle

    store = EmbeddingCache(tmp_path).get_or_compute(OneHotEncoder(), SEQUENCES, 40)
    values, lengths = store.rows(np.array([2, 1]))
    assert values.shape == (2, 15, 21) and lengths.tolist() == [4, 15]
    assert values.dtype == np.float32 and values[0, 4:].sum() == 0
    assert np.array_equal(values[1], OneHotEncoder().encode([SEQUENCES[1]], 15).values[0])
    clone = pickle.loads(pickle.dumps(store))
    assert clone._mm is None and np.array_equal(clone.rows(np.array([2, 1]))[0], values)
    assert isinstance(clone, EmbeddingStore) and len(clone) == 4
    pooled = store.pooled(np.array([2]))
    assert pooled.shape == (1, 21) and pooled[0].sum() == pytest.approx(1.0)


def test_events_file_is_one_json_line_per_request(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path)
    encoder: Encoder = OneHotEncoder()
    for _ in range(3):
        cache.get_or_compute(encoder, SEQUENCES, 40)
    lines = (tmp_path / EVENTS_FILE).read_text().splitlines()
    assert [json.loads(line)["event"] for line in lines] == ["computed", "hit", "hit"]
    assert all(json.loads(line)["seconds"] >= 0 for line in lines)


def _rss_mb() -> float:
    with open("/proc/self/status") as handle:
        return next(int(line.split()[1]) for line in handle if line.startswith("VmRSS")) / 1024


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmRSS from /proc")
def test_reading_the_whole_map_keeps_resident_memory_bounded(tmp_path: Path) -> None:
    from ablab.families.amp.encoders.cache import _NpyRowWriter

    n, length, dim = 300, 100, 640  # 38 MB of float16
    writer = _NpyRowWriter(tmp_path / "embeddings.npy", (n, length, dim), np.float16)
    rng = np.random.default_rng(0)
    for i in range(n):
        writer(i, rng.standard_normal((length, dim), dtype=np.float32))
    writer.close()
    np.save(tmp_path / "lengths.npy", np.full(n, length))
    (tmp_path / "meta.json").write_text("{}")
    growth = {}
    for release in (4 << 20, 1 << 40):
        store, before = EmbeddingStore(tmp_path, release_bytes=release), _rss_mb()
        for start in range(0, n, 16):
            store.rows(np.arange(start, min(n, start + 16)))
        growth[release] = _rss_mb() - before
        del store
    assert growth[4 << 20] < 15, growth  # pages released every 4 MB read
    assert growth[1 << 40] > 30, growth  # without releasing, the whole file stays mapped in
