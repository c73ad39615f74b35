"""One-hot residues: 20 amino acids plus one unknown channel (B, Z, U, O, X and anything else)."""

from __future__ import annotations

import numpy as np

from ablab.families.amp.encoders.base import AMINO_ACIDS, TableEncoder


class OneHotEncoder(TableEncoder):
    """21 features per residue; needs no weights, so it always runs offline."""

    def __init__(self, embedding_dim: int = 21, max_tokens: int = 65536, progress: bool = False) -> None:
        super().__init__(
            "onehot", np.eye(len(AMINO_ACIDS) + 1, dtype=np.float32), embedding_dim, max_tokens, progress
        )
