"""Encoders: the offline tables, length-sorted batching, and ESM-2 through both backends on tiny
random models saved in the published formats (loaded by the same code as real weights)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
import torch

from ablab.errors import ConfigError, DataError
from ablab.families.amp.encoders.base import AMINO_ACIDS, Embeddings, length_sorted_batches, residue_indices
from ablab.families.amp.encoders.blosum62 import Blosum62Encoder, blosum62_table
from ablab.families.amp.encoders.esm2 import ESM2Encoder
from ablab.families.amp.encoders.fair_esm import FairESMEncoder
from ablab.families.amp.encoders.onehot import OneHotEncoder
from ablab.families.amp.encoders.physchem import PhysChemEncoder
from tests.helpers.tiny_models import save_tiny_esm2, save_tiny_fair_esm

PEPTIDES = ["GIGKFLHSAKKFGKAFVGEIMNS", "KWKLFKKIGAVLKVL", "ACDX", "M" * 40, "FLPLLAGLAANFLPKIFCKITRKC"]


@pytest.fixture(scope="module")
def tiny_hf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_esm2(tmp_path_factory.mktemp("esm") / "esm2_tiny", hidden_size=32)


@pytest.fixture(scope="module")
def tiny_fair(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_fair_esm(tmp_path_factory.mktemp("fair") / "esm2_tiny.pt", embed_dim=32)


def test_onehot_marks_each_residue_and_sends_nonstandard_to_unknown() -> None:
    emb = OneHotEncoder().encode(["ACY", "BXZ"], max_len=4)
    assert emb.values.shape == (2, 4, 21)
    assert emb.values[0, :3].argmax(-1).tolist() == [0, 1, 19]
    assert emb.values[1, :3].argmax(-1).tolist() == [20, 20, 20]
    assert emb.values[0, 3].sum() == 0 and emb.mask.tolist() == [[True] * 3 + [False]] * 2


def test_blosum62_rows_are_the_ncbi_matrix() -> None:
    table = blosum62_table()
    aa = AMINO_ACIDS.index
    assert np.array_equal(table[:20], table[:20].T)
    assert table[aa("W"), aa("W")] == 11 and table[aa("C"), aa("C")] == 9
    assert table[aa("D"), aa("E")] == 2 and table[aa("I"), aa("L")] == 2 and table[aa("W"), aa("D")] == -4
    assert table[20, aa("A")] == 0 and table[20, aa("P")] == -2  # the X row
    emb = Blosum62Encoder(scale=4.0).encode(["W"], max_len=1)
    assert emb.values[0, 0, aa("W")] == pytest.approx(11 / 4)


def test_physchem_standardises_modlamp_scales_and_rejects_unknown_names() -> None:
    enc = PhysChemEncoder()
    assert enc.table.shape == (21, 10)
    assert np.allclose(enc.table[:20].mean(axis=0), 0, atol=1e-5)
    assert np.allclose(enc.table[:20].std(axis=0), 1, atol=1e-4)
    assert np.all(enc.table[20] == 0)
    # Eisenberg hydrophobicity (column 5): isoleucine is the most hydrophobic, arginine the least.
    eisenberg = enc.table[:20, 5]
    assert AMINO_ACIDS[eisenberg.argmax()] == "I" and AMINO_ACIDS[eisenberg.argmin()] == "R"
    with pytest.raises(ConfigError, match="not a modlAMP scale"):
        PhysChemEncoder(embedding_dim=1, scales=["no_such_scale"])
    with pytest.raises(ConfigError, match=r"set encoder\.embedding_dim=10"):
        PhysChemEncoder(embedding_dim=12)


def test_length_sorted_batches_respect_the_token_budget_and_cover_every_sequence() -> None:
    lengths = np.array([5, 50, 7, 30, 30, 2, 49])
    batches = list(length_sorted_batches(lengths, max_tokens=104, overhead=2))
    assert sorted(np.concatenate(batches).tolist()) == list(range(7))
    assert all(len(b) * (lengths[b].max() + 2) <= 104 for b in batches)
    assert lengths[batches[0]].tolist() == [50, 49]
    assert [len(b) for b in length_sorted_batches(lengths, max_tokens=1)] == [1] * 7


def test_residue_indices_and_pooled_vector() -> None:
    assert residue_indices("ACxy!").tolist() == [0, 1, 20, 19, 20]
    emb = Embeddings(np.arange(12, dtype=np.float32).reshape(2, 3, 2), np.array([1, 3]))
    assert emb.pooled().tolist() == [[0.0, 1.0], [8.0, 9.0]]


@pytest.mark.parametrize("backend", ["transformers", "fair-esm"])
def test_esm2_embeddings_exclude_bos_eos_and_do_not_depend_on_batching(
    backend: str, tiny_hf: Path, tiny_fair: Path
) -> None:
    enc = (
        ESM2Encoder(str(tiny_hf), 32, progress=False)
        if backend == "transformers"
        else FairESMEncoder(str(tiny_fair), 32, progress=False)
    )
    batched = enc.encode(PEPTIDES, max_len=30)
    enc.max_tokens = 1  # one sequence per forward pass
    single = enc.encode(PEPTIDES, max_len=30)
    assert batched.lengths.tolist() == [23, 15, 4, 30, 24]
    assert np.allclose(batched.values, single.values, atol=1e-5)
    assert np.all(batched.values[2, 4:] == 0) and np.abs(batched.values[2, :4]).min() > 0
    # Residue i is the model's output at token i + 1 (token 0 is BOS) of the unpadded sequence.
    enc.prepare()
    if backend == "transformers":
        ids, mask = enc.tokenize([*PEPTIDES, "BZUOX"])
        reference = enc._tokenizer([*PEPTIDES, "BZUOX"], padding=True, return_tensors="np")
        assert np.array_equal(ids, reference["input_ids"]) and np.array_equal(
            mask, reference["attention_mask"]
        )
        tokens = enc._tokenizer(["KWKLFKKIGAVLKVL"], return_tensors="pt")
        with torch.inference_mode():
            direct = enc._model(**tokens).last_hidden_state[0].numpy()
    else:
        _, _, tokens = enc._converter([("p", "KWKLFKKIGAVLKVL")])
        with torch.inference_mode():
            direct = enc._model(tokens, repr_layers=[2])["representations"][2][0].numpy()
    assert direct.shape[0] == 15 + 2
    assert np.allclose(batched.values[1, :15], direct[1:16], atol=1e-5)


def test_esm2_identity_fingerprints_the_weights_without_loading_them(tmp_path: Path) -> None:
    first = save_tiny_esm2(tmp_path / "a", hidden_size=16, num_layers=1, seed=0)
    second = save_tiny_esm2(tmp_path / "b", hidden_size=16, num_layers=1, seed=1)
    one, other = ESM2Encoder(str(first), 16), ESM2Encoder(str(second), 16)
    assert one.identity()["weights"] != other.identity()["weights"]
    assert one.identity() == ESM2Encoder(str(first), 16).identity()
    assert one._model is None


def test_missing_esm2_weights_name_the_model_and_how_to_get_them(tmp_path: Path) -> None:
    with pytest.raises(DataError) as hub:
        ESM2Encoder("facebook/esm2_t6_8M_UR50D", 320, name="esm2_t6_8M").identity()
    message = str(hub.value)
    assert "\n" not in message
    assert "esm2_t6_8M" in message and "hf download facebook/esm2_t6_8M_UR50D" in message
    assert "encoder.name_or_path=" in message
    with pytest.raises(DataError, match="hf download facebook/esm2_t12_35M_UR50D"):
        ESM2Encoder(str(tmp_path / "esm2_t12_35M_UR50D"), 480).identity()
    with pytest.raises(DataError, match=r"fair-esm/models/esm2_t33_650M_UR50D\.pt"):
        FairESMEncoder(str(tmp_path / "esm2_t33_650M_UR50D.pt"), 1280).identity()


def test_esm2_hidden_size_must_match_the_configured_embedding_dim(tiny_hf: Path, tiny_fair: Path) -> None:
    with pytest.raises(ConfigError, match=r"set encoder\.embedding_dim=32"):
        ESM2Encoder(str(tiny_hf), 320, progress=False).prepare()
    with pytest.raises(ConfigError, match=r"set encoder\.embedding_dim=32"):
        FairESMEncoder(str(tiny_fair), 320, progress=False).prepare()


class _Payload:
    """Unpickling this would run `print`: what weights_only=True must refuse."""

    def __reduce__(self) -> tuple:
        return (print, ("pickled code ran",))


def test_fair_esm_checkpoints_load_with_weights_only(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "esm2_evil.pt"
    torch.save({"model": {}, "cfg": {"model": argparse.Namespace()}, "extra": _Payload()}, path)
    with pytest.raises(DataError, match="refusing to unpickle"):
        FairESMEncoder(str(path), 32, progress=False).prepare()
    assert "pickled code ran" not in capsys.readouterr().out
