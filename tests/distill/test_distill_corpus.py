"""Corpus reading: text files, folders, JSON Lines and Hub datasets as documents; anything not text refused."""

from __future__ import annotations

import json

import pytest

from distill.corpus import corpus_files, iter_documents
from distill.data import CorpusBatches
from eval.core.errors import UserError


def test_text_files_and_folders(tmp_path):
    (tmp_path / "a.txt").write_text("first line .\n\n  second line .  \n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.raw").write_text("third .\n")
    (tmp_path / ".hidden.txt").write_text("never read .\n")
    (tmp_path / "notes.md").write_text("not a corpus suffix .\n")
    assert list(iter_documents(str(tmp_path / "a.txt"))) == ["first line .", "second line ."]
    assert list(iter_documents(str(tmp_path))) == ["first line .", "second line .", "third ."]


def test_json_lines_with_a_text_field(tmp_path):
    lines = [{"id": 1, "text": "one doc ."}, {"id": 2, "text": "  "}, {"id": 3, "text": None},
             {"id": 4, "text": "two docs ."}]
    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in lines) + "\n")
    assert list(iter_documents(str(path))) == ["one doc .", "two docs ."]
    other = tmp_path / "body.jsonl"
    other.write_text(json.dumps({"id": 1, "body": "only text field ."}) + "\n")
    assert list(iter_documents(str(other))) == ["only text field ."]  # the record's one string field
    assert list(iter_documents(str(other), text_field="body")) == ["only text field ."]
    listed = tmp_path / "list.json"
    listed.write_text(json.dumps([{"text": "a ."}, {"text": "b ."}]))
    assert list(iter_documents(str(listed))) == ["a .", "b ."]


@pytest.mark.parametrize("name, content, fragment", [
    ("random.bin", bytes(range(256)) * 300, "is binary"),
    ("utf16.txt", "some text .\n".encode("utf-16"), "is UTF-16 text"),
    ("latin1.txt", "caf\xe9 au lait .\n".encode("latin-1"), "is not UTF-8 text"),
    ("controls.txt", b"\x01\x02\x03\x04\x05\x06 text" * 100, "control characters"),
])
def test_a_corpus_that_is_not_text_is_refused_before_training(tmp_path, name, content, fragment):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(UserError, match=fragment):
        corpus_files(str(path))


def test_invalid_utf8_past_the_checked_start_is_an_error_not_replacement_characters(tmp_path):
    path = tmp_path / "late.txt"
    path.write_bytes(b"good text .\n" * 10000 + b"bad \xff byte .\n")
    documents = iter_documents(str(path))
    with pytest.raises(UserError, match="is not UTF-8 text"):
        list(documents)


@pytest.mark.parametrize("content, fragment", [
    ('{"text": "a ."}\n{"text": \n', "line 2 of corpus file .* is not JSON"),
    ('{"title": "x", "body": "y"}\n', "no 'text' field and no single text field"),
    ('{"text": "a ."}\n{"body": "b ."}\n', "record 2 of .* has no field 'text'"),
    ('{"text": 5}\n', "field 'text' of record 1 .* is int, not text"),
    ('["a", "b"]\n', "record 1 of .* is str, not an object"),
])
def test_bad_json_lines(tmp_path, content, fragment):
    path = tmp_path / "corpus.jsonl"
    path.write_text(content)
    with pytest.raises(UserError, match=fragment):
        list(iter_documents(str(path)))


def test_hub_corpus_reads_its_text_column(monkeypatch):
    import datasets

    calls = []

    def fake_load(name, config, split, streaming):
        calls.append((name, config, split, streaming))
        return iter([{"text": " a wiki line . "}, {"text": ""}, {"text": "another ."}])

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    assert list(iter_documents("hub:Salesforce/wikitext:wikitext-103-raw-v1")) == ["a wiki line .", "another ."]
    assert calls == [("Salesforce/wikitext", "wikitext-103-raw-v1", "train", True)]
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: iter([{"content": "x", "id": "1"}]))
    with pytest.raises(UserError, match="corpus hub:org/code has no 'text' field"):
        list(iter_documents("hub:org/code"))


def test_corpus_batches_read_json_lines(tokenizer, tmp_path):
    from tests.conftest import WORDS

    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(json.dumps({"text": " ".join(WORDS[i:i + 12])}) + "\n" for i in range(0, 60, 3)))
    batch = next(CorpusBatches(str(path), tokenizer, max_seq_length=16, batch_size=2, seed=0,
                               shuffle_buffer=2).iterate())
    assert batch["input_ids"].shape == (2, 16) and tokenizer.unk_token_id not in batch["input_ids"]


def test_corpus_of_random_bytes_is_refused_by_the_command(capsys, tmp_path, tiny_mlm):
    from distill import cli
    from tests.conftest import assert_user_error
    from tests.distill.conftest import FAST

    (tmp_path / "corpus.txt").write_bytes(bytes(range(256)) * 100)
    out = tmp_path / "out"
    assert_user_error(cli.main, ["general", "--teacher", str(tiny_mlm), "--student", "tiny", "--max-steps", "1",
                                 "--corpus", str(tmp_path / "corpus.txt"), "--output-dir", str(out), *FAST],
                      capsys, "corpus file", "is binary")
