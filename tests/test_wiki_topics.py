"""The shipped Wikipedia-topics data: rebuilt byte for byte by its script, disjoint splits, the spec's classes."""

import importlib.util
import json
from pathlib import Path

import pytest

from eval.tasks import get_task
from tests.conftest import SHARED_DATA

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "recipes" / "data" / "wiki-topics"
SOURCE = SHARED_DATA / "corpus" / "wikipedia-vital-articles-en" / "summaries_en-us.json"
SPLITS = ("train", "validation", "test")


def _rows(split: str) -> list[dict]:
    return [json.loads(line) for line in (FOLDER / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]


def test_splits_are_disjoint_and_use_the_spec_classes():
    task = get_task(FOLDER / "task.yaml")
    rows = {split: _rows(split) for split in SPLITS}
    assert [len(rows[s]) for s in SPLITS] == [7225, 904, 904]
    titles = [r["id"] for split in SPLITS for r in rows[split]]
    assert len(set(titles)) == len(titles)
    for split in SPLITS:
        assert {r["label"] for r in rows[split]} == set(task.label_names)  # every class in every split
    assert task.main_metric == "f1_macro" and task.metrics == ("f1_macro", "accuracy")


def test_the_script_rebuilds_the_shipped_files_byte_for_byte():
    if not SOURCE.is_file():
        pytest.skip("../shared/data is not beside this checkout")
    spec = importlib.util.spec_from_file_location("make_wiki_topics", ROOT / "scripts" / "make_wiki_topics.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.sha256(SOURCE) == script.SOURCE_SHA256
    rebuilt = script.split_articles(json.loads(SOURCE.read_text(encoding="utf-8")), seed=0)
    for split in SPLITS:
        assert script.render(rebuilt[split]) == (FOLDER / f"{split}.jsonl").read_bytes(), split
