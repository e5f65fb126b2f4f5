"""`distill pick`: the best of several finished runs by the mean of their dev metrics, copied whole."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from distill import cli
from distill.best_run import PICK, pick
from eval.core.errors import UserError
from tests.conftest import assert_user_error


def _run(folder: Path, dev: dict | None, task: str = "mrpc", completed: bool = True, weights: str = "w",
         config: dict | None = None) -> Path:
    """A stand-in for a finished training run: its record, weights and training leftovers."""
    folder.mkdir(parents=True)
    record = {"stage": "finetune", "completed": completed, "task": task, "best_step": 3, "steps": 9,
              "config": config or {"task": task, "train": {}}}
    if dev is not None:
        record["dev"] = dev
    (folder / "metrics.json").write_text(json.dumps(record))
    (folder / "model.safetensors").write_text(weights)
    (folder / "config.json").write_text("{}")
    (folder / "checkpoints").mkdir()
    (folder / "checkpoints" / "step_9.pt").write_text("state")
    return folder


def test_pick_copies_the_best_mean_of_the_metrics_not_the_best_f1(tmp_path):
    # a: the higher F1, as an all-positive model has on MRPC; b: the higher mean of F1 and accuracy
    a = _run(tmp_path / "a", {"f1": 0.812, "accuracy": 0.684}, weights="a")
    b = _run(tmp_path / "b", {"f1": 0.80, "accuracy": 0.74}, weights="b")
    out = pick([a, b], tmp_path / "best")
    assert (out / "model.safetensors").read_text() == "b"
    assert not (out / "checkpoints").exists()  # training state stays with the run
    record = json.loads((out / PICK).read_text())
    assert record["chosen"] == str(b) and [c["score"] for c in record["candidates"]] == pytest.approx([0.748, 0.77])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "best"]  # no lock or staging folder left


def test_a_tie_goes_to_the_first_listed_and_a_rerun_is_a_no_op(tmp_path):
    a = _run(tmp_path / "a", {"pearson": 0.5, "spearmanr": 0.7}, task="stsb", weights="a")
    b = _run(tmp_path / "b", {"pearson": 0.7, "spearmanr": 0.5}, task="stsb", weights="b")
    out = pick([a, b], tmp_path / "best")
    assert (out / "model.safetensors").read_text() == "a"
    stamp = (out / PICK).stat().st_mtime_ns
    assert pick([a, b], out) == out and (out / PICK).stat().st_mtime_ns == stamp
    assert pick([tmp_path / ".." / tmp_path.name / "b", a], out) == out  # other spellings, other order: a new pick
    c = _run(tmp_path / "c", {"pearson": 0.9, "spearmanr": 0.9}, task="stsb", weights="c")
    pick([a, b, c], out)  # a sweep with a value more: the earlier pick (copies) is replaced
    assert (out / "model.safetensors").read_text() == "c" and len(json.loads((out / PICK).read_text())["candidates"]) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "best", "c"]


def test_the_same_runs_named_another_way_are_the_same_pick(tmp_path, monkeypatch):
    a = _run(tmp_path / "a", {"accuracy": 0.5})
    b = _run(tmp_path / "b", {"accuracy": 0.6})
    out = pick([a, b], tmp_path / "best")
    stamp = (out / PICK).stat().st_mtime_ns
    monkeypatch.chdir(tmp_path)
    assert pick(["a", "./b"], "best").resolve() == out and (out / PICK).stat().st_mtime_ns == stamp


def test_a_linked_weights_file_is_copied_as_its_content(tmp_path):
    a = _run(tmp_path / "a", {"accuracy": 0.5})
    b = _run(tmp_path / "b", {"accuracy": 0.6})
    (tmp_path / "store").write_text("weights of b")
    (b / "model.safetensors").unlink()
    (b / "model.safetensors").symlink_to(tmp_path / "store")
    out = pick([a, b], tmp_path / "best")
    assert not (out / "model.safetensors").is_symlink() and (out / "model.safetensors").read_text() == "weights of b"


def test_the_cli_prints_every_candidate_and_marks_the_choice(tmp_path, capsys):
    a = _run(tmp_path / "a", {"f1": 0.8, "accuracy": 0.7})
    b = _run(tmp_path / "b", {"f1": 0.9, "accuracy": 0.8})
    assert cli.main(["pick", "--candidate", str(a), "--candidate", str(b), "--output-dir", str(tmp_path / "o")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2] == f"   {a}: 75.00 (f1 80.00, accuracy 70.00)" and lines[-1].startswith(f" * {b}: 85.00")


def test_pick_without_candidates_says_which_flag_gives_them(tmp_path, capsys):
    assert_user_error(cli.main, ["pick", "--output-dir", str(tmp_path / "o")], capsys, "--candidate RUN",
                      nothing_written=tmp_path / "o")


@pytest.mark.parametrize("case, fragments", [
    ("one", ("two or more run folders",)),
    ("missing", ("does not exist", "finished finetune or task run")),
    ("unfinished", ("unfinished run", "rerun its command")),
    ("unscored", ("not scored on a dev split", "finetune or task runs")),
    ("tasks", ("different tasks (mrpc, rte)",)),
    ("twice", ("listed twice",)),
    ("nan", ("dev f1 is not a finite number",)),
    ("text", ("dev accuracy is not a finite number",)),
    ("file", ("is not a run folder",)),
    ("limit", ("different dev sets",)),
    ("metrics", ("different dev metrics",)),
    ("weightless", ("holds no model (no *.safetensors)",)),
    ("inside", ("would write over the input",)),
    ("occupied", ("is not empty", "empty or new --output-dir")),
])
def test_bad_candidates_get_one_line_and_nothing_is_written(tmp_path, capsys, case, fragments):
    a = _run(tmp_path / "a", {"f1": 0.8, "accuracy": 0.7})
    others = {"missing": tmp_path / "nope",
              "unfinished": _run(tmp_path / "u", {"f1": 0.1, "accuracy": 0.1}, completed=False),
              "unscored": _run(tmp_path / "g", None),
              "tasks": _run(tmp_path / "r", {"accuracy": 0.6}, task="rte"),
              "nan": _run(tmp_path / "n", {"f1": float("nan"), "accuracy": 0.1}),
              "text": _run(tmp_path / "t", {"f1": 0.9, "accuracy": "0.9"}),
              "file": tmp_path / "f.txt",
              "limit": _run(tmp_path / "l", {"f1": 0.9, "accuracy": 0.9}, config={"train": {"eval_limit": 8}}),
              "metrics": _run(tmp_path / "m", {"f1": 0.9}),
              "weightless": _run(tmp_path / "w", {"f1": 0.9, "accuracy": 0.9})}
    (tmp_path / "f.txt").write_text("not a run")
    (others["weightless"] / "model.safetensors").unlink()
    b = _run(tmp_path / "b", {"f1": 0.7, "accuracy": 0.7})
    candidates = {"one": [a], "twice": [a, tmp_path / "." / "a"]}.get(case, [a, others.get(case, b)])
    out = {"inside": a / "best", "occupied": tmp_path / "full"}.get(case, tmp_path / "best")
    if case == "occupied":
        out.mkdir()
        (out / "keep.txt").write_text("mine")
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    argv = ["pick", *(a for c in candidates for a in ("--candidate", str(c))), "--output-dir", str(out)]
    assert_user_error(cli.main, argv, capsys, *fragments)
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before
    assert case != "occupied" or sorted(p.name for p in out.iterdir()) == ["keep.txt"]


def test_the_library_refuses_runs_of_different_tasks(tmp_path):
    a = _run(tmp_path / "a", {"f1": 0.8, "accuracy": 0.7})
    b = _run(tmp_path / "b", {"mcc": 0.2}, task="cola")
    with pytest.raises(UserError, match="different tasks"):
        pick([a, b], tmp_path / "best")


def test_the_python_api_picks_from_a_list_of_runs(tmp_path):
    import distill

    runs = [_run(tmp_path / f"lr{i}", {"f1": 0.5 + i / 10, "accuracy": 0.5}, weights=str(i)) for i in range(3)]
    assert (distill.pick(runs, output_dir=tmp_path / "best") / "model.safetensors").read_text() == "2"
    with pytest.raises(UserError, match="a list of folders"):
        distill.pick(str(runs[0]), output_dir=tmp_path / "other")
