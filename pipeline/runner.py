"""Run a plan: each stage as the command a user could type, finished stages skipped, kill -9 safe.

Stages run as child processes (``python -m distill.cli task --recipe ...``), not in this process:
the command printed for a stage (and kept in ``commands.sh``) is then exactly what ran, every
stage starts with a clean interpreter (memory, thread pools and global library state are not
carried from one model to the next), and a stage that crashes cannot take the others' results
with it. What is lost is a few seconds of start-up per stage, small next to training.

Resuming: a stage that exits 0 leaves a marker ``.stages/<name>.json`` holding its resolved
config; a re-run skips stages whose marker matches (read as the stage's config class reads it, so a
setting added to the toolkit since, at its default, changes nothing) and whose output exists, and
re-runs the others, whose commands resume from their own last checkpoint. A stage's recorded time
is the sum of all its attempts: one that fails or is stopped leaves its time in
``.stages/<name>.attempts.json`` for the attempt that finishes it. Markers and every file the stages
write are written atomically, so ``kill -9`` at any moment leaves either a finished stage or one
that resumes. A lock stops two runs from sharing one output folder, and child processes die with
the pipeline (Linux) instead of racing a re-run.

With ``jobs > 1`` independent stages run side by side, each with ``cores / jobs`` threads and its
output in ``logs/<name>.log``.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterable

from eval.core.artifacts import folder_lock, write_atomic, write_json
from distill.best_run import PICK
from eval.core.config import assign, dump_yaml, to_dict
from eval.core.errors import UserError
from pipeline.kinds import KINDS
from pipeline.recipe import Plan, Stage

MARKERS = ".stages"
RECIPES = "recipes"
LOGS = "logs"
TIMINGS = "timings.json"


def stage_recipe(plan: Plan, stage: Stage) -> Path:
    return plan.output_dir / RECIPES / f"{stage.name}.yaml"


def command(plan: Plan, stage: Stage) -> tuple[str, ...]:
    """The command line of a stage, as a user would type it."""
    return KINDS[stage.kind].command(stage.config, stage_recipe(plan, stage))


def select(plan: Plan, only: Iterable[str] | None = None, exclude: Iterable[str] | None = None) -> list[Stage]:
    """The stages matching ``only`` (names or shell patterns such as ``tiny-*``) with every stage they
    read from, minus those matching ``exclude`` and every stage that reads from an excluded one.

    Raises:
        UserError: a plan without stages, a name or pattern that matches no stage of the plan, or a
            selection that leaves no stage (a run of nothing would report "pipeline complete").
    """
    names = [s.name for s in plan.stages]
    if not names:
        raise UserError("the recipe has no stages, so there is nothing to run; add stages to it (see "
                        "recipes/quickstart.yaml)")

    def matching(patterns: Iterable[str]) -> set[str]:
        found = set()
        for pattern in patterns:
            hits = set(fnmatch.filter(names, pattern))
            if not hits:
                raise UserError(f"no stage named {pattern} in this recipe; `pipeline plan RECIPE` lists them")
            found |= hits
        return found

    wanted = set(names) if not only else set()
    todo = list(matching(only or []))
    while todo:
        name = todo.pop()
        if name not in wanted:
            wanted.add(name)
            todo += plan.stage(name).after
    dropped = matching(exclude or [])
    for stage in plan.stages:  # in plan order, so a stage's inputs are decided before it
        if set(stage.after) & dropped:
            dropped.add(stage.name)
    chosen = [s for s in plan.stages if s.name in wanted - dropped]
    if not chosen:
        raise UserError(f"--exclude {' '.join(exclude or [])} leaves none of the {len(wanted)} selected stages to run; "
                        f"exclude fewer (`pipeline plan RECIPE` lists them)")
    return chosen


@dataclass
class _Running:
    stage: Stage
    process: subprocess.Popen
    started: float
    log: object | None


def run_plan(plan: Plan, only: Iterable[str] | None = None, jobs: int = 1, echo: Callable[[str], None] = print,
             exclude: Iterable[str] | None = None) -> Path:
    """Run every unfinished stage of ``plan`` (or of ``only`` and what they need); returns the output folder.

    Raises:
        UserError: another run holds the folder, or a stage failed (its own error is above or in its log).
    """
    if jobs < 1:
        raise UserError(f"--jobs must be at least 1, got {jobs}")
    out = plan.output_dir
    stages = select(plan, only, exclude)
    with folder_lock(out, what="pipeline"):
        write_atomic(out / "pipeline.yaml", dump_yaml(plan.recipe))
        _write_commands(plan, stages)
        todo, running, failed = list(stages), {}, []
        finished: set[str] = {s.name for s in plan.stages} - {s.name for s in stages}
        number = {s.name: i for i, s in enumerate(stages, 1)}
        try:
            while todo or running:
                # Start stages in plan order: the first ready one each time, so that a stage skipped as
                # done lets the stages after it go before later independent ones.
                while len(running) < jobs and not failed:
                    stage = next((s for s in todo if set(s.after) <= finished), None)
                    if stage is None:
                        break
                    todo.remove(stage)
                    stage = settle(plan, stage)
                    prefix = f"[{number[stage.name]}/{len(stages)}] {stage.name}"
                    if not stage.always and _done(plan, stage):
                        echo(f"{prefix}: done earlier, skipped")
                        finished.add(stage.name)
                        continue
                    echo(f"{prefix}: {shlex.join(command(plan, stage))}")
                    running[stage.name] = _start(plan, stage, jobs)
                if not running:
                    if todo and not failed:  # cannot happen for a validated plan: stages read earlier ones
                        raise UserError(f"stages {[s.name for s in todo]} wait for stages that never run")
                    break
                name, code = _wait(running, plan, echo)
                (finished.add(name) if code == 0 else failed.append((name, code)))
        except BaseException:
            for job in running.values():
                job.process.send_signal(signal.SIGTERM)  # SIGINT is ignored by background jobs
            while running:
                _wait(running, plan, echo=lambda line: None)  # keeps the stopped stages' time
            raise
        if failed:
            where = ", ".join(f"{name!r} (exit {code})" for name, code in failed)
            raise UserError(f"stage {where} failed; fix the error above (or in {out / LOGS}) and re-run the same "
                            f"command to resume from there")
        _write_timings(plan)
    return out


def settle(plan: Plan, stage: Stage) -> Stage:
    """``stage`` with the swept values its sweep's pick chose (``Stage.inherit``), once that pick has run.

    Raises:
        UserError: the pick's record is missing or names no run of its sweep (rerun the pick).
    """
    if stage.inherit is None:
        return stage
    pick = plan.stage(stage.inherit)
    record = pick.output / PICK
    try:
        chosen = Path(json.loads(record.read_text())["chosen"])
    except (OSError, ValueError, KeyError, TypeError):
        raise UserError(f"stage {stage.name!r} takes its settings from the pick of stage {pick.name!r}, but "
                        f"{record} is missing or unreadable; rerun that stage (pipeline run --only {pick.name})") from None
    run = next((plan.stage(name) for name in pick.after if plan.stage(name).output.resolve() == chosen.resolve()), None)
    if run is None or not run.swept:
        raise UserError(f"{record} names {chosen}, which is no run of that sweep; rerun stage {pick.name!r} "
                        f"(pipeline run --only {pick.name})")
    data = to_dict(stage.config)
    for key, value in run.swept.items():
        assign(data, key.split("."), value)
    return replace(stage, config=KINDS[stage.kind].build(data, f"stage {stage.name!r}"))


def described(plan: Plan, stage: Stage) -> str:
    """The stage's command, and where its inherited settings come from: what ``pipeline plan`` prints."""
    line = shlex.join(command(plan, stage))
    if stage.inherit is None:
        return line
    keys = ", ".join(next(s for s in plan.stages if s.name in plan.stage(stage.inherit).after).swept)
    return f"{line}  # {keys}: as chosen by stage {stage.inherit}"


def _start(plan: Plan, stage: Stage, jobs: int) -> _Running:
    kind = KINDS[stage.kind]
    if kind.writes_recipe:
        write_atomic(stage_recipe(plan, stage), dump_yaml(stage.config))
    argv = [sys.executable, "-m", kind.module, *command(plan, stage)[1:]]
    env, log = None, None
    if jobs > 1:  # share the cores, and keep the stages' progress bars apart
        threads = str(max(1, (os.cpu_count() or 1) // jobs))
        env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
        (plan.output_dir / LOGS).mkdir(parents=True, exist_ok=True)
        log = (plan.output_dir / LOGS / f"{stage.name}.log").open("w")
    process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT if log else None,
                               preexec_fn=_die_with_parent if sys.platform == "linux" else None)
    return _Running(stage, process, time.time(), log)


def _wait(running: dict[str, _Running], plan: Plan, echo) -> tuple[str, int]:
    """Reap the next stage to finish; record its marker when it succeeded, its time either way."""
    pids = {job.process.pid: name for name, job in running.items()}
    while True:
        pid, status, usage = os.wait4(-1, 0)
        if pid in pids:
            break
    job = running.pop(pids[pid])
    job.process.returncode = code = os.waitstatus_to_exitcode(status)
    if job.log:
        job.log.close()
    seconds = round(time.time() - job.started, 1)
    spent = _add_attempt(plan, job.stage, seconds, usage.ru_utime + usage.ru_stime)
    if code == 0:
        write_json(_marker(plan, job.stage), {
            "stage": job.stage.name, "command": shlex.join(command(plan, job.stage)),
            "config": to_dict(job.stage.config), "output": str(job.stage.output), **spent,
            "finished": time.time(), "inputs": _inputs(plan, job.stage)})
        _attempts(plan, job.stage).unlink(missing_ok=True)
    if len(running) or job.log:
        echo(f"{job.stage.name}: {'finished' if code == 0 else f'failed (exit {code})'} after {seconds:.0f} s")
    return job.stage.name, code


def _add_attempt(plan: Plan, stage: Stage, seconds: float, cpu_seconds: float) -> dict:
    """Add one attempt's time to the stage's unfinished attempts; returns the sum so far."""
    path = _attempts(plan, stage)
    try:
        earlier = json.loads(path.read_text())
        spent = {key: float(earlier[key]) for key in ("seconds", "cpu_seconds", "attempts")}
    except (OSError, ValueError, KeyError, TypeError):
        spent = {"seconds": 0.0, "cpu_seconds": 0.0, "attempts": 0}
    spent = {"seconds": round(spent["seconds"] + seconds, 1), "cpu_seconds": round(spent["cpu_seconds"] + cpu_seconds, 1),
             "attempts": int(spent["attempts"]) + 1}
    write_json(path, spent)
    return spent


def _marker(plan: Plan, stage: Stage) -> Path:
    return plan.output_dir / MARKERS / f"{stage.name}.json"


def _attempts(plan: Plan, stage: Stage) -> Path:
    return plan.output_dir / MARKERS / f"{stage.name}.attempts.json"


def _done(plan: Plan, stage: Stage) -> bool:
    """Whether the stage finished with these settings, after the stages it reads last finished; its
    marker's config is read as the stage's own settings are, so fields added since it was written take
    their defaults. A stage whose input ran again since (a sweep that picked anew, a model retrained
    into a deleted folder) runs again: its eval scores the new model, its report shows it."""
    try:
        marker = json.loads(_marker(plan, stage).read_text())
        saved = KINDS[stage.kind].build(marker["config"], f"marker of stage {stage.name}")
    except (OSError, ValueError, KeyError, TypeError, UserError):
        return False
    inputs = marker.get("inputs")  # absent from markers written before inputs were recorded
    fresh = inputs is None or inputs == _inputs(plan, stage)
    return _plain(saved) == _plain(stage.config) and stage.output.exists() and fresh


def _inputs(plan: Plan, stage: Stage) -> dict[str, float | None]:
    """When each stage that ``stage`` reads last finished (its marker's time; ``None`` if unknown)."""
    finished = {}
    for name in stage.after:
        try:
            finished[name] = json.loads(_marker(plan, plan.stage(name)).read_text()).get("finished")
        except (OSError, ValueError, AttributeError):
            finished[name] = None
    return finished


def _plain(config) -> object:
    return json.loads(json.dumps(to_dict(config)))


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _write_commands(plan: Plan, stages: list[Stage]) -> None:
    """A shell script of the exact commands, so every reported number can be reproduced by hand."""
    lines = ["#!/usr/bin/env bash", "# The commands this pipeline runs, in order (stage recipes in recipes/).",
             "set -euo pipefail"]
    write_atomic(plan.output_dir / "commands.sh", "\n".join(lines + [shlex.join(command(plan, s)) for s in stages]) + "\n")


def _write_timings(plan: Plan) -> None:
    """Wall and CPU seconds of every stage that ran (from its marker), and their totals."""
    stages = {}
    for stage in plan.stages:
        try:
            marker = json.loads(_marker(plan, stage).read_text())
        except (OSError, json.JSONDecodeError):
            continue
        stages[stage.name] = {"kind": stage.kind, "seconds": marker.get("seconds"),
                              "cpu_seconds": marker.get("cpu_seconds")}
    total = {key: round(sum(s[key] or 0 for s in stages.values()), 1) for key in ("seconds", "cpu_seconds")}
    write_json(plan.output_dir / TIMINGS, {"stages": stages, "total": total})
