"""A recipe, a task spec or a run folder from someone else cannot write outside the run folder, write
over an input, follow a planted link or exhaust memory (issue 31: S-1 to S-4 and the YAML bomb)."""

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import assert_user_error, save_tiny_classifier
from distill import cli as distill_cli
from distill.checkpoint import RUN_CONFIG, prepare_output_dir
from distill.config import FinetuneConfig
from eval import cli as glue_cli
from eval.core import safe_yaml
from eval.core.config import dump_yaml
from eval.core.errors import UserError
from pipeline import cli as pipeline_cli
from pipeline.recipe import load_plan

ROOT = Path(__file__).resolve().parents[1]

# "Billion laughs": nine levels of nine aliases, 9^9 strings from a 1 KB file.
BOMB = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8))


def _stages_recipe(tmp_path: Path, name: str, config: str = "{task: sst2, model: minilm-l6}") -> Path:
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"kind: stages\noutput_dir: {tmp_path}/run\nstages:\n"
                      f"  - {{name: '{name}', run: finetune, config: {config}}}\n")
    return recipe


# ------------------------------------------------------------------ S-1: stage names are names


@pytest.mark.parametrize("name", ["../../victim/escaped", "/abs/path/abs", "a/b", ".hidden", "", "x" * 200,
                                  "-flag", "tab\tname"])
def test_a_stage_name_that_is_a_path_is_refused_before_anything_runs(tmp_path, capsys, name):
    recipe = _stages_recipe(tmp_path, name)
    for command in ("check", "run"):
        assert_user_error(pipeline_cli.main, [command, str(recipe)], capsys, "are not names",
                          nothing_written=tmp_path / "run")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["recipe.yaml"]


@pytest.mark.parametrize("setting, fragment", [
    ("output_dir: /tmp/elsewhere", "not inside the run folder"),
    ("output_dir: RUN/../outside", "not inside the run folder"),
    ("output_dir: RUN", "not inside the run folder"),
    ("output_dir: RUN/.stages", "keeps its own files"),
    ("output_dir: RUN/recipes/x", "keeps its own files"),
    ("teacher_cache: /tmp/elsewhere-cache", "not inside the run folder"),
])
def test_every_path_a_stage_writes_lies_inside_the_run_folder(tmp_path, capsys, setting, fragment):
    config = "{task: sst2, teacher: minilm-l6, student: tiny, " + setting.replace("RUN", f"{tmp_path}/run") + "}"
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"kind: stages\noutput_dir: {tmp_path}/run\nstages:\n"
                      f"  - {{name: s, run: task, config: {config}}}\n")
    assert_user_error(pipeline_cli.main, ["check", str(recipe)], capsys, fragment, nothing_written=tmp_path / "run")


def test_a_stage_output_inside_another_stages_output_is_refused(tmp_path, capsys):
    # S-2 in a pipeline: an eval result written into the teacher's folder would replace its weights.
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"""kind: stages
output_dir: {tmp_path}/run
stages:
  - {{name: teacher, run: finetune, config: {{task: sst2, model: minilm-l6}}}}
  - {{name: score, run: eval, config: {{model: '@teacher', task: sst2, output: {tmp_path}/run/teacher/model.safetensors}}}}
""")
    assert_user_error(pipeline_cli.main, ["check", str(recipe)], capsys, "inside the output of stage 'teacher'")


def test_an_included_stage_recipe_cannot_move_a_stage_out_of_the_run(tmp_path):
    plan = load_plan(ROOT / "recipes/tiny_mrpc.yaml", output_dir=str(tmp_path / "run"))
    assert plan.stage("general").output == tmp_path / "run" / "general"  # not recipes/general/tiny.yaml's own


def test_a_study_keeps_its_teacher_store_in_its_own_run_folder(tmp_path):
    plan = load_plan(ROOT / "recipes/glue/leaderboard_v1.yaml", output_dir=str(tmp_path / "elsewhere"))
    stores = {s.config.teacher_cache for s in plan.stages if s.kind in ("general", "task")}
    assert stores == {str(tmp_path / "elsewhere" / "cache")}


# ------------------------------------------------------------------ S-2: no output over an input


def test_glue_eval_refuses_to_write_its_results_into_the_model(tmp_path, capsys, tiny_classifier, glue_tsv):
    model = save_tiny_classifier(tmp_path / "model", __import__("transformers").AutoTokenizer.from_pretrained(
        tiny_classifier))
    before = (model / "config.json").read_bytes()
    assert_user_error(glue_cli.main, ["eval", "--model", str(model), "--task", "sst2", "--data-dir", str(glue_tsv),
                                      "--output", str(model / "config.json")], capsys, "would write over the input")
    assert (model / "config.json").read_bytes() == before
    assert_user_error(glue_cli.main, ["eval", "--model", str(model), "--task", "sst2", "--data-dir", str(glue_tsv),
                                      "--output", str(glue_tsv / "results.json")], capsys, "--data-dir")


def test_glue_report_refuses_an_output_folder_that_holds_its_results(tmp_path, capsys):
    results = tmp_path / "results"
    results.mkdir()
    (results / "a.json").write_text("{}")
    assert_user_error(glue_cli.main, ["report", str(results), "--output-dir", str(results)], capsys,
                      "would write over the input")


def test_training_refuses_an_output_folder_that_is_its_teacher(tmp_path, capsys, tiny_classifier, glue_tsv):
    before = sorted(p.name for p in Path(tiny_classifier).iterdir())
    assert_user_error(distill_cli.main, ["finetune", "--model", str(tiny_classifier), "--task", "sst2",
                                         "--data-dir", str(glue_tsv), "--output-dir", str(tiny_classifier)],
                      capsys, "would write over the input")
    assert sorted(p.name for p in Path(tiny_classifier).iterdir()) == before


# ------------------------------------------------------------------ S-3: resume never follows a link


def _unfinished_run(tmp_path: Path) -> tuple[Path, FinetuneConfig]:
    cfg = FinetuneConfig(task="sst2", model="tiny", output_dir=str(tmp_path / "run"))
    out = Path(cfg.output_dir)
    out.mkdir()
    (out / RUN_CONFIG).write_text(dump_yaml(cfg))
    return out, cfg


def test_resume_refuses_a_symlinked_training_log(tmp_path):
    out, cfg = _unfinished_run(tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    (out / "train_log.jsonl").symlink_to(victim)
    with pytest.raises(UserError, match="symbolic link"):
        prepare_output_dir(out, cfg)
    assert victim.read_text() == "precious\n"


def test_resume_refuses_a_planted_pickle(tmp_path):
    out, cfg = _unfinished_run(tmp_path)
    (out / "checkpoints" / "step_2").mkdir(parents=True)
    (out / "checkpoints" / "step_2" / "trainer_state.pt").write_bytes(b"ours")
    assert prepare_output_dir(out, cfg) is True  # the toolkit's own checkpoint files resume
    (out / "pytorch_model.bin").write_bytes(b"not ours")
    with pytest.raises(UserError, match="pickle file the toolkit never writes"):
        prepare_output_dir(out, cfg)


# ------------------------------------------------------------------ S-4: ONNX external data


def _onnx_with_external_data(folder: Path, location: str) -> Path:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((4, 2), dtype=np.float32), "w")
    weight.ClearField("raw_data")
    weight.data_location = TensorProto.EXTERNAL
    weight.external_data.add(key="location", value=location)
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["logits"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 2])], [weight])
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(helper.make_model(graph), str(folder / "model.onnx"))
    (folder / "config.json").write_text(json.dumps({"architectures": ["BertForSequenceClassification"]}))
    return folder


@pytest.mark.parametrize("location, fragment", [("../outside.bin", "outside the model's folder"),
                                                ("/etc/passwd", "outside the model's folder"),
                                                ("model.onnx_data", "which is not in")])
def test_onnx_external_data_is_resolved_in_the_model_folder_and_kept_there(tmp_path, monkeypatch, location,
                                                                          fragment):
    from eval.predictors import load_predictor

    model = _onnx_with_external_data(tmp_path / "model", location)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model.onnx_data").write_bytes(b"\0" * 32)  # a file of that name in the CWD is not read
    with pytest.raises(UserError, match=fragment):
        load_predictor(model)


# ------------------------------------------------------------------ YAML: aliases, duplicates


def test_duplicate_keys_are_refused_and_merge_keys_still_work():
    with pytest.raises(UserError, match="written twice"):
        safe_yaml.load("lr: 1\nlr: 2\n", "recipe")
    assert safe_yaml.load("a: &a {x: 1, y: 2}\nb: {<<: *a, y: 3}\n", "recipe") == {"a": {"x": 1, "y": 2},
                                                                                     "b": {"x": 1, "y": 3}}
    with pytest.raises(UserError, match="refers to the anchor it is inside"):
        safe_yaml.load("&a [*a]", "recipe")


_READERS = {
    "glue tasks": "from eval.cli import main; main(['tasks', SPEC])",
    "glue eval": "from eval.cli import main; main(['eval', '--model', 'm', '--task', SPEC, '--output', 'o.json'])",
    "pipeline check": "from pipeline.cli import main; main(['check', SPEC])",
    "distill task --recipe": "from distill.cli import main; main(['task', '--recipe', SPEC])",
    "quantize int8 --recipe": "from quantize.cli import main; main(['int8', '--recipe', SPEC])",
    "--set": "from distill.cli import main; main(['task', '--set', 'train=' + open(SPEC).read()])",
}


@pytest.mark.parametrize("where", ["top", "inside a valid key"])
@pytest.mark.parametrize("reader", list(_READERS))
def test_a_billion_laughs_file_fails_fast_in_little_memory(tmp_path, reader, where):
    text = BOMB + ("name: *i\n" if where == "top" else "task: sst2\ntrain: {lr: *i}\nstages: *i\n")
    if reader == "--set":
        text = "{" + BOMB.strip().replace("\n", ", ") + ", lr: *i}"
    spec = tmp_path / "bomb.yaml"
    spec.write_text(text)
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30)); SPEC = sys.argv[1]; "
            + _READERS[reader].replace("main(", "sys.exit(main(", 1) + ")")
    result = subprocess.run([sys.executable, "-c", code, str(spec)], cwd=tmp_path, capture_output=True, text=True,
                            timeout=60, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 2, result.stderr[-2000:]
    assert "billion laughs" in result.stderr.strip().splitlines()[-1] and "Traceback" not in result.stderr
    assert not list(tmp_path.glob(".*.lock"))


def test_the_yaml_size_check_itself_is_cheap():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(UserError, match="billion laughs"):
        safe_yaml.load(BOMB + "name: *i\n", "spec")
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000  # KiB


# ------------------------------------------------------------------ new commands, bad input


@pytest.mark.parametrize("argv, fragment", [
    (["holdout", "--task", "sst2", "--size", "0"], "hold out between 1 and half"),
    (["holdout", "--task", "sst2", "--size", "10", "--seed", "-1"], "--seed must be between"),
    (["holdout", "--task", "nope", "--size", "10"], "unknown GLUE task"),
    (["floors", "--task", "nope"], "unknown GLUE task"),
])
def test_holdout_and_floors_refuse_bad_input_in_one_line(tmp_path, capsys, glue_tsv, argv, fragment):
    out = tmp_path / "out"
    assert_user_error(glue_cli.main, [*argv, "--data-dir", str(glue_tsv), "--output-dir", str(out)], capsys,
                      fragment, nothing_written=out)
