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

from ablab.families.text2sign.data.clips import read_captions_csv, read_clip, resample
from ablab.families.text2sign.data.modules import (
    CsvSignsDataModule,
    ProceduralSignsDataModule,
    SignClipsDataModule,
    SignDataInfo,
)
from ablab.families.text2sign.data.procedural import (
    GLOSSES,
    SPLITS,
    caption_text,
    generate,
    render,
    vocabulary,
)

__all__ = [
    "GLOSSES",
    "SPLITS",
    "CsvSignsDataModule",
    "ProceduralSignsDataModule",
    "SignClipsDataModule",
    "SignDataInfo",
    "caption_text",
    "generate",
    "read_captions_csv",
    "read_clip",
    "render",
    "resample",
    "vocabulary",
]
