"""Bad input to `distill` and `pipeline`: one `error:` line naming the fix, exit code 2, nothing written or damaged."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from distill import cli
from pipeline import cli as pipeline_cli
from tests.conftest import assert_user_error
from tests.distill.conftest import FAST

pytestmark = pytest.mark.integration


def _finetune(model, out, data, *extra) -> list[str]:
    return ["finetune", "--model", str(model), "--task", "sst2", "--data-dir", str(data), "--output-dir", str(out),
            "--max-steps", "1", *FAST, *extra]


def _task(teacher, out, data, *extra, student="tiny") -> list[str]:
    return ["task", "--task", "sst2", "--teacher", str(teacher), "--student", str(student), "--data-dir", str(data),
            "--output-dir", str(out), *FAST, *extra]


ARGUMENTS = [  # (extra arguments, fragments of the error)
    (["--max-steps", "0"], ["train.max_steps must be at least 1"]),
    (["--max-steps", "-3"], ["train.max_steps must be at least 1"]),
    (["--max-steps", "many"], ["invalid int value", "distill finetune --help"]),
    (["--seed", "x"], ["invalid int value"]),
    (["--device", "banana"], ["unknown device 'banana'"]),
    (["--device", "cuda:x"], ["unknown device 'cuda:x'"]),
    (["--set", "train.batch_size=0"], ["train.batch_size must be at least 1"]),
    (["--set", "train.batch_size=-1"], ["train.batch_size must be at least 1"]),
    (["--set", "train.max_seq_length=100000"], ["max_seq_length must be between 8 and 512"]),
    (["--set", "train.max_seq_length=0"], ["max_seq_length must be between 8 and 512"]),
    (["--set", "train.lr=[1,"], ["not valid YAML"]),
    (["--set", "train.lr=-1"], ["train.lr and train.epochs must be positive"]),
    (["--set", "train.warmup=1.5"], ["train.warmup is a fraction"]),
    (["--set", "train.bach_size=4"], ["unknown key 'train.bach_size' (did you mean 'batch_size'?)"]),
    (["--set", "train.lr"], ["is not key=value"]),
    (["--set", "train.eval_limit=-5"], ["train.eval_limit must be at least 1"]),
    (["--recipe", "/nonexistent/recipe.yaml"], ["does not exist"]),
]


@pytest.mark.parametrize("extra,fragments", ARGUMENTS, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_bad_arguments(capsys, tmp_path, tiny_teacher, glue_tsv, extra, fragments):
    out = tmp_path / "run"
    assert_user_error(cli.main, _finetune(tiny_teacher, out, glue_tsv, *extra), capsys, *fragments,
                      nothing_written=out)


def _broken_copy(folder: Path, tmp_path: Path, name: str) -> Path:
    copy = tmp_path / name
    shutil.copytree(folder, copy)
    return copy


MODELS = {  # how to break a copy of the teacher folder -> fragments of the error
    "no config": (lambda m: (m / "config.json").unlink(), ["no config.json"]),
    "invalid config": (lambda m: (m / "config.json").write_text("{not json"), ["cannot load"]),
    "truncated weights": (lambda m: (m / "model.safetensors").write_bytes((m / "model.safetensors").read_bytes()[:300]),
                          ["cannot load model"]),
    "no weights": (lambda m: (m / "model.safetensors").unlink(), ["cannot load model"]),
    "no tokenizer": (lambda m: [p.unlink() for p in m.iterdir() if p.name.startswith(("vocab", "tokenizer", "special"))],
                     ["tokenizer"]),
}


@pytest.mark.parametrize("case", MODELS)
def test_broken_model_folders(capsys, tmp_path, tiny_teacher, glue_tsv, case):
    breaks, fragments = MODELS[case]
    model = _broken_copy(tiny_teacher, tmp_path, "model")
    breaks(model)
    out = tmp_path / "run"
    assert_user_error(cli.main, _finetune(model, out, glue_tsv), capsys, *fragments, nothing_written=out)
    assert_user_error(cli.main, _task(model, out, glue_tsv), capsys, nothing_written=out)


def test_output_paths_that_cannot_be_folders(capsys, tmp_path, tiny_teacher, glue_tsv):
    afile = tmp_path / "a-file"
    afile.write_text("x")
    assert_user_error(cli.main, _finetune(tiny_teacher, afile, glue_tsv), capsys, "is a file")
    assert_user_error(cli.main, _finetune(tiny_teacher, afile / "run", glue_tsv), capsys, "not a folder")
    assert afile.read_text() == "x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_output_folder(capsys, tmp_path, tiny_teacher, glue_tsv):  # pragma: no cover - root in CI
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    assert_user_error(cli.main, _finetune(tiny_teacher, locked / "run", glue_tsv), capsys, "permission denied")


def test_a_different_run_in_the_folder_is_refused_untouched(capsys, tmp_path, tiny_teacher, glue_tsv):
    out = tmp_path / "run"
    assert cli.main(_finetune(tiny_teacher, out, glue_tsv)) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    capsys.readouterr()
    assert_user_error(cli.main, _finetune(tiny_teacher, out, glue_tsv, "--set", "train.lr=1e-3"), capsys,
                      "holds a different run", "train.lr")
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


def test_a_folder_of_something_else_is_refused(capsys, tmp_path, tiny_teacher, glue_tsv):
    out = tmp_path / "photos"
    out.mkdir()
    (out / "cat.jpg").write_bytes(b"\xff\xd8")
    assert_user_error(cli.main, _finetune(tiny_teacher, out, glue_tsv), capsys, "not empty")
    assert [p.name for p in out.iterdir()] == ["cat.jpg"]


def test_corrupt_run_state_names_the_file_to_delete(capsys, tmp_path, tiny_teacher, glue_tsv):
    out = tmp_path / "run"
    args = _finetune(tiny_teacher, out, glue_tsv, "--set", "train.save_every=1", "--keep-checkpoints")
    assert cli.main(args) == 0
    capsys.readouterr()
    (out / "metrics.json").write_text("{half")
    assert_user_error(cli.main, args, capsys, "metrics.json is corrupt", "delete it")
    config = (out / "run_config.yaml").read_text()
    (out / "run_config.yaml").write_text("{{{")
    assert_user_error(cli.main, args, capsys, "run_config.yaml is corrupt")
    (out / "run_config.yaml").write_text(config)
    (out / "metrics.json").unlink()
    (out / "checkpoints" / "step_1" / "trainer_state.pt").write_bytes(b"garbage")
    assert_user_error(cli.main, args, capsys, "cannot read checkpoint", "delete it")


def test_corrupt_phase_record_and_augmentation_folder(capsys, tmp_path, tiny_teacher, glue_tsv):
    out = tmp_path / "run"
    two_phases = ["--set", "phases=[{name: intermediate, losses: {hidden: 1}, epochs: 1}, "
                           "{name: prediction, losses: {logits: 1}, epochs: 1}]", "--set", "train.max_steps=1",
                  "--keep-checkpoints"]  # the phase's weights stay, so its record decides
    assert cli.main(_task(tiny_teacher, out, glue_tsv, *two_phases)) == 0
    capsys.readouterr()
    (out / "metrics.json").unlink()
    (out / "intermediate" / "phase.json").write_text("[[[")
    assert_user_error(cli.main, _task(tiny_teacher, out, glue_tsv, *two_phases), capsys, "phase.json",
                      "delete")
    augmented = tmp_path / "aug"
    augmented.mkdir()
    (augmented / "augment.json").write_text("not json")
    assert_user_error(cli.main, _task(tiny_teacher, tmp_path / "b", glue_tsv, "--augmented", str(augmented)), capsys,
                      "augment.json", nothing_written=tmp_path / "b")
    (augmented / "augment.json").write_text(json.dumps({"task": "sst2"}))
    (augmented / "part-00000.tsv").write_text("sentence\tlabel\ngood\tpositive\n")
    assert_user_error(cli.main, _task(tiny_teacher, tmp_path / "c", glue_tsv, "--augmented", str(augmented)), capsys,
                      "part-00000.tsv", nothing_written=tmp_path / "c")


def test_augment_bad_settings_and_glove(capsys, tmp_path, tiny_teacher, glue_tsv):
    common = ["augment", "--task", "sst2", "--model", str(tiny_teacher), "--data-dir", str(glue_tsv)]
    out = tmp_path / "aug"
    assert_user_error(cli.main, [*common, "--output-dir", str(out), "--candidates", "wordnet"], capsys,
                      "candidates: 'wordnet' is not one of", nothing_written=out)
    assert_user_error(cli.main, [*common, "--output-dir", str(out), "--set", "replace_prob=2"], capsys,
                      "replace_prob is a probability", nothing_written=out)
    ragged = tmp_path / "glove.txt"
    ragged.write_text("movie 0.1 0.2 0.3\nfilm 0.1 0.2\n")
    assert_user_error(cli.main, [*common, "--output-dir", str(out), "--glove", str(ragged)], capsys,
                      "glove.txt", "line 2", nothing_written=out)


def test_general_needs_a_text_corpus_and_steps(capsys, tmp_path, tiny_mlm):
    out = tmp_path / "g"
    base = ["general", "--teacher", str(tiny_mlm), "--student", "tiny", "--output-dir", str(out), *FAST]
    utf16 = tmp_path / "utf16.txt"
    utf16.write_text("the cat sat on the mat . " * 50, encoding="utf-16")
    assert_user_error(cli.main, [*base, "--corpus", str(utf16), "--max-steps", "1"], capsys, "UTF-16",
                      nothing_written=out)
    assert_user_error(cli.main, [*base, "--corpus", str(utf16)], capsys, "max_steps must be set", nothing_written=out)
    assert_user_error(cli.main, [*base, "--corpus", str(utf16), "--max-steps", "1", "--set", "losses={logits: 1}"],
                      capsys, "losses ['logits'] are not allowed", nothing_written=out)


def test_two_runs_cannot_share_a_folder(capsys, tmp_path, tiny_teacher, glue_tsv):
    from eval.core.artifacts import folder_lock

    out = tmp_path / "run"
    with folder_lock(out):
        assert_user_error(cli.main, _finetune(tiny_teacher, out, glue_tsv), capsys, "another run is writing")


def test_pipeline_bad_invocations(capsys, tmp_path):
    assert_user_error(pipeline_cli.main, ["run", str(tmp_path / "missing.yaml")], capsys, "does not exist")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    assert_user_error(pipeline_cli.main, ["run", str(tmp_path / "list.yaml")], capsys, "must be a mapping")
    (tmp_path / "broken.yaml").write_text("task: [sst2\n")
    assert_user_error(pipeline_cli.main, ["check", str(tmp_path / "broken.yaml")], capsys, "not valid YAML")
    recipe = tmp_path / "ok.yaml"
    recipe.write_text(f"task: sst2\nteacher: minilm-l6\nstudent: tiny\noutput_dir: {tmp_path}/run\n")
    assert_user_error(pipeline_cli.main, ["run", str(recipe), "--only", "nope"], capsys, "no stage named nope")
    assert_user_error(pipeline_cli.main, ["run", str(recipe), "--jobs", "0"], capsys, "--jobs must be at least 1")
    assert_user_error(pipeline_cli.main, ["run", str(recipe), "--set", "student=[x"], capsys, "not valid YAML")
    assert_user_error(pipeline_cli.main, ["run", str(recipe), "--set", "kind=grid"], capsys, "unknown kind 'grid'")
    assert not (tmp_path / "run").exists()
