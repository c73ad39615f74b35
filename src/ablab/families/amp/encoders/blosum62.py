"""BLOSUM62 rows as residue features (Henikoff & Henikoff, PNAS 1992; the NCBI matrix file).

Each residue is its row of substitution scores against the 20 amino acids, divided by `scale`; the
unknown residue takes the matrix's X row.
"""

from __future__ import annotations

import numpy as np

from ablab.errors import require
from ablab.families.amp.encoders.base import AMINO_ACIDS, TableEncoder

# NCBI BLOSUM62, rows and columns A R N D C Q E G H I L K M F P S T W Y V, then the X row.
_ORDER = "ARNDCQEGHILKMFPSTWYV"
_MATRIX = """
 4 -1 -2 -2  0 -1 -1  0 -2 -1 -1 -1 -1 -2 -1  1  0 -3 -2  0
-1  5  0 -2 -3  1  0 -2  0 -3 -2  2 -1 -3 -2 -1 -1 -3 -2 -3
-2  0  6  1 -3  0  0  0  1 -3 -3  0 -2 -3 -2  1  0 -4 -2 -3
-2 -2  1  6 -3  0  2 -1 -1 -3 -4 -1 -3 -3 -1  0 -1 -4 -3 -3
 0 -3 -3 -3  9 -3 -4 -3 -3 -1 -1 -3 -1 -2 -3 -1 -1 -2 -2 -1
-1  1  0  0 -3  5  2 -2  0 -3 -2  1  0 -3 -1  0 -1 -2 -1 -2
-1  0  0  2 -4  2  5 -2  0 -3 -3  1 -2 -3 -1  0 -1 -3 -2 -2
 0 -2  0 -1 -3 -2 -2  6 -2 -4 -4 -2 -3 -3 -2  0 -2 -2 -3 -3
-2  0  1 -1 -3  0  0 -2  8 -3 -3 -1 -2 -1 -2 -1 -2 -2  2 -3
-1 -3 -3 -3 -1 -3 -3 -4 -3  4  2 -3  1  0 -3 -2 -1 -3 -1  3
-1 -2 -3 -4 -1 -2 -3 -4 -3  2  4 -2  2  0 -3 -2 -1 -2 -1  1
-1  2  0 -1 -3  1  1 -2 -1 -3 -2  5 -1 -3 -1  0 -1 -3 -2 -2
-1 -1 -2 -3 -1  0 -2 -3 -2  1  2 -1  5  0 -2 -1 -1 -1 -1  1
-2 -3 -3 -3 -2 -3 -3 -3 -1  0  0 -3  0  6 -4 -2 -2  1  3 -1
-1 -2 -2 -1 -3 -1 -1 -2 -2 -3 -3 -1 -2 -4  7 -1 -1 -4 -3 -2
 1 -1  1  0 -1  0  0  0 -1 -2 -2  0 -1 -2 -1  4  1 -3 -2 -2
 0 -1  0 -1 -1 -1 -1 -2 -2 -1 -1 -1 -1 -2 -1  1  5 -2 -2  0
-3 -3 -4 -4 -2 -2 -3 -2 -2 -3 -2 -3 -1  1 -4 -3 -2 11  2 -3
-2 -2 -2 -3 -2 -1 -2 -3  2 -1 -1 -2 -1  3 -3 -2 -2  2  7 -1
 0 -3 -3 -3 -1 -2 -2 -3 -3  3  1 -2  1 -1 -2 -2  0 -3 -1  4
 0 -1 -1 -1 -2 -1 -1 -1 -1 -1 -1 -1 -1 -1 -2  0  0 -2 -1 -1
"""


def blosum62_table() -> np.ndarray:
    """(21, 20) scores, rows and columns in AMINO_ACIDS order, row 20 the unknown residue (X)."""
    raw = np.array(
        [[int(v) for v in line.split()] for line in _MATRIX.strip().splitlines()], dtype=np.float32
    )
    perm = [_ORDER.index(aa) for aa in AMINO_ACIDS]
    return np.vstack([raw[:20][perm][:, perm], raw[20][perm]])


class Blosum62Encoder(TableEncoder):
    """20 features per residue: its BLOSUM62 row, scaled so values sit in about [-1, 3]."""

    def __init__(
        self, embedding_dim: int = 20, scale: float = 4.0, max_tokens: int = 65536, progress: bool = False
    ) -> None:
        require(scale > 0, "encoder.scale", scale, "must be > 0")
        super().__init__(
            "blosum62", blosum62_table() / scale, embedding_dim, max_tokens, progress, scale=scale
        )
