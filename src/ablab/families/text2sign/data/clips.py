"""Real sign clips from a captions CSV (`id,text,path[,split]`): videos or frame folders, resampled and
resized, with one-line errors naming the row."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ablab.errors import DataError
from ablab.families.text2sign.data.procedural import FRAME_SUFFIXES, SPLITS
from ablab.lightning.csvfiles import delimiter_hint, read_text


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
