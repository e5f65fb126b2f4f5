"""``distill pick``: the best of several finished training runs, copied to one folder.

A learning-rate sweep (or any other) trains one run per setting; each run already kept its best
checkpoint by the mean of the task's dev metrics (:func:`eval.metrics.selection_score`: MRPC, F1 and
accuracy; STS-B, Pearson and Spearman). ``pick`` compares the runs by that same score, copies the
winner's model folder (its top-level files: weights, config, tokenizer, card, records; not its
checkpoints or event logs) to the output folder and writes ``pick.json`` with every candidate's
score. Ties go to the candidate listed first.

The runs must have been scored on the same dev set (task, data and example limit), and that dev
split is what the choice is tuned on: sweep on a held-out slice of train (``glue holdout``) and
report the real dev split. A pick of other runs in the output folder is replaced (its files are
copies): a sweep whose values changed picks again.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path
from typing import Any, Sequence

from eval.core.artifacts import folder_lock, provenance, share_files, write_json
from eval.core.errors import UserError
from eval.core.outputs import check_apart, check_output_path

RECORD = "metrics.json"  # a finished run's record (distill.run_folder.METRICS)
PICK = "pick.json"
NEEDED = ("config.json",)  # besides its weights (*.safetensors), what a model folder cannot be without


def candidate(run: str | Path) -> dict[str, Any]:
    """One finished run's dev scores, the selection score it is compared by and what it was scored on.

    Raises:
        UserError: the folder holds no finished run, or a run that scored nothing (or not numbers) on dev.
    """
    run = Path(run)
    if not run.exists():
        raise UserError(f"{run} does not exist; give the output folder of a finished finetune or task run")
    if not run.is_dir():
        raise UserError(f"{run} is not a run folder; give the output folder of a finished finetune or task run")
    try:
        record = json.loads((run / RECORD).read_text())
    except FileNotFoundError:
        raise UserError(f"{run} holds no finished training run (no {RECORD}); finish it or leave it out") from None
    except (OSError, ValueError) as err:
        raise UserError(f"cannot read {run / RECORD}: {err}; rerun that training to rewrite it") from None
    if not isinstance(record, dict):
        raise UserError(f"{run / RECORD} is not a run record; rerun that training to rewrite it")
    if not record.get("completed"):
        raise UserError(f"{run} holds an unfinished run; rerun its command to finish it, or leave it out")
    dev = record.get("dev")
    if not isinstance(dev, dict) or not dev:
        raise UserError(f"{run} was not scored on a dev split ({record.get('stage', 'its')} training scores no "
                        f"task); pick chooses among finetune or task runs")
    bad = [name for name, value in dev.items()
           if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)]
    if bad:
        raise UserError(f"{run / RECORD}: dev {', '.join(bad)} is not a finite number; that run cannot be "
                        f"compared (rerun it, or leave it out)")
    config = record.get("config") if isinstance(record.get("config"), dict) else {}
    train = config.get("train") if isinstance(config.get("train"), dict) else {}
    return {"run": str(run.resolve()), "task": record.get("task"), "dev": dev,
            "score": sum(dev.values()) / len(dev), "best_step": record.get("best_step"),
            "scored_on": {"task": _where(config.get("task")), "data_dir": _where(config.get("data_dir")),
                          "eval_limit": train.get("eval_limit")}}


def _where(value: Any) -> Any:
    """A task or data path, resolved when it is one (``mrpc`` stays ``mrpc``)."""
    return str(Path(value).resolve()) if isinstance(value, str) and Path(value).exists() else value


def choose(candidates: Sequence[dict[str, Any]]) -> int:
    """Index of the best candidate (the first of equals).

    Raises:
        UserError: the candidates were scored on different dev sets (their scores do not compare).
    """
    for key, what in (("task", "tasks"), ("scored_on", "dev sets (task file, data or eval_limit)")):
        seen = {json.dumps(c[key], sort_keys=True): c[key] for c in candidates}
        if len(seen) > 1:
            shown = ", ".join(sorted(str(v) if key == "task" else json.dumps(v) for v in seen.values()))
            raise UserError(f"the runs were scored on different {what} ({shown}); pick among runs scored on one")
    metrics = {tuple(sorted(c["dev"])) for c in candidates}
    if len(metrics) > 1:
        raise UserError(f"the runs report different dev metrics ({' vs '.join(', '.join(m) for m in sorted(metrics))}); "
                        f"pick among runs of one task")
    best = max(c["score"] for c in candidates)
    return next(i for i, c in enumerate(candidates) if c["score"] == best)


def pick(runs: Sequence[str | Path], output_dir: str | Path) -> Path:
    """Copy the best of ``runs`` to ``output_dir`` and record the choice; a finished pick of the same
    runs (with the same scores) returns at once, a pick of other runs there is replaced.

    Raises:
        UserError: fewer than two distinct runs, a run that is not finished or scored, runs scored on
            different dev sets, or an output folder that holds something other than a pick.
    """
    if isinstance(runs, (str, Path)):
        raise UserError("give the runs to choose from as a list of folders, not one path")
    distinct = {Path(run).resolve() for run in runs}
    if len(distinct) < len(runs):
        raise UserError("a run is listed twice; list each run to choose from once")
    if len(distinct) < 2:
        raise UserError("give two or more run folders to choose from")
    out = check_output_path(output_dir, folder=True, flag="--output-dir")
    check_apart(out, {f"candidate {i + 1}": run for i, run in enumerate(runs)}, "--output-dir")
    scored = [candidate(run) for run in runs]
    chosen = choose(scored)
    winner = Path(scored[chosen]["run"])
    missing = [name for name in NEEDED if not (winner / name).is_file()]
    if not any(winner.glob("*.safetensors")):
        missing.append("*.safetensors")
    if missing:
        raise UserError(f"the best run {winner} holds no model (no {', '.join(missing)}); rerun that training, "
                        f"or leave it out")
    if _same_pick(out, scored, chosen):
        return out
    _check_free(out)
    with folder_lock(out, what="pick", create=False):
        if _same_pick(out, scored, chosen):  # another pick of the same runs finished while we waited
            return out
        _check_free(out)
        staging, old = out.parent / f".{out.name}.pick-tmp", out.parent / f".{out.name}.pick-old"
        for leftover in (staging, old):  # from a pick killed half-way
            shutil.rmtree(leftover, ignore_errors=True)
        staging.mkdir()
        try:
            for path in sorted(winner.iterdir()):
                if path.is_file() and not path.name.startswith("."):  # a linked file is copied as its content
                    shutil.copyfile(path, staging / path.name)
            write_json(staging / PICK, {"rule": "mean of the task's dev metrics (the GLUE Score's rule)",
                                        "task": scored[chosen]["task"], "chosen": str(winner),
                                        "candidates": scored, **provenance()})
            share_files(staging)
            if out.is_dir() and not out.is_symlink():
                os.replace(out, old)  # empty, or an earlier pick (copies)
            os.replace(staging, out)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            shutil.rmtree(old, ignore_errors=True)
    return out


def _check_free(out: Path) -> None:
    """``out`` may be absent, empty, or an earlier pick (replaced); anything else is refused."""
    if out.is_symlink() or out.exists() and not out.is_dir():
        raise UserError(f"output {out} is a file or a link; pass a folder to --output-dir")
    if out.is_dir() and any(out.iterdir()) and not (out / PICK).is_file():
        raise UserError(f"output folder {out} is not empty; pass an empty or new --output-dir")


def _same_pick(out: Path, scored: Sequence[dict[str, Any]], chosen: int) -> bool:
    """Whether ``out`` already holds this pick (same runs, same scores, same winner)."""
    try:
        record = json.loads((out / PICK).read_text())
    except (OSError, ValueError):
        return False
    return (isinstance(record, dict) and record.get("chosen") == scored[chosen]["run"]
            and record.get("candidates") == list(scored))


def summary(out: Path) -> str:
    """The candidates and their scores, the chosen one marked: what ``distill pick`` prints."""
    from eval.metrics import format_metrics

    record = json.loads((Path(out) / PICK).read_text())
    lines = [f"chosen on {record['task']}'s dev split (mean of its metrics; a choice tuned on that split: "
             f"report another):"]
    for c in record["candidates"]:
        mark = "*" if c["run"] == record["chosen"] else " "
        lines.append(f" {mark} {c['run']}: {100 * c['score']:.2f} ({format_metrics(c['dev'])})")
    return "\n".join(lines)
