"""A generated sequence-classification set whose label depends on what each part of the hybrid model
is for, so that an ablation's effect is known before it runs (`data=motifs`, the hybrid default).

Each row is a noisy 1-D signal of `length` features holding two short motifs, `A` (up then down) or
`B` (down then up), at random positions at least `min_gap` apart. The class is the motifs in order:
`A…A`, `A…B`, `B…A`, `B…B`. So
- the motifs are local shapes with zero sum at a random place: a linear model on the raw features
  cannot find them (it stays near chance, 1/4); convolution finds them;
- `A…B` against `B…A` is their order: a model that pools over time without a recurrent layer (or
  positions) sees the same bag of motifs for both and can reach at best 3/4; the LSTM resolves it;
- the motifs sit anywhere: pooling over all time steps (or attention) has to gather them, the last
  step of a forward-only LSTM still sees both.
"""

from __future__ import annotations

import numpy as np

from ablab.errors import require

MOTIFS = {"A": np.array([1.0, 1.0, -1.0, -1.0]), "B": np.array([-1.0, -1.0, 1.0, 1.0])}
CLASSES = ("A…A", "A…B", "B…A", "B…B")


def generate_motifs(
    rows: int = 2000,
    length: int = 48,
    min_gap: int = 16,
    amplitude: float = 1.5,
    noise: float = 0.5,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """(features (rows, length) float32, labels (rows,) int64, feature names, class names); balanced
    classes, deterministic by `seed`."""
    width = len(MOTIFS["A"])
    require(rows >= 8, "data.motifs.rows", rows, "must be >= 8")
    require(
        length >= 2 * width + min_gap,
        "data.motifs.length",
        length,
        f"must hold two motifs of {width} features at least data.motifs.min_gap={min_gap} apart",
    )
    require(noise >= 0, "data.motifs.noise", noise, "must be >= 0")
    rng = np.random.default_rng(seed)
    labels = np.arange(rows) % len(CLASSES)
    rng.shuffle(labels)
    features = rng.normal(0.0, noise, size=(rows, length))
    for row, label in enumerate(labels):
        first = rng.integers(0, length - width - min_gap - width + 1)
        second = rng.integers(first + width + min_gap, length - width + 1)
        for start, name in ((first, CLASSES[label][0]), (second, CLASSES[label][-1])):
            features[row, start : start + width] += amplitude * MOTIFS[name]
    names = [f"x{i:02d}" for i in range(length)]
    return features.astype(np.float32), labels.astype(np.int64), names, list(CLASSES)
