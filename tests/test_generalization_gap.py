"""The train/dev gap benchmark scores a seeded train sample and dev, and how closely models follow the teacher."""

from __future__ import annotations

import json

from benchmarks import generalization_gap
from eval.data import load_split
from eval.tasks import get_task


def test_a_subset_keeps_texts_labels_and_ids_together(glue_tsv):
    data = load_split(get_task("mrpc"), "train", glue_tsv)
    part = data.subset([5, 0, 3])
    assert part.texts == [data.texts[i] for i in (5, 0, 3)] and part.labels == [data.labels[i] for i in (5, 0, 3)]
    assert part.indices == [data.indices[i] for i in (5, 0, 3)] and data.select(2).texts == data.texts[:2]


def test_the_teacher_follows_itself_and_each_split_is_scored(tmp_path, glue_tsv, tiny_classifier, capsys):
    out = tmp_path / "gap.json"
    assert generalization_gap.main(["--task", "mrpc", "--data-dir", str(glue_tsv), "--teacher", str(tiny_classifier),
                                    "--model", f"same={tiny_classifier}", "--train-sample", "6",
                                    "--max-seq-length", "32", "--output", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["train_examples"] == 6 and result["dev_examples"] == len(load_split(get_task("mrpc"), "dev", glue_tsv))
    same, teacher = result["models"]["same"], result["models"]["teacher"]
    assert same["train"]["follows_teacher"] == same["dev"]["follows_teacher"] == 1.0
    assert same["dev"]["metrics"] == teacher["dev"]["metrics"] and "follows_teacher" not in teacher["dev"]
    assert "same" in capsys.readouterr().out
