"""The hybrid CNN-LSTM-attention classifier: computed shapes, config errors, every config choice."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from ablab.components.attention import ConvAttention, MultiHeadAttention, NoAttention
from ablab.components.pooling import LastPool, MaxPool, MeanPool
from ablab.errors import ConfigError
from ablab.families.hybrid.model import HybridCNNLSTM, NoRecurrence, conv_lengths

CONF = str(Path(__file__).resolve().parents[2] / "conf")


def build(num_features: int = 13, **kwargs: object) -> HybridCNNLSTM:
    attention = kwargs.pop("attention", functools.partial(MultiHeadAttention, num_heads=4))
    return HybridCNNLSTM(attention, kwargs.pop("pooling", MeanPool()), num_features, 3, **kwargs)


def compose_model(*overrides: str) -> torch.nn.Module:
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        # On wine (13 features, 3 classes), so the shapes below are its shapes; the default data is motifs.
        cfg = compose("train", overrides=["experiment=hybrid", "data=wine", *overrides])
    return instantiate(cfg.model)


def test_sequence_length_after_pooling_is_computed_not_assumed() -> None:
    assert conv_lengths(13, 2, 2) == [6, 3]
    assert conv_lengths(64, 3, 2) == [32, 16, 8]
    assert conv_lengths(30, 2, 3) == [10, 3]
    model = build(13)
    assert model.sequence_length == 3
    model.eval()
    logits = model(torch.randn(5, 13))
    assert logits.shape == (5, 3)
    weights = model.attention.last_weights
    assert weights.shape == (5, 3, 3)
    torch.testing.assert_close(weights.sum(dim=-1), torch.ones(5, 3))


def test_channels_double_per_block_and_the_lstm_width_follows() -> None:
    model = build(16, cnn_channels=8, cnn_blocks=3, lstm_hidden=12, bidirectional=True)
    assert [block.conv.out_channels for block in model.cnn] == [8, 16, 32]
    assert model.lstm.input_size == 32 and model.lstm.hidden_size == 12
    assert model.classifier.in_features == 24
    assert build(16, lstm_hidden=12, bidirectional=False).classifier.in_features == 12


def test_too_few_features_for_the_pooling_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"3 input features are too few .* needs at least 4 features"):
        build(3)
    with pytest.raises(ConfigError, match=r"model\.kernel_size=4"):
        build(13, kernel_size=4)
    build(4)  # exactly enough: one step left after two poolings


def test_forward_rejects_a_different_feature_count() -> None:
    with pytest.raises(ConfigError, match="built for 13 features but got 12"):
        build(13)(torch.randn(2, 12))


def test_pooling_over_time() -> None:
    x = torch.tensor([[[1.0, 5.0], [3.0, -1.0], [2.0, 0.0]]])
    torch.testing.assert_close(MeanPool()(x), torch.tensor([[2.0, 4.0 / 3.0]]))
    assert MaxPool()(x).tolist() == [[3.0, 5.0]]
    assert LastPool()(x).tolist() == [[2.0, 0.0]]


def test_same_seed_same_model() -> None:
    torch.manual_seed(7)
    first = build(13)
    torch.manual_seed(7)
    second = build(13)
    for a, b in zip(first.state_dict().values(), second.state_dict().values()):
        torch.testing.assert_close(a, b)


def test_default_config_is_mha_with_configurable_heads_and_mean_pooling() -> None:
    model = compose_model()
    assert isinstance(model.attention, MultiHeadAttention)
    assert model.attention.attention.num_heads == 4
    assert isinstance(model.pooling, MeanPool)
    assert [b.conv.out_channels for b in model.cnn] == [16, 32]
    assert (model.lstm.num_layers, model.lstm.hidden_size, model.lstm.bidirectional) == (2, 32, True)
    assert compose_model("model.attention.num_heads=2").attention.attention.num_heads == 2
    assert isinstance(compose_model("model/attention=additive").attention, ConvAttention)
    with pytest.raises(Exception, match="must divide the attention input size 64"):
        compose_model("model.attention.num_heads=5")


@pytest.mark.parametrize(
    ("variant", "check"),
    [
        ("baseline", lambda m: isinstance(m.attention, MultiHeadAttention) and m.lstm.bidirectional),
        ("no_attention", lambda m: isinstance(m.attention, NoAttention)),
        ("unidirectional", lambda m: not m.lstm.bidirectional and m.classifier.in_features == 32),
        ("lstm_layers_1", lambda m: m.lstm.num_layers == 1),
        ("cnn_blocks_1", lambda m: len(m.cnn) == 1 and m.sequence_length == 6),
        ("pool_max", lambda m: isinstance(m.pooling, MaxPool)),
        ("pool_last", lambda m: isinstance(m.pooling, LastPool)),
        ("no_recurrence", lambda m: isinstance(m.lstm, NoRecurrence) and m.classifier.in_features == 32),
    ],
)
def test_each_ablation_changes_its_part_and_still_runs(variant: str, check: object) -> None:
    model = compose_model(f"ablation=hybrid/{variant}")
    assert check(model)
    model.eval()
    assert model(torch.randn(4, 13)).shape == (4, 3)


def test_the_default_data_is_the_motif_set_that_sizes_the_model() -> None:
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose("train", overrides=["experiment=hybrid"])
    model = instantiate(cfg.model)
    assert cfg.data.source == "motifs"
    assert (model.num_features, model.num_classes, model.sequence_length) == (48, 4, 12)


def test_other_data_sets_size_the_model() -> None:
    model = compose_model("data=digits")
    assert (model.num_features, model.num_classes, model.sequence_length) == (64, 10, 16)
    assert compose_model("data=breast_cancer").classifier.out_features == 2
