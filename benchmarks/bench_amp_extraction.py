"""ESM-2 extraction on CPU (1 thread): length-sorted batches under the encoder's token budget vs a
per-sequence loop, through the same encoder code, on AMPvsUniProt peptides.

Targets on the tiny ESM-2 of the tests (2 layers, hidden 32), where per-call overhead dominates, and
on a model of ESM-2 8M's shape built here with random weights (6 layers, hidden 320, 20 heads): there
one CPU thread is compute-bound, so batching must still win, by less (padding costs what it saves
in calls); it pays more on a GPU."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import Result, size


def _compare(folder: Path, hidden: int, sequences: list[str]) -> tuple[float, float, bool]:
    """(batched seconds, per-sequence seconds, same embeddings)."""
    from ablab.families.amp.encoders.esm2 import ESM2Encoder

    encoder = ESM2Encoder(str(folder), hidden, progress=False)
    budget = encoder.max_tokens
    encoder.encode(sequences[:8], 174)  # load the model and warm up outside the timings

    def timed(max_tokens: int) -> tuple[float, np.ndarray]:
        encoder.max_tokens = max_tokens
        started = time.perf_counter()
        values = encoder.encode(sequences, 174).values
        return time.perf_counter() - started, values

    loop, one_by_one = timed(1)  # every batch holds one sequence: the per-sequence loop
    batched, values = timed(budget)
    return batched, loop, bool(np.allclose(values, one_by_one, atol=1e-4))


def run() -> list[Result]:
    import torch
    from tests.helpers.tiny_models import save_tiny_esm2

    from ablab.families.amp.peptides import read_modlamp

    torch.set_num_threads(1)
    peptides = read_modlamp("AMPvsUniProt").sequences
    order = np.random.default_rng(0).permutation(len(peptides))
    with tempfile.TemporaryDirectory() as tmp:
        tiny = save_tiny_esm2(Path(tmp) / "tiny", hidden_size=32, num_layers=2, num_heads=4)
        batched, loop, same = _compare(tiny, 32, [peptides[i] for i in order[: size(400, 40)]])
        shaped = save_tiny_esm2(Path(tmp) / "t6", hidden_size=320, num_layers=6, num_heads=20)
        big_batched, big_loop, big_same = _compare(shaped, 320, [peptides[i] for i in order[: size(100, 10)]])
    return [
        Result(
            f"tiny ESM-2 (2 layers, 32), {size(400, 40)} peptides: batched length-sorted vs per-sequence loop "
            f"(same embeddings: {same})",
            batched,
            loop,
            "ratio <= 0.2 (>= 5x faster)",
            batched <= 0.2 * loop and same,
        ),
        Result(
            f"random ESM-2 8M shape (6 layers, 320), {size(100, 10)} peptides: same comparison "
            f"(same embeddings: {big_same})",
            big_batched,
            big_loop,
            "ratio <= 0.8 (>= 1.25x faster; compute-bound on 1 thread)",
            big_batched <= 0.8 * big_loop and big_same,
        ),
    ]
