"""Peptide data: readers (modlAMP, CSV, FASTA + labels), validation with row numbers, truncation,
duplicates and leakage, the stratified split, length-bucketed batches, and embeddings from the cache."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from ablab.errors import ConfigError, DataError
from ablab.families.amp.data import LengthBucketSampler, PeptideDataModule
from ablab.families.amp.encoders.cache import EmbeddingCache
from ablab.families.amp.encoders.onehot import OneHotEncoder
from ablab.families.amp.peptides import (
    PeptideDataWarning,
    Peptides,
    clean,
    drop_duplicates,
    leakage,
    read_csv,
    read_fasta,
    read_modlamp,
    stratified_indices,
)


def peptides(sequences: list[str], labels: list[int] | None = None) -> Peptides:
    labels = labels if labels is not None else [i % 2 for i in range(len(sequences))]
    return Peptides(
        [f"p{i}" for i in range(len(sequences))],
        sequences,
        np.array(labels),
        [f"line {i + 2}" for i in range(len(sequences))],
    )


def write_csv(path: Path, rows: list[tuple[str, object]], header: str = "Sequence,label,Length") -> Path:
    path.write_text(header + "\n" + "".join(f"{s},{y},{len(s)}\n" for s, y in rows))
    return path


def test_modlamp_sets_load_offline_with_their_published_sizes() -> None:
    uniprot, tm = read_modlamp("AMPvsUniProt"), read_modlamp("AMPvsTM")
    assert len(uniprot.sequences) == 5200 and int(uniprot.labels.sum()) == 2600
    assert len(tm.sequences) == 412 and max(len(s) for s in tm.sequences) == 56
    assert uniprot.ids[0] == "AMPvsUniProt_1" and uniprot.where[9] == "row 10"


def test_clean_upper_cases_and_maps_nonstandard_residues_to_unknown() -> None:
    out = clean(peptides(["acdk", "KBZU", "  GI LK "]), 10, "unknown", "test.csv")
    assert out.sequences == ["ACDK", "KXXX", "GILK"]


def test_nonstandard_residues_rejected_on_request_with_their_rows() -> None:
    with pytest.raises(
        DataError, match=r"non-standard residues .* at line 3, line 5; set data\.nonstandard=unknown"
    ):
        clean(peptides(["ACDK", "KBK", "GG", "AOA"]), 10, "reject", "x.csv")


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("", "empty sequences at line 3"),
        ("AC1D", "other than letters .* at line 3"),
        ("AC-D", "other than letters .* at line 3"),
        ("ACD*", "other than letters .* at line 3"),
    ],
)
def test_empty_and_non_letter_sequences_are_rejected_with_row_numbers(bad: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        clean(peptides(["ACDK", bad, "GG"]), 10, "unknown", "x.csv")


def test_long_sequences_are_truncated_with_a_counted_warning() -> None:
    with pytest.warns(
        PeptideDataWarning, match=r"2 sequences longer than data\.max_len=5 truncated \(longest 9\)"
    ):
        out = clean(peptides(["ACDKLMN", "AC", "ACDKLMNPQ"]), 5, "unknown", "x")
    assert [len(s) for s in out.sequences] == [5, 2, 5]


def test_drop_duplicates_keeps_first_copies_and_drops_conflicting_sequences() -> None:
    data = peptides(["AAA", "CCC", "AAA", "DDD", "DDD", "EEE"], [1, 0, 1, 1, 0, 0])
    with pytest.warns(PeptideDataWarning, match=r"removed 3 records .* \(1 sequences had conflicting labels"):
        out = drop_duplicates(data, "x")
    assert out.sequences == ["AAA", "CCC", "EEE"] and out.ids == ["p0", "p1", "p5"]


def test_stratified_split_keeps_class_balance_and_depends_only_on_the_seed() -> None:
    labels = np.array([1] * 300 + [0] * 100)
    train, val, test = stratified_indices(labels, [0.8, 0.1, 0.1], seed=3)
    assert (len(train), len(val), len(test)) == (320, 40, 40)
    assert labels[val].mean() == pytest.approx(0.75) and labels[test].mean() == pytest.approx(0.75)
    assert sorted(np.concatenate([train, val, test]).tolist()) == list(range(400))
    again = stratified_indices(labels, [0.8, 0.1, 0.1], seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(again, (train, val, test)))
    assert not np.array_equal(stratified_indices(labels, [0.8, 0.1, 0.1], seed=4)[2], test)


def test_leakage_counts_val_and_test_sequences_seen_in_earlier_splits() -> None:
    data = peptides(["AAA", "CCC", "AAA", "CCC", "DDD", "DDD"])
    splits = {"train": np.array([0, 1]), "val": np.array([2, 4]), "test": np.array([3, 5])}
    assert leakage(data, splits) == {"val": 1, "test": 2}


def test_csv_in_the_reference_format_reads_with_line_numbered_errors(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "train.csv", [("GIGKFLHSAKKF", 1), ("MKVLAAGIV", 0)])
    data = read_csv(path)
    assert data.sequences == ["GIGKFLHSAKKF", "MKVLAAGIV"] and data.labels.tolist() == [1, 0]
    assert data.where == ["line 2", "line 3"] and data.ids == ["train_1", "train_2"]
    bad = write_csv(tmp_path / "bad.csv", [("GIG", 1), ("KKK", 2), ("LLL", "yes")])
    with pytest.raises(DataError, match=re.escape("label must be 0 or 1 at line 3 ('2'), line 4 ('yes')")):
        read_csv(bad)
    with pytest.raises(DataError, match=r"no column label .* needs Sequence,label"):
        read_csv(write_csv(tmp_path / "nolabel.csv", [("GIG", 1)], header="Sequence,class,Length"))


def test_fasta_with_a_labels_file(tmp_path: Path) -> None:
    fasta = tmp_path / "p.fasta"
    fasta.write_text(">a1 magainin\nGIGKFLHS\nAKKF\n>b2\nMKVLA\n")
    labels = tmp_path / "labels.csv"
    labels.write_text("id,label\nb2,0\na1,1\n")
    data = read_fasta(fasta, labels)
    assert data.ids == ["a1", "b2"] and data.sequences == ["GIGKFLHSAKKF", "MKVLA"]
    assert data.labels.tolist() == [1, 0] and data.where[1] == "b2 (line 4)"
    labels.write_text("id,label\na1,1\n")
    with pytest.raises(DataError, match=r"no label for FASTA records b2 \(line 4\)"):
        read_fasta(fasta, labels)


def test_bucket_sampler_covers_each_index_once_with_similar_lengths_per_batch() -> None:
    lengths = np.random.default_rng(0).integers(5, 175, size=1000)
    torch.manual_seed(0)
    sampler = LengthBucketSampler(lengths, batch_size=32, bucket_batches=10)
    batches = list(sampler)
    assert len(batches) == len(sampler)
    assert sorted(i for b in batches for i in b) == list(range(1000))
    spread = np.mean([np.ptp(lengths[b]) for b in batches if len(b) == 32])
    assert spread < 30  # random batches of 32 span about 150 residues
    torch.manual_seed(0)
    assert list(LengthBucketSampler(lengths, 32, 10)) == batches
    evaluation = list(LengthBucketSampler(lengths, 64, 10, shuffle=False))
    assert [lengths[b].max() for b in evaluation] == sorted(lengths[b].max() for b in evaluation)


def test_datamodule_serves_cached_embeddings_with_masks_and_labels(tmp_path: Path) -> None:
    data = PeptideDataModule(
        OneHotEncoder(), max_samples=200, batch_size=16, cache_dir=tmp_path, split=(0.6, 0.2, 0.2)
    )
    with pytest.warns(PeptideDataWarning, match="duplicates=drop removed"):
        data.prepare_data()
    data.setup("fit")
    sizes = {name: len(part) for name, part in data.splits.items()}
    assert sizes == {"train": 120, "val": 40, "test": 40}
    batch = next(iter(data.train_dataloader()))
    assert batch["x"].shape[0] == 16 and batch["x"].shape[2] == 21
    assert batch["mask"].sum(dim=1).tolist() == batch["x"].sum(dim=2).sum(dim=1).int().tolist()
    assert batch["x"].shape[1] == batch["mask"].sum(dim=1).max()
    index = batch["index"][0].item()
    sequence = data.peptides.sequences[index]
    assert int(batch["mask"][0].sum()) == len(sequence)
    assert batch["x"][0, : len(sequence)].argmax(-1).tolist() == [
        "ACDEFGHIKLMNPQRSTVWY".index(a) for a in sequence
    ]
    assert batch["y"][0].item() == data.peptides.labels[index]
    test_ids = {data.ids[i] for b in data.test_dataloader() for i in b["index"].tolist()}
    assert len(test_ids) == 40 and test_ids.isdisjoint({data.ids[i] for i in data.splits["train"]})
    # A second run (same data, same encoder) reads the stored embeddings.
    again = PeptideDataModule(OneHotEncoder(), max_samples=200, cache_dir=tmp_path, split=(0.6, 0.2, 0.2))
    with pytest.warns(PeptideDataWarning):
        again.setup("fit")
    assert [e["event"] for e in EmbeddingCache(tmp_path).events()] == ["computed", "hit"]


def test_keeping_duplicates_reports_leakage_between_splits(tmp_path: Path) -> None:
    data = PeptideDataModule(OneHotEncoder(), duplicates="keep", cache_dir=tmp_path)
    with pytest.warns(PeptideDataWarning, match=r"\d+ val and \d+ test records repeat a sequence"):
        data.load()
    assert len(data.peptides.sequences) == 5200 and len(data.unique) < 5200


def test_bad_data_settings_name_the_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"data\.source='AMPvsAll'"):
        PeptideDataModule(OneHotEncoder(), source="AMPvsAll")
    with pytest.raises(ConfigError, match=r"data\.path"):
        PeptideDataModule(OneHotEncoder(), source="csv")
    with pytest.raises(ConfigError, match=r"data\.labels_path"):
        PeptideDataModule(OneHotEncoder(), source="fasta", path="x.fasta")
    with pytest.raises(ConfigError, match=r"data\.split"):
        PeptideDataModule(OneHotEncoder(), split=(0.8, 0.3, 0.1))
    with pytest.raises(DataError, match="file not found"):
        PeptideDataModule(OneHotEncoder(), source="csv", path=str(tmp_path / "none.csv")).load()


def test_a_csv_saved_with_a_byte_order_mark_reads_like_one_without(tmp_path: Path) -> None:
    plain = write_csv(tmp_path / "plain.csv", [("GIGKFLHSAKKF", 1), ("MKVLAAGIV", 0)])
    marked = tmp_path / "marked.csv"
    marked.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())  # as spreadsheet programs save "UTF-8 CSV"
    a, b = read_csv(plain), read_csv(marked)
    assert (b.sequences, b.labels.tolist(), b.where) == (a.sequences, a.labels.tolist(), a.where)


def test_a_fasta_file_that_is_not_utf8_names_itself(tmp_path: Path) -> None:
    fasta = tmp_path / "p.fasta"
    fasta.write_bytes(b">a1 caf\xe9\nGIGKFLHS\n")  # Latin-1
    labels = tmp_path / "labels.csv"
    labels.write_text("id,label\na1,1\n")
    with pytest.raises(DataError) as caught:
        read_fasta(fasta, labels)
    assert (
        str(caught.value)
        == f"data.path={fasta}: not UTF-8 text (byte 0xe9 at offset 7); save the file as UTF-8"
    )


def test_a_semicolon_separated_peptide_csv_gets_a_hint_about_the_delimiter(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("Sequence;label\nGIG;1\nKKK;0\n")
    with pytest.raises(
        DataError, match=r"no column sequence or label \(found Sequence;label\).*looks ';'-separated"
    ):
        read_csv(path)
