"""ESM-2 through the fair-esm package (`esm` module) from a local checkpoint file (e.g.
esm2_t33_650M_UR50D.pt from dl.fbaipublicfiles.com/fair-esm/models/).

The checkpoint is read with `torch.load(weights_only=True)`: tensors and plain containers only, plus
`argparse.Namespace`, which ESM-2 checkpoints use for their model settings; no pickled code runs.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ablab.errors import ConfigError, DataError, require
from ablab.families.amp.encoders.base import Encoder, file_fingerprint
from ablab.families.amp.encoders.esm2 import resolve_device, resolve_precision


def load_checkpoint(path: Path) -> dict[str, Any]:
    """The checkpoint's dict, loaded without executing pickled code; DataError when it needs more."""
    import pickle

    import torch

    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0]
        raise DataError(
            f"encoder.path={path}: refusing to unpickle code from this checkpoint ({first}); "
            "use an official fair-esm ESM-2 checkpoint"
        ) from exc
    except (OSError, RuntimeError) as exc:
        raise DataError(f"encoder.path={path}: unreadable checkpoint ({exc})") from exc
    if not isinstance(data, dict) or "model" not in data or "cfg" not in data:
        raise DataError(f"encoder.path={path}: not a fair-esm ESM-2 checkpoint (needs 'model' and 'cfg')")
    return data


class FairESMEncoder(Encoder):
    """ESM-2 from a fair-esm `.pt` checkpoint: final layer representations, BOS/EOS excluded."""

    token_overhead = 2

    def __init__(
        self,
        path: str,
        embedding_dim: int,
        name: str = "esm_fair",
        device: str = "auto",
        precision: str = "auto",
        max_tokens: int = 4096,
        progress: bool = True,
    ) -> None:
        super().__init__(name, embedding_dim, max_tokens, progress)
        require(bool(path), "encoder.path", path, "give the fair-esm checkpoint file (.pt)")
        self.path = Path(path).expanduser()
        self.device = device
        self.precision = precision
        self._model: Any = None
        self._converter: Any = None

    def _checked_path(self) -> Path:
        if not self.path.is_file():
            raise DataError(
                f"encoder {self.name}: fair-esm checkpoint {self.path} is not on this machine (no network is "
                f"used). On a machine with network download https://dl.fbaipublicfiles.com/fair-esm/models/"
                f"{self.path.name}, copy it here and set encoder.path=/path/to/{self.path.name}"
            )
        return self.path

    def identity(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "backend": "fair-esm",
            "embedding_dim": self.embedding_dim,
            "weights": file_fingerprint([self._checked_path()]),
            "precision": resolve_precision(self.precision, resolve_device(self.device)),
            "layer": "final",
        }

    def prepare(self) -> None:
        if self._model is not None:
            return
        import torch
        from esm.pretrained import load_model_and_alphabet_core

        data = load_checkpoint(self._checked_path())
        with warnings.catch_warnings():
            # The contact-regression weights are not needed for embeddings.
            warnings.filterwarnings("ignore", message="Regression weights not found")
            model, alphabet = load_model_and_alphabet_core("esm2", data, None)
        if model.embed_dim != self.embedding_dim:
            raise ConfigError(
                f"encoder.embedding_dim={self.embedding_dim} but {self.path} has embedding size "
                f"{model.embed_dim}: set encoder.embedding_dim={model.embed_dim}"
            )
        device = resolve_device(self.device)
        dtype = getattr(torch, resolve_precision(self.precision, device))
        self._model = model.to(device=device, dtype=dtype).eval()
        self._converter = alphabet.get_batch_converter()

    def _embed_batch(self, sequences: list[str]) -> list[np.ndarray]:
        import torch

        _, _, tokens = self._converter([(str(i), s) for i, s in enumerate(sequences)])
        layer = self._model.num_layers
        with torch.inference_mode():
            out = self._model(tokens.to(next(self._model.parameters()).device), repr_layers=[layer])
            hidden = out["representations"][layer].float().cpu().numpy()
        return [hidden[j, 1 : 1 + len(s)] for j, s in enumerate(sequences)]
