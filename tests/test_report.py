"""The GLUE Score rule and the leaderboard files rendered from results documents."""

import json

import pytest

from eval.errors import UserError
from eval.harness import RESULTS_SCHEMA
from eval.report import build_leaderboard, glue_score, load_results, write_leaderboard

FULL = {
    "cola": {"matthews_correlation": 0.50},
    "sst2": {"accuracy": 0.90},
    "mrpc": {"f1": 0.88, "accuracy": 0.84},
    "stsb": {"pearson": 0.86, "spearmanr": 0.84},
    "qqp": {"f1": 0.70, "accuracy": 0.88},
    "mnli": {"accuracy": 0.82},
    "mnli-mm": {"accuracy": 0.80},
    "qnli": {"accuracy": 0.90},
    "rte": {"accuracy": 0.66},
    "wnli": {"accuracy": 0.56},
    "ax": {"matthews_correlation": 0.30},
}


def test_glue_score_follows_the_server_rule():
    score, partial = glue_score(FULL)
    by_hand = (50 + 90 + (88 + 84) / 2 + (86 + 84) / 2 + (70 + 88) / 2 + (82 + 80) / 2 + 90 + 66 + 56) / 9
    assert score == pytest.approx(by_hand)
    assert not partial  # AX missing would not matter; it is present and ignored


def test_partial_score_is_mean_of_what_is_there():
    score, partial = glue_score({"sst2": {"accuracy": 0.9}, "mrpc": {"f1": 0.8, "accuracy": 0.7}})
    assert score == pytest.approx((90 + 75) / 2)
    assert partial
    score, partial = glue_score({k: v for k, v in FULL.items() if k != "mnli-mm"})
    assert partial  # MNLI counted from matched only


def _document(name, results, params=1_000_000, size=4_000_000, precision="fp32", backend="torch"):
    return {
        "schema": RESULTS_SCHEMA, "schema_version": 1,
        "model": {"name": name, "path": f"/runs/{name}", "backend": backend, "precision": precision,
                  "parameters": params, "size_bytes": size, "device": "cpu"},
        "results": {task: {"task": task, "split": "dev", "num_examples": 100, "metrics": metrics,
                           "main_metric": next(iter(metrics)), "throughput": {"seconds": 2.0}}
                    for task, metrics in results.items()},
    }


def test_leaderboard_rows_cells_and_files(tmp_path):
    documents = [_document("teacher", FULL),
                 _document("student-int8", {"sst2": {"accuracy": 0.88}, "mrpc": {"f1": 0.86, "accuracy": 0.8}},
                           precision="int8", backend="onnxruntime")]
    board = build_leaderboard(documents)
    teacher, student = board["rows"]
    assert teacher["model"] == "teacher" and not teacher["partial"]
    assert teacher["cells"]["MRPC"] == "88.0/84.0" and teacher["cells"]["STS-B"] == "86.0/84.0"
    assert teacher["cells"]["AX"] == "30.0"
    assert student["cells"]["CoLA"] == "-" and student["partial"]
    assert teacher["examples_per_second"] == pytest.approx(11 * 100 / (11 * 2.0))
    paths = write_leaderboard(documents, tmp_path)
    assert json.loads(paths["json"].read_text()) == json.loads(json.dumps(board))
    markdown = paths["md"].read_text()
    assert markdown.splitlines()[0].startswith("| Model | Score | CoLA | SST-2 | MRPC | STS-B | QQP | MNLI-m | MNLI-mm")
    assert "| student-int8 (onnxruntime, int8) | 85.5* |" in markdown
    assert paths["csv"].read_text().count("\n") == 3
    page = paths["html"].read_text()
    assert "<svg" in page and "student-int8" in page
    assert "<link" not in page and " src=" not in page  # self-contained: nothing fetched
    embedded = page.split('id="leaderboard-data">')[1].split("</script>")[0]
    assert json.loads(embedded) == json.loads(paths["json"].read_text())


def test_later_file_wins_for_the_same_model_and_task():
    old = _document("m", {"sst2": {"accuracy": 0.5}})
    new = _document("m", {"sst2": {"accuracy": 0.9}, "rte": {"accuracy": 0.6}})
    (row,) = build_leaderboard([old, new])["rows"]
    assert row["cells"]["SST-2"] == "90.0" and row["cells"]["RTE"] == "60.0"


def test_foreign_or_broken_results_files_are_refused(tmp_path):
    (tmp_path / "other.json").write_text(json.dumps({"results": {}}))
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(UserError, match="not a GLUE results file of this toolkit"):
        load_results([tmp_path / "other.json"])
    with pytest.raises(UserError, match="is not JSON"):
        load_results([tmp_path / "broken.json"])
    with pytest.raises(UserError, match="does not exist"):
        load_results([tmp_path / "missing.json"])


def test_written_files_are_world_readable(tmp_path):
    from eval.artifacts import write_json

    path = write_json(tmp_path / "r.json", {"a": 1})
    assert path.stat().st_mode & 0o777 == 0o644
