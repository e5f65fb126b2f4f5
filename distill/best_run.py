"""``distill pick``: the best of several finished training runs, copied to one folder.

A learning-rate sweep (or any other) trains one run per setting; each run already kept its best
checkpoint by the mean of the task's dev metrics (:func:`eval.metrics.selection_score`: MRPC, F1 and
accuracy; STS-B, Pearson and Spearman). ``pick`` compares the runs by that same score, copies the
winner's model folder (its top-level files: weights, config, tokenizer, card, records; not its
checkpoints or event logs) to the output folder and writes ``pick.json`` with every candidate's
score. Ties go to the candidate listed first.

The runs must have been scored on the same task, and that task's dev split is what the choice is
tuned on: sweep on a held-out slice of train (``glue holdout``) and report the real dev split.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Sequence

from eval.core.artifacts import folder_lock, provenance, share_files, write_json
from eval.core.errors import UserError
from eval.core.outputs import check_apart, check_output_path

RECORD = "metrics.json"  # a finished run's record (distill.run_folder.METRICS)
PICK = "pick.json"


def candidate(run: str | Path) -> dict[str, Any]:
    """One finished run's dev scores and the selection score it is compared by.

    Raises:
        UserError: the folder holds no finished run, or a run that scored nothing on dev.
    """
    run = Path(run)
    try:
        record = json.loads((run / RECORD).read_text())
    except FileNotFoundError:
        raise UserError(f"{run} holds no finished training run (no {RECORD}); finish it or leave it out") from None
    except (OSError, ValueError) as err:
        raise UserError(f"cannot read {run / RECORD}: {err}; rerun that training to rewrite it") from None
    if not isinstance(record, dict) or not record.get("completed"):
        raise UserError(f"{run} holds an unfinished run; rerun its command to finish it, or leave it out")
    dev = record.get("dev")
    if not isinstance(dev, dict) or not dev:
        raise UserError(f"{run} was not scored on a dev split ({record.get('stage', 'its')} training scores no "
                        f"task); pick chooses among finetune or task runs")
    return {"run": str(run), "task": record.get("task"), "dev": dev,
            "score": sum(dev.values()) / len(dev), "best_step": record.get("best_step")}


def choose(candidates: Sequence[dict[str, Any]]) -> int:
    """Index of the best candidate (the first of equals).

    Raises:
        UserError: the candidates were scored on different tasks (their scores do not compare).
    """
    tasks = sorted({str(c["task"]) for c in candidates})
    if len(tasks) > 1:
        raise UserError(f"the runs were scored on different tasks ({', '.join(tasks)}); pick among runs of one task")
    best = max(c["score"] for c in candidates)
    return next(i for i, c in enumerate(candidates) if c["score"] == best)


def pick(runs: Sequence[str | Path], output_dir: str | Path) -> Path:
    """Copy the best of ``runs`` to ``output_dir`` and record the choice; a finished pick of the same
    runs returns at once.

    Raises:
        UserError: fewer than two runs, a run that is not finished or scored, runs of different
            tasks, or an output folder that holds something else.
    """
    out = check_output_path(output_dir, folder=True, flag="--output-dir")
    check_apart(out, {f"candidate {i + 1}": run for i, run in enumerate(runs)}, "--output-dir")
    scored = [candidate(run) for run in runs]
    chosen = choose(scored)
    if _same_pick(out, scored, chosen):
        return out
    if (out / PICK).is_file():
        raise UserError(f"{out} holds a pick among other runs (or scores); delete it (its files are copies) or "
                        f"pass another --output-dir")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"output folder {out} is not empty; pass an empty or new --output-dir")
    with folder_lock(out, what="pick", create=False):
        staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
        try:
            for path in sorted(Path(scored[chosen]["run"]).iterdir()):
                if path.is_file() and not path.is_symlink() and not path.name.startswith("."):
                    shutil.copy2(path, staging / path.name)
            write_json(staging / PICK, {"rule": "mean of the task's dev metrics (the GLUE Score's rule)",
                                        "task": scored[chosen]["task"], "chosen": scored[chosen]["run"],
                                        "candidates": scored, **provenance()})
            share_files(staging)
            if out.is_dir():
                out.rmdir()  # empty, checked above
            os.replace(staging, out)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return out


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
    record = json.loads((Path(out) / PICK).read_text())
    lines = [f"chosen on {record['task']}'s dev split (mean of its metrics; a choice tuned on that split: "
             f"report another):"]
    for c in record["candidates"]:
        mark = "*" if c["run"] == record["chosen"] else " "
        metrics = ", ".join(f"{name} {100 * value:.2f}" for name, value in c["dev"].items())
        lines.append(f" {mark} {c['run']}: {100 * c['score']:.2f} ({metrics})")
    return "\n".join(lines)
