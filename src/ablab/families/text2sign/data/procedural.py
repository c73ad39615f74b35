"""Procedural sign clips: a vocabulary of glosses, each a deterministic motion of one or both hand
blobs over a static body silhouette; a caption's clip is its glosses' motions one after another."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

SPLITS = ("train", "val", "test")
FRAME_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")

# Colours (RGB in [0, 1]) of the scene.
BODY = (0.42, 0.42, 0.42)
HEAD = (0.62, 0.56, 0.5)
RIGHT = (1.0, 0.3, 0.2)
LEFT = (0.2, 0.5, 1.0)
REST = {"right": (0.3, 0.8), "left": (0.7, 0.8)}
SHAPES = {"open": (0.095, 0.095), "fist": (0.075, 0.075), "flat": (0.055, 0.12)}

Path2D = Callable[[float], tuple[float, float]]


def _line(start: tuple[float, float], end: tuple[float, float]) -> Path2D:
    return lambda s: (start[0] + (end[0] - start[0]) * s, start[1] + (end[1] - start[1]) * s)


def _circle(center: tuple[float, float], radius: float, turns: float = 1.0) -> Path2D:
    return lambda s: (
        center[0] + radius * math.cos(2 * math.pi * turns * s),
        center[1] + radius * math.sin(2 * math.pi * turns * s),
    )


def _wave(center: tuple[float, float], amp: tuple[float, float], cycles: float) -> Path2D:
    return lambda s: (
        center[0] + amp[0] * math.sin(2 * math.pi * cycles * s),
        center[1] + amp[1] * math.sin(2 * math.pi * cycles * s),
    )


def _still(point: tuple[float, float]) -> Path2D:
    return lambda s: point


@dataclass(frozen=True)
class Gloss:
    """One sign: for each moving hand, its path over the sign's duration (s in [0, 1]) and shape."""

    name: str
    hands: dict[str, tuple[Path2D, str]]


# Coordinates are fractions of the frame (x right, y down); the signer's right hand is on the left.
GLOSSES: tuple[Gloss, ...] = (
    Gloss("hello", {"right": (_wave((0.24, 0.2), (0.09, 0.0), 1.0), "open")}),
    Gloss("thanks", {"right": (_line((0.5, 0.3), (0.4, 0.62)), "flat")}),
    Gloss("please", {"right": (_circle((0.5, 0.55), 0.11), "open")}),
    Gloss(
        "help",
        {
            "right": (_line((0.4, 0.85), (0.4, 0.42)), "fist"),
            "left": (_line((0.6, 0.85), (0.6, 0.42)), "flat"),
        },
    ),
    Gloss(
        "more",
        {
            "right": (_wave((0.36, 0.5), (0.1, 0.0), 1.0), "fist"),
            "left": (_wave((0.64, 0.5), (-0.1, 0.0), 1.0), "fist"),
        },
    ),
    Gloss("drink", {"left": (_line((0.72, 0.75), (0.55, 0.28)), "fist")}),
    Gloss(
        "stop", {"left": (_still((0.7, 0.42)), "flat"), "right": (_line((0.3, 0.15), (0.62, 0.42)), "flat")}
    ),
    Gloss(
        "go",
        {
            "right": (_line((0.3, 0.65), (0.62, 0.35)), "open"),
            "left": (_line((0.5, 0.65), (0.82, 0.35)), "open"),
        },
    ),
    Gloss("yes", {"right": (_wave((0.33, 0.45), (0.0, 0.07), 2.0), "fist")}),
    Gloss("sorry", {"left": (_circle((0.62, 0.58), 0.09, -1.0), "fist")}),
    Gloss("eat", {"right": (_wave((0.6, 0.36), (0.06, -0.08), 2.0), "flat")}),
    Gloss(
        "no",
        {
            "right": (_line((0.25, 0.5), (0.72, 0.5)), "open"),
            "left": (_line((0.75, 0.5), (0.28, 0.5)), "open"),
        },
    ),
)


def vocabulary(num_glosses: int, max_glosses: int) -> list[tuple[int, ...]]:
    """Every gloss sequence of length 1..max_glosses over the first `num_glosses` glosses."""
    sequences: list[tuple[int, ...]] = [()]
    out: list[tuple[int, ...]] = []
    for _ in range(max_glosses):
        sequences = [(*seq, g) for seq in sequences for g in range(num_glosses)]
        out.extend(sequences)
    return out


def caption_text(sequence: tuple[int, ...]) -> str:
    """The caption of a gloss sequence: the gloss names in order, lower case, space separated."""
    return " ".join(GLOSSES[g].name for g in sequence)


def _blob(
    canvas: np.ndarray,
    grid: tuple[np.ndarray, np.ndarray],
    center: tuple[float, float],
    radii: tuple[float, float],
    colour: tuple[float, float, float],
) -> None:
    """Alpha-blend a soft-edged ellipse into `canvas` (H, W, 3) in place."""
    yy, xx = grid
    height, width = canvas.shape[:2]
    d = np.sqrt(((xx - center[0]) / radii[0]) ** 2 + ((yy - center[1]) / radii[1]) ** 2)
    sharpness = max(2.0, min(radii[0] * width, radii[1] * height))
    alpha = np.clip((1.0 - d) * sharpness, 0.0, 1.0)[..., None]
    canvas *= 1.0 - alpha
    canvas += alpha * np.asarray(colour, dtype=np.float32)


def render(
    sequence: tuple[int, ...],
    frames: int,
    height: int,
    width: int,
    shift: tuple[float, float] = (0.0, 0.0),
    hand_scale: float = 1.0,
) -> np.ndarray:
    """The clip of a gloss sequence as uint8 (3, frames, height, width); `shift` moves the hands."""
    yy, xx = np.meshgrid((np.arange(height) + 0.5) / height, (np.arange(width) + 0.5) / width, indexing="ij")
    grid = (yy, xx)
    hand_grid = (yy - shift[1], xx - shift[0])
    body = np.zeros((height, width, 3), dtype=np.float32)
    _blob(body, grid, (0.5, 0.72), (0.22, 0.34), BODY)
    _blob(body, grid, (0.5, 0.2), (0.1, 0.12), HEAD)
    bounds = np.linspace(0, frames, len(sequence) + 1).round().astype(int)
    clip = np.empty((frames, height, width, 3), dtype=np.float32)
    for index, gloss_id in enumerate(sequence):
        gloss = GLOSSES[gloss_id]
        start, stop = bounds[index], bounds[index + 1]
        for f in range(start, stop):
            s = (f - start + 0.5) / max(stop - start, 1)
            canvas = body.copy()
            for hand, colour in (("right", RIGHT), ("left", LEFT)):
                path, shape = gloss.hands.get(hand, (_still(REST[hand]), "fist"))
                rx, ry = SHAPES[shape]
                _blob(canvas, hand_grid, path(s), (rx * hand_scale, ry * hand_scale), colour)
            clip[f] = canvas
    return (np.clip(clip, 0.0, 1.0) * 255 + 0.5).astype(np.uint8).transpose(3, 0, 1, 2)


def generate(
    count: int,
    sequences: list[tuple[int, ...]],
    frames: int,
    height: int,
    width: int,
    jitter: float,
    seed: int,
) -> dict[str, np.ndarray]:
    """`count` clips of captions drawn uniformly from `sequences` (indices into it in `caption`)."""
    rng = np.random.default_rng(seed)
    captions = rng.integers(0, len(sequences), size=count)
    video = np.empty((count, 3, frames, height, width), dtype=np.uint8)
    for i, c in enumerate(captions):
        shift = tuple(rng.uniform(-jitter, jitter, size=2)) if jitter else (0.0, 0.0)
        scale = float(rng.uniform(0.85, 1.15)) if jitter else 1.0
        video[i] = render(sequences[c], frames, height, width, shift, scale)
    return {"video": video, "caption": captions.astype(np.int64)}
