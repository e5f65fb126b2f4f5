"""`distill pipeline RECIPE`: teacher -> general -> task distillation -> INT8 -> GLUE report, resumable.

Each stage is exactly the command a user could type (`distill finetune`, `distill general`,
`distill augment`, `distill task`, `quantize int8`, `glue eval`, `glue report`), run as a child
process. That keeps ``distill`` from importing ``quantize``, gives every stage a clean process, and
lets the pipeline print the command behind every number it reports.

Resuming: a stage that exits 0 leaves a marker in ``<output_dir>/.stages/``; a re-run skips
marked stages and re-runs the first unmarked one, whose command resumes from its own last
checkpoint. Markers and every file the stages write are written atomically, so ``kill -9`` at any
moment leaves either a finished stage or one that resumes. A lock file stops two pipelines from
sharing one output folder, and child processes die with the pipeline (Linux) instead of racing a
re-run.
"""

from __future__ import annotations

import fcntl
import json
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from eval.artifacts import write_atomic, write_json
from eval.config import dump_yaml, load_config
from eval.errors import UserError
from eval.predictors import is_sequence_classifier
from eval.tasks import get_task

StageName = Literal["finetune", "general", "augment", "task", "baseline", "int8"]
STAGE_NAMES: tuple[str, ...] = StageName.__args__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class StageSettings:
    """Extra settings for one stage: a recipe of that command and ``--set`` overrides."""

    recipe: str | None = None
    set: tuple[str, ...] = ()


@dataclass(frozen=True)
class EvalStage:
    batch_size: int = 64
    max_seq_length: int = 128


@dataclass(frozen=True)
class PipelineConfig:
    """The whole path from a pre-trained teacher to a reported INT8 student.

    Attributes:
        teacher: pre-trained or already fine-tuned teacher (alias, folder or Hub id). When it
            already has the task's classifier head, fine-tuning is skipped.
        student: a student preset (``tiny``, ``mini``, ...) or a student folder; for a custom
            shape, run the stages by hand (`distill task --set student={...}`).
        corpus: unlabeled text for general distillation; without it the student starts from random.
        augment: run TinyBERT data augmentation and task-distill on the augmented set.
        baseline: also fine-tune the same student on labels only, for the report's comparison.
        int8: quantize the distilled student (ONNX Runtime, max calibration on the task).
    """

    task: str
    teacher: str
    student: str  # a preset name (see `distill list`) or a student folder
    output_dir: str
    data_dir: str | None = None
    corpus: str | None = None
    augment: bool = False
    baseline: bool = True
    int8: bool = True
    stages: dict[str, StageSettings] = field(default_factory=dict)
    eval: EvalStage = EvalStage()

    def __post_init__(self):
        get_task(self.task)
        unknown = sorted(set(self.stages) - set(STAGE_NAMES))
        if unknown:
            raise ValueError(f"unknown stages {unknown}; choose from {', '.join(STAGE_NAMES)}")

    def settings(self, stage: str) -> StageSettings:
        return self.stages.get(stage, StageSettings())


@dataclass(frozen=True)
class Stage:
    name: str
    argv: tuple[str, ...]  # the user-facing command, e.g. ("distill", "task", "--task", "sst2", ...)
    output: Path
    always: bool = False  # cheap and final (the report): run every time, so its output is printed

    @property
    def command(self) -> str:
        return shlex.join(self.argv)


_MODULES = {"distill": "distill.cli", "quantize": "quantize.cli", "glue": "eval.cli"}


def load_pipeline(recipe: str | Path, overrides: list[str] | None = None,
                  output_dir: str | None = None) -> PipelineConfig:
    return load_config(PipelineConfig, recipe, flags={"output_dir": output_dir}, overrides=overrides)


def plan(cfg: PipelineConfig) -> list[Stage]:
    """Every stage of a run, in order, as commands (pure: nothing is run or loaded)."""
    out = Path(cfg.output_dir)
    task = get_task(cfg.task)
    data = ("--data-dir", cfg.data_dir) if cfg.data_dir else ()
    student = cfg.student

    def stage(name: str, argv: tuple[str, ...], output: Path) -> Stage:
        settings = cfg.settings(name)
        extra = (("--recipe", settings.recipe) if settings.recipe else ()) + tuple(
            a for item in settings.set for a in ("--set", item))
        return Stage(name, argv + extra, output)

    stages: list[Stage] = []
    teacher = out / "teacher"
    if _needs_finetuning(cfg.teacher, task.num_labels):
        stages.append(stage("finetune", ("distill", "finetune", "--model", cfg.teacher, "--task", task.name,
                                         *data, "--output-dir", str(teacher)), teacher))
    else:
        teacher = Path(cfg.teacher)
    start = student
    if cfg.corpus:
        general = out / "general"
        stages.append(stage("general", ("distill", "general", "--teacher", cfg.teacher, "--student", student,
                                        "--corpus", cfg.corpus, "--output-dir", str(general)), general))
        start = str(general)
    augmented: tuple[str, ...] = ()
    if cfg.augment:
        folder = out / "augmented"
        stages.append(stage("augment", ("distill", "augment", "--task", task.name, "--model", cfg.teacher,
                                        *data, "--output-dir", str(folder)), folder))
        augmented = ("--augmented", str(folder))
    distilled = out / "student"
    stages.append(stage("task", ("distill", "task", "--task", task.name, "--teacher", str(teacher),
                                 "--student", start, *data, *augmented, "--output-dir", str(distilled)),
                        distilled))
    scored = {"teacher": teacher, "student": distilled}
    if cfg.baseline:
        baseline = out / "baseline"
        stages.append(stage("baseline", ("distill", "finetune", "--model", student, "--task", task.name,
                                         "--tokenizer", str(teacher), *data, "--output-dir", str(baseline)),
                            baseline))
        scored["baseline"] = baseline
    if cfg.int8:
        quantized = out / "student-int8"
        stages.append(stage("int8", ("quantize", "int8", "--model", str(distilled), "--calib", task.name,
                                     *data, "--output-dir", str(quantized)), quantized))
        scored["student-int8"] = quantized
    results = out / "results"
    for name, model in scored.items():
        stages.append(Stage(f"eval-{name}", ("glue", "eval", "--model", str(model), "--task", task.name, *data,
                                             "--batch-size", str(cfg.eval.batch_size), "--max-seq-length",
                                             str(cfg.eval.max_seq_length), "--output",
                                             str(results / f"{name}.json")), results / f"{name}.json"))
    report = out / "report"
    stages.append(Stage("report", ("glue", "report", *(str(results / f"{n}.json") for n in scored),
                                   "--output-dir", str(report)), report, always=True))
    return stages


def run_pipeline(cfg: PipelineConfig, echo=print) -> Path:
    """Run every unfinished stage in order; returns the report folder.

    Raises:
        UserError: another pipeline holds the folder, or a stage failed (its own error is above).
    """
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    stages = plan(cfg)
    with _lock(out / ".pipeline.lock"):
        write_atomic(out / "pipeline.yaml", dump_yaml(cfg))
        for number, stage in enumerate(stages, 1):
            marker = out / ".stages" / f"{stage.name}.json"
            if not stage.always and _done(marker, stage):
                echo(f"[{number}/{len(stages)}] {stage.name}: done earlier, skipped")
                continue
            echo(f"[{number}/{len(stages)}] {stage.name}: {stage.command}")
            started = time.time()
            code = _run(stage)
            if code != 0:
                raise UserError(f"stage {stage.name!r} failed (exit {code}); fix the error above and re-run "
                                f"the same command to resume from this stage")
            write_json(marker, {"stage": stage.name, "command": stage.command, "output": str(stage.output),
                                "seconds": round(time.time() - started, 1)})
        _write_commands(out, stages)
    return out / "report"


def _done(marker: Path, stage: Stage) -> bool:
    if not marker.is_file():
        return False
    try:
        return json.loads(marker.read_text()).get("command") == stage.command and stage.output.exists()
    except json.JSONDecodeError:
        return False


def _run(stage: Stage) -> int:
    """Run a stage's command in a child process that dies with this one."""
    program, *args = stage.argv
    argv = [sys.executable, "-m", _MODULES[program], *args]
    process = subprocess.Popen(argv, preexec_fn=_die_with_parent if sys.platform == "linux" else None)
    try:
        return process.wait()
    except BaseException:
        process.send_signal(signal.SIGINT)
        process.wait()
        raise


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class _lock:
    """An exclusive lock on the output folder, released by the kernel even after ``kill -9``."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self):
        self.handle = self.path.open("w")
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.handle.close()
            raise UserError(f"another pipeline is running in {self.path.parent}; wait for it or use "
                            f"another --output-dir") from None
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()


def _write_commands(out: Path, stages: list[Stage]) -> None:
    """A shell script of the exact commands, so every reported number can be reproduced by hand."""
    lines = ["#!/usr/bin/env bash", "# The commands `distill pipeline` ran, in order.", "set -euo pipefail"]
    write_atomic(out / "commands.sh", "\n".join(lines + [s.command for s in stages]) + "\n")


def _needs_finetuning(teacher: str, num_labels: int) -> bool:
    """True unless the teacher folder already holds a classifier for the task's label count."""
    path = Path(teacher).expanduser() / "config.json"
    if not path.is_file():
        return True  # an alias or Hub id: a pre-trained encoder to fine-tune
    config = json.loads(path.read_text())
    has_head = is_sequence_classifier(config.get("architectures"))
    labels = len(config.get("id2label") or {}) or config.get("num_labels", 2)
    return not (has_head and labels == num_labels)

