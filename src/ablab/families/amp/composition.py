"""Amino-acid and dipeptide composition of peptides: 20 + 400 frequencies per sequence, the classical
features the AMP literature fits random forests and logistic regressions on (the family's
references). Non-standard residues count in the length but in no frequency."""

from __future__ import annotations

import numpy as np

from ablab.families.amp.encoders.base import AMINO_ACIDS, residue_indices

SIZE = len(AMINO_ACIDS)
FEATURES = SIZE + SIZE * SIZE


def composition(sequence: str) -> np.ndarray:
    """(420,) float32: the share of each amino acid among the residues, then of each ordered pair
    among the consecutive pairs."""
    index = residue_indices(sequence)
    out = np.zeros(FEATURES, dtype=np.float32)
    standard = index[index < SIZE]
    out[:SIZE] = np.bincount(standard, minlength=SIZE)[:SIZE] / max(len(index), 1)
    first, second = index[:-1], index[1:]
    both = (first < SIZE) & (second < SIZE)
    pairs = np.bincount(first[both] * SIZE + second[both], minlength=SIZE * SIZE)
    out[SIZE:] = pairs / max(len(index) - 1, 1)
    return out


def composition_features(sequences: list[str]) -> np.ndarray:
    """(N, 420) composition features of `sequences`."""
    return np.stack([composition(s) for s in sequences]) if sequences else np.zeros((0, FEATURES), np.float32)
