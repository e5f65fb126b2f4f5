"""glue holdout cuts a seeded slice off train; glue floors score rules fitted on train, never on what they score."""

from __future__ import annotations

import json

import numpy as np
import pytest

from eval import cli
from eval.data import load_split
from eval.floors import floor_documents, word_overlap
from eval.harness import EvalSettings
from eval.holdout import write_holdout
from eval.tasks import get_task


@pytest.mark.parametrize("task", ["mrpc", "stsb", "sst2"])
def test_holdout_splits_train_into_two_disjoint_parts_that_load_as_a_task(tmp_path, glue_tsv, task):
    glue = get_task(task)
    spec = get_task(str(write_holdout(glue, tmp_path / "h", size=5, seed=3, data_dir=str(glue_tsv))))
    train, held = load_split(spec, "train"), load_split(spec, "dev")
    original = load_split(glue, "train", str(glue_tsv))
    assert len(held) == 5 and len(train) == len(original) - 5
    assert sorted([*train.indices, *held.indices]) == sorted(original.indices)
    by_index = dict(zip(original.indices, zip(original.texts, original.labels)))
    assert all(by_index[i] == (t, y) for i, t, y in zip(held.indices, held.texts, held.labels))
    assert spec.label_names == glue.label_names and spec.metrics == glue.metrics
    again = get_task(str(write_holdout(glue, tmp_path / "again", size=5, seed=3, data_dir=str(glue_tsv))))
    assert load_split(again, "dev").indices == held.indices  # seeded


def test_word_overlap_is_jaccard_of_lowercased_words():
    assert word_overlap(("The cat sat.", "the CAT ran")) == pytest.approx(2 / 4)
    assert word_overlap(("", "")) == 0.0


def test_floors_fit_on_train_and_score_the_split(glue_tsv):
    documents = floor_documents([get_task("mrpc"), get_task("stsb"), get_task("sst2")],
                                EvalSettings(data_dir=str(glue_tsv)))
    assert set(documents) == {"majority", "word-overlap"}
    assert set(documents["majority"]["results"]) == {"mrpc", "stsb", "sst2"}
    assert set(documents["word-overlap"]["results"]) == {"mrpc", "stsb"}  # pair tasks only
    train = load_split(get_task("mrpc"), "train", str(glue_tsv))
    majority = documents["majority"]["results"]["mrpc"]
    assert set(majority["predictions"]) == {int(np.bincount(train.labels).argmax())}
    stsb = documents["word-overlap"]["results"]["stsb"]
    dev = load_split(get_task("stsb"), "dev", str(glue_tsv))
    assert stsb["predictions"] == [round(word_overlap(t), 6) for t in dev.texts]
    assert documents["majority"]["model"]["backend"] == "rule"


def test_glue_floors_writes_results_that_glue_report_shows_as_floor_rows(tmp_path, glue_tsv, capsys):
    assert cli.main(["floors", "--task", "mrpc,stsb", "--data-dir", str(glue_tsv), "--output-dir",
                     str(tmp_path / "floors")]) == 0
    assert cli.main(["report", str(tmp_path / "floors"), "--output-dir", str(tmp_path / "report")]) == 0
    board = json.loads((tmp_path / "report" / "leaderboard.json").read_text())
    assert {row["name"] for row in board["rows"]} == {"floor-majority", "floor-word-overlap"}
    assert "floor: no model" in (tmp_path / "report" / "leaderboard.md").read_text()
