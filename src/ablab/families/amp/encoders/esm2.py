"""ESM-2 (Lin et al., Science 2023) per-residue embeddings through transformers' `EsmModel`.

`name_or_path` is a local folder (config.json, vocab.txt, model.safetensors or pytorch_model.bin) or a
hub id already in the local Hugging Face cache; nothing is downloaded. The last hidden state is the
embedding, BOS/EOS excluded. Half precision on GPU, float32 on CPU.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ablab.errors import ConfigError, DataError, require
from ablab.families.amp.encoders.base import Encoder, file_fingerprint

WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin")
PRECISIONS = ("auto", "float32", "float16", "bfloat16")


def resolve_device(device: str) -> str:
    """`auto` -> cuda when available, else cpu."""
    import torch

    return ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device


def resolve_precision(precision: str, device: str) -> str:
    """`auto` -> float16 on GPU (half the memory and time, embeddings within fp16 rounding), float32 on CPU."""
    require(
        precision in PRECISIONS, "encoder.precision", precision, f"must be one of {', '.join(PRECISIONS)}"
    )
    if precision == "auto":
        return "float16" if device.startswith("cuda") else "float32"
    return precision


def _looks_like_hub_id(name: str) -> bool:
    return name.count("/") == 1 and not name.startswith((".", "/", "~")) and not Path(name).exists()


def missing_weights_message(name_or_path: str, encoder: str) -> str:
    """One line: which model is missing and the two ways to get it."""
    repo = name_or_path if _looks_like_hub_id(name_or_path) else f"facebook/{Path(name_or_path).name}"
    return (
        f"encoder {encoder}: ESM-2 weights '{name_or_path}' are not on this machine (no network is used). "
        f"On a machine with network run `hf download {repo}` (older huggingface_hub: "
        f"`huggingface-cli download {repo}`) and copy the Hugging Face cache here, or download it to a "
        f"folder and set encoder.name_or_path=/path/to/folder (or ABLAB_ESM_DIR to the folder holding "
        f"{Path(repo).name}/)"
    )


def resolve_weights_folder(name_or_path: str, encoder: str) -> Path:
    """The local folder holding the model files; DataError with how to get them when absent."""
    if _looks_like_hub_id(name_or_path):
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError

        try:
            folder = Path(snapshot_download(name_or_path, local_files_only=True))
        except (LocalEntryNotFoundError, FileNotFoundError, OSError) as exc:
            raise DataError(missing_weights_message(name_or_path, encoder)) from exc
    else:
        folder = Path(name_or_path).expanduser()
    if not folder.is_dir() or not any(p for pattern in WEIGHT_PATTERNS for p in folder.glob(pattern)):
        raise DataError(missing_weights_message(name_or_path, encoder))
    for needed in ("config.json", "vocab.txt"):
        if not (folder / needed).is_file():
            raise DataError(
                f"encoder {encoder}: {folder} has weights but no {needed}; copy the whole model "
                f"folder (config.json, vocab.txt, weights)"
            )
    return folder


class ESM2Encoder(Encoder):
    """ESM-2 of any size through transformers; the size is the checkpoint's, checked against
    `embedding_dim` (the heads are built from the config before any weights are read)."""

    token_overhead = 2

    def __init__(
        self,
        name_or_path: str,
        embedding_dim: int,
        name: str = "esm2",
        device: str = "auto",
        precision: str = "auto",
        max_tokens: int = 4096,
        progress: bool = True,
    ) -> None:
        super().__init__(name, embedding_dim, max_tokens, progress)
        require(
            bool(name_or_path),
            "encoder.name_or_path",
            name_or_path,
            "give a local model folder or a hub id in the local Hugging Face cache",
        )
        self.name_or_path = str(name_or_path)
        self.device = device
        self.precision = precision
        self._folder: Path | None = None
        self._model: Any = None
        self._tokenizer: Any = None

    @property
    def folder(self) -> Path:
        if self._folder is None:
            self._folder = resolve_weights_folder(self.name_or_path, self.name)
        return self._folder

    def _weight_files(self) -> list[Path]:
        files = sorted({p for pattern in WEIGHT_PATTERNS for p in self.folder.glob(pattern)})
        safetensors = [p for p in files if p.suffix == ".safetensors"]
        # transformers loads safetensors when present, so those are what the embeddings depend on.
        return safetensors or files

    def identity(self) -> dict[str, Any]:
        device = resolve_device(self.device)
        return {
            "name": self.name,
            "backend": "transformers",
            "embedding_dim": self.embedding_dim,
            "weights": file_fingerprint(
                [*self._weight_files(), self.folder / "config.json", self.folder / "vocab.txt"]
            ),
            "precision": resolve_precision(self.precision, device),
            "layer": "last_hidden_state",
        }

    def prepare(self) -> None:
        if self._model is not None:
            return
        import torch
        from transformers import EsmModel, EsmTokenizer
        from transformers.utils import logging as hf_logging

        folder = self.folder
        device = resolve_device(self.device)
        dtype = getattr(torch, resolve_precision(self.precision, device))
        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        try:
            # safetensors, or torch.load(weights_only=True) for .bin: no pickled code runs either way.
            model = EsmModel.from_pretrained(folder, add_pooling_layer=False, local_files_only=True)
            tokenizer = EsmTokenizer.from_pretrained(folder, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise DataError(f"encoder {self.name}: cannot load ESM-2 from {folder}: {exc}") from exc
        finally:
            hf_logging.set_verbosity(verbosity)
            hf_logging.enable_progress_bar()
        if model.config.hidden_size != self.embedding_dim:
            raise ConfigError(
                f"encoder.embedding_dim={self.embedding_dim} but {folder} has hidden size "
                f"{model.config.hidden_size}: set encoder.embedding_dim="
                f"{model.config.hidden_size} or pick the matching encoder config"
            )
        self._model = model.to(device=device, dtype=dtype).eval()
        self._tokenizer = tokenizer
        # ESM-2 tokens are single residues between <cls> and <eos>: a lookup table from the model's own
        # vocab.txt tokenises a batch in microseconds (the Python tokenizer takes ~1 ms per sequence).
        vocab = tokenizer.get_vocab()
        self._lookup = np.full(256, tokenizer.unk_token_id, dtype=np.int64)
        for token, index in vocab.items():
            if len(token) == 1:
                self._lookup[ord(token)] = index

    def tokenize(self, sequences: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Padded (B, longest + 2) token ids and attention mask: <cls> residues <eos> <pad>..."""
        tokenizer = self._tokenizer
        ids = np.full((len(sequences), max(map(len, sequences)) + 2), tokenizer.pad_token_id, dtype=np.int64)
        ids[:, 0] = tokenizer.cls_token_id
        for row, sequence in zip(ids, sequences):
            row[1 : 1 + len(sequence)] = self._lookup[
                np.frombuffer(sequence.encode("ascii", "replace"), np.uint8)
            ]
            row[1 + len(sequence)] = tokenizer.eos_token_id
        lengths = np.array([len(s) + 2 for s in sequences])
        return ids, (np.arange(ids.shape[1])[None, :] < lengths[:, None]).astype(np.int64)

    def _embed_batch(self, sequences: list[str]) -> list[np.ndarray]:
        import torch

        ids, mask = self.tokenize(sequences)
        device = next(self._model.parameters()).device
        with torch.inference_mode():
            hidden = self._model(
                input_ids=torch.from_numpy(ids).to(device), attention_mask=torch.from_numpy(mask).to(device)
            ).last_hidden_state
            hidden = hidden.float().cpu().numpy()
        # Position 0 is BOS (<cls>); residues are 1..len, then EOS and padding.
        return [hidden[j, 1 : 1 + len(s)] for j, s in enumerate(sequences)]
