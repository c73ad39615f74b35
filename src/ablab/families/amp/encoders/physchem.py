"""Physico-chemical residue features from amino-acid scales shipped with modlAMP.

Scales (modlAMP 4.3.3, `modlamp.core.load_scale`; Müller et al., Bioinformatics 2017, 33:2753), default:
- z5: five Z-scales from a PCA of 26 physico-chemical properties (Sandberg et al., J Med Chem 1998,
  41:2481-2491)
- eisenberg: consensus hydrophobicity (Eisenberg et al., Faraday Symp Chem Soc 1982, 17:109)
- charge_phys: side-chain charge at pH 7 (histidine +0.1)
- levitt_alpha: alpha-helix propensity (Levitt, Biochemistry 1978, 17:4277)
- flexibility: side-chain flexibility (Bhaskaran & Ponnuswamy, Int J Pept Protein Res 1988, 32:241)
- bulkiness: side-chain bulkiness (Zimmerman et al., J Theor Biol 1968, 21:170)

Each column is standardised over the 20 amino acids (mean 0, sd 1) so scales weigh alike; the unknown
residue is the mean (all zeros).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ablab.errors import ConfigError, require
from ablab.families.amp.encoders.base import AMINO_ACIDS, TableEncoder

DEFAULT_SCALES = ("z5", "eisenberg", "charge_phys", "levitt_alpha", "flexibility", "bulkiness")


def physchem_table(scales: Sequence[str]) -> np.ndarray:
    """(21, D) standardised scale values, rows in AMINO_ACIDS order, row 20 (unknown) zeros."""
    from modlamp.core import load_scale

    columns = []
    for name in scales:
        try:
            _, values = load_scale(name.lower())
        except (KeyError, ValueError) as exc:
            raise ConfigError(
                f"encoder.scales: {name!r} is not a modlAMP scale ({exc}); see the list in "
                "modlamp.descriptors.PeptideDescriptor's documentation"
            ) from exc
        missing = [aa for aa in AMINO_ACIDS if aa not in values]
        if missing or len({len(v) for v in values.values()}) != 1:
            raise ConfigError(f"encoder.scales: {name!r} is not a per-residue scale over the 20 amino acids")
        columns.append(np.array([values[aa] for aa in AMINO_ACIDS], dtype=np.float64))
    table = np.hstack(columns)
    table = (table - table.mean(axis=0)) / np.where(table.std(axis=0) > 0, table.std(axis=0), 1.0)
    return np.vstack([table, np.zeros((1, table.shape[1]))]).astype(np.float32)


class PhysChemEncoder(TableEncoder):
    """Per-residue values of the chosen modlAMP scales (10 features with the default six)."""

    def __init__(
        self,
        embedding_dim: int = 10,
        scales: Sequence[str] = DEFAULT_SCALES,
        max_tokens: int = 65536,
        progress: bool = False,
    ) -> None:
        require(len(scales) > 0, "encoder.scales", list(scales), "needs at least one modlAMP scale name")
        scales = [str(s) for s in scales]
        super().__init__(
            "physchem", physchem_table(scales), embedding_dim, max_tokens, progress, scales=scales
        )
