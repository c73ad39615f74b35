"""Procedural sign clips and the captions-CSV reader: determinism, caching, layout, bad input."""

from __future__ import annotations

import itertools
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from ablab.errors import ConfigError, DataError
from ablab.families.text2sign.data import (
    GLOSSES,
    CsvSignsDataModule,
    ProceduralSignsDataModule,
    caption_text,
    render,
    vocabulary,
)


def small(tmp_path: Path, **kwargs) -> ProceduralSignsDataModule:
    params = dict(
        num_glosses=4,
        max_glosses=2,
        frames=4,
        height=16,
        width=16,
        train_size=24,
        val_size=6,
        test_size=8,
        batch_size=4,
        cache_dir=tmp_path / "cache",
    )
    params.update(kwargs)
    return ProceduralSignsDataModule(**params)


def test_every_gloss_is_a_distinct_motion() -> None:
    clips = [render((g,), 8, 32, 32).astype(np.float32) for g in range(len(GLOSSES))]
    for a, b in itertools.combinations(range(len(GLOSSES)), 2):
        assert np.abs(clips[a] - clips[b]).mean() > 1.0, (GLOSSES[a].name, GLOSSES[b].name)
    for clip in clips:
        assert clip.shape == (3, 8, 32, 32)
        assert np.abs(np.diff(clip, axis=1)).mean() > 0.05  # hands move or change between frames


def test_a_caption_is_its_glosses_in_order_over_equal_parts_of_the_clip() -> None:
    hello, go = render((0,), 4, 16, 16), render((7,), 4, 16, 16)
    both = render((0, 7), 8, 16, 16)
    assert caption_text((0, 7)) == "hello go"
    # Frames 0-3 play "hello" and 4-7 "go", each at the phases of a 4-frame clip.
    np.testing.assert_array_equal(both[:, :4], hello)
    np.testing.assert_array_equal(both[:, 4:], go)
    assert len(vocabulary(8, 2)) == 8 + 64


def test_generation_is_deterministic_by_seed_and_cached_on_disk(tmp_path: Path) -> None:
    first = small(tmp_path)
    first.setup()
    files = sorted((tmp_path / "cache").glob("*.npz"))
    assert len(files) == 3
    stamps = [f.stat().st_mtime_ns for f in files]
    again = small(tmp_path)
    again.setup()
    for split in ("train", "val", "test"):
        for a, b in zip(first.splits[split].tensors, again.splits[split].tensors, strict=True):
            assert a.equal(b)
    assert [f.stat().st_mtime_ns for f in files] == stamps  # read back, not regenerated
    other = small(tmp_path / "other", seed=1)
    other.setup()
    assert not other.splits["train"].tensors[0].equal(first.splits["train"].tensors[0])
    assert first.captions == again.captions == [caption_text(s) for s in vocabulary(4, 2)]


def test_without_jitter_each_clip_is_the_rendering_of_its_caption(tmp_path: Path) -> None:
    data = small(tmp_path, jitter=0.0)
    data.setup()
    sequences = {caption_text(s): s for s in vocabulary(4, 2)}
    video, captions = data.splits["train"].tensors
    assert video.dtype.is_floating_point is False and video.shape[1:] == (3, 4, 16, 16)
    for clip, caption in zip(video[:6], captions[:6], strict=True):
        np.testing.assert_array_equal(clip.numpy(), render(sequences[data.captions[caption]], 4, 16, 16))


def test_held_out_captions_never_appear_in_training(tmp_path: Path) -> None:
    data = small(tmp_path, holdout_captions=0.25)
    data.setup()
    train = set(data.splits["train"].tensors[1].tolist())
    held = set(data.splits["val"].tensors[1].tolist()) | set(data.splits["test"].tensors[1].tolist())
    assert held and not train & held
    assert all(len(data.captions[c].split()) == 2 for c in held)
    sets = data.caption_sets()
    assert set(sets["val"]) == set(sets["test"]) and not set(sets["train"]) & set(sets["val"])
    assert {(g,) for g in range(4)} <= set(sets["train"])  # every gloss is still seen alone


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("num_glosses", 0, "data.num_glosses"),
        ("max_glosses", 9, "data.max_glosses"),
        ("jitter", 0.5, "data.jitter"),
        ("train_size", 1, "data.train_size"),
        ("height", 4, "data.height"),
    ],
)
def test_bad_settings_name_the_field(tmp_path: Path, field: str, value: object, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        small(tmp_path, **{field: value})


# ---- the captions CSV reader -------------------------------------------------------------------------
def clip_frames(count: int, size: tuple[int, int] = (24, 20), shade: int = 0) -> np.ndarray:
    frames = np.zeros((count, *size, 3), dtype=np.uint8)
    for t in range(count):
        frames[t, :, : (t + 1) * 2] = 200
        frames[t, 0, 0] = shade
    return frames


def write_set(folder: Path, rows: list[str], header: str = "id,text,path,split") -> Path:
    (folder / "clips").mkdir(parents=True, exist_ok=True)
    csv = folder / "captions.csv"
    csv.write_text("\n".join([header, *rows]) + "\n")
    return csv


def gif(path: Path, frames: np.ndarray) -> str:
    iio.imwrite(path, frames, duration=100, loop=0)
    return path.name


def test_reader_loads_gifs_and_frame_folders_resampled_to_the_configured_size(tmp_path: Path) -> None:
    clips = tmp_path / "clips"
    clips.mkdir()
    gif(clips / "a.gif", clip_frames(10))
    gif(clips / "b.gif", clip_frames(6, shade=50))
    folder = clips / "c"
    folder.mkdir()
    for t, frame in enumerate(clip_frames(5)):
        iio.imwrite(folder / f"{t:03d}.png", frame)
    csv = write_set(
        tmp_path,
        [
            "1,hello,clips/a.gif,train",
            "2,hello go,clips/b.gif,train",
            "3,thanks,clips/c,val",
            "4,hello,clips/a.gif,test",
        ],
    )
    data = CsvSignsDataModule(csv, frames=4, height=12, width=10, batch_size=2, cache_dir=tmp_path / "cache")
    data.setup()
    assert data.captions == ["hello", "hello go", "thanks"]
    video, captions = data.splits["train"].tensors
    assert video.shape == (2, 3, 4, 12, 10) and captions.tolist() == [0, 1]
    assert data.splits["val"].tensors[1].tolist() == [2] and data.splits["test"].tensors[1].tolist() == [0]
    # Evenly spaced frames of the 10-frame clip: 0, 3, 6, 9 -> bright columns grow with time.
    bright = (video[0, 0] > 100).float().mean(dim=(1, 2))
    assert bright.tolist() == sorted(bright.tolist()) and bright[0] < bright[-1]
    next(iter(data.train_dataloader()))


@pytest.mark.parametrize(
    ("rows", "header", "message"),
    [
        (
            ["1,hello,clips/missing.gif,train"],
            "id,text,path,split",
            r"captions.csv:2 \(id='1'\).*does not exist",
        ),
        (["1,hello,clips/a.gif"], "id,caption,path", "missing column.*text"),
        (["1,,clips/a.gif,train"], "id,text,path,split", r"captions.csv:2 .*empty text"),
        (
            ["1,hi,clips/a.gif,train", "2,hi,clips/bad.gif,train"],
            "id,text,path,split",
            r"captions.csv:3 \(id='2'\): cannot read video",
        ),
        (["1,hi,clips/empty,train"], "id,text,path,split", r"captions.csv:2 .*holds no"),
        (["1,hi,clips/mixed,train"], "id,text,path,split", r"captions.csv:2 .*different sizes"),
        (["1,hi,clips/a.gif,validation"], "id,text,path,split", r"captions.csv:2 .*split='validation'"),
        (
            ["1,hi,clips/short.gif,train"],
            "id,text,path,split",
            r"captions.csv:2 .*2 frames, fewer than data.min_frames=3",
        ),
    ],
)
def test_bad_rows_get_one_line_naming_the_row(
    tmp_path: Path, rows: list[str], header: str, message: str
) -> None:
    csv = write_set(tmp_path, rows, header)
    clips = tmp_path / "clips"
    gif(clips / "a.gif", clip_frames(4))
    gif(clips / "short.gif", clip_frames(2))
    (clips / "bad.gif").write_bytes(b"not a video")
    (clips / "empty").mkdir()
    (clips / "mixed").mkdir()
    iio.imwrite(clips / "mixed" / "0.png", clip_frames(1)[0])
    iio.imwrite(clips / "mixed" / "1.png", clip_frames(1, size=(10, 10))[0])
    data = CsvSignsDataModule(csv, frames=4, height=8, width=8, min_frames=3, cache_dir=tmp_path / "cache")
    with pytest.raises(DataError, match=message) as info:
        data.setup()
    assert "\n" not in str(info.value)


def test_a_missing_csv_says_which_setting_to_fix(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"data\.csv_path"):
        CsvSignsDataModule(tmp_path / "nope.csv", cache_dir=tmp_path).setup()
