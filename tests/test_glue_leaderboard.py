"""The GLUE study's cost of a larger student: medians over seeds, so one lower-bound record is no ratio."""

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
    }
    assert size_cost(stages) == {"finetune": [2.5, 2.5], "int8": [2.0, 2.0], "task": [3.0, 3.0]}
