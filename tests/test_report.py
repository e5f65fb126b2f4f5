"""Leaderboards from results documents: the GLUE Score rule, seeds as mean ± std, numbers in CSV/JSON, charts."""

import csv
import io
import json
import math

import numpy as np
import pytest

from eval.core.errors import UserError
from eval.harness import RESULTS_SCHEMA
from eval.leaderboard import write_leaderboard
from eval.report import build_leaderboard, load_results, render_markdown

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


def _document(name, results, path=None, params=1_000_000, size=4_000_000, precision="fp32", backend="torch",
              extra=None):
    return {
        "schema": RESULTS_SCHEMA, "schema_version": 2,
        "model": {"name": name, "path": path or f"/runs/{name}", "backend": backend, "precision": precision,
                  "parameters": params, "size_bytes": size, "device": "cpu"},
        "results": {task: {"task": task, "split": "dev", "num_examples": 100, "metrics": metrics,
                           "main_metric": next(iter(metrics)), "throughput": {"seconds": 2.0},
                           **(extra or {}).get(task, {})}
                    for task, metrics in results.items()},
    }


def test_glue_score_follows_the_server_rule_over_all_nine_tasks():
    (row,) = build_leaderboard([_document("teacher", FULL)])["rows"]
    by_hand = (50 + 90 + (88 + 84) / 2 + (86 + 84) / 2 + (70 + 88) / 2 + (82 + 80) / 2 + 90 + 66 + 56) / 9
    assert row["score"] == pytest.approx(by_hand) and not row["partial"]  # AX is shown, never scored


def test_columns_are_the_tasks_present_and_the_score_is_labelled_with_their_count():
    board = build_leaderboard([_document("a", {"sst2": {"accuracy": 0.9}, "mrpc": {"f1": 0.8, "accuracy": 0.7}}),
                               _document("b", {"sst2": {"accuracy": 0.8}})])
    assert [t["name"] for t in board["tasks"]] == ["sst2", "mrpc"]
    assert board["score"]["label"] == "GLUE Score (2 tasks)"
    a, b = board["rows"]
    assert a["score"] == pytest.approx((90 + 75) / 2) and not a["partial"]
    assert b["score"] == pytest.approx(80) and b["partial"]  # lacks MRPC: after the complete rows


def test_seeds_of_one_name_are_mean_and_std_and_a_rerun_of_one_folder_replaces():
    docs = [_document("tiny-distilled", {"rte": {"accuracy": 0.60}}, path="/runs/s42"),
            _document("tiny-distilled", {"rte": {"accuracy": 0.64}}, path="/runs/s43"),
            _document("tiny-distilled", {"rte": {"accuracy": 0.50}}, path="/runs/s44"),
            _document("tiny-distilled", {"rte": {"accuracy": 0.62}}, path="/runs/s44")]  # s44 re-scored
    (row,) = build_leaderboard(docs)["rows"]
    cell = row["tasks"]["rte"]["accuracy"]
    assert cell["n"] == 3 and cell["mean"] == pytest.approx(0.62) and cell["std"] == pytest.approx(0.02)
    assert row["seeds"] == 3 and row["models"] == 3


def test_a_row_whose_tasks_have_different_seed_counts_says_so():
    docs = [_document("tiny", {"rte": {"accuracy": 0.60}, "wnli": {"accuracy": 0.56}}, path="/runs/s42"),
            _document("tiny", {"rte": {"accuracy": 0.64}}, path="/runs/s43")]
    board = build_leaderboard(docs)
    (row,) = board["rows"]
    assert (row["seeds_min"], row["seeds"]) == (1, 2)
    line = next(line for line in render_markdown(board).splitlines() if line.startswith("| tiny"))
    assert "| 1–2 |" in line and "62.0 ± 2.8" in line


def test_files_numbers_in_csv_and_json_and_a_self_contained_page(tmp_path):
    docs = [_document("teacher", {"sst2": {"accuracy": 0.91}, "mrpc": {"f1": 0.88, "accuracy": 0.84}}),
            _document("tiny-distilled", {"sst2": {"accuracy": 0.85}}, path="/a"),
            _document("tiny-distilled", {"sst2": {"accuracy": 0.83}}, path="/b"),
            _document("tiny-distilled-int8", {"sst2": {"accuracy": 0.84}}, precision="int8", backend="onnxruntime")]
    paths = write_leaderboard(docs, tmp_path, title="Test board")
    board = json.loads(paths["json"].read_text())
    assert board == json.loads(json.dumps(build_leaderboard(docs)))
    rows = list(csv.DictReader(io.StringIO(paths["csv"].read_text())))
    student = next(r for r in rows if r["model"] == "tiny-distilled")
    assert float(student["sst2.accuracy.mean"]) == pytest.approx(0.84) and student["sst2.accuracy.n"] == "2"
    assert float(student["parameters"]) == 1_000_000 and float(student["score"]) == pytest.approx(84.0)
    markdown = paths["md"].read_text()
    assert "| tiny-distilled (torch, fp32) | 84.0* | 84.0 ± 1.4 | - |" in markdown
    page = paths["html"].read_text()
    assert page.count("<svg") == 2 and "<link" not in page and " src=" not in page
    assert "GLUE Score (2 tasks)" in page and "tiny-distilled-int8" in page
    assert (tmp_path / "score_vs_size.svg").is_file() and (tmp_path / "score_vs_throughput.svg").is_file()
    embedded = page.split('id="leaderboard-data">')[1].split("</script>")[0]
    assert json.loads(embedded) == board


def test_the_same_results_write_the_same_bytes(tmp_path):
    # Reports are committed: a rebuild from unchanged results must not show up as a change.
    docs = [_document("teacher", {"sst2": {"accuracy": 0.91}}), _document("tiny-distilled", {"sst2": {"accuracy": 0.85}})]
    first, second = write_leaderboard(docs, tmp_path / "a"), write_leaderboard(docs, tmp_path / "b")
    for name in ("html", "md", "csv", "json"):
        assert first[name].read_bytes() == second[name].read_bytes(), name
    for chart in ("score_vs_size.svg", "score_vs_throughput.svg"):
        assert (tmp_path / "a" / chart).read_bytes() == (tmp_path / "b" / chart).read_bytes(), chart


def test_custom_tasks_are_columns_outside_the_glue_score():
    info = {"name": "topics", "display_name": "Topics", "is_glue": False, "score_group": None,
            "metrics": ["f1_macro", "accuracy"], "main_metric": "f1_macro"}
    doc = _document("m", {"sst2": {"accuracy": 0.9}, "topics": {"f1_macro": 0.5, "accuracy": 0.6}},
                    extra={"topics": {"task_info": info}})
    board = build_leaderboard([doc])
    assert [t["display_name"] for t in board["tasks"]] == ["SST-2", "Topics"]
    assert board["rows"][0]["score"] == pytest.approx(90) and board["score"]["label"] == "GLUE Score (1 task)"


def test_a_board_of_custom_tasks_only_has_no_glue_score_column(tmp_path):
    from eval.report_html import render_html

    info = {"name": "topics", "display_name": "Topics", "is_glue": False, "score_group": None,
            "metrics": ["f1_macro", "accuracy"], "main_metric": "f1_macro"}
    board = build_leaderboard([_document("m", {"topics": {"f1_macro": 0.5, "accuracy": 0.6}},
                                         extra={"topics": {"task_info": info}})])
    markdown, page = render_markdown(board), render_html(board, "t")
    assert "GLUE Score" not in markdown and "<th>GLUE Score" not in page
    assert "| Model | Topics | Seeds |" in markdown and "| m (torch, fp32) | 50.0/60.0 | 1 |" in markdown


def _sst2(name, predictions, labels):
    """A results document of SST-2 predictions, scored against ``labels``."""
    accuracy = float(np.mean(np.array(predictions) == np.array(labels)))
    return _document(name, {"sst2": {"accuracy": accuracy}},
                     extra={"sst2": {"predictions": predictions, "labels": labels}})


def test_comparisons_find_a_real_difference_and_call_noise_a_tie():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 400).tolist()
    good = [y if rng.random() < 0.9 else 1 - y for y in labels]
    bad = [y if rng.random() < 0.6 else 1 - y for y in labels]
    same = [y if rng.random() < 0.6 else 1 - y for y in labels]
    board = build_leaderboard([_sst2("good", good, labels), _sst2("bad", bad, labels), _sst2("same", same, labels)],
                              compare=["good:bad", "bad:same"])
    first, second = board["comparisons"]
    assert first["p_value"] < 0.001 and first["difference"] > 0.2 and first["ci95"][0] > 0
    assert second["p_value"] > 0.05
    with pytest.raises(UserError, match="two row names"):
        build_leaderboard([_sst2("good", good, labels)], compare=["good:nope"])


def test_a_p_value_below_the_bootstraps_resolution_prints_as_a_bound():
    from eval.report_html import render_html

    labels = [0, 1] * 100
    board = build_leaderboard([_sst2("right", labels, labels), _sst2("wrong", [1 - y for y in labels], labels)],
                              compare=["right:wrong"])
    assert board["comparisons"][0]["p_value"] == 0.0  # no resample of 10,000 puts "wrong" ahead
    assert "| < 0.0002 | right better |" in render_markdown(board)
    assert "<td>&lt;&nbsp;0.0002</td>" in render_html(board, "t") and "0.0000" not in render_markdown(board)


def test_foreign_broken_or_invalid_results_files_are_refused(tmp_path):
    (tmp_path / "other.json").write_text(json.dumps({"results": {}}))
    (tmp_path / "broken.json").write_text("{not json")
    text_metric = _document("m", {"sst2": {"accuracy": "high"}})
    (tmp_path / "text.json").write_text(json.dumps(text_metric))
    unknown = _document("m", {"mystery": {"accuracy": 0.5}})
    (tmp_path / "unknown.json").write_text(json.dumps(unknown))
    for name, message in (("other.json", "not a GLUE results file of this toolkit"), ("broken.json", "is not JSON"),
                          ("missing.json", "does not exist"), ("text.json", "not finite numbers (accuracy)"),
                          ("unknown.json", "unknown task 'mystery'")):
        with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
            load_results([tmp_path / name])
    (tmp_path / "good").mkdir()
    (tmp_path / "good" / "a.json").write_text(json.dumps(_document("a", {"sst2": {"accuracy": 0.5}})))
    assert len(load_results([tmp_path / "good"])) == 1  # a folder of results files
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="holds no results files"):
        load_results([tmp_path / "empty"])


def test_written_files_are_world_readable(tmp_path):
    from eval.core.artifacts import write_json

    path = write_json(tmp_path / "r.json", {"a": 1})
    assert path.stat().st_mode & 0o777 == 0o644


TOPICS = {"name": "topics", "display_name": "Topics", "is_glue": False, "score_group": None,
          "metrics": ["f1_macro", "accuracy"], "main_metric": "f1_macro"}


def _topics(name, f1, **kwargs):
    return _document(name, {"topics": {"f1_macro": f1, "accuracy": 0.9}}, extra={"topics": {"task_info": TOPICS}},
                     **kwargs)


def test_a_one_task_board_has_no_score_column_that_repeats_the_task(tmp_path):
    docs = [_document("a", {"stsb": {"pearson": 0.80, "spearmanr": 0.70}}),
            _document("b", {"stsb": {"pearson": 0.85, "spearmanr": 0.60}})]
    paths = write_leaderboard(docs, tmp_path)
    markdown, page = paths["md"].read_text(), paths["html"].read_text()
    assert "GLUE Score" not in markdown and "<th>GLUE Score" not in page
    assert "| Model | STS-B | Seeds |" in markdown
    board = json.loads(paths["json"].read_text())
    assert [r["name"] for r in board["rows"]] == ["b", "a"] and board["ranked_by"] == "STS-B Pearson"
    assert page.count("<svg") == 2  # charts plot the first task's main metric instead


def test_a_custom_task_board_is_titled_from_its_tasks_and_ranked_by_its_main_metric(tmp_path):
    docs = [_topics("alpha", 0.40), _topics("zeta", 0.70), _topics("mid", 0.55)]
    paths = write_leaderboard(docs, tmp_path / "auto")
    assert paths["md"].read_text().startswith("# Topics leaderboard\n")
    assert "<h1>Topics leaderboard</h1>" in paths["html"].read_text()
    board = json.loads(paths["json"].read_text())
    assert [r["name"] for r in board["rows"]] == ["zeta", "mid", "alpha"]  # not alphabetical
    assert "Rows rank by Topics macro-F1." in paths["md"].read_text()
    mine = write_leaderboard(docs, tmp_path / "mine", title="My topics")
    assert mine["md"].read_text().startswith("# My topics\n") and "<h1>My topics</h1>" in mine["html"].read_text()
    assert write_leaderboard([_document("t", FULL)], tmp_path / "glue")["md"].read_text().startswith(
        "# GLUE leaderboard\n")


def test_a_pipeline_report_stage_passes_a_title_only_when_it_has_one():
    from pipeline.kinds import KINDS, ReportStage

    kind = KINDS["report"]
    assert "--title" not in kind.command(ReportStage(results=("r",), output_dir="o"), None)
    assert kind.command(ReportStage(results=("r",), output_dir="o", title="T"), None)[-2:] == ("--title", "T")


def test_the_throughput_column_says_how_each_row_was_measured(tmp_path):
    def measured(doc, batch, threads=None):
        return {**doc, "settings": {"split": "dev", "batch_size": batch, "max_seq_length": 128, "threads": threads},
                "cpu": {"cores": 4}}

    docs = [measured(_topics("student", 0.7), 32),
            measured(_topics("student-int8", 0.6, precision="int8", backend="onnxruntime"), 64, threads=2)]
    paths = write_leaderboard(docs, tmp_path)
    markdown, page = paths["md"].read_text(), paths["html"].read_text()
    assert "Throughput (ex/s, dev, as evaluated)" in markdown and "Throughput (ex/s, dev, as evaluated)" in page
    assert "| 50 [a] |" in markdown and "| 50 [b] |" in markdown
    assert "[a] PyTorch eager, cpu, all 4 cores, batch 32, ≤128 tokens" in markdown
    assert "[b] ONNX Runtime, cpu, 2 threads, batch 64, ≤128 tokens" in markdown
    assert "<small>ONNX Runtime, cpu, 2 threads, batch 64, ≤128 tokens</small>" in page
    rows = list(csv.DictReader(io.StringIO(paths["csv"].read_text())))
    assert rows[0]["throughput_measured_with"] == "PyTorch eager, cpu, all 4 cores, batch 32, ≤128 tokens"
    alike = render_markdown(build_leaderboard([measured(_topics("a", 0.7), 32), measured(_topics("b", 0.6), 32)]))
    assert "[a]" not in alike and "as each row was evaluated: PyTorch eager, cpu, all 4 cores, batch 32" in alike


def test_overlapping_points_are_moved_apart_and_the_charts_say_what_marks_mean(tmp_path):
    from eval.report_html import GAP, MARKER_POINTS, spread

    offsets = spread([(100.0, 100.0), (101.0, 100.0), (300.0, 50.0)], dpi=72)  # 1 point = 1 pixel
    (ax, ay), (bx, by), lone = offsets
    assert lone == (0.0, 0.0)
    assert math.dist((100 + ax, 100 + ay), (101 + bx, 100 + by)) >= GAP * MARKER_POINTS - 1
    docs = [_document("tiny-distilled", {"sst2": {"accuracy": 0.85}, "rte": {"accuracy": 0.6}}),
            _document("tiny-distilled-int8", {"sst2": {"accuracy": 0.85}, "rte": {"accuracy": 0.6}},
                      precision="int8", backend="onnxruntime"),
            _document("teacher", {"sst2": {"accuracy": 0.91}})]
    write_leaderboard(docs, tmp_path)
    svg = (tmp_path / "score_vs_size.svg").read_text()
    for text in ("colour: distilled", "colour: INT8", "colour: teacher", "shape: tiny", "shape: no size in name",
                 "hollow: partial score", "tiny-distilled-int8 (72.5)"):
        assert text in svg, text


def test_the_board_holds_exactly_the_keys_its_schema_declares():
    """eval/board.py is what both renderers read: a key built but not declared (or declared but never built) fails."""
    from eval.board import Board, Comparison, MetricCell, Row, TaskColumn

    labels = [i % 2 for i in range(40)]
    good, bad = _sst2("good", labels, labels), _sst2("bad", [1] * 40, labels)
    board = build_leaderboard([good, bad, _document("other", {"mrpc": FULL["mrpc"]})], compare=["good:bad"])
    assert set(board) == set(Board.__annotations__)
    assert all(set(row) == set(Row.__annotations__) for row in board["rows"])
    assert all(set(task) == set(TaskColumn.__annotations__) for task in board["tasks"])
    cells = [m for row in board["rows"] for cell in row["tasks"].values() for m in cell.values()]
    assert cells and all(set(m) == set(MetricCell.__annotations__) for m in cells)
    assert board["comparisons"] and all(set(c) == set(Comparison.__annotations__) for c in board["comparisons"])
