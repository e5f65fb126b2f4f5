"""The orchestrator: recipes expand into typed stages, validate as a whole, run resumably."""

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from eval.core.errors import UserError
from pipeline import cli
from pipeline.recipe import load_plan
from pipeline.runner import command, described, run_plan, select, settle

ROOT = Path(__file__).resolve().parents[1]


def _recipe(tmp_path: Path, text: str, name: str = "recipe.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _names(plan):
    return [s.name for s in plan.stages]


def test_full_plan_order_wiring_and_commands(tmp_path):
    recipe = _recipe(tmp_path, f"""task: mrpc
teacher: minilm-l6
student: tiny
output_dir: {tmp_path}/run
data_dir: glue
corpus: corpus.txt
augment: true
stages:
  task: {{train: {{epochs: 1}}}}
  general: {{train: {{max_steps: 10}}}}
""")
    plan = load_plan(recipe)
    assert _names(plan) == ["finetune", "general", "augment", "task", "baseline", "int8", "eval-teacher",
                            "eval-student", "eval-baseline", "eval-student-int8", "floors", "report"]
    task = plan.stage("task")
    run = tmp_path / "run"
    assert (task.config.teacher, task.config.student, task.config.augmented) == (
        str(run / "teacher"), str(run / "general"), str(run / "augmented"))  # stages feed each other
    assert task.config.train.epochs == 1 and task.after == ("finetune", "general", "augment")
    assert command(plan, task) == ("distill", "task", "--recipe", str(run / "recipes" / "task.yaml"))
    assert plan.stage("int8").config.model == str(run / "student")
    report = command(plan, plan.stage("report"))
    assert report[:2] == ("glue", "report") and str(run / "results" / "student-int8.json") in report


def _holdout_pipeline(tmp_path, extra: str = "", name: str = "recipe.yaml") -> Path:
    return _recipe(tmp_path, f"""task: rte
teacher: minilm-l6
student: tiny
output_dir: {tmp_path}/run
data_dir: glue
augment: true
holdout: 200
{extra}""", name)


def test_a_pipeline_with_holdout_trains_and_chooses_on_the_slice_and_scores_dev_once(tmp_path):
    plan = load_plan(_holdout_pipeline(tmp_path))
    run = tmp_path / "run"
    assert _names(plan)[0] == "holdout" and plan.stage("holdout").config.size == 200
    assert plan.stage("holdout").config.data_dir == "glue"
    sliced = str(run / "holdout" / "task.yaml")
    for name in ("finetune", "augment", "task", "baseline"):
        assert plan.stage(name).config.task == sliced and plan.stage(name).config.data_dir is None, name
    assert plan.stage("int8").config.calib == sliced
    assert {(plan.stage(s).config.task, plan.stage(s).config.settings.data_dir) for s in _names(plan)
            if s.startswith("eval-")} == {("rte", "glue")}  # the real dev split, once per model


def test_a_pipeline_stage_sweeps_on_the_held_out_slice_and_its_pick_takes_its_place(tmp_path):
    sweep = "{train.lr: [1.0e-4, 1.0e-3]}"
    plan = load_plan(_holdout_pipeline(tmp_path, f"stages:\n  task: {{sweep: {sweep}}}\n  baseline: {{sweep: {sweep}}}\n"))
    run = tmp_path / "run"
    names = _names(plan)
    assert names[names.index("augment") + 1:names.index("int8")] == [
        "task-lr1e-4", "task-lr1e-3", "task", "baseline-lr1e-4", "baseline-lr1e-3", "baseline"]
    assert [plan.stage(n).config.output_dir for n in ("task-lr1e-4", "task-lr1e-3", "task")] == [
        str(run / "task-lr1e-4"), str(run / "task-lr1e-3"), str(run / "student")]  # the pick is the student
    assert plan.stage("task").kind == "pick" and plan.stage("task-lr1e-3").config.train.lr == 1e-3
    assert plan.stage("int8").config.model == str(run / "student") and "task" in plan.stage("int8").after
    assert plan.stage("eval-baseline").config.model == str(run / "baseline")


@pytest.mark.parametrize("extra, fragment", [
    ("stages: {task: {sweep: {train.lr: [1.0e-4, 1.0e-3]}}}", "would choose on the dev split that the report shows"),
    ("stages: {int8: {sweep: {calib_size: [100, 300]}}}", "only the training stages (finetune, task, baseline) can sweep"),
    ("stages: {task: {sweep: [1.0e-4, 1.0e-3]}}", "stages.task.sweep is not a mapping"),
    ("stages: {baseline: {sweep: {train.lr: [1.0e-4]}}}", "stages.baseline.sweep makes one run"),
    ("stages: {task: {sweep: {train.lr: abc}}}", "train.lr is not a list of values"),
    ("stages: {task: {sweep: {teacher: [a, b]}}}", "teacher is set by the recipe itself"),
    ("stages: {task: {train: {lr: 1.0e-4}, sweep: {train.lr: [1.0e-4, 1.0e-3]}}}", "stages.task also sets train.lr"),
])
def test_a_pipeline_sweep_that_would_choose_on_dev_or_cannot_choose_is_refused(tmp_path, extra, fragment):
    text = _holdout_pipeline(tmp_path, extra).read_text()
    if "dev split" in fragment:
        text = text.replace("holdout: 200\n", "")
    with pytest.raises(UserError, match=re.escape(fragment)):
        load_plan(_recipe(tmp_path, text, "bad.yaml"))
    assert not (tmp_path / "run").exists()


def test_plan_skips_teacher_finetuning_when_the_head_fits(tmp_path, tiny_classifier):
    base = f"teacher: {tiny_classifier}\nstudent: tiny\noutput_dir: {tmp_path}/run\n"
    plan = load_plan(_recipe(tmp_path, "task: sst2\nbaseline: false\nint8: false\n" + base))
    assert _names(plan) == ["task", "eval-teacher", "eval-student", "floors", "report"]
    assert _names(load_plan(_recipe(tmp_path, "task: mnli\n" + base, "mnli.yaml")))[0] == "finetune"  # 2 != 3 labels
    swept = "holdout: 100\nstages: {finetune: {sweep: {train.lr: [1.0e-5, 5.0e-5]}}}\n"
    with pytest.raises(UserError, match="already has the task's classifier, so it is not fine-tuned here"):
        load_plan(_recipe(tmp_path, "task: sst2\n" + swept + base, "swept.yaml"))


SHIPPED = sorted([*ROOT.glob("recipes/*.yaml"), *ROOT.glob("recipes/glue/*.yaml")])


@pytest.mark.parametrize("recipe", SHIPPED, ids=lambda p: p.relative_to(ROOT / "recipes").as_posix())
def test_every_shipped_pipeline_recipe_validates(recipe):
    plan = load_plan(recipe)
    assert plan.stages[-1].kind == "report"
    header = recipe.read_text().split("\n\n")[0]
    assert recipe.read_text().startswith("#") and ("distill pipeline" in header or "pipeline run" in header)


def test_a_bad_recipe_lists_every_error_with_its_stage_and_runs_nothing(tmp_path, capsys):
    recipe = _recipe(tmp_path, f"""task: sst2
teacher: minilm-l6
student: tiny
output_dir: {tmp_path}/run
stages:
  finetune: {{train: {{bach_size: 4}}}}
  task: {{phases: [{{name: a, losses: {{hiden: 1}}}}], train: {{lr: fast}}}}
  int8: {{per_chanel: false, backend: neural-compressor, quant_format: qdq}}
  baseline: {{set: [train.lr=1], model: other}}
""")
    started = time.perf_counter()
    assert cli.main(["run", str(recipe)]) == 2
    err = capsys.readouterr().err.strip()
    assert time.perf_counter() - started < 60  # validation only (the bar is 5 s on an idle machine)
    assert err.startswith("error: 5 problems in the recipe, nothing was run") and "\n" not in err
    for fragment in ("stage 'finetune'", "'train.bach_size' (did you mean 'batch_size'?)", "unknown losses ['hiden']",
                     "train.lr: expected float, got 'fast'", "stage 'int8'", "'per_chanel' (did you mean 'per_channel'? it is an option of backend onnxruntime",
                     "quant_format is an option of backend onnxruntime; backend neural-compressor does not honour it",
                     "stage 'baseline': 'set' lists", "'model' is set by the pipeline itself"):
        assert fragment in err
    assert not (tmp_path / "run").exists()


def test_recipe_level_typos_are_reported_together(tmp_path):
    recipe = _recipe(tmp_path, "task: sst3\nteacher: minilm-l6\nstudnet: tiny\noutput_dir: x\n"
                               "eval: {batch_size: many}\nkind: pipeline\n")
    with pytest.raises(UserError) as err:
        load_plan(recipe)
    message = str(err.value)
    assert "unknown key 'studnet' (did you mean 'student'?)" in message
    assert "missing required key 'student'" in message and "eval.batch_size: expected int" in message
    with pytest.raises(UserError, match="unknown kind 'pipelines'"):
        load_plan(recipe, overrides=["kind=pipelines"])


def test_explicit_stages_refer_to_each_other_by_name(tmp_path):
    recipe = _recipe(tmp_path, f"""kind: stages
output_dir: {tmp_path}/run
stages:
  - {{name: teacher, run: finetune, config: {{model: minilm-l6, task: rte}}}}
  - {{name: student, run: task, config: {{task: rte, teacher: "@teacher", student: mini}}}}
  - {{name: quantized, run: int8, config: {{model: "@student", calib: rte, max_drop: 0.5}}}}
""")
    plan = load_plan(recipe)
    assert plan.stage("quantized").after == ("student",) and plan.stage("student").after == ("teacher",)
    assert plan.stage("student").config.teacher == str(tmp_path / "run" / "teacher")
    bad = _recipe(tmp_path, f"kind: stages\noutput_dir: {tmp_path}/r\nstages:\n"
                            "  - {name: s, run: task, config: {task: rte, teacher: '@nope', student: tiny}}\n", "bad.yaml")
    with pytest.raises(UserError, match="'@nope' names no earlier stage"):
        load_plan(bad)


def test_a_sweep_trains_one_run_per_value_and_picks_among_them(tmp_path):
    recipe = _recipe(tmp_path, f"""kind: stages
output_dir: {tmp_path}/run
stages:
  - {{name: slice, run: holdout, config: {{task: rte, size: 100}}}}
  - name: tiny
    run: finetune
    config: {{model: tiny, task: "@slice/task.yaml", train: {{lr: 5.0e-5, seed: 1}}}}
    sweep: {{train.lr: [1.0e-4, 3.0e-4], train.batch_size: [16, 32]}}
  - {{name: eval-tiny, run: eval, config: {{model: "@tiny", task: rte}}}}
""")
    plan = load_plan(recipe)
    runs = ["tiny-lr1e-4-batch_size16", "tiny-lr1e-4-batch_size32", "tiny-lr3e-4-batch_size16", "tiny-lr3e-4-batch_size32"]
    assert _names(plan) == ["slice", *runs, "tiny", "eval-tiny"]
    assert [(plan.stage(r).config.train.lr, plan.stage(r).config.train.batch_size) for r in runs] == [
        (1e-4, 16), (1e-4, 32), (3e-4, 16), (3e-4, 32)]
    assert {plan.stage(r).config.train.seed for r in runs} == {1}  # the rest of the config is shared
    pick = plan.stage("tiny")
    assert pick.kind == "pick" and pick.after == tuple(runs)
    assert pick.config.candidates == tuple(str(tmp_path / "run" / r) for r in runs)
    assert command(plan, pick)[:2] == ("distill", "pick") and plan.stage("eval-tiny").after == ("tiny",)


def test_a_sweep_over_values_that_cannot_name_a_stage_numbers_them(tmp_path):
    recipe = _recipe(tmp_path, f"""kind: stages
output_dir: {tmp_path}/run
stages:
  - {{name: teacher, run: finetune, config: {{model: minilm-l6, task: rte}}}}
  - {{name: general-a, run: general, config: {{teacher: minilm-l6, student: tiny, corpus: c.txt, train: {{max_steps: 9}}}}}}
  - name: student
    run: task
    config: {{task: rte, teacher: "@teacher"}}
    sweep: {{student: ["@general-a", tiny, teacher:2], train.warmup: [0.1]}}
""")
    plan = load_plan(recipe)
    assert _names(plan)[2:] == ["student-student1-warmup0.1", "student-studenttiny-warmup0.1",
                                "student-student3-warmup0.1", "student"]  # '@general-a' and 'teacher:2' by place
    assert plan.stage("student-student1-warmup0.1").config.student == str(tmp_path / "run" / "general-a")


@pytest.mark.parametrize("stage, fragment", [
    ("{name: s, run: eval, config: {model: tiny, task: rte}, sweep: {settings.batch_size: [8, 16]}}",
     "only finetune and task stages can sweep"),
    ("{name: s, run: finetune, config: {model: tiny, task: rte}, sweep: {train.lr: []}}", "train.lr lists no values"),
    ("{name: s, run: finetune, config: {model: tiny, task: rte}, sweep: {train.lr: [1.0e-4]}}", "makes one run"),
    ("{name: s, run: finetune, config: {model: tiny, task: rte}, sweep: {train.lr: [1.0e-4, 0.0001]}}",
     "train.lr lists a value twice (0.0001); list each once"),
    ("{name: s, run: finetune, config: {model: tiny, task: rte}, sweep: {train.lrr: [1.0e-4, 1.0e-3]}}",
     "'s-lrr1e-4' (distill finetune): unknown key 'train.lrr' (did you mean 'lr'?)"),
])
def test_a_sweep_that_cannot_choose_is_refused_before_anything_runs(tmp_path, stage, fragment):
    recipe = _recipe(tmp_path, f"kind: stages\noutput_dir: {tmp_path}/run\nstages:\n  - {stage}\n")
    with pytest.raises(UserError, match=re.escape(fragment)):
        load_plan(recipe)
    assert not (tmp_path / "run").exists()


def test_study_grid_names_dependencies_and_one_row_selection(tmp_path):
    recipe = _recipe(tmp_path, f"""kind: study
output_dir: {tmp_path}/run
teacher: minilm-l6
sizes: {{tiny: {{}}, mini: {{general: {{train: {{lr: 1.0e-4}}}}}}}}
seeds: [1, 2]
general: {{corpus: corpus.txt, train: {{max_steps: 5}}}}
student: {{train: {{lr: 3.0e-4}}}}
tasks:
  mrpc: {{data_dir: parquet, teacher: {{train: {{epochs: 3}}}}, distill: {{train: {{epochs: 2}}}}}}
  wnli: {{seeds: [7], augment: null}}
""")
    plan = load_plan(recipe)
    names = _names(plan)
    assert names[:2] == ["general-tiny", "general-mini"]
    assert {"teacher-mrpc", "augment-mrpc", "tiny-mrpc-scratch-s1", "mini-mrpc-pretrained-s2",
            "tiny-mrpc-distilled-s2-int8", "eval-mini-wnli-distilled-s7-int8", "report"} <= set(names)
    assert "augment-wnli" not in names and not any(n.startswith("tiny-wnli") and "-s1" in n for n in names)
    row = plan.stage("mini-mrpc-distilled-s2")
    assert row.config.train.seed == 2 and row.config.train.lr == 3e-4 and row.config.train.epochs == 2
    assert row.config.augmented.endswith("augment-mrpc") and row.config.data_dir == "parquet"
    assert plan.stage("general-mini").config.train.lr == 1e-4
    assert plan.stage("tiny-wnli-distilled-s7").config.augmented is None
    assert {s.name for s in select(plan, ["tiny-mrpc-distilled-s1-int8"])} == {
        "tiny-mrpc-distilled-s1-int8", "tiny-mrpc-distilled-s1", "teacher-mrpc", "general-tiny", "augment-mrpc"}
    with pytest.raises(UserError, match="no stage named nope"):
        select(plan, ["nope"])
    some = {s.name for s in select(plan, ["eval-tiny-wnli-*"], exclude=["*-int8", "general-*"])}
    assert some == {"teacher-wnli", "tiny-wnli-scratch-s7", "eval-tiny-wnli-scratch-s7"}  # the rest need general


def test_study_rows_are_named_from_the_grid_even_when_a_task_name_has_a_hyphen(tmp_path):
    # Rows join seeds (mean ± std): a wrong split of "tiny-mnli-mm-scratch-s1" would merge variants into one row.
    recipe = _recipe(tmp_path, f"""kind: study
output_dir: {tmp_path}/run
teacher: minilm-l6
sizes: {{tiny: {{}}}}
seeds: [1, 2]
general: {{corpus: corpus.txt, train: {{max_steps: 5}}}}
tasks: {{mnli-mm: {{augment: null}}, rte: {{augment: null}}}}
""")
    plan = load_plan(recipe)
    rows = {stage.name: stage.config.name for stage in plan.stages if stage.kind == "eval"}
    assert rows["eval-teacher-mnli-mm"] == "teacher"
    for task in ("mnli-mm", "rte"):
        for variant in ("scratch", "pretrained", "distilled", "distilled-int8"):
            seed = "s2-int8" if variant == "distilled-int8" else "s2"
            name = f"tiny-{task}-{variant.replace('-int8', '')}-{seed}"
            assert rows[f"eval-{name}"] == f"tiny-{variant}", name
    assert "tiny-distilled:tiny-scratch" in plan.stage("report").config.compare


def test_study_holdout_ablations_cut_sizes_and_a_live_teacher(tmp_path):
    recipe = _recipe(tmp_path, f"""kind: study
output_dir: {tmp_path}/run
teacher: minilm-l6
sizes: {{tiny: {{}}, cut3: {{cut: 3, variants: [pretrained, distilled]}}}}
seeds: [1]
teacher_cache: false
variants: [scratch, pretrained, distilled, logits-only, teacher-labels]
general: {{corpus: corpus.txt, train: {{max_steps: 5}}}}
distill:
  phases: [{{name: intermediate, losses: {{hidden: 1}}, epochs: 2}}, {{name: prediction, losses: {{logits: 1}}, epochs: 3}}]
tasks:
  mrpc: {{data_dir: parquet, holdout: 40}}
  rte: {{augment: null, variants: [scratch, distilled]}}
""")
    plan = load_plan(recipe)
    names = set(_names(plan))
    run = tmp_path / "run"
    # tuned and selected on a slice of train; the dev split is scored once, by the GLUE task's name
    spec = str(run / "holdout-mrpc" / "task.yaml")
    assert plan.stage("holdout-mrpc").config.size == 40
    assert plan.stage("teacher-mrpc").config.task == plan.stage("tiny-mrpc-distilled-s1").config.task == spec
    assert plan.stage("tiny-mrpc-distilled-s1-int8").config.calib == spec
    assert "holdout-mrpc" in plan.stage("teacher-mrpc").after and "holdout-mrpc" in plan.stage("augment-mrpc").after
    evaluated = plan.stage("eval-tiny-mrpc-distilled-s1")
    assert evaluated.config.task == "mrpc" and evaluated.config.settings.data_dir == "parquet"
    # ablations: the distilled row's data and total epochs, one prediction-layer loss
    for variant, loss in (("logits-only", "logits"), ("teacher-labels", "teacher_labels")):
        ablation = plan.stage(f"tiny-mrpc-{variant}-s1").config
        assert ablation.augmented == plan.stage("tiny-mrpc-distilled-s1").config.augmented
        assert [(p.name, dict(p.losses), p.epochs) for p in ablation.phases] == [("prediction", {loss: 1.0}, 5.0)]
    assert "tiny-distilled:tiny-logits-only" in plan.stage("report").config.compare
    assert not any(n.startswith("tiny-rte-logits") or n.startswith("tiny-rte-pretrained") for n in names)
    # a size cut from the teacher: no general distillation, no random-init row, no ablations
    assert plan.stage("cut-cut3").config.layers == 3 and "general-cut3" not in names
    assert plan.stage("cut3-mrpc-distilled-s1").config.student == str(run / "cut-cut3")
    assert not any(n.startswith(("cut3-mrpc-scratch", "cut3-mrpc-logits")) for n in names)
    # teacher_cache: false -> no store anywhere
    assert all(getattr(s.config, "teacher_cache", None) is None for s in plan.stages)


def test_a_size_sets_one_variant_apart_and_a_misspelt_variant_is_refused(tmp_path):
    text = f"""kind: study
output_dir: {tmp_path}/run
teacher: minilm-l6
sizes: {{tiny: {{student: {{train: {{lr: 3.0e-4}}}}, variant_settings: {{VARIANT: {{train: {{lr: 1.0e-3}}}}}}}}}}
seeds: [1]
general: {{corpus: corpus.txt, train: {{max_steps: 5}}}}
baseline: {{train: {{epochs: 10}}}}
tasks: {{rte: {{augment: null}}}}
"""
    plan = load_plan(_recipe(tmp_path, text.replace("VARIANT", "scratch")))
    scratch, pretrained = plan.stage("tiny-rte-scratch-s1").config.train, plan.stage("tiny-rte-pretrained-s1").config.train
    assert (scratch.lr, scratch.epochs, scratch.seed) == (1.0e-3, 10, 1)
    assert (pretrained.lr, plan.stage("tiny-rte-distilled-s1").config.train.lr) == (3.0e-4, 3.0e-4)
    with pytest.raises(UserError, match="scrach"):
        load_plan(_recipe(tmp_path, text.replace("VARIANT", "scrach"), name="typo.yaml"))


def test_a_study_sweep_chooses_each_row_on_its_first_seed_and_the_other_seeds_take_the_choice(tmp_path):
    recipe = _recipe(tmp_path, f"""kind: study
output_dir: {tmp_path}/run
teacher: minilm-l6
seeds: [1, 2]
sweep: {{train.lr: [1.0e-4, 1.0e-3]}}
sizes: {{tiny: {{}}, mini: {{sweep: {{}}, variants: [scratch], student: {{train: {{lr: 3.0e-4}}}}}}}}
general: {{corpus: corpus.txt, train: {{max_steps: 5}}}}
tasks: {{rte: {{augment: null, holdout: 100, variants: [scratch, distilled]}}}}
""")
    plan = load_plan(recipe)
    names, run = _names(plan), tmp_path / "run"
    grid = ["tiny-rte-scratch-s1-lr1e-4", "tiny-rte-scratch-s1-lr1e-3"]
    assert [plan.stage(n).config.train.lr for n in grid] == [1e-4, 1e-3]
    assert all(plan.stage(n).config.task == str(run / "holdout-rte" / "task.yaml") for n in grid)  # held-out train
    pick = plan.stage("tiny-rte-scratch-s1")
    assert pick.kind == "pick" and pick.after == tuple(grid)
    # the pick is the seed's model: scored and reported; the grid's runs are not
    assert plan.stage("eval-tiny-rte-scratch-s1").config.model == str(run / "tiny-rte-scratch-s1")
    assert not any(n.startswith("eval-") and n.endswith(("-lr1e-4", "-lr1e-3")) for n in names)
    assert plan.stage("tiny-rte-distilled-s1-int8").config.model == str(run / "tiny-rte-distilled-s1")
    second = plan.stage("tiny-rte-distilled-s2")
    assert second.inherit == "tiny-rte-distilled-s1" and "tiny-rte-distilled-s1" in second.after
    assert second.config.train.lr == 1e-4 and second.config.train.seed == 2  # until the pick has run
    assert "# train.lr: as chosen by stage tiny-rte-distilled-s1" in described(plan, second)
    # a size with sweep: {} trains at its settings, one run per seed
    assert plan.stage("mini-rte-scratch-s2").config.train.lr == 3e-4 and "mini-rte-scratch-s1-lr1e-4" not in names
    text = recipe.read_text()
    refused = {  # recipe edit -> the one-line error
        ("[1.0e-4, 1.0e-3]", "[1.0e-4]"): "sweep of size tiny makes one run",
        ("holdout: 100, ", ""): "would choose on the dev split that the report shows for rte; give each task holdout",
        ("{train.lr: [1.0e-4, 1.0e-3]}", "{train.seed: [7, 8]}"): "train.seed is the study's own (seeds:)",
        ("{train.lr: [1.0e-4, 1.0e-3]}", "{task: [rte, cola]}"): "task is set by the recipe itself",
        ("{train.lr: [1.0e-4, 1.0e-3]}", "{train.lr: 1.0e-4}"): "sweep.train.lr: expected a list, got 0.0001",
        ("sizes: {tiny: {}", "sizes: {tiny: {student: {train: {lr: 3.0e-4}}}"):
            "the study sets train.lr for tiny-rte-scratch-s1, which its sweep chooses",
    }
    for (old, new), fragment in refused.items():
        assert old in text
        with pytest.raises(UserError, match=re.escape(fragment)):
            load_plan(_recipe(tmp_path, text.replace(old, new), name="bad.yaml"))


def _stages_with_a_sweep(tmp_path, later: str) -> Path:
    return _recipe(tmp_path, f"""kind: stages
output_dir: {tmp_path}/run
stages:
  - {{name: slice, run: holdout, config: {{task: rte, size: 100}}}}
  - {{name: tiny, run: finetune, config: {{model: tiny, task: "@slice/task.yaml"}}, sweep: {{train.lr: [1.0e-4, 1.0e-3]}}}}
  - {later}
""")


def test_settings_from_takes_what_a_sweep_chose_once_it_has_run(tmp_path):
    plan = load_plan(_stages_with_a_sweep(tmp_path, "{name: final, run: finetune, config: {model: tiny, task: rte}, "
                                                    "settings_from: tiny}"))
    final = plan.stage("final")
    assert final.after == ("tiny",) and final.config.train.lr == 1e-4
    with pytest.raises(UserError, match=re.escape("tiny/pick.json is missing or unreadable; rerun that stage")):
        settle(plan, final)
    (tmp_path / "run" / "tiny").mkdir(parents=True)
    pick = {"chosen": str(tmp_path / "run" / "tiny-lr1e-3")}
    (tmp_path / "run" / "tiny" / "pick.json").write_text(json.dumps(pick))
    settled = settle(plan, final)
    assert settled.config.train.lr == 1e-3 and settled.config.task == "rte" and settle(plan, plan.stage("tiny")) is plan.stage("tiny")
    (tmp_path / "run" / "tiny" / "pick.json").write_text(json.dumps({"chosen": str(tmp_path / "elsewhere")}))
    with pytest.raises(UserError, match="which is no run of that sweep"):
        settle(plan, final)


@pytest.mark.parametrize("later, fragment", [
    ("{name: f, run: finetune, config: {model: tiny, task: rte}, settings_from: slice}", "names no sweep above it"),
    ("{name: f, run: finetune, config: {model: tiny, task: rte}, settings_from: f}", "names no sweep above it"),
    ("{name: f, run: finetune, config: {model: tiny, task: rte}, settings_from: tiny, sweep: {train.seed: [1, 2]}}",
     "both sweeps and takes settings_from"),
    ("{name: f, run: eval, config: {model: '@tiny', task: rte}, settings_from: tiny}",
     "settings_from gives training settings (train.lr) to finetune and task stages, not to eval"),
    ("{name: f, run: finetune, config: {model: tiny, task: rte, train: {lr: 5.0e-5}}, settings_from: tiny}",
     "stage 'f' sets train.lr, which it takes from the sweep of 'tiny'"),
])
def test_settings_from_that_names_no_sweep_above_is_refused(tmp_path, later, fragment):
    with pytest.raises(UserError, match=re.escape(fragment)):
        load_plan(_stages_with_a_sweep(tmp_path, later))


def test_a_second_run_on_the_same_folder_is_refused(tmp_path):
    from eval.core.artifacts import folder_lock

    recipe = _recipe(tmp_path, f"kind: stages\noutput_dir: {tmp_path}/run\nstages:\n"
                               f"  - {{name: s, run: finetune, config: {{task: sst2, model: minilm-l6}}}}\n")
    with folder_lock(tmp_path / "run"):
        with pytest.raises(UserError, match="another pipeline is writing"):
            run_plan(load_plan(recipe))


def _chain(tmp_path: Path, third: str) -> Path:
    """Stages teacher -> student, then ``third``."""
    return _recipe(tmp_path, f"""kind: stages
output_dir: {tmp_path}/run
stages:
  - {{name: teacher, run: finetune, config: {{model: minilm-l6, task: rte}}}}
  - {{name: student, run: task, config: {{task: rte, teacher: "@teacher", student: mini}}}}
  - {third}
""")


def test_a_rerun_of_a_finished_chain_skips_every_stage(tmp_path, monkeypatch, capsys):
    """Stages skipped as done make the next ones ready, however long the chain."""
    import pipeline.runner as runner

    recipe = _chain(tmp_path, '{name: quantized, run: int8, config: {model: "@student", calib: rte}}')
    monkeypatch.setattr(runner, "_done", lambda plan, stage: True)
    monkeypatch.setattr(runner, "_start", lambda *args: pytest.fail("a finished stage was started again"))
    run_plan(load_plan(recipe), jobs=1)
    assert capsys.readouterr().out.count("done earlier, skipped") == 3


def test_stages_start_in_plan_order_after_a_stage_skipped_as_done(tmp_path, monkeypatch, capsys):
    """A rerun goes on where it stopped: the stage after a finished one goes before later independent ones."""
    import pipeline.runner as runner

    recipe = _chain(tmp_path, "{name: other, run: finetune, config: {model: minilm-l6, task: wnli}}")
    started = []
    monkeypatch.setattr(runner, "_done", lambda plan, stage: stage.name == "teacher")
    monkeypatch.setattr(runner, "_start", lambda plan, stage, jobs: started.append(stage.name) or stage.name)
    monkeypatch.setattr(runner, "_wait", lambda running, plan, echo: (running.popitem()[0], 0))
    monkeypatch.setattr(runner, "_write_timings", lambda plan: None)
    run_plan(load_plan(recipe), jobs=1)
    assert started == ["student", "other"]


def test_a_marker_written_before_a_setting_existed_still_counts_as_done(tmp_path, monkeypatch):
    """Upgrading the toolkit does not re-run finished stages: a setting added since, at its default, is
    what the stage ran with; any other difference re-runs the stage."""
    import pipeline.runner as runner

    recipe = _finetune_stages(tmp_path, tmp_path, tmp_path, ["a"], max_steps=1)
    plan = load_plan(recipe)
    stage = plan.stage("a")
    stage.output.mkdir(parents=True)
    marker = tmp_path / "run" / ".stages" / "a.json"
    marker.parent.mkdir(parents=True)
    old = runner.to_dict(stage.config)
    del old["train"]["shuffle"]  # as if written before `shuffle` existed (its default: true)
    started = []
    monkeypatch.setattr(runner, "_start", lambda plan, stage, jobs: started.append(stage.name) or stage.name)
    monkeypatch.setattr(runner, "_wait", lambda running, plan, echo: (running.popitem()[0], 0))
    monkeypatch.setattr(runner, "_write_timings", lambda plan: None)
    for max_steps, runs in ((1, []), (2, ["a"])):
        old["train"]["max_steps"] = max_steps
        marker.write_text(json.dumps({"config": old}))
        run_plan(plan)
        assert started == runs


def test_a_stage_runs_again_when_a_stage_it_reads_ran_again(tmp_path, monkeypatch):
    """A sweep that picked anew (or a model retrained into a deleted folder) is scored anew: the eval
    that reads it does not stay "done" with the old model's figures."""
    import pipeline.runner as runner

    recipe = _recipe(tmp_path, f"""kind: stages
output_dir: {tmp_path}/run
stages:
  - {{name: model, run: finetune, config: {{model: tiny, task: rte}}}}
  - {{name: other, run: finetune, config: {{model: tiny, task: wnli}}}}
  - {{name: eval-model, run: eval, config: {{model: "@model", task: rte}}}}
""")
    plan = load_plan(recipe)
    started = []

    def start(plan, stage, jobs):
        started.append(stage.name)
        stage.output.mkdir(parents=True, exist_ok=True)
        return runner._Running(stage, subprocess.Popen([sys.executable, "-c", "pass"]), time.time(), None)

    monkeypatch.setattr(runner, "_start", start)
    for forget, runs in ((None, ["model", "other", "eval-model"]), (None, []), ("other", ["other"]),
                         ("model", ["model", "eval-model"])):
        if forget:  # as if its folder were deleted: it runs again, and finishes later than before
            (tmp_path / "run" / ".stages" / f"{forget}.json").unlink()
        started.clear()
        run_plan(plan)
        assert started == runs


def test_a_stage_time_adds_up_every_attempt(tmp_path, monkeypatch):
    """A stage that failed (or was stopped) and then finished records the time of both attempts."""
    import pipeline.runner as runner

    plan = load_plan(_finetune_stages(tmp_path, tmp_path, tmp_path, ["a"], max_steps=1))
    attempts = tmp_path / "run" / ".stages" / "a.attempts.json"
    spin = "import sys, time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\nsys.exit({})"

    def start(exit_code):
        return lambda plan, stage, jobs: runner._Running(
            stage, subprocess.Popen([sys.executable, "-c", spin.format(exit_code)]), time.time(), None)

    monkeypatch.setattr(runner, "_start", start(3))
    with pytest.raises(UserError, match="'a' \\(exit 3\\) failed"):
        run_plan(plan)
    first = json.loads(attempts.read_text())
    assert first["attempts"] == 1 and first["cpu_seconds"] >= 0.3 and first["seconds"] >= first["cpu_seconds"] - 0.1

    plan.stage("a").output.mkdir(parents=True)
    monkeypatch.setattr(runner, "_start", start(0))
    run_plan(plan)
    marker = json.loads((tmp_path / "run" / ".stages" / "a.json").read_text())
    assert marker["attempts"] == 2 and marker["cpu_seconds"] >= first["cpu_seconds"] + 0.3
    assert not attempts.exists()
    timings = json.loads((tmp_path / "run" / "timings.json").read_text())
    assert timings["stages"]["a"]["cpu_seconds"] == marker["cpu_seconds"]


def _tiny_recipe(tmp_path: Path, teacher: Path, data_dir: Path) -> Path:
    fast = "{max_steps: 2, batch_size: 4, max_seq_length: 16, eval_limit: 8}"
    return _recipe(tmp_path, f"""# A tiny pipeline for tests: every stage, INT8 included.
task: sst2
teacher: {teacher}
student: tiny
output_dir: {tmp_path / "run"}
data_dir: {data_dir}
stages:
  task:
    train: {fast}
    phases: [{{name: intermediate, losses: {{hidden: 1.0}}, epochs: 1}}, {{name: prediction, losses: {{logits: 1.0}}, epochs: 1}}]
  baseline: {{train: {fast}}}
  int8: {{calib_size: 8, max_seq_length: 16, batch_size: 8}}
eval: {{batch_size: 8, max_seq_length: 16}}
""", "tiny.yaml")


@pytest.mark.integration
def test_pipeline_resumes_after_kill_9_and_commands_reproduce_stages(tmp_path, tiny_classifier, glue_tsv):
    from safetensors.torch import load_file

    recipe = _tiny_recipe(tmp_path, tiny_classifier, glue_tsv)
    run = tmp_path / "run"
    argv = [sys.executable, "-m", "pipeline", "run", str(recipe)]
    first = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    marker = run / ".stages" / "task.json"
    deadline = time.time() + 600
    while not marker.exists() and first.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert marker.exists(), first.communicate()[0].decode()[-2000:]
    os.kill(first.pid, signal.SIGKILL)  # somewhere in the baseline stage
    first.wait()
    second = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-2000:]
    assert "task: done earlier, skipped" in second.stdout
    board = json.loads((run / "report" / "leaderboard.json").read_text())
    assert {r["name"] for r in board["rows"]} == {"student", "baseline", "student-int8", "teacher", "floor-majority"}
    timings = json.loads((run / "timings.json").read_text())
    assert timings["stages"]["int8"]["cpu_seconds"] > 0 and timings["total"]["seconds"] > 0
    third = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert third.returncode == 0 and third.stdout.count("done earlier, skipped") == 8  # all but the report

    # Each line of commands.sh is the stage: rerun the baseline's line from scratch, same weights.
    line = next(line for line in (run / "commands.sh").read_text().splitlines() if "recipes/baseline.yaml" in line)
    before = load_file(run / "baseline" / "model.safetensors")
    os.rename(run / "baseline", tmp_path / "baseline-first")
    rerun = subprocess.run([sys.executable, "-m", "distill.cli", *shlex.split(line)[1:]], cwd=ROOT,
                           capture_output=True, text=True, timeout=900)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    after = load_file(run / "baseline" / "model.safetensors")
    assert before.keys() == after.keys() and all((before[k] == after[k]).all() for k in before)


def _finetune_stages(tmp_path: Path, tokenizer: Path, data_dir: Path, names: list[str], max_steps: int) -> Path:
    """A ``kind: stages`` recipe of independent tiny ``finetune`` stages of ``max_steps`` steps each."""
    train = f"{{max_steps: {max_steps}, epochs: {max_steps}, batch_size: 4, max_seq_length: 16, eval_limit: 4}}"
    config = f"{{model: tiny, tokenizer: {tokenizer}, task: sst2, data_dir: {data_dir}, train: {train}}}"
    stages = "".join(f"  - {{name: {name}, run: finetune, config: {config}}}\n" for name in names)
    return _recipe(tmp_path, f"kind: stages\noutput_dir: {tmp_path}/run\nstages:\n{stages}")


@pytest.mark.integration
def test_independent_stages_run_side_by_side(tmp_path, tiny_classifier, glue_tsv):
    recipe = _finetune_stages(tmp_path, tiny_classifier, glue_tsv, ["a", "b"], max_steps=1)
    lines: list[str] = []
    run_plan(load_plan(recipe), jobs=2, echo=lines.append)
    assert {line.split(":")[0] for line in lines if "finished after" in line} == {"a", "b"}
    assert (tmp_path / "run" / "logs" / "a.log").is_file() and (tmp_path / "run" / ".stages" / "b.json").is_file()


@pytest.mark.integration
def test_a_sweep_runs_and_its_pick_is_what_later_stages_read(tmp_path, tiny_classifier, glue_tsv):
    train = "{max_steps: 1, epochs: 1, batch_size: 4, max_seq_length: 16, eval_limit: 4}"
    recipe = _recipe(tmp_path, f"""kind: stages
output_dir: {tmp_path}/run
stages:
  - name: a
    run: finetune
    config: {{model: tiny, tokenizer: {tiny_classifier}, task: sst2, data_dir: {glue_tsv}, train: {train}}}
    sweep: {{train.seed: [1, 2]}}
  - {{name: eval-a, run: eval, config: {{model: "@a", task: sst2, settings: {{data_dir: {glue_tsv}, limit: 4}}}}}}
  - name: again
    run: finetune
    config: {{model: tiny, tokenizer: {tiny_classifier}, task: sst2, data_dir: {glue_tsv}, train: {train}}}
    settings_from: a
""")
    run_plan(load_plan(recipe), echo=lambda line: None)
    run = tmp_path / "run"
    record = json.loads((run / "a" / "pick.json").read_text())
    assert [c["run"] for c in record["candidates"]] == [str(run / "a-seed1"), str(run / "a-seed2")]
    assert record["chosen"] in {c["run"] for c in record["candidates"]}
    assert (run / "a" / "model.safetensors").read_bytes() == (Path(record["chosen"]) / "model.safetensors").read_bytes()
    assert json.loads((run / "results" / "a.json").read_text())["model"]["path"] == str(run / "a")
    chosen_seed = json.loads((Path(record["chosen"]) / "metrics.json").read_text())["config"]["train"]["seed"]
    again = json.loads((run / ".stages" / "again.json").read_text())["config"]  # what ran, as the marker keeps it
    assert again["train"]["seed"] == chosen_seed
    assert json.loads((run / "again" / "metrics.json").read_text())["config"]["train"]["seed"] == chosen_seed
    # had the pick chosen the other run, the stage that takes its settings would train with that run's;
    # like any training whose settings changed, it will not overwrite the model it made before
    record["chosen"] = str(run / ("a-seed1" if chosen_seed == 2 else "a-seed2"))
    (run / "a" / "pick.json").write_text(json.dumps(record))
    with pytest.raises(UserError, match="stage 'again' .exit 2. failed"):
        run_plan(load_plan(recipe), echo=lambda line: None)
    shutil.rmtree(run / "again")
    lines: list[str] = []
    run_plan(load_plan(recipe), echo=lines.append)
    assert any(line.endswith("] again: distill finetune --recipe " + str(run / "recipes" / "again.yaml")) for line in lines), lines
    assert json.loads((run / "again" / "metrics.json").read_text())["config"]["train"]["seed"] == 3 - chosen_seed


@pytest.mark.integration
def test_kill_stops_a_background_pipeline_and_its_stage_cleanly(tmp_path, tiny_classifier, glue_tsv):
    """``kill PID`` (SIGTERM) on a pipeline started in the background, where Ctrl-C's SIGINT is ignored."""
    recipe = _finetune_stages(tmp_path, tiny_classifier, glue_tsv, ["a"], max_steps=100_000)
    background = lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)  # noqa: E731 - what `cmd &` does
    first = subprocess.Popen([sys.executable, "-m", "pipeline", "run", str(recipe)], cwd=ROOT, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=background)
    deadline = time.time() + 300
    while not list((tmp_path / "run" / "a").glob("run_config.yaml")) and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(3)  # into the training loop
    first.send_signal(signal.SIGTERM)
    out, err = first.communicate(timeout=120)
    assert first.returncode == 130, err[-2000:]
    assert "interrupted; completed checkpoints are kept" in err and "Traceback" not in err
    assert not (tmp_path / "run" / ".stages" / "a.json").exists()
    stopped = json.loads((tmp_path / "run" / ".stages" / "a.attempts.json").read_text())
    assert stopped["attempts"] == 1 and stopped["seconds"] >= 3  # kept for the attempt that finishes it
