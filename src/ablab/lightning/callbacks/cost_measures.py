"""The measurements behind a run's `cost/` figures, each what its name says:

- `count_flops`: floating-point operations of a call, from `torch.utils.flop_counter` (deterministic
  and machine-independent), with the recurrent layers it has no formula for (`aten.lstm` on CPU and
  packed GRUs, `aten._cudnn_rnn` on GPU) counted here from their shapes: 2 x gates x hidden x
  (input + hidden) per step and layer and direction, the matrix products, as it counts linear layers.
- `TensorPeak`: the most bytes of tensors created inside a block alive at once (a dispatch mode that
  follows every op's output storage until it is freed), the CPU's tensor-level peak; CUDA's allocator
  gives the same thing on GPU (`max_memory_allocated`).
- `latency`: wall time of a call with warm-up and repeats (`torch.utils.benchmark`), median and
  interquartile range.

Hand-written only where torch has no public answer: flop_counter knows no LSTM on CPU, and torch
offers no tensor-level memory peak off CUDA.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils._pytree import tree_leaves
from torch.utils.flop_counter import FlopCounterMode

# Matrix products per step of a recurrent cell: LSTM 4 gates, GRU 3, plain RNN 1.
_GATES = {"lstm": 4, "gru": 3}
_CUDNN_GATES = {0: 1, 1: 1, 2: 4, 3: 3}


def rnn_flops(
    steps: int, input_size: int, hidden: int, layers: int, bidirectional: bool, gates: int
) -> int:
    """FLOPs of the matrix products of a recurrent network over `steps` (sample x time) steps."""
    directions = 2 if bidirectional else 1
    total, width = 0, input_size
    for _ in range(layers):
        total += directions * 2 * steps * gates * hidden * (width + hidden)
        width = hidden * directions
    return total


def _hidden(params: list, gates: int) -> int:
    return int(params[0][0]) // gates  # w_ih of layer 0: (gates * hidden, input)


def _rnn_formula(gates: int) -> Callable[..., int]:
    """A flop_counter formula (it receives shapes) for aten.lstm / aten.gru, padded or packed."""

    def formula(data, second, *args, out_shape=None, **kwargs) -> int:
        packed = len(second) == 1 and not isinstance(second[0], (list, tuple))  # batch_sizes
        if packed:  # (data, batch_sizes, hx, params, has_biases, num_layers, dropout, train, bidir)
            params, layers, bidirectional = args[1], args[3], args[6]
            steps, width = int(data[0]), int(data[1])
        else:  # (input, hx, params, has_biases, num_layers, dropout, train, bidir, batch_first)
            params, layers, bidirectional = args[0], args[2], args[5]
            steps, width = int(data[0]) * int(data[1]), int(data[2])
        return rnn_flops(steps, width, _hidden(params, gates), int(layers), bool(bidirectional), gates)

    return formula


def _cudnn_formula(data, weights, *args, out_shape=None, **kwargs) -> int:
    """aten._cudnn_rnn(input, weight[], stride0, buf, hx, cx, mode, hidden, proj, layers, batch_first,
    dropout, train, bidirectional, batch_sizes, ...). Written from the signature; untested without a
    GPU."""
    mode, hidden, layers, bidirectional, batch_sizes = args[4], args[5], args[7], args[11], args[12]
    steps = int(data[0]) if batch_sizes else int(data[0]) * int(data[1])
    return rnn_flops(steps, int(data[-1]), int(hidden), int(layers), bool(bidirectional), _CUDNN_GATES[mode])


def _mkldnn_layer_formula(data, w_ih, *args, out_shape=None, **kwargs) -> int:
    """aten.mkldnn_rnn_layer(input (T, B, in), w_ih, w_hh, b_ih, b_hh, hx, cx, reverse, batch_sizes,
    mode, hidden, ...): one layer in one direction, as CPU LSTMs run."""
    hidden = int(args[8])
    return rnn_flops(int(data[0]) * int(data[1]), int(data[2]), hidden, 1, False, int(w_ih[0]) // hidden)


def _custom_formulas() -> dict[Any, Callable[..., int]]:
    aten = torch.ops.aten
    return {
        aten.mkldnn_rnn_layer: _mkldnn_layer_formula,
        aten.lstm: _rnn_formula(_GATES["lstm"]),
        aten.gru: _rnn_formula(_GATES["gru"]),
        aten._cudnn_rnn: _cudnn_formula,
    }


def count_flops(fn: Callable[[], Any]) -> int:
    """FLOPs of one call of `fn` (no gradients)."""
    with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=_custom_formulas()) as counter:
        fn()
    return int(counter.get_total_flops())


class TensorPeak(torch.utils._python_dispatch.TorchDispatchMode):
    """Inside the block: `peak` = the most bytes of tensor storage created in it and alive at once.

    Every op's output storage is counted once, when it first appears, and subtracted when the last
    tensor on it that this mode saw is freed (a weak reference's callback; torch keeps a tensor's
    Python object while autograd or a module still holds it); views and in-place results share a
    counted storage. Tensors made before the block (weights, the input batch) are not counted: add
    them yourself."""

    def __init__(self) -> None:
        super().__init__()
        self.live: dict[int, list[int]] = {}  # storage address -> [bytes, tensors seen on it]
        self.now = 0
        self.peak = 0

    def _release(self, key: int) -> None:
        entry = self.live.get(key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] <= 0:
            self.now -= self.live.pop(key)[0]

    @staticmethod
    def _storage(tensor: torch.Tensor) -> tuple[int, int] | None:
        if tensor.device.type == "meta" or tensor.layout != torch.strided:
            return None
        storage = tensor.untyped_storage()
        return (storage.data_ptr(), storage.nbytes()) if storage.nbytes() else None

    def _track(self, tensor: torch.Tensor, inputs: set[int]) -> None:
        found = self._storage(tensor)
        if found is None:
            return
        key, size = found
        if key in inputs and key not in self.live:  # a view or in-place result of an outside tensor
            return
        entry = self.live.setdefault(key, [size, 0])
        if entry[1] == 0:
            self.now += size
            self.peak = max(self.peak, self.now)
        entry[1] += 1
        weakref.finalize(tensor, self._release, key)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        inputs = {
            found[0]
            for leaf in tree_leaves((args, kwargs))
            if isinstance(leaf, torch.Tensor) and (found := self._storage(leaf)) is not None
        }
        out = func(*args, **kwargs)
        for leaf in tree_leaves(out):
            if isinstance(leaf, torch.Tensor):
                self._track(leaf, inputs)
        return out


def tensor_bytes(module: torch.nn.Module) -> int:
    """Bytes of a module's parameters and buffers."""
    tensors = [*module.parameters(), *module.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors)


@dataclass(frozen=True)
class Latency:
    """Seconds per call: median and interquartile range over `runs` timed runs (after warm-up)."""

    median_s: float
    iqr_s: float
    runs: int


def latency(fn: Callable[[], Any], min_run_time: float = 0.3, repeats: int = 5, warmup: int = 2) -> Latency:
    """`fn`'s wall time per call with torch.utils.benchmark (CUDA synchronised where present), on this
    process's torch threads: `warmup` calls, then blocks of calls until `min_run_time` seconds and at
    least `repeats` timed runs."""
    from torch.utils.benchmark import Timer

    timer = Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
    with torch.no_grad():
        for _ in range(warmup):
            fn()
        measurement = timer.blocked_autorange(min_run_time=min_run_time)
        times = list(measurement.times)
        while len(times) < repeats:
            times += timer.timeit(measurement.number_per_run).times
    low, median, high = np.percentile(times, [25, 50, 75])
    return Latency(float(median), float(high - low), len(times))
