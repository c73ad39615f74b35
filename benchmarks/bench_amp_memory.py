"""Peak resident memory while training from a per-residue cache of 5,200 x 174 x 1,280 float16
(ESM-2 650M's size on AMPvsUniProt, 2.3 GB; random values): the cache is memory-mapped and its pages
released as batches are read, so the process never holds it whole."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ablab.families.amp.encoders.base import Encoder
from benchmarks.common import Result, size

ROOT = Path(__file__).resolve().parents[1]
N, MAX_LEN, DIM = size(5200, 40), 174, size(1280, 16)


class RandomEncoder(Encoder):
    """Random per-residue vectors of ESM-2 650M's width (the values do not matter here)."""

    def __init__(self) -> None:
        super().__init__("random1280", DIM, max_tokens=65536, progress=False)
        self.rng = np.random.default_rng(0)

    def identity(self) -> dict[str, Any]:
        return {"name": self.name, "embedding_dim": DIM}

    def _embed_batch(self, sequences: list[str]) -> list[np.ndarray]:
        return [self.rng.standard_normal((len(s), DIM), dtype=np.float32) for s in sequences]


def _peptides_csv(path: Path) -> Path:
    """5,200 distinct random peptides with AMPvsUniProt's lengths (7-174)."""
    from ablab.families.amp.peptides import read_modlamp

    rng = np.random.default_rng(0)
    lengths = [len(s) for s in read_modlamp("AMPvsUniProt").sequences][:N]
    letters = np.array(list("ACDEFGHIKLMNPQRSTVWY"))
    rows = ["Sequence,label"] + [f"{''.join(rng.choice(letters, n))},{i % 2}" for i, n in enumerate(lengths)]
    path.write_text("\n".join(rows) + "\n")
    return path


def _datamodule(folder: Path) -> Any:
    from ablab.families.amp.data import PeptideDataModule

    return PeptideDataModule(
        RandomEncoder(),
        source="csv",
        path=str(folder / "peptides.csv"),
        max_len=MAX_LEN,
        cache_dir=folder / "cache",
        bucket_batches=50,
    )


def fill(folder: str) -> None:
    """Compute the cache (in its own process: this benchmark measures training, not writing)."""
    _datamodule(Path(folder)).prepare_data()


def train(folder: str) -> None:
    """One epoch of the transformer head on every training peptide, then val and test; print peak RSS."""
    import resource

    import lightning as L
    import torch

    from ablab.families.amp.model import TransformerClassifier
    from ablab.families.amp.task import BinaryTask

    torch.set_num_threads(1)
    data = _datamodule(Path(folder))
    task = BinaryTask(
        TransformerClassifier(DIM, d_model=64, dim_feedforward=64, num_layers=1),
        torch.nn.BCEWithLogitsLoss(),
        optimizer=lambda p: torch.optim.AdamW(p, lr=2e-4),
    )
    trainer = L.Trainer(
        max_epochs=1,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        default_root_dir=folder,
    )
    trainer.fit(task, datamodule=data)
    trainer.test(task, datamodule=data, verbose=False)
    rows = data.store.shape
    print(
        json.dumps(
            {
                "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
                "shape": list(rows),
                "file_gb": (data.store.folder / "embeddings.npy").stat().st_size / 2**30,
            }
        )
    )


def _python(code: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout


def run() -> list[Result]:
    with tempfile.TemporaryDirectory() as tmp:
        _peptides_csv(Path(tmp) / "peptides.csv")
        _python(f"from benchmarks.bench_amp_memory import fill; fill({tmp!r})")
        out = json.loads(
            _python(f"from benchmarks.bench_amp_memory import train; train({tmp!r})").splitlines()[-1]
        )
    ok = out["peak_rss_gb"] < 1.5 and out["shape"] == [N, MAX_LEN, DIM]
    return [
        Result(
            f"peak RSS training an epoch from a {'x'.join(map(str, out['shape']))} float16 cache "
            f"(baseline: the cache file, what loading it whole needs)",
            out["peak_rss_gb"],
            out["file_gb"],
            "< 1.5 GB",
            ok,
            unit="GB",
        )
    ]
