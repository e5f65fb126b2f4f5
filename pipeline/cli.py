"""``pipeline run | plan | check RECIPE``: validate a recipe, print its commands, or run it (resumable).

``distill pipeline RECIPE`` is the same as ``pipeline run RECIPE``: the ``distill`` console
command starts here, so that ``distill`` itself never imports the orchestrator.
"""

from __future__ import annotations

import argparse
import sys

from eval.core.console import CommandParser, add_version, run_command

EPILOG = """examples:
  pipeline run recipes/quickstart.yaml                  # teacher -> student -> INT8 -> report, resumable
  pipeline plan recipes/glue/leaderboard.yaml           # every stage's command, nothing run
  pipeline run recipes/glue/leaderboard.yaml --only tiny-mrpc-distilled-s43 --jobs 2
  pipeline run recipes/glue/leaderboard.yaml --only 'eval-tiny-*' --exclude '*-int8' --jobs 2
  pipeline check recipes/quickstart.yaml --set student=mini
"""


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog="pipeline", description="Chain distill, quantize and glue stages "
                                     "from one recipe.", epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_version(parser)
    sub = parser.add_subparsers(dest="command", required=True)
    helps = {"run": "run every unfinished stage (finished ones are skipped)",
             "plan": "print the command of every stage, run nothing",
             "check": "validate the whole recipe, run nothing"}
    for name, text in helps.items():
        command = sub.add_parser(name, help=text, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
        command.add_argument("recipe", help="a pipeline recipe, e.g. recipes/quickstart.yaml")
        command.add_argument("--output-dir", help="run folder (default: the recipe's output_dir)")
        command.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                             help="override a recipe key, e.g. --set student=mini (repeatable)")
        command.add_argument("--only", nargs="+", metavar="STAGE",
                             help="only these stages (names or patterns such as 'tiny-*') and the stages they "
                                  "read from")
        command.add_argument("--exclude", nargs="+", metavar="STAGE",
                             help="leave out these stages (names or patterns) and every stage that reads them")
        if name == "run":
            command.add_argument("--jobs", type=int, default=1,
                                 help="stages run side by side (each with cores/jobs threads; default 1)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(lambda: _dispatch(args))  # stages run in their own processes, with their own logging


def _dispatch(args: argparse.Namespace) -> int:
    from pipeline.recipe import load_plan
    from pipeline.runner import described, run_plan, select

    plan = load_plan(args.recipe, overrides=args.set, output_dir=args.output_dir)
    stages = select(plan, args.only, args.exclude)
    if args.command == "check":
        print(f"{args.recipe}: valid, {len(stages)} stages into {plan.output_dir}")
    elif args.command == "plan":
        for stage in stages:
            print(f"{stage.name}: {described(plan, stage)}")
    else:
        out = run_plan(plan, only=args.only, exclude=args.exclude, jobs=args.jobs)
        report = out / "report" / "leaderboard.html"
        print(f"pipeline complete; report: {report}" if report.is_file() else f"pipeline complete: {out}")
    return 0


def distill_main(argv: list[str] | None = None) -> int:
    """The ``distill`` command: ``distill pipeline RECIPE ...`` runs a recipe, everything else is `distill`'s."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["pipeline"]:
        return main(["run", *argv[1:]])
    from distill.cli import main as distill

    return distill(argv)


if __name__ == "__main__":
    raise SystemExit(main())
