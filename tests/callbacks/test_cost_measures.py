"""The measurements behind the cost record, on modules whose true figures are known by hand."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from ablab.lightning.callbacks.cost_measures import TensorPeak, count_flops, latency, rnn_flops, tensor_bytes

MB = 1e6


def test_flops_of_linear_layers_are_two_per_multiply_add() -> None:
    model = nn.Sequential(nn.Linear(10, 20), nn.ReLU(), nn.Linear(20, 5))
    assert count_flops(lambda: model(torch.randn(3, 10))) == 2 * 3 * (10 * 20 + 20 * 5)


@pytest.mark.parametrize("cell,gates", [(nn.LSTM, 4), (nn.GRU, 3)])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_recurrent_layers_count_their_matrix_products_padded_and_packed(cell, gates, bidirectional) -> None:
    torch.manual_seed(0)
    rnn = cell(3, 16, num_layers=2, batch_first=True, bidirectional=bidirectional)
    x = torch.randn(8, 5, 3)
    lengths = torch.tensor([5, 5, 4, 4, 3, 3, 2, 1])
    # layer 1: 2 x steps x gates x 16 x (3 + 16); layer 2 reads 16 (or 32) features
    assert count_flops(lambda: rnn(x)) == rnn_flops(40, 3, 16, 2, bidirectional, gates)
    packed = pack_padded_sequence(x, lengths, batch_first=True)
    assert count_flops(lambda: rnn(packed)) == rnn_flops(int(lengths.sum()), 3, 16, 2, bidirectional, gates)
    one_layer = rnn_flops(1, 3, 16, 1, False, gates)
    assert one_layer == 2 * gates * 16 * (3 + 16)


def test_tensor_peak_of_a_forward_is_its_two_largest_live_activations() -> None:
    model = nn.Sequential(nn.Linear(1000, 4000), nn.ReLU(), nn.Linear(4000, 10))
    x = torch.randn(256, 1000)
    with torch.no_grad(), TensorPeak() as peak:
        model(x)
    # the first layer's output and the ReLU's (256 x 4000 float32 each) are alive together; the
    # weights (16 MB) and the input are not made in the block
    assert peak.peak == 2 * 256 * 4000 * 4
    assert peak.now == 0


def test_tensor_peak_of_a_training_step_holds_gradients_and_adam_state() -> None:
    model = nn.Linear(1000, 1000, bias=False)
    optimizer = torch.optim.Adam(model.parameters())
    weights = tensor_bytes(model)
    with TensorPeak() as peak:
        model(torch.ones(1, 1000)).sum().backward()
        optimizer.step()
    assert weights == 4 * MB
    # after the step: the gradient and Adam's two moments live on (3 x 4 MB)
    assert peak.now == pytest.approx(3 * weights, rel=0.01)
    assert 3 * weights <= peak.peak <= 5 * weights


def test_a_smaller_model_measures_less_memory() -> None:
    def step_peak(hidden: int) -> int:
        model = nn.GRU(2, hidden, batch_first=True)
        with TensorPeak() as peak:
            model(torch.randn(256, 2, 2))[0].sum().backward()
        return tensor_bytes(model) + peak.peak

    assert step_peak(32) < 0.5 * step_peak(128)


def test_latency_reports_a_median_and_spread_of_several_runs() -> None:
    calls = []
    timed = latency(lambda: calls.append(1), min_run_time=0.01, repeats=5, warmup=2)
    assert timed.runs >= 5 and len(calls) >= 7
    assert 0 < timed.median_s < 0.01 and timed.iqr_s >= 0
