"""``distill finetune | general | task | augment | cut | pick | probe | pipeline | list``: parse flags, load
the recipe, call the library."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from eval.core.console import CommandParser, add_version, quiet_third_party_logs, run_command
from eval.core.errors import UserError

RECIPES = Path(__file__).resolve().parents[1] / "recipes"

EPILOG = """examples:
  distill finetune --model minilm-l6 --task sst2 --data-dir glue_data --output-dir runs/teacher-sst2
  distill general --teacher minilm-l6 --student tiny --corpus corpus/ --output-dir runs/tiny-general
  distill task --task sst2 --teacher runs/teacher-sst2 --student runs/tiny-general --output-dir runs/tiny-sst2
  distill augment --task mrpc --model bert-base --output-dir runs/mrpc-aug
  distill cut --model runs/teacher-sst2 --layers 3 --output-dir runs/teacher-sst2-cut3
  distill task --task sst2 --teacher runs/teacher-sst2 --student teacher:3 --output-dir runs/cut3-sst2
  distill pick --candidate runs/tiny-lr1e-4 --candidate runs/tiny-lr3e-4 --output-dir runs/tiny-best
  distill probe --model runs/tiny-general --model minilm-l6 --data-dir glue_data --output probe.json
  distill task --recipe recipes/task/tiny_sst2.yaml --set train.batch_size=16
  distill pipeline recipes/quickstart.yaml
"""

TRAINING_COMMANDS = ("finetune", "general", "task")  # those that train with TrainSettings
# Named flags per command: flag -> config key. Common training flags map into ``train``.
_TRAINING_FLAGS = {"max_steps": "train.max_steps", "seed": "train.seed", "device": "train.device",
                   "report_to": "train.report_to", "keep_checkpoints": "train.keep_checkpoints"}
_CHOICES = {"report_to": ("tensorboard", "none")}
_FLAGS = {
    "finetune": {"task": "task", "model": "model", "tokenizer": "tokenizer", "data_dir": "data_dir",
                 "output_dir": "output_dir", "license": "license", **_TRAINING_FLAGS},
    "general": {"teacher": "teacher", "student": "student", "corpus": "corpus", "segments": "segments",
                "output_dir": "output_dir", "license": "license", **_TRAINING_FLAGS},
    "task": {"task": "task", "teacher": "teacher", "student": "student", "augmented": "augmented",
             "unlabeled": "unlabeled",
             "data_dir": "data_dir", "output_dir": "output_dir", "license": "license", **_TRAINING_FLAGS},
    "cut": {"model": "model", "layers": "layers", "output_dir": "output_dir", "license": "license"},
    "pick": {"candidate": "candidates", "output_dir": "output_dir"},
    "augment": {"task": "task", "model": "model", "data_dir": "data_dir", "output_dir": "output_dir",
                "seed": "seed", "device": "device", "glove": "glove", "candidates": "candidates",
                "shared_words": "shared_words"},
}
_HELP = {
    "task": "GLUE task (sst2, mrpc, ...; see `distill list`) or a task spec file (my_task.yaml)",
    "model": "Hub id, alias (bert-base, minilm-l6), model folder, or a student preset (random init)",
    "tokenizer": "where a student preset takes its vocabulary (default minilm-l6)",
    "teacher": "Hub id, alias or folder (for `task`: fine-tuned on the task)",
    "student": "preset (tiny, mini, small, medium, tinybert4, tinybert6), a student folder, or teacher:L / "
               "teacher:2,4,6 (the teacher's embeddings and L of its layers: distill/cut.py)",
    "candidate": "a finished finetune or task run to choose from (repeat: two or more, of one task); the one "
                 "with the best dev score (mean of the task's metrics) is copied to --output-dir",
    "layers": "how many of the model's layers to keep, spread evenly (3), or which ones, from 1 (2,4,6)",
    "corpus": "text file, folder of text files, JSONL (a `text` field; see corpus_text_field), or "
              "hub:<dataset>[:<config>]",
    "segments": "single (default: one segment per sequence) or pair ([CLS] A [SEP] B [SEP], B half the time "
                "unrelated text, as in BERT's pre-training)",
    "augmented": "a `distill augment` output folder to train on instead of the train split",
    "unlabeled": "in-domain text without labels (one example per line, a pair's texts tab-separated; or "
                 "JSONL): the teacher labels it for the student",
    "data_dir": "local GLUE folder (glue_data TSV or Hub parquet layout); default: the Hub",
    "output_dir": "run folder; rerunning the same config resumes it",
    "pick.output_dir": "where the best run's model is copied, with pick.json (every candidate's score); an "
                       "earlier pick there is replaced",
    "license": "the model card's license, a Hub license id (apache-2.0, mit, cc-by-4.0, ...); default: the base "
               "model's when known, else other",
    "max_steps": "cap on optimizer steps (per phase), for smoke runs",
    "seed": "random seed", "device": "auto, cpu, cuda, cuda:1, ...",
    "report_to": "tensorboard (default: event files in OUTPUT_DIR/tensorboard, beside train_log.jsonl) or none "
                 "(train_log.jsonl only); watch a run with `tensorboard --logdir OUTPUT_DIR`",
    "glove": "GloVe text file for multi-piece word neighbours",
    "candidates": "auto, mlm or embedding",
    "shared_words": "pair tasks, words both texts have: tie (swap in both, default), free (first text only, "
                    "as TinyBERT) or keep",
}


class _Parser(CommandParser):
    """``distill``'s parsers. A training command's ``--help`` ends with every ``train.*`` setting and its
    default, read from :class:`distill.config.TrainSettings` when help is asked for (not on every run)."""

    lists_train_settings = False

    def format_help(self) -> str:
        text = super().format_help()
        return f"{text}\n{train_settings_help()}\n" if self.lists_train_settings else text


def train_settings_help() -> str:
    """The ``train.*`` settings of every training command, with their types and defaults."""
    import dataclasses
    import typing

    from distill.config import TrainSettings

    hints = typing.get_type_hints(TrainSettings)
    lines = ["training settings (a recipe's `train:` mapping, or --set train.KEY=VALUE); default in brackets:"]
    for field in dataclasses.fields(TrainSettings):
        default = field.default
        shown = "null" if default is None else str(default).lower() if isinstance(default, bool) else default
        lines.append(f"  train.{field.name:24s} {_type_name(hints[field.name]):18s} [{shown}]")
    return "\n".join(lines)


def _type_name(hint) -> str:
    """``int``, ``int or null``, ``fp32|bf16|fp16``: how a setting's type reads in --help."""
    import types
    import typing

    if typing.get_origin(hint) is typing.Literal:
        return "|".join(map(str, typing.get_args(hint)))
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _type_name(a) for a in typing.get_args(hint))
    return getattr(hint, "__name__", str(hint))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="distill", description="TinyBERT-style distillation of BERT models.",
                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_version(parser)
    sub = parser.add_subparsers(dest="command", required=True)
    helps = {"finetune": "fine-tune a teacher (or a random student preset) on a GLUE task's labels",
             "general": "general distillation of a random student on unlabeled text",
             "task": "task distillation: intermediate layers, then predictions",
             "augment": "TinyBERT data augmentation of a task's training split",
             "cut": "a student cut from a model: its embeddings and some of its layers",
             "pick": "the best of several finished runs by dev score (e.g. a learning-rate sweep on a "
                     "held-out slice), copied to one folder"}
    for name, help_text in helps.items():
        command = sub.add_parser(name, help=help_text, epilog=EPILOG,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
        for flag in (f for f in _FLAGS[name] if f != "keep_checkpoints"):
            command.add_argument("--" + flag.replace("_", "-"), dest=flag,
                                 help=_HELP.get(f"{name}.{flag}", _HELP.get(flag)),
                                 type=int if flag in ("max_steps", "seed") else str, choices=_CHOICES.get(flag),
                                 action="append" if flag == "candidate" else "store")
        if name in TRAINING_COMMANDS:
            command.add_argument("--keep-checkpoints", action="store_const", const=True, default=None,
                                 dest="keep_checkpoints",
                                 help="keep the training checkpoints once the run completes (default: removed)")
        command.lists_train_settings = name in TRAINING_COMMANDS
        command.add_argument("--recipe", help="a YAML recipe (see `distill list`)")
        command.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                             help="override any recipe key, e.g. --set train.lr=3e-5 (repeatable)")
    probe = sub.add_parser("probe", help="transfer probe of encoders: zero-shot STS-B similarity and a linear "
                           "probe (what `distill general` prints at its end)", epilog=EPILOG,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    probe.add_argument("--model", action="append", required=True,
                       help="a model folder, alias or Hub id (repeatable: each is probed)")
    probe.add_argument("--data-dir", help="local GLUE folder for the probe tasks; default: the Hub")
    probe.add_argument("--output", type=Path, help="write the figures as JSON here")
    probe.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="a probe setting, e.g. --set linear_task=my_task.yaml --set examples=3000")
    # `distill pipeline RECIPE` is handled by the orchestrator before this parser runs (the
    # `distill` console command starts in pipeline.cli); listed here so --help shows it.
    sub.add_parser("pipeline", help="run a whole recipe: teacher -> distillation -> INT8 -> report "
                   "(same as `pipeline run RECIPE`)", add_help=False)
    sub.add_parser("list", help="list student presets, teacher aliases, GLUE tasks and shipped recipes")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    quiet_third_party_logs()
    return run_command(lambda: _dispatch(args))


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "list":
        print(listing())
        return 0
    if args.command == "pipeline":
        raise UserError("`distill pipeline` is run by the `distill` console command or `pipeline run RECIPE`")
    if args.command == "probe":
        return _probe(args)
    from distill import api
    from distill.config import load_recipe

    flags = {key: getattr(args, flag) for flag, key in _FLAGS[args.command].items()}
    if flags.get("layers") is not None:  # `distill cut --layers 3` or `--layers 2,4,6`
        flags["layers"] = _layers(flags["layers"])
    if args.command == "pick" and not (args.candidate or args.recipe or args.set):
        raise UserError("give the runs to choose from: --candidate RUN, two or more times")
    cfg = load_recipe(args.command, args.recipe, flags=flags, overrides=args.set)
    run = {"finetune": api.finetune, "general": api.general_distill, "task": api.task_distill,
           "augment": api.augment, "cut": api.cut, "pick": api.pick}[args.command]
    out = run(cfg)
    print(f"saved {args.command} output to {out}")
    if args.command in TRAINING_COMMANDS:
        print(best_dev_line(Path(out)))
    elif args.command == "pick":
        from distill.best_run import summary

        print(summary(Path(out)))
    return 0


def best_dev_line(out: Path) -> str:
    """The last line of a training command: the kept model's dev metrics and the step they come from,
    as the run's record (``metrics.json``) holds them."""
    from distill.run_folder import METRICS
    from eval.metrics import format_metrics

    record = json.loads((out / METRICS).read_text())
    dev = record.get("dev")
    if not dev:
        return (f"no dev score: {record.get('stage', 'this')} training scores no task (the last step's "
                f"weights are kept, step {record.get('steps')})")
    task = record.get("task") or "dev"
    return f"best dev {task}: {format_metrics(dev)} at step {record.get('best_step')} of {record.get('steps')}"


def _layers(text: str) -> int | list[int]:
    try:
        numbers = [int(part) for part in text.split(",")]
    except ValueError:
        raise UserError(f"--layers {text!r}: give a layer count (3) or layers counted from 1 (2,4,6)") from None
    return numbers[0] if len(numbers) == 1 else numbers


def _probe(args: argparse.Namespace) -> int:
    from distill.config import ProbeSettings
    from distill.probe import describe, transfer_probe
    from distill.teachers import load_model, load_tokenizer
    from eval.core.artifacts import write_json
    from eval.core.config import load_config
    from eval.core.outputs import check_output_path

    settings = load_config(ProbeSettings, flags={"data_dir": args.data_dir}, overrides=args.set)
    if args.output:
        check_output_path(args.output, folder=False, flag="--output")
    found = {}
    for name in args.model:
        found[name] = transfer_probe(load_model(name, "base"), load_tokenizer(name), settings)
        print(describe(name, found[name]), flush=True)
    if args.output:
        write_json(args.output, {"settings": vars(settings), "models": found})
        print(f"written to {args.output}")
    return 0


def listing() -> str:
    from distill.students import STUDENTS
    from distill.teachers import HUB_ALIASES, PACKAGED_ALIASES
    from eval.tasks import TASKS

    lines = ["students:"]
    lines += [f"  {name:10s} layers={s.layers} hidden={s.hidden} heads={s.heads} intermediate={s.intermediate}"
              for name, s in STUDENTS.items()]
    lines += ["teacher aliases:"] + [f"  {a:10s} {hub}" for a, hub in HUB_ALIASES.items()]
    lines += [f"  {a:10s} packaged {pkg}/{sub}" for a, (pkg, sub) in PACKAGED_ALIASES.items()]
    lines += ["tasks:", "  " + " ".join(TASKS)]
    recipes = sorted(RECIPES.glob("*.yaml")) + sorted(
        p for kind in ("glue", "general", "task", "quantize") for p in (RECIPES / kind).glob("*.yaml"))
    lines += ["recipes:"] + [f"  {p.relative_to(RECIPES.parent)}" for p in recipes]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
