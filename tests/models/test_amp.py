"""The six AMP heads: shapes, masks respected (padding never changes a logit), learning, config checks."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import DictConfig

from ablab.errors import ConfigError
from ablab.families.amp.model import CNN1DClassifier, RecurrentClassifier, TransformerClassifier

ROOT_CONF = str(Path(__file__).resolve().parents[2] / "conf")
HEADS = ["cnn1d", "bilstm", "transformer", "bigru", "birnn", "cnn_bilstm"]
DIM = 12


@functools.cache
def head_config(name: str) -> DictConfig:
    """A head's shipped config, at a small size."""
    from ablab.runs.identity import register_resolvers

    register_resolvers()
    small = {
        "cnn1d": ["model.channels=8"],
        "bilstm": ["model.hidden_size=8"],
        "transformer": ["model.d_model=16", "model.dim_feedforward=16"],
        "bigru": ["model.hidden_size=8"],
        "birnn": ["model.hidden_size=8"],
        "cnn_bilstm": ["model.channels=8", "model.hidden_size=8"],
    }[name]
    with initialize_config_dir(ROOT_CONF, version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[
                "experiment=amp",
                f"model=amp/{name}",
                "encoder=onehot",
                f"encoder.embedding_dim={DIM}",
                "model.hidden=8",
                *small,
            ],
        )
    return cfg.model


def head(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return instantiate(head_config(name)).eval()


def batch(lengths: list[int], width: int) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(1)
    mask = torch.arange(width)[None, :] < torch.tensor(lengths)[:, None]
    return torch.randn(len(lengths), width, DIM) * mask.unsqueeze(-1), mask


@pytest.mark.parametrize("name", HEADS)
def test_head_gives_one_logit_per_peptide_whatever_the_padding(name: str) -> None:
    model = head(name)
    x, mask = batch([5, 9, 3], width=9)
    logits = model(x, mask)
    assert logits.shape == (3,) and torch.isfinite(logits).all()
    # More padding, with garbage in it, changes nothing: masks are respected.
    wide = torch.cat([x, 100 * torch.randn(3, 7, DIM)], dim=1)
    wide_mask = torch.cat([mask, torch.zeros(3, 7, dtype=torch.bool)], dim=1)
    assert torch.allclose(model(wide, wide_mask), logits, atol=1e-5)
    # A peptide's logit does not depend on the other peptides in its batch.
    alone = model(x[2:, :3], mask[2:, :3])
    assert torch.allclose(alone, logits[2:], atol=1e-5)


@pytest.mark.parametrize("name", HEADS)
def test_head_learns_a_motif(name: str) -> None:
    """Peptides containing a planted motif are told apart after a few dozen steps."""
    model = head(name).train()
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(64, 10, DIM, generator=generator) * 0.1
    y = (torch.arange(64) % 2).float()
    x[y == 1, 4, 0] += 3.0
    mask = torch.ones(64, 10, dtype=torch.bool)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(40):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x, mask), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    accuracy = ((model(x, mask) > 0).float() == y).float().mean()
    assert accuracy >= 0.9, f"{name}: accuracy {accuracy:.2f}, loss {loss.item():.3f}"


def test_shipped_heads_match_the_reference_architectures() -> None:
    bilstm, birnn, bigru = head("bilstm"), head("birnn"), head("bigru")
    assert bilstm.rnn.num_layers == 3 and bilstm.rnn.bidirectional and bilstm.pool is None
    assert birnn.rnn.num_layers == 2 and isinstance(birnn.rnn, torch.nn.LSTM) and birnn.pool is not None
    assert isinstance(bigru.rnn, torch.nn.GRU) and bigru.rnn.bidirectional
    assert [c.kernel_size[0] for c in head("cnn1d").convs] == [3, 5, 7]
    assert len(head("transformer").encoder.layers) == 2


def test_bad_head_settings_name_the_field() -> None:
    with pytest.raises(ConfigError, match=r"model\.kernel_sizes"):
        CNN1DClassifier(DIM, kernel_sizes=(2, 3))
    with pytest.raises(ConfigError, match=r"model\.cell"):
        RecurrentClassifier(DIM, cell="rnn")
    with pytest.raises(ConfigError, match=r"model\.num_heads"):
        TransformerClassifier(DIM, d_model=10, num_heads=4)
    with pytest.raises(ConfigError, match=r"model\.embedding_dim"):
        CNN1DClassifier(0)
