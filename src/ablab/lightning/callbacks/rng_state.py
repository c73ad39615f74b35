"""Carry the RNG states in checkpoints, so a resumed run draws the same shuffles as an uninterrupted
one and reaches the same metrics. Lightning restores model, optimiser and loops, not the RNGs."""

from __future__ import annotations

import random
from typing import Any

import lightning as L
import numpy as np
import torch


class RngStateInCheckpoint(L.Callback):
    """Saves python, numpy and torch (CPU and CUDA) generator states; restores them on resume.

    Stored as tensors and plain lists so checkpoints still load with `weights_only=True`."""

    def state_dict(self) -> dict[str, Any]:
        kind, keys, pos, has_gauss, cached = np.random.get_state()
        state = {
            "python": [random.getstate()[0], list(random.getstate()[1]), random.getstate()[2]],
            "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
            "torch": torch.get_rng_state(),
        }
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        version, internal, gauss = state_dict["python"]
        random.setstate((version, tuple(internal), gauss))
        kind, keys, pos, has_gauss, cached = state_dict["numpy"]
        np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
        torch.set_rng_state(state_dict["torch"])
        if "cuda" in state_dict and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state_dict["cuda"])
