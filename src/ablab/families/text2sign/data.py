"""Sign-language clips with captions: a procedural generator that runs anywhere, and a reader for
real data (a How2Sign- or PHOENIX-style captions CSV pointing at videos or frame folders).

Procedural "signs": a vocabulary of glosses, each a deterministic motion of one or both hand blobs
(trajectory, hand shape, which hand) over a static body silhouette. A caption is a short gloss
sequence and its clip the concatenated motions (frames split evenly between the glosses). Each
sample also draws a small nuisance (signer shift, hand size), so clips of one caption differ
slightly (hand placement and size; the body stays put). Clips are uint8 (C, F, H, W) RGB; the task maps them to [-1, 1].

Real data layout (`data=signs_csv`):
    captions.csv        columns id,text,path[,split]; path relative to the CSV's folder
    clips/0001.mp4      a video file imageio can read (GIF always; MP4 with imageio's pyav/ffmpeg
    clips/0002/         plugin), or a folder of frame images (png/jpg/bmp, sorted by name)
Clips are resampled to `frames` evenly spaced frames and resized to height x width. `split`
(train/val/test) is optional; without it rows are split by the data seed.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from ablab.errors import DataError, require
from ablab.lightning.cache import cache_key, cached_arrays
from ablab.lightning.csvfiles import delimiter_hint, read_text
from ablab.lightning.datamodule import DataInfo, SplitDataModule

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


def resample(clip: np.ndarray, frames: int, height: int, width: int) -> np.ndarray:
    """(T, H, W, C) uint8 frames -> (3, frames, height, width) uint8: evenly spaced frames, area resize."""
    if clip.shape[-1] == 1:
        clip = np.repeat(clip, 3, axis=-1)
    clip = clip[..., :3]
    index = np.linspace(0, clip.shape[0] - 1, frames).round().astype(int)
    x = torch.from_numpy(np.ascontiguousarray(clip[index])).permute(0, 3, 1, 2).float()
    x = F.interpolate(x, size=(height, width), mode="area" if x.shape[-1] >= width else "bilinear")
    return x.round().clamp(0, 255).to(torch.uint8).permute(1, 0, 2, 3).numpy()


def _as_frames(array: np.ndarray) -> np.ndarray:
    """Frames as (T, H, W, C) whatever imageio returned ((H, W), (H, W, C), (T, H, W[, C]))."""
    if array.ndim == 2:
        return array[None, ..., None]
    if array.ndim == 3 and array.shape[-1] in (1, 3, 4):
        return array[None]
    if array.ndim == 3:
        return array[..., None]
    return array


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def read_clip(path: Path, where: str) -> np.ndarray:
    """Frames (T, H, W, C) uint8 of a video file or a frame folder; DataError naming `where`."""
    import imageio.v3 as iio

    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in FRAME_SUFFIXES)
        if not files:
            raise DataError(f"{where}: frame folder {path} holds no {'/'.join(FRAME_SUFFIXES)} images")
        frames = []
        for file in files:
            try:
                frames.append(_as_frames(np.asarray(iio.imread(file)))[0])
            except Exception as exc:
                raise DataError(
                    f"{where}: cannot read frame {file} ({_first_line(exc)}); replace or remove it"
                ) from exc
        shapes = {f.shape for f in frames}
        if len(shapes) > 1:
            raise DataError(
                f"{where}: frames in {path} have different sizes {sorted(shapes)}; "
                "every frame of a clip must have one size"
            )
        return np.stack(frames).astype(np.uint8)
    if not path.exists():
        raise DataError(f"{where}: video {path} does not exist; fix the path (relative to the CSV's folder)")
    try:
        array = np.asarray(iio.imread(path, index=None))
    except Exception as exc:
        raise DataError(
            f"{where}: cannot read video {path} ({_first_line(exc)}); convert it to GIF "
            "or a frame folder, or install imageio's pyav plugin for MP4"
        ) from exc
    frames = _as_frames(array)
    if frames.size == 0 or frames.shape[0] == 0:
        raise DataError(f"{where}: video {path} has no frames")
    if frames.dtype != np.uint8:
        frames = np.clip(frames, 0, 255).astype(np.uint8)
    return frames


def read_rows(csv_path: Path) -> list[dict[str, str]]:
    """The rows of a captions CSV after checking its columns; DataError naming the file otherwise."""
    if not csv_path.is_file():
        raise DataError(
            f"{csv_path}: captions CSV not found; set data.csv_path to a file with columns id,text,path"
        )
    reader = csv.DictReader(io.StringIO(read_text(csv_path, "data.csv_path"), newline=""))
    missing = [c for c in ("id", "text", "path") if c not in (reader.fieldnames or [])]
    if missing:
        raise DataError(
            f"{csv_path}: missing column(s) {', '.join(missing)}; the header needs id,text,path[,split]"
            f"{delimiter_hint(list(reader.fieldnames or []))}"
        )
    rows = list(reader)
    if not rows:
        raise DataError(f"{csv_path}: no rows; add one row per clip (id,text,path)")
    return rows


def _where(csv_path: Path, number: int, row: dict[str, str]) -> str:
    """`<csv>:<line> (id=...)` for messages; line 1 is the header."""
    return f"{csv_path}:{number + 2} (id={row.get('id')!r})"


def read_captions_csv(
    csv_path: Path,
    rows: list[dict[str, str]],
    frames: int,
    height: int,
    width: int,
    min_frames: int,
    seed: int,
    fractions: tuple[float, float],
) -> dict[str, np.ndarray]:
    """Every row's clip resampled, as arrays per split plus the caption list; DataError per bad row."""
    index: dict[str, int] = {}
    videos, caption_ids, splits = [], [], []
    for number, row in enumerate(rows):
        where = _where(csv_path, number, row)
        text = (row.get("text") or "").strip()
        if not text:
            raise DataError(f"{where}: empty text; every clip needs a caption")
        if not (row.get("path") or "").strip():
            raise DataError(f"{where}: empty path; give the video file or frame folder")
        split = (row.get("split") or "").strip()
        if split and split not in SPLITS:
            raise DataError(f"{where}: split={split!r} is not one of {', '.join(SPLITS)}")
        clip = read_clip(csv_path.parent / row["path"].strip(), where)
        if clip.shape[0] < min_frames:
            raise DataError(
                f"{where}: {clip.shape[0]} frames, fewer than data.min_frames={min_frames}; "
                "drop the row or lower data.min_frames"
            )
        videos.append(resample(clip, frames, height, width))
        caption_ids.append(index.setdefault(text, len(index)))
        splits.append(split)
    draws = np.random.default_rng(seed).random(len(rows))
    val_fraction, test_fraction = fractions
    assigned = np.array(
        [
            s or ("test" if d < test_fraction else "val" if d < test_fraction + val_fraction else "train")
            for s, d in zip(splits, draws, strict=True)
        ]
    )
    video, caption = np.stack(videos), np.asarray(caption_ids, dtype=np.int64)
    arrays = {"captions": np.asarray(list(index))}
    for split in SPLITS:
        mask = assigned == split
        if not mask.any():
            raise DataError(f"{csv_path}: no rows in the {split} split; add rows or give a split column")
        arrays[f"{split}_video"], arrays[f"{split}_caption"] = video[mask], caption[mask]
    return arrays


@dataclass(frozen=True)
class SignDataInfo(DataInfo):
    """The captions a batch's caption indices point into (the task encodes them once)."""

    captions: list[str]


class SignClipsDataModule(SplitDataModule):
    """Clips (uint8 (C, F, H, W)) with caption indices into `self.captions`, per split."""

    def info(self) -> DataInfo:
        return SignDataInfo(list(self.captions)) if self.captions else DataInfo()

    def __init__(
        self,
        frames: int,
        height: int,
        width: int,
        batch_size: int,
        num_workers: int,
        seed: int,
        cache_dir: str | Path,
    ) -> None:
        super().__init__()
        require(1 <= frames <= 256, "data.frames", frames, "must be in 1..256")
        require(height >= 8 and width >= 8, "data.height/width", (height, width), "must be >= 8 pixels")
        require(batch_size >= 1, "data.batch_size", batch_size, "must be >= 1")
        self.frames, self.height, self.width, self.channels = frames, height, width, 3
        self.batch_size, self.num_workers, self.seed = batch_size, num_workers, seed
        self.cache_dir = Path(cache_dir)
        self.captions: list[str] = []
        self.splits: dict[str, TensorDataset] = {}

    def load(self) -> tuple[dict[str, np.ndarray], list[str]]:
        """Arrays `<split>_video`, `<split>_caption` for every split, and the caption list."""
        raise TypeError(f"{type(self).__name__} must implement load()")

    def prepare_data(self) -> None:
        self.load()

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        arrays, self.captions = self.load()
        for split in SPLITS:
            self.splits[split] = TensorDataset(
                torch.from_numpy(arrays[f"{split}_video"]), torch.from_numpy(arrays[f"{split}_caption"])
            )

    def dataset(self, split: str) -> TensorDataset:
        return self.splits[split]


class ProceduralSignsDataModule(SignClipsDataModule):
    """Generated sign clips: deterministic by the data seed, cached on disk by their parameters.
    With `holdout_captions` > 0 that fraction of the captions never appears in training and the
    val/test clips use only them (a compositional test); otherwise val/test are new clips of the
    training captions."""

    def __init__(
        self,
        num_glosses: int = 8,
        max_glosses: int = 2,
        frames: int = 8,
        height: int = 32,
        width: int = 32,
        train_size: int = 1536,
        val_size: int = 32,
        test_size: int = 64,
        jitter: float = 0.02,
        holdout_captions: float = 0.0,
        batch_size: int = 16,
        num_workers: int = 0,
        seed: int = 0,
        cache_dir: str | Path = ".cache/signs",
    ) -> None:
        super().__init__(frames, height, width, batch_size, num_workers, seed, cache_dir)
        require(
            1 <= num_glosses <= len(GLOSSES), "data.num_glosses", num_glosses, f"must be in 1..{len(GLOSSES)}"
        )
        require(1 <= max_glosses <= 4, "data.max_glosses", max_glosses, "must be in 1..4")
        require(max_glosses <= frames, "data.max_glosses", max_glosses, f"must be <= data.frames={frames}")
        for name, size in (
            ("data.train_size", train_size),
            ("data.val_size", val_size),
            ("data.test_size", test_size),
        ):
            require(size >= 2, name, size, "must be >= 2 clips")
        require(0.0 <= jitter <= 0.2, "data.jitter", jitter, "must be in [0, 0.2] (fraction of the frame)")
        require(0.0 <= holdout_captions < 1.0, "data.holdout_captions", holdout_captions, "must be in [0, 1)")
        self.num_glosses, self.max_glosses, self.jitter = num_glosses, max_glosses, jitter
        self.holdout_captions = holdout_captions
        self.sizes = {"train": train_size, "val": val_size, "test": test_size}

    def caption_sets(self) -> dict[str, list[tuple[int, ...]]]:
        sequences = vocabulary(self.num_glosses, self.max_glosses)
        held = round(self.holdout_captions * len(sequences))
        if not held:
            return {split: sequences for split in SPLITS}
        # Hold out whole multi-gloss captions only: every gloss still appears alone in training.
        multi = [s for s in sequences if len(s) > 1]
        order = np.random.default_rng(self.seed).permutation(len(multi))
        heldout = [multi[i] for i in sorted(order[: min(held, len(multi) - 1)])]
        train = [s for s in sequences if s not in heldout]
        return {"train": train, "val": heldout, "test": heldout}

    def load(self) -> tuple[dict[str, np.ndarray], list[str]]:
        sets = self.caption_sets()
        captions = [caption_text(s) for s in vocabulary(self.num_glosses, self.max_glosses)]
        lookup = {c: i for i, c in enumerate(captions)}
        arrays: dict[str, np.ndarray] = {}
        for number, split in enumerate(SPLITS):
            split_seed = self.seed * 3 + number
            params = {
                "sequences": [list(s) for s in sets[split]],
                "count": self.sizes[split],
                "frames": self.frames,
                "height": self.height,
                "width": self.width,
                "jitter": self.jitter,
                "seed": split_seed,
                "version": 2,
            }
            path = self.cache_dir / f"{split}-{cache_key(params)}.npz"
            data = cached_arrays(
                path,
                lambda s=split, ss=split_seed: generate(
                    self.sizes[s], sets[s], self.frames, self.height, self.width, self.jitter, ss
                ),
                describe=f"sign clips ({split}): {self.sizes[split]:,} clips of {self.frames} frames",
            )
            remap = np.array([lookup[caption_text(s)] for s in sets[split]], dtype=np.int64)
            arrays[f"{split}_video"] = data["video"]
            arrays[f"{split}_caption"] = remap[data["caption"]]
        return arrays, captions


class CsvSignsDataModule(SignClipsDataModule):
    """Real clips from a captions CSV (see the module docstring for the layout), cached once read."""

    def __init__(
        self,
        csv_path: str | Path,
        frames: int = 16,
        height: int = 32,
        width: int = 32,
        min_frames: int = 1,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        batch_size: int = 8,
        num_workers: int = 0,
        seed: int = 0,
        cache_dir: str | Path = ".cache/signs_csv",
    ) -> None:
        super().__init__(frames, height, width, batch_size, num_workers, seed, cache_dir)
        require(min_frames >= 1, "data.min_frames", min_frames, "must be >= 1")
        require(
            0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1,
            "data.val_fraction/test_fraction",
            (val_fraction, test_fraction),
            "must be >= 0 and sum below 1",
        )
        self.csv_path = Path(csv_path)
        self.min_frames = min_frames
        self.fractions = (val_fraction, test_fraction)

    def load(self) -> tuple[dict[str, np.ndarray], list[str]]:
        rows = read_rows(self.csv_path)
        stamps = []
        for row in rows:
            path = self.csv_path.parent / (row.get("path") or "").strip()
            stat = path.stat() if path.exists() else None
            stamps.append([str(path), stat.st_mtime_ns if stat else None, stat.st_size if stat else None])
        params = {
            "csv": str(self.csv_path.resolve()),
            "rows": rows,
            "clips": stamps,
            "frames": self.frames,
            "height": self.height,
            "width": self.width,
            "min_frames": self.min_frames,
            "seed": self.seed,
            "fractions": list(self.fractions),
        }
        path = self.cache_dir / f"clips-{cache_key(params)}.npz"
        arrays = cached_arrays(
            path,
            lambda: read_captions_csv(
                self.csv_path,
                rows,
                self.frames,
                self.height,
                self.width,
                self.min_frames,
                self.seed,
                self.fractions,
            ),
        )
        return arrays, [str(c) for c in arrays["captions"]]
