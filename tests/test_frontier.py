"""The frontier's points: one results file per point, or one per seed (mean and standard deviation)."""

import json

import pytest

from benchmarks.frontier import frontier, load_points

SPEED = {"latency": {"tiny": {"1x128": {"cpu_median_ms": 2.0}}, "teacher": {"1x128": {"cpu_median_ms": 20.0}}},
         "models": {"tiny": {"size_bytes": 17_000_000, "precision": "fp32"},
                    "teacher": {"size_bytes": 90_000_000, "precision": "fp32"}}}


def results_file(path, f1, accuracy):
    path.write_text(json.dumps({"results": {"mrpc": {"metrics": {"f1": f1, "accuracy": accuracy}}},
                                "model": {"size_bytes": 1}}))
    return str(path)


def test_a_point_over_seeds_is_their_mean_with_a_standard_deviation(tmp_path):
    seeds = [results_file(tmp_path / f"s{i}.json", f1, acc)
             for i, (f1, acc) in enumerate([(0.80, 0.70), (0.84, 0.74), (0.82, 0.72)])]
    spec = {"tasks": {"mrpc": {"points": [
        {"label": "tiny", "results": seeds, "speed": "tiny"},
        {"label": "teacher", "results": results_file(tmp_path / "t.json", 0.86, 0.80), "speed": "teacher"},
        {"label": "overlap", "kind": "floor", "results": results_file(tmp_path / "f.json", 0.83, 0.73)}]}}}
    tiny, teacher, floor = load_points(spec, SPEED)["mrpc"]
    assert tiny["score"] == pytest.approx(77.0) and tiny["seeds"] == 3
    assert tiny["score_std"] == pytest.approx(2.0)
    assert tiny["metrics"] == pytest.approx({"f1": 82.0, "accuracy": 72.0})
    assert teacher["seeds"] == 1 and "score_std" not in teacher and teacher["score"] == pytest.approx(83.0)
    assert floor["kind"] == "floor" and "latency_ms" not in floor
    assert frontier([tiny, teacher, floor], "latency_ms") == ["tiny", "teacher"]


def test_a_point_missing_one_seed_is_left_out_not_averaged_over_fewer(tmp_path, capsys):
    spec = {"tasks": {"mrpc": {"points": [
        {"label": "tiny", "results": [results_file(tmp_path / "s42.json", 0.8, 0.7), str(tmp_path / "s43.json")],
         "speed": "tiny"}]}}}
    assert load_points(spec, SPEED) == {"mrpc": []}
    assert "tiny left out (no results file)" in capsys.readouterr().out
