"""Tiny random ESM-2 models saved in the published formats, for tests, benchmarks and smoke runs
without network: they load through exactly the code that loads the real checkpoints.

    save_tiny_esm2(folder)        transformers folder: config.json, vocab.txt (the 33 ESM-2 tokens),
                                  model.safetensors
    save_tiny_fair_esm(path)      fair-esm checkpoint: {"model": state dict with the `encoder.` prefix,
                                  "cfg": {"model": Namespace(...)}}, as esm2_t*_UR50D.pt files are
"""

from __future__ import annotations

import argparse
from pathlib import Path


def save_tiny_esm2(
    folder: str | Path, hidden_size: int = 32, num_layers: int = 2, num_heads: int = 4, seed: int = 0
) -> Path:
    """A random EsmModel of the given size with its tokenizer files in `folder`."""
    import torch
    from esm.data import Alphabet
    from transformers import EsmConfig, EsmModel, EsmTokenizer
    from transformers.utils import logging as hf_logging

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokens = Alphabet.from_architecture("ESM-1b").all_toks
    (folder / "vocab.txt").write_text("\n".join(tokens) + "\n")
    config = EsmConfig(
        vocab_size=len(tokens),
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        intermediate_size=2 * hidden_size,
        max_position_embeddings=1026,
        position_embedding_type="rotary",
        pad_token_id=tokens.index("<pad>"),
        mask_token_id=tokens.index("<mask>"),
        token_dropout=True,
        emb_layer_norm_before=False,
    )
    torch.manual_seed(seed)
    hf_logging.disable_progress_bar()
    try:
        EsmModel(config, add_pooling_layer=False).save_pretrained(folder)
        EsmTokenizer(str(folder / "vocab.txt")).save_pretrained(folder)
    finally:
        hf_logging.enable_progress_bar()
    return folder


def save_tiny_fair_esm(
    path: str | Path, embed_dim: int = 32, num_layers: int = 2, num_heads: int = 4, seed: int = 0
) -> Path:
    """A random fair-esm ESM2 saved as an ESM-2 checkpoint file."""
    import torch
    from esm.model.esm2 import ESM2

    torch.manual_seed(seed)
    model = ESM2(num_layers=num_layers, embed_dim=embed_dim, attention_heads=num_heads, alphabet="ESM-1b")
    state = {
        f"encoder.sentence_encoder.{k}": v
        for k, v in model.state_dict().items()
        if not k.startswith("contact_head.regression")
    }
    cfg = argparse.Namespace(
        encoder_layers=num_layers,
        encoder_embed_dim=embed_dim,
        encoder_attention_heads=num_heads,
        token_dropout=True,
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": state, "cfg": {"model": cfg}}, path)
    return path
