"""The data fingerprint in a run's identity: which files count, what changes it, and that every data
module's file fields are declared in `run_id.inputs`."""

from __future__ import annotations

import inspect
import os
from pathlib import Path

from omegaconf import OmegaConf

from ablab.runs import fingerprint
from ablab.runs.fingerprint import changed_files, data_fingerprint, file_fingerprint
from ablab.runs.identity import config_hash
from tests.conftest import ROOT

INPUTS = OmegaConf.load(ROOT / "conf" / "train.yaml").run_id.inputs


def _cfg(**data: object) -> object:
    return OmegaConf.create({"run_id": {"inputs": INPUTS, "ignore": []}, "seed": 1, "data": data})


def test_a_file_counts_by_its_content_not_its_name_or_time(tmp_path: Path) -> None:
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("x,label\n1,0\n")
    b.write_text("x,label\n1,0\n")
    os.utime(b, ns=(1, 1))
    assert file_fingerprint(a) == file_fingerprint(b) == {"size": 12, "sha256": file_fingerprint(a)["sha256"]}
    first, run_hash = data_fingerprint(_cfg(path=str(a))), config_hash(_cfg(path=str(a)))
    a.write_text("x,label\n2,0\n")  # same size, other content
    os.utime(a, ns=(2, 2))  # a time of its own: digests are kept per (path, size, mtime, inode)
    second = data_fingerprint(_cfg(path=str(a)))
    assert first["hash"] != second["hash"] and changed_files(first, second) == ["data.path"]
    assert config_hash(_cfg(path=str(a))) != run_hash  # the same command is a new run


def test_large_files_count_by_size_mtime_and_sampled_blocks(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(fingerprint, "LARGE", 1000)
    monkeypatch.setattr(fingerprint, "SAMPLE", 100)
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(5000))
    found = file_fingerprint(big)
    assert set(found) == {"size", "mtime_ns", "sha256_sampled"} and found["size"] == 5000
    os.utime(big, ns=(10**18, 10**18))
    assert file_fingerprint(big) != found


def test_a_captions_csv_counts_with_the_clips_it_lists(tmp_path: Path) -> None:
    (tmp_path / "clips" / "0002").mkdir(parents=True)
    (tmp_path / "clips" / "0001.gif").write_bytes(b"GIF89a-one")
    (tmp_path / "clips" / "0002" / "f0.png").write_bytes(b"png-zero")
    captions = tmp_path / "captions.csv"
    captions.write_text("id,text,path\n1,hello,clips/0001.gif\n2,bye,clips/0002\n")
    first = data_fingerprint(_cfg(csv_path=str(captions)))
    assert set(first["files"]["data.csv_path"]["listed"]) == {"clips/0001.gif", "clips/0002"}
    (tmp_path / "clips" / "0002" / "f1.png").write_bytes(b"png-one")  # a frame more in a frame folder
    assert data_fingerprint(_cfg(csv_path=str(captions)))["hash"] != first["hash"]


def test_fasta_and_labels_both_count_and_unset_or_absent_files_do_not(tmp_path: Path) -> None:
    fasta, labels = tmp_path / "p.fasta", tmp_path / "labels.csv"
    fasta.write_text(">a\nGIG\n")
    labels.write_text("id,label\na,1\n")
    found = data_fingerprint(_cfg(path=str(fasta), labels_path=str(labels)))
    assert set(found["files"]) == {"data.path", "data.labels_path"}
    labels.write_text("id,label\na,0\n")
    assert changed_files(found, data_fingerprint(_cfg(path=str(fasta), labels_path=str(labels)))) == [
        "data.labels_path"
    ]
    assert data_fingerprint(_cfg(path=None)) is None  # generated or packaged data: nothing to read
    assert data_fingerprint(_cfg(path=str(tmp_path / "absent.csv"))) is None  # the reader names it
    assert data_fingerprint(_cfg(csv_path="???")) is None


def test_every_data_module_file_field_is_declared_in_run_id_inputs() -> None:
    """A new file field that is not declared would leave its data out of the run's identity."""
    import importlib

    from ablab.lightning.datamodule import SplitDataModule

    declared = {e if isinstance(e, str) else e["field"] for e in INPUTS}
    families = (ROOT / "src" / "ablab" / "families").iterdir()
    modules = [
        importlib.import_module(f"ablab.families.{f.name}.data")
        for f in families
        if (f / "data.py").exists() or (f / "data").is_dir()
    ]
    classes = [
        c for m in modules for c in vars(m).values() if isinstance(c, type) and issubclass(c, SplitDataModule)
    ]
    fields = {
        f"data.{name}"
        for cls in classes
        for name in inspect.signature(cls.__init__).parameters
        if name == "path" or name.endswith("_path")
    }
    assert fields == {"data.path", "data.labels_path", "data.csv_path"}
    assert fields <= declared
