"""The GLUE study's figures: results, leaderboard, targets and time budget.

    python -m benchmarks.glue_leaderboard            # after `pipeline run recipes/glue/leaderboard.yaml`
    python -m benchmarks.glue_leaderboard --output-dir DIR   # after `pipeline run ... --output-dir DIR`
    python -m benchmarks.glue_leaderboard --recipe recipes/glue/leaderboard_v1.yaml   # study v1

Each study is named by its run folder (``runs/glue-v2`` -> ``glue-v2``; v1 is ``glue``), and its
records are named after it: ``benchmarks/results/<name>/`` (results files),
``benchmarks/results/<name>_{timings,targets}.json``, ``docs/<name>.md`` and ``docs/<name>/``.

It trains nothing. The committed records are the study's memory and the run folder adds to them
(the study runs over many working sessions, and a run folder may not outlive its machine): it
copies the ``glue eval`` results file of every row finished in the run folder into
``benchmarks/results/glue/`` (one per model, task and seed, so that
``glue report benchmarks/results/glue --output-dir OUT`` rebuilds the leaderboard), renders the
leaderboard of every results file there with the study's comparisons into ``docs/glue/``, checks the
study's targets (``benchmarks/results/glue_targets.json``) and adds the wall and CPU time of the run
folder's stages to those recorded before (``benchmarks/results/glue_timings.json``), then writes
``docs/glue.md``. A stage run again replaces its earlier results and times.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

from benchmarks.shared_data import RESULTS, ROOT
from eval.core.artifacts import write_atomic, write_json
from eval.leaderboard import write_leaderboard
from eval.report import build_leaderboard, glue_score, load_results, render_markdown
from pipeline.recipe import load_plan
from pipeline.runner import MARKERS

RECIPE = ROOT / "recipes" / "glue" / "leaderboard.yaml"
EARLIER_TIMES = RESULTS / "glue_teacher_times.json"  # v1: teachers trained before stages recorded their times
DOCS = ROOT / "docs"
# The study's records, named after its run folder (see the module docstring); set by main().
COPIES, TIMINGS, TARGETS = RESULTS / "glue", RESULTS / "glue_timings.json", RESULTS / "glue_targets.json"


def use_study(name: str) -> None:
    """Point the records at study ``name`` (``glue``, ``glue-v2``...)."""
    global COPIES, TIMINGS, TARGETS
    COPIES, TIMINGS, TARGETS = RESULTS / name, RESULTS / f"{name}_timings.json", RESULTS / f"{name}_targets.json"


def collect(plan) -> list[Path]:
    """Copy the results file of every eval stage finished in the run folder; returns every committed one."""
    COPIES.mkdir(parents=True, exist_ok=True)
    copies = []
    for stage in plan.stages:
        if stage.kind == "eval":
            sources = {COPIES / stage.output.name: stage.output}
        elif stage.kind == "floors":  # a folder of floor-<rule>.json files: floors-<task>-<rule>.json here
            names = [f"{stage.name}-{rule}.json" for rule in ("floor-majority", "floor-word-overlap")]
            sources = {COPIES / name: stage.output / name.removeprefix(f"{stage.name}-") for name in names}
        else:
            continue
        for target, source in sources.items():
            if source.is_file():
                shutil.copyfile(source, target)
            if target.is_file():
                copies.append(target)
    return copies


def _recorded(path: Path, key: str) -> dict:
    """``key`` of a committed record, or ``{}`` before the first one."""
    return json.loads(path.read_text())[key] if path.is_file() else {}


def timings(plan) -> dict[str, Any]:
    """Wall and CPU seconds per stage (the run folder's stage records over the committed ones), by kind and size,
    and in total."""
    planned = {stage.name for stage in plan.stages}
    stages = {name: entry for name, entry in _recorded(TIMINGS, "stages").items() if name in planned}
    for stage in plan.stages:
        marker = plan.output_dir / MARKERS / f"{stage.name}.json"
        if marker.is_file():
            record = json.loads(marker.read_text())
            stages[stage.name] = {"kind": stage.kind, "seconds": record["seconds"], "cpu_seconds": record["cpu_seconds"],
                                  "attempts": record.get("attempts")}  # None: recorded before attempts were summed
    earlier = json.loads(EARLIER_TIMES.read_text()) if COPIES.name == "glue" else {"stages": {}, "note": ""}
    for name, record in earlier["stages"].items():
        if name in stages and stages[name]["attempts"] is None:  # its record timed a re-run that found it finished
            stages[name].update(record, recorded_outside_the_pipeline=True)
    groups: dict[str, dict[str, float]] = defaultdict(lambda: {"stages": 0, "seconds": 0.0, "cpu_seconds": 0.0})
    for name, entry in stages.items():
        key = _budget_group(name, entry["kind"])
        for field in ("seconds", "cpu_seconds"):
            groups[key][field] += entry[field]
        groups[key]["stages"] += 1
    total = {field: sum(e[field] for e in stages.values()) for field in ("seconds", "cpu_seconds")}
    return {"stages": stages, "groups": dict(sorted(groups.items())), "total": total, "size_cost": size_cost(stages),
            "note": "wall and CPU time of each stage's child process on 2 shared CPU cores, one thread each; the "
                    "machine was also running other jobs. A stage's time is the sum of "
                    f"its attempts (`attempts` in {TIMINGS.relative_to(ROOT)}); a stage without that count "
                    "finished before the pipeline summed attempts, and if it was stopped and resumed (at the end of "
                    "a working session, say) it counts only its last process. " + earlier["note"]}


def size_cost(stages: dict[str, dict]) -> dict[str, list[float]]:
    """``mini``'s CPU time over ``tiny``'s for the same task and variant: ``{kind: [low, high]}``.

    Each side is the median over its seeds: a stage stopped and resumed before the pipeline summed
    attempts records only its last process, and the median keeps one such lower bound from
    passing for a ratio.
    """
    seconds = defaultdict(list)
    for name, entry in stages.items():
        size, _, rest = name.partition("-")
        if size in ("tiny", "mini") and entry["cpu_seconds"] > 0 and entry["kind"] != "pick":  # a pick copies files
            seconds[size, entry["kind"], re.sub(r"-s\d+", "", rest)].append(entry["cpu_seconds"])
    ratios = defaultdict(list)
    for (size, kind, rest), mini in seconds.items():
        if size == "mini" and ("tiny", kind, rest) in seconds:
            ratios[kind].append(statistics.median(mini) / statistics.median(seconds["tiny", kind, rest]))
    return {kind: [round(min(r), 1), round(max(r), 1)] for kind, r in sorted(ratios.items())}


def dev_evaluations(plan) -> dict[str, list[int]]:
    """How many dev evaluations each finished model was chosen from, per row kind: ``{row: [fewest, most]}``.

    Every ``distill finetune`` and ``distill task`` run keeps its best dev checkpoint, so a row's
    score is the best of that many looks at the dev set (v2: at the held-out slice); the counts show
    the variants got as many. A sweep's pick was chosen from every evaluation of every run of its grid.
    Ranges recorded from earlier run folders (``benchmarks/results/glue_targets.json``) are kept.
    """
    rows = {stage.name.removeprefix("eval-"): stage.config.name for stage in plan.stages if stage.kind == "eval"}
    counts: dict[str, list[int]] = defaultdict(list)
    for row, span in _recorded(TARGETS, "dev_evaluations").items():
        counts[row] += span
    def looks(stage) -> int:
        if stage.kind == "pick":
            return sum(looks(plan.stage(run)) for run in stage.after)
        log = stage.output / "train_log.jsonl"
        return sum('"eval"' in line for line in log.read_text().splitlines()) if log.is_file() else 0

    for stage in plan.stages:
        finished = (plan.output_dir / MARKERS / f"{stage.name}.json").is_file()
        if stage.name in rows and stage.kind in ("finetune", "task", "pick") and finished and (n := looks(stage)):
            counts[rows[stage.name]].append(n)
    return {row: [min(n), max(n)] for row, n in sorted(counts.items())}


def coverage(plan) -> dict[str, dict[str, list[int]]]:
    """Finished and planned results per report row and task: ``{row: {task: [finished, planned]}}``."""
    table: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for stage in plan.stages:
        if stage.kind == "eval":
            cell = table[stage.config.name][stage.config.task]
            cell[0] += (COPIES / stage.output.name).is_file()
            cell[1] += 1
    return {row: dict(tasks) for row, tasks in table.items()}


def _budget_group(name: str, kind: str) -> str:
    """``teacher finetune (sst2)``, ``general (tiny)``, ``tiny distilled (mrpc)``, ``eval``..."""
    if kind in ("eval", "report", "floors"):
        return kind
    parts = name.split("-")
    if parts[0] in ("teacher", "augment", "general", "holdout", "cut"):
        return f"{parts[0]} ({parts[1]})"
    return f"{parts[0]} {parts[2]}{' int8' if parts[-1] == 'int8' else ''} ({parts[1]})"


def targets(board: dict[str, Any]) -> list[dict[str, Any]]:
    """The study's targets (issue 11), each with its figures and met / missed / not measured yet."""
    rows = {row["name"]: row for row in board["rows"]}
    out = []

    def cell(row: str, task: str, metric: str) -> dict | None:
        """A cell in points: mean and std times 100."""
        found = rows.get(row, {}).get("tasks", {}).get(task, {}).get(metric)
        return found and {"mean": 100 * found["mean"], "std": None if found["std"] is None else 100 * found["std"]}

    def target(name: str, met: bool | None, **figures) -> None:
        rounded = {k: round(v, 2) if isinstance(v, float) else v for k, v in figures.items()}
        out.append({"target": name, "status": "not measured yet" if met is None else ("met" if met else "missed"),
                    **rounded})

    glue = [t["name"] for t in board["tasks"] if t["is_glue"]]
    for size, margin in (("tiny", 3), ("mini", 0)):  # mini's target: beat it at all
        distilled, scratch = rows.get(f"{size}-distilled"), rows.get(f"{size}-scratch")
        by = f" by >= {margin} points" if margin else ""
        if distilled and scratch and distilled["score"] is not None and scratch["score"] is not None:
            gain = distilled["score"] - scratch["score"]
            complete = not (distilled["partial"] or scratch["partial"])
            target(f"{size}: distilled beats label-only (random init) on the GLUE Score{by}",
                   (gain >= margin if margin else gain > 0) if complete else None,
                   distilled=distilled["score"], scratch=scratch["score"], gain=gain if complete else None)
            shared = sorted(set(distilled["tasks"]) & set(scratch["tasks"]) & set(glue))
            if not complete and shared:  # partial scores average different tasks: compare on the shared ones
                infos = {t["name"]: t for t in board["tasks"]}
                a, b = (glue_score(row["tasks"], infos, set(shared))[0] for row in (distilled, scratch))
                target(f"{size}: the same on the tasks both rows have ({', '.join(shared)})",
                       (a - b >= margin if margin else a > b), distilled=a, scratch=b, gain=a - b)
    for task in [t for t in glue if t != "wnli"]:
        main = next(t["main_metric"] for t in board["tasks"] if t["name"] == task)
        a, b = cell("tiny-distilled", task, main), cell("tiny-scratch", task, main)
        target(f"tiny: distilled beats label-only (random init) on {task} ({main}) by its mean",
               None if a is None or b is None else a["mean"] > b["mean"],
               distilled=a and a["mean"], scratch=b and b["mean"])
    sst2 = cell("tiny-distilled", "sst2", "accuracy")
    target("SST-2: distilled tiny >= 84.0 dev accuracy (goal 85.2)", None if sst2 is None else sst2["mean"] >= 84.0,
           distilled=sst2 and sst2["mean"], scratch=(cell("tiny-scratch", "sst2", "accuracy") or {}).get("mean"))
    for metric in ("f1", "accuracy"):
        a, b = cell("tiny-distilled", "mrpc", metric), cell("tiny-scratch", "mrpc", metric)
        target(f"MRPC: distilled tiny beats label-only on {metric} by more than the baseline's seed std",
               None if a is None or b is None or b["std"] is None else a["mean"] - b["mean"] > b["std"],
               distilled=a and a["mean"], scratch=b and b["mean"], scratch_std=b and b["std"])
    mini = rows.get("mini-distilled")
    rivals = {"mini_scratch": rows.get("mini-scratch"), "mini_pretrained": rows.get("mini-pretrained"),
              "tiny": rows.get("tiny-distilled")}
    if mini and mini["score"] is not None:
        complete = all(row and row["score"] is not None and not row["partial"] for row in (mini, *rivals.values()))
        target("mini distilled beats mini label-only (both baselines) and tiny distilled on the GLUE Score",
               all(mini["score"] > row["score"] for row in rivals.values()) if complete else None,
               mini=mini["score"], **{name: row and row["score"] for name, row in rivals.items()})
        present = {name: row for name, row in rivals.items() if row and row["score"] is not None}
        shared = sorted(set(glue).intersection(mini["tasks"], *(row["tasks"] for row in present.values())))
        if not complete and shared:  # an interim read on the tasks every row has so far
            infos = {t["name"]: t for t in board["tasks"]}
            score = lambda row: glue_score(row["tasks"], infos, set(shared))[0]  # noqa: E731
            target(f"mini: the same on the tasks the rows have ({', '.join(shared)})",
                   all(score(mini) > score(row) for row in present.values()),
                   mini=score(mini), **{name: score(row) for name, row in present.items()})
    for size in ("tiny", "mini"):
        fp32, int8 = rows.get(f"{size}-distilled"), rows.get(f"{size}-distilled-int8")
        if fp32 and int8:
            drops = {t: round(100 * (fp32["tasks"][t][m]["mean"] - int8["tasks"][t][m]["mean"]), 2)
                     for t in int8["tasks"] if t in fp32["tasks"]
                     for m in [next(x["main_metric"] for x in board["tasks"] if x["name"] == t)]}
            target(f"{size}: INT8 within 0.5 points of FP32 on every task", max(drops.values()) <= 0.5,
                   drops_points=drops)
    return out


def targets_v2(board: dict[str, Any]) -> list[dict[str, Any]]:
    """Study v2's targets (issue 26): above both floors on the pair tasks, ahead of label-only training."""
    rows = {row["name"]: row for row in board["rows"]}
    out = []

    def mean(row: str, task: str, metric: str) -> float | None:
        found = rows.get(row, {}).get("tasks", {}).get(task, {}).get(metric)
        return None if found is None else 100 * found["mean"]

    def target(name: str, met: bool | None, **figures) -> None:
        rounded = {k: round(v, 2) if isinstance(v, float) else v for k, v in figures.items()}
        out.append({"target": name, "status": "not measured yet" if met is None else ("met" if met else "missed"),
                    **rounded})

    for size in ("tiny", "mini"):
        row = f"{size}-distilled"
        pearson = mean(row, "stsb", "pearson")
        target(f"STS-B: distilled {size} >= 65 Pearson (the word-overlap floor; goal 74)",
               None if pearson is None else pearson >= 65, distilled=pearson,
               overlap_floor=mean("floor-word-overlap", "stsb", "pearson"))
        f1, accuracy = mean(row, "mrpc", "f1"), mean(row, "mrpc", "accuracy")
        floor = mean("floor-word-overlap", "mrpc", "accuracy")
        target(f"MRPC: distilled {size} accuracy above the word-overlap floor and F1 >= 82",
               None if f1 is None or floor is None else accuracy > floor and f1 >= 82,
               f1=f1, accuracy=accuracy, overlap_floor_accuracy=floor)
    glue = [t for t in board["tasks"] if t["is_glue"]]
    for task in glue:
        main_metric = task["main_metric"]
        ours = mean("tiny-distilled", task["name"], main_metric)
        rivals = {v: mean(f"tiny-{v}", task["name"], main_metric) for v in ("scratch", "pretrained")}
        known = ours is not None and all(v is not None for v in rivals.values())
        target(f"tiny: distilled >= both label-only rows on {task['name']} ({main_metric}, mean over seeds)",
               all(ours >= v for v in rivals.values()) if known else None, distilled=ours, **rivals)
    for size, goal in (("tiny", 58), ("mini", 60)):
        distilled, scratch = rows.get(f"{size}-distilled"), rows.get(f"{size}-scratch")
        complete = all(r and r["score"] is not None and not r["partial"] for r in (distilled, scratch))
        target(f"{size}: GLUE Score gain over label-only from random init >= 3 (goal: {size} >= {goal})",
               distilled["score"] - scratch["score"] >= 3 if complete else None,
               distilled=distilled and distilled["score"], scratch=scratch and scratch["score"])
    for size in ("tiny", "mini"):
        fp32, int8 = rows.get(f"{size}-distilled"), rows.get(f"{size}-distilled-int8")
        if fp32 and int8:
            drops = {t["name"]: round(100 * (fp32["tasks"][t["name"]][m]["mean"] - int8["tasks"][t["name"]][m]["mean"]), 2)
                     for t in board["tasks"] if t["name"] in int8["tasks"] and t["name"] in fp32["tasks"]
                     for m in [t["main_metric"]]}
            target(f"{size}: INT8 within 0.5 points of FP32 on every task", max(drops.values()) <= 0.5,
                   drops_points=drops)
    return out


TARGETS_OF = {"glue": targets, "glue-v2": targets_v2}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", type=Path, default=RECIPE)
    parser.add_argument("--output-dir", help="the run folder, if not the recipe's (`pipeline run --output-dir`)")
    args = parser.parse_args(argv)
    plan = load_plan(args.recipe, output_dir=args.output_dir)
    name = plan.output_dir.name
    use_study(name)
    copies = collect(plan)
    if not copies:
        print(f"no results in {COPIES} or under {plan.output_dir}; run `pipeline run {args.recipe}` first")
        return 1
    report = plan.stage("report").config
    documents = load_results(copies)
    names = {document["model"]["name"] for document in documents}
    compare = [pair for pair in report.compare if set(pair.split(":")) <= names]  # rows that have run
    board = build_leaderboard(documents, compare)
    write_leaderboard(documents, DOCS / name, compare=compare, title=report.title)
    checks, budget = TARGETS_OF.get(name, targets_v2)(board), timings(plan)
    write_json(TIMINGS, budget)
    scope, looks = coverage(plan), dev_evaluations(plan)
    write_json(TARGETS, {"targets": checks, "rows": len(board["rows"]), "results_files": len(copies),
                         "coverage": scope, "dev_evaluations": looks})
    write_atomic(DOCS / f"{name}.md", render_docs(board, checks, budget, scope, looks, len(copies), name, args.recipe))
    print(render_markdown(board))
    for check in checks:
        print(f"{check['status']:>16}: {check['target']}")
    return 0


def render_docs(board: dict[str, Any], checks: list[dict], budget: dict[str, Any],
                scope: dict[str, dict[str, list[int]]], looks: dict[str, list[int]], files: int,
                name: str = "glue", recipe: Path = RECIPE) -> str:
    """``docs/<name>.md``: the leaderboard, its comparisons, the targets and the time budget."""
    hours = lambda seconds: f"{seconds / 3600:.2f} h"  # noqa: E731
    recipe = recipe.resolve().relative_to(ROOT) if recipe.resolve().is_relative_to(ROOT) else recipe
    selection = _selection_lines(looks, holdout=name != "glue")
    lines = [f"# The student family on GLUE ({'study v1' if name == 'glue' else name.replace('glue-', 'study ')})",
             "", "Figures in points (metrics in percent).", "",
             "Generated by `python -m benchmarks.glue_leaderboard"
             + ("" if recipe == RECIPE.relative_to(ROOT) else f" --recipe {recipe}") + "` from the results of "
             f"`pipeline run {recipe}` (see that recipe for every setting), run over several working sessions. "
             f"{files} results files are in [`benchmarks/results/{name}/`](../benchmarks/results/{name}); "
             f"`glue report benchmarks/results/{name} --output-dir OUT` rebuilds the table. "
             f"The page with charts: [`docs/{name}/leaderboard.html`]({name}/leaderboard.html).", "",
             render_markdown(board), *selection, *_throughput_lines(board), *_scope_lines(scope),
             f"![score vs size]({name}/score_vs_size.svg) "
             f"![score vs throughput]({name}/score_vs_throughput.svg)", "", "## Targets", "",
             "| target | status | figures |", "|---|---|---|"]
    for check in checks:
        figures = {k: v for k, v in check.items() if k not in ("target", "status")}
        lines.append(f"| {check['target']} | {check['status']} | `{json.dumps(figures)}` |")
    lines += _speed_lines()
    lines += ["", "## Time budget", "", budget["note"], "", *_size_lines(budget["size_cost"]),
              "| stages | count | wall | CPU |", "|---|---|---|---|"]
    for group, entry in budget["groups"].items():
        lines.append(f"| {group} | {entry['stages']} | {hours(entry['seconds'])} | {hours(entry['cpu_seconds'])} |")
    lines.append(f"| **total** | {len(budget['stages'])} | {hours(budget['total']['seconds'])} | "
                 f"{hours(budget['total']['cpu_seconds'])} |")
    return "\n".join(lines) + "\n"


def _size_lines(cost: dict[str, list[float]]) -> list[str]:
    """How much more a larger student costs, and why the study stops at ``mini``."""
    kinds = {"finetune": "label-only", "general": "general distillation", "task": "task distillation", "int8": "INT8"}
    measured = "; ".join(f"{kinds.get(kind, kind)} {low}–{high}x" if low != high else f"{kinds.get(kind, kind)} {low}x"
                         for kind, (low, high) in cost.items())
    return [("`mini`'s CPU time against `tiny`'s for the same stage (task and variant, the median over seeds "
             "on each side): " + measured + ". " if measured else "")
            + "`small` (L4/H512) and `medium` (L8/H512) are not in the study: their encoder layers do about 4 and 8 "
            "times `mini`'s arithmetic per token, so their rows would cost several times `mini`'s, which already "
            "take days on this 2-core machine. To run them, add them under the recipe's `sizes` (`distill list` "
            "names every size).", ""]


def _selection_lines(looks: dict[str, list[int]], holdout: bool = False) -> list[str]:
    """How each model was chosen: its best checkpoint on dev (v1) or on a held-out slice of train, out of how many
    evaluations."""
    spans = ", ".join(f"{row} {low}" + (f"–{high}" if high != low else "") for row, (low, high) in looks.items())
    if holdout:
        return ["Every model trained on its task's train split less a seeded held-out slice (`glue holdout`; the "
                "recipe gives each task's size), and was evaluated and selected on that slice only: the dev figures "
                f"above are each model's only look at the dev split. Evaluations of the slice per model: {spans} "
                "(a model that a learning-rate sweep picked counts every evaluation of the runs it was picked "
                "from; the seeds that then trained at its rate count their own).", ""]
    return ["Every model here is the best of the dev evaluations made while it trained (`distill finetune` and "
            "`distill task` keep the best dev checkpoint), as GLUE dev figures usually are: an optimistic figure "
            "for every row alike, the more so the smaller the dev set. Evaluations per model: "
            f"{spans}; the variants of a task look at dev about equally often.", ""]


def _speed_lines() -> list[str]:
    """``benchmarks/results/size_speed.json`` as a section, when it has been measured."""
    from benchmarks import size_speed

    path = RESULTS / "size_speed.json"
    if not path.is_file():
        return []
    report = json.loads(path.read_text())
    return ["", "## Speed, side by side", "", f"`python -m benchmarks.size_speed`: {report['note']}; "
            f"{report['rounds']} rounds; JSON in `benchmarks/results/size_speed.json`. On this shared machine two "
            "runs differed by up to 40% on single figures; read the ratios within one run.", "",
            size_speed.render(report)]


def _throughput_lines(board: dict[str, Any]) -> list[str]:
    """Throughput was measured beside the study's training: how far load alone moved it."""
    same: dict[tuple, list[float]] = defaultdict(list)  # one architecture and backend: the same speed but for load
    for row in board["rows"]:
        if row["examples_per_second"]:
            size = round(row["parameters"], -4)  # classifier heads differ by task
            same[(size, row["backend"], row["precision"])].append(row["examples_per_second"])
    spread = max((max(v) / min(v) for v in same.values() if len(v) > 1), default=None)
    return ["Throughput: dev examples per second of each row's `glue eval` runs, measured while the study's "
            "training shared the two cores" + (f", so rows of one architecture differ by up to {spread:.1f}x from "
            "load alone" if spread else "") + "; for speed, read [Speed, side by side](#speed-side-by-side).", ""]


def _scope_lines(scope: dict[str, dict[str, list[int]]]) -> list[str]:
    """What of the recipe has run: results per row and task, finished / planned (seeds)."""
    tasks = list(dict.fromkeys(t for row in scope.values() for t in row))  # in the recipe's order
    lines = ["## What has run", "", "Results finished / planned per row and task (one per seed); a cell "
             "with one result has no ± std, and a row missing a task has no GLUE Score over the tasks it lacks.",
             "", "| row | " + " | ".join(tasks) + " |", "|---|" + "---|" * len(tasks)]
    for row, cells in sorted(scope.items()):
        lines.append(f"| {row} | " + " | ".join("{}/{}".format(*cells[t]) if t in cells else "–" for t in tasks) + " |")
    return [*lines, ""]


if __name__ == "__main__":
    raise SystemExit(main())
