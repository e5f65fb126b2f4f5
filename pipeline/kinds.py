"""The stage kinds a recipe can chain: which command runs each, and the typed config it takes.

Each kind is one toolkit command. Its config class is the one that command itself uses
(``distill.config``, ``quantize.config`` (one class per backend), ``eval.harness.EvalSettings``), so a recipe is checked
with the command's own rules before anything runs, and the command line printed for a stage is
exactly what the stage runs: ``distill task --recipe RUN/recipes/NAME.yaml`` for training and
quantization stages (their resolved config, written beside the run), plain flags for ``glue``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from distill.config import CONFIGS as DISTILL_CONFIGS
from eval.core.config import from_dict
from eval.harness import EvalSettings
from quantize.config import int8_config_from_dict


@dataclass(frozen=True)
class EvalStage:
    """``glue eval``: score one model folder on one task and write its results file."""

    model: str
    task: str
    output: str
    name: str | None = None  # the model's row in the report (seeds of one configuration share it)
    settings: EvalSettings = EvalSettings()


@dataclass(frozen=True)
class HoldoutStage:
    """``glue holdout``: a task spec whose dev split is a seeded slice of the task's train split."""

    task: str
    size: int
    output_dir: str
    seed: int = 0
    data_dir: str | None = None


@dataclass(frozen=True)
class FloorsStage:
    """``glue floors``: the trivial floors (majority class, word overlap) of one task, as results files."""

    task: str
    output_dir: str
    data_dir: str | None = None
    split: str = "dev"


@dataclass(frozen=True)
class ReportStage:
    """``glue report``: a leaderboard from results files."""

    results: tuple[str, ...]
    output_dir: str
    compare: tuple[str, ...] = ()  # "A:B" row pairs to test against each other
    title: str | None = None  # None: glue report's default ("GLUE leaderboard", or a custom board's task names)


@dataclass(frozen=True)
class Kind:
    """One stage kind.

    Attributes:
        program: the console command (``distill``, ``quantize``, ``glue``).
        module: what ``python -m`` runs for it (the command's own entry point).
        subcommand: e.g. ``task``.
        config: the config class the command reads.
        output_key: the config field naming the stage's output.
        argv: builds the command-line arguments after the subcommand, from the config and the
            path of the stage's resolved recipe file (``None`` for kinds that take flags).
    """

    program: str
    module: str
    subcommand: str
    config: Callable[[Mapping[str, Any], str], Any]  # (settings, where) -> the command's typed config
    output_key: str
    argv: Callable[[Any, Path], tuple[str, ...]] | None = None

    def build(self, data: Mapping[str, Any], where: str) -> Any:
        """The typed config of one stage; every problem in one ``UserError`` that names ``where``."""
        return self.config(data, where)

    def command(self, config: Any, recipe_file: Path) -> tuple[str, ...]:
        args = self.argv(config, recipe_file) if self.argv else ("--recipe", str(recipe_file))
        return (self.program, self.subcommand, *args)

    @property
    def writes_recipe(self) -> bool:
        return self.argv is None


def _eval_argv(cfg: EvalStage, _: Path) -> tuple[str, ...]:
    settings = cfg.settings
    args = ["--model", cfg.model, "--task", cfg.task, "--split", settings.split,
            "--batch-size", str(settings.batch_size), "--max-seq-length", str(settings.max_seq_length)]
    for flag, value in (("--data-dir", settings.data_dir), ("--limit", settings.limit), ("--threads", settings.threads)):
        if value is not None:
            args += [flag, str(value)]
    if settings.device != "auto":
        args += ["--device", settings.device]
    return (*args, *(("--name", cfg.name) if cfg.name else ()), "--output", cfg.output)


def _holdout_argv(cfg: HoldoutStage, _: Path) -> tuple[str, ...]:
    data = ("--data-dir", cfg.data_dir) if cfg.data_dir else ()
    return ("--task", cfg.task, "--size", str(cfg.size), "--seed", str(cfg.seed), *data, "--output-dir", cfg.output_dir)


def _floors_argv(cfg: FloorsStage, _: Path) -> tuple[str, ...]:
    data = ("--data-dir", cfg.data_dir) if cfg.data_dir else ()
    return ("--task", cfg.task, *data, "--split", cfg.split, "--output-dir", cfg.output_dir)


def _report_argv(cfg: ReportStage, _: Path) -> tuple[str, ...]:
    compare = [a for pair in cfg.compare for a in ("--compare", pair)]
    title = ("--title", cfg.title) if cfg.title else ()
    return (*cfg.results, "--output-dir", cfg.output_dir, *compare, *title)


def _typed(cls: type) -> Callable[[Mapping[str, Any], str], Any]:
    return lambda data, where: from_dict(cls, data, where)


KINDS: Mapping[str, Kind] = {
    **{name: Kind("distill", "distill.cli", name, _typed(cls), "output_dir") for name, cls in DISTILL_CONFIGS.items()},
    # the backend named in the settings picks the config class; options it does not honour are errors
    "int8": Kind("quantize", "quantize.cli", "int8", lambda data, where: int8_config_from_dict(data, f" of {where}"),
                 "output_dir"),
    "eval": Kind("glue", "eval.cli", "eval", _typed(EvalStage), "output", _eval_argv),
    "floors": Kind("glue", "eval.cli", "floors", _typed(FloorsStage), "output_dir", _floors_argv),
    "holdout": Kind("glue", "eval.cli", "holdout", _typed(HoldoutStage), "output_dir", _holdout_argv),
    "report": Kind("glue", "eval.cli", "report", _typed(ReportStage), "output_dir", _report_argv),
}
