"""The GLUE study's records: the cost of a larger student (medians over seeds, so one lower-bound record is no
ratio) and how many evaluations each model was chosen from."""

from __future__ import annotations

from benchmarks.glue_leaderboard import size_cost


def _stage(kind: str, cpu_seconds: float) -> dict:
    return {"kind": kind, "seconds": cpu_seconds, "cpu_seconds": cpu_seconds, "attempts": 1}


def test_mini_over_tiny_is_a_ratio_of_medians_per_task_and_variant():
    stages = {
        # tiny's seed 42 was resumed and records only its last process: a lower bound
        "tiny-stsb-distilled-s42": _stage("task", 100), "tiny-stsb-distilled-s43": _stage("task", 800),
        "tiny-stsb-distilled-s44": _stage("task", 820),
        "mini-stsb-distilled-s42": _stage("task", 2400),
        "tiny-rte-scratch-s42": _stage("finetune", 300), "mini-rte-scratch-s42": _stage("finetune", 600),
        "mini-rte-scratch-s43": _stage("finetune", 900),
        "tiny-rte-distilled-s42-int8": _stage("int8", 20), "mini-rte-distilled-s42-int8": _stage("int8", 40),
        "mini-wnli-pretrained-s42": _stage("finetune", 50),  # no tiny counterpart: no ratio
        "eval-mini-rte-scratch-s42": _stage("eval", 5), "eval-tiny-rte-scratch-s42": _stage("eval", 5),
        "general-mini": _stage("general", 5000), "teacher-rte": _stage("finetune", 800),
        "tiny-rte-pretrained-s42": _stage("pick", 1), "mini-rte-pretrained-s42": _stage("pick", 3),  # copies files
    }
    assert size_cost(stages) == {"finetune": [2.5, 2.5], "int8": [2.0, 2.0], "task": [3.0, 3.0]}


def test_a_picked_model_counts_the_evaluations_of_every_run_it_was_picked_from(tmp_path, monkeypatch):
    from benchmarks import glue_leaderboard
    from pipeline.recipe import load_plan

    monkeypatch.setattr(glue_leaderboard, "TARGETS", tmp_path / "no-targets-yet.json")
    recipe = tmp_path / "study.yaml"
    recipe.write_text(f"""kind: study
output_dir: {tmp_path}/run
teacher: minilm-l6
seeds: [1, 2]
sweep: {{train.lr: [1.0e-4, 1.0e-3]}}
sizes: {{tiny: {{}}}}
tasks: {{rte: {{augment: null, holdout: 100, variants: [scratch]}}}}
""")
    plan = load_plan(recipe)
    evaluations = {"tiny-rte-scratch-s1-lr1e-4": 3, "tiny-rte-scratch-s1-lr1e-3": 4, "tiny-rte-scratch-s2": 5}
    for name in [*evaluations, "tiny-rte-scratch-s1"]:
        (plan.output_dir / ".stages").mkdir(parents=True, exist_ok=True)
        (plan.output_dir / ".stages" / f"{name}.json").write_text("{}")
    for name, count in evaluations.items():
        plan.stage(name).output.mkdir(parents=True)
        lines = ['{"step": 1, "loss": 0.5}', *['{"step": 2, "eval": {"accuracy": 0.5}}'] * count]
        (plan.stage(name).output / "train_log.jsonl").write_text("\n".join(lines))
    assert glue_leaderboard.dev_evaluations(plan) == {"tiny-scratch": [5, 7]}


def test_every_stage_of_a_study_falls_in_a_budget_group():
    from benchmarks.glue_leaderboard import _budget_group

    assert [_budget_group(name, kind) for name, kind in [
        ("holdout-mrpc", "holdout"), ("floors-mrpc", "floors"), ("cut-cut3", "cut"), ("teacher-rte", "finetune"),
        ("tiny-mrpc-scratch-s42-lr1e-4", "finetune"), ("tiny-mrpc-scratch-s42", "pick"),
        ("tiny-rte-distilled-s43-int8", "int8"), ("eval-tiny-rte-scratch-s42", "eval")]] == [
        "holdout (mrpc)", "floors", "cut (cut3)", "teacher (rte)", "tiny scratch (mrpc)", "tiny scratch (mrpc)",
        "tiny distilled int8 (rte)", "eval"]
