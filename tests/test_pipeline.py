"""`distill pipeline`: the stage plan, skipping finished stages, and resuming after kill -9."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from distill.pipeline import PipelineConfig, StageSettings, load_pipeline, plan, run_pipeline
from eval.errors import UserError

ROOT = Path(__file__).resolve().parents[1]


def _names(stages):
    return [s.name for s in stages]


def test_full_plan_order_and_commands(tmp_path):
    cfg = PipelineConfig(task="mrpc", teacher="minilm-l6", student="tiny", output_dir=str(tmp_path),
                         data_dir="glue", corpus="corpus.txt", augment=True,
                         stages={"task": StageSettings(set=("train.epochs=1",))})
    stages = plan(cfg)
    assert _names(stages) == ["finetune", "general", "augment", "task", "baseline", "int8", "eval-teacher",
                              "eval-student", "eval-baseline", "eval-student-int8", "report"]
    task = stages[3]
    assert task.argv[:2] == ("distill", "task")
    assert task.command.endswith("--set train.epochs=1")
    assert f"--student {tmp_path}/general" in task.command  # general distillation feeds task distillation
    assert f"--augmented {tmp_path}/augmented" in task.command
    assert f"--teacher {tmp_path}/teacher" in task.command  # the fine-tuned teacher, not the pre-trained one
    assert stages[1].command.startswith("distill general --teacher minilm-l6")


def test_plan_skips_teacher_finetuning_when_the_head_fits(tmp_path, tiny_classifier):
    cfg = PipelineConfig(task="sst2", teacher=str(tiny_classifier), student="tiny", output_dir=str(tmp_path),
                         baseline=False, int8=False)
    assert _names(plan(cfg)) == ["task", "eval-teacher", "eval-student", "report"]
    cfg = PipelineConfig(task="mnli", teacher=str(tiny_classifier), student="tiny", output_dir=str(tmp_path))
    assert _names(plan(cfg))[0] == "finetune"  # 2 labels do not fit MNLI's 3


def test_every_shipped_pipeline_recipe_validates():
    recipes = sorted((ROOT / "recipes").glob("*.yaml"))
    assert recipes, "no pipeline recipes shipped"
    for recipe in recipes:
        cfg = load_pipeline(recipe)
        assert plan(cfg)[-1].name == "report"
        assert recipe.read_text().startswith("#") and "distill pipeline" in recipe.read_text().split("\n\n")[0]


def test_bad_pipeline_recipe_lists_every_error(tmp_path):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("task: sst3\nteacher: minilm-l6\nstudnet: tiny\nstages: {distil: {}}\noutput_dir: x\n"
                      "eval: {batch_size: many}\n")
    with pytest.raises(UserError) as err:
        load_pipeline(recipe)
    message = str(err.value)
    assert "unknown key 'studnet' (did you mean 'student'?)" in message
    assert "missing required key 'student'" in message
    assert "eval.batch_size: expected int" in message


def _pipeline_recipe(tmp_path, teacher, data_dir) -> Path:
    recipe = tmp_path / "tiny.yaml"
    steps = "[train.max_steps=2, train.batch_size=4, train.max_seq_length=16, train.eval_limit=8]"
    recipe.write_text(f"""# A tiny pipeline for tests.
task: sst2
teacher: {teacher}
student: tiny
output_dir: {tmp_path / "run"}
data_dir: {data_dir}
int8: false
stages:
  task: {{set: [train.max_steps=2, train.batch_size=4, train.max_seq_length=16, train.eval_limit=8,
               "phases=[{{name: intermediate, losses: {{hidden: 1.0}}, epochs: 1}}, {{name: prediction, losses: {{logits: 1.0}}, epochs: 1}}]"]}}
  baseline: {{set: {steps}}}
eval: {{batch_size: 8, max_seq_length: 16}}
""")
    return recipe


@pytest.mark.integration
def test_pipeline_resumes_after_kill_9_without_redoing_finished_stages(tmp_path, tiny_classifier, glue_tsv):
    recipe = _pipeline_recipe(tmp_path, tiny_classifier, glue_tsv)
    run = tmp_path / "run"
    command = [sys.executable, "-m", "distill.cli", "pipeline", str(recipe)]
    first = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    marker = run / ".stages" / "task.json"
    deadline = time.time() + 240
    while not marker.exists() and first.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert marker.exists(), first.communicate()[0].decode()[-2000:]
    os.kill(first.pid, signal.SIGKILL)  # somewhere in the baseline stage
    first.wait()
    second = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-2000:]
    assert "task: done earlier, skipped" in second.stdout
    board = json.loads((run / "report" / "leaderboard.json").read_text())
    assert {r["model"] for r in board["rows"]} == {"student", "baseline", tiny_classifier.name}
    third = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert third.returncode == 0 and third.stdout.count("done earlier, skipped") == 5
