"""`glue`: score models on GLUE dev sets (or your own task specs), build leaderboards, write test-set predictions.

Examples:
    glue eval --model runs/teacher-sst2 --task sst2 --data-dir glue_data --output results/teacher.json
    glue eval --model runs/student-int8 --task sst2,mrpc --output results/int8.json
    glue eval --model runs/topics --task recipes/data/wiki-topics/task.yaml --output results/topics.json
    glue report results/*.json --output-dir reports/
    glue predict --model runs/teacher-sst2 --tasks sst2 --data-dir glue_data --output-dir submission/
    glue predict --model runs/topics --tasks my_task.yaml --format jsonl --output-dir predictions/
    glue tasks
    glue tasks my_task.yaml     (check a task spec: its splits, sizes and labels)
    glue floors --task stsb,mrpc --data-dir glue_data --output-dir results/
                                (majority-class and word-overlap rows to read every model against)
    glue holdout --task mrpc --size 400 --data-dir glue_data --output-dir runs/mrpc-holdout
                                (a task spec whose dev split is a held-out slice of train: tune there)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from eval.core.console import CommandParser, add_version, quiet_third_party_logs, run_command, warn
from eval.metrics import format_metrics
from eval.tasks import TASKS, get_task, parse_tasks


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog="glue", description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_version(parser)
    commands = parser.add_subparsers(dest="command", required=True)

    def model_options(p: argparse.ArgumentParser, split_default: str | None) -> None:
        p.add_argument("--model", required=True, help="model folder (PyTorch or ONNX), .onnx file, or Hub id")
        p.add_argument("--data-dir", help="local GLUE root (glue_data/ TSVs or Hub parquet); default: the Hub")
        p.add_argument("--batch-size", type=int, default=32)
        p.add_argument("--max-seq-length", type=int, default=128)
        p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1 (PyTorch models)")
        p.add_argument("--threads", type=int, help="CPU threads for ONNX Runtime (default: all cores)")
        p.add_argument("--allow-unfinished", action="store_true",
                       help="score a `distill` run folder whose run has not finished (its best-so-far weights)")
        if split_default:
            p.add_argument("--split", default=split_default, help="train or dev (default: dev)")
            p.add_argument("--limit", type=int, help="score only the first N examples (smoke runs)")

    evaluate = commands.add_parser("eval", help="score a model on GLUE dev sets and write a results JSON")
    model_options(evaluate, "dev")
    evaluate.add_argument("--task", "--tasks", dest="task", required=True,
                          help="task name(s) or task spec file(s) (.yaml), comma-separated, or 'all'")
    evaluate.add_argument("--output", required=True, type=Path, help="results JSON to write")
    evaluate.add_argument("--name", help="the model's row in reports (default: its folder name); give seeds of "
                          "one configuration the same name to report them as mean ± std")

    report = commands.add_parser("report", help="leaderboard (md, csv, json, html) from results files")
    report.add_argument("results", nargs="+", type=Path,
                        help="files written by `glue eval --output`, or folders of them")
    report.add_argument("--output-dir", required=True, type=Path)
    report.add_argument("--compare", action="append", default=[], metavar="A:B",
                        help="test row A against row B on every task both have (paired bootstrap); repeatable")
    report.add_argument("--title", help="the page's heading (default: \"GLUE leaderboard\", or for a board of "
                                        "custom tasks their names, e.g. \"Wiki topics leaderboard\")")

    submit = commands.add_parser("predict", help="test-set predictions: GLUE server files + submission.zip, "
                                 "CSV or JSONL for task specs")
    model_options(submit, None)
    submit.add_argument("--task", "--tasks", dest="tasks", required=True,
                        help="task name(s) or task spec file(s) (.yaml), comma-separated, or 'all'")
    submit.add_argument("--output-dir", required=True, type=Path)
    submit.add_argument("--format", default="csv",
                        help="csv or jsonl: prediction files of task specs (GLUE tasks write the server's TSV)")

    floors = commands.add_parser("floors", help="results files of the trivial floors (majority class, word "
                                 "overlap) for `glue report`")
    floors.add_argument("--task", "--tasks", dest="task", required=True,
                        help="task name(s) or task spec file(s), comma-separated, or 'all'")
    floors.add_argument("--data-dir", help="local GLUE root (glue_data/ TSVs or Hub parquet); default: the Hub")
    floors.add_argument("--split", default="dev", help="the split to score (default: dev); floors fit on train")
    floors.add_argument("--output-dir", required=True, type=Path, help="folder for floor-<name>.json")

    holdout = commands.add_parser("holdout", help="a task spec whose dev split is a seeded slice of the train "
                                  "split: tune on it, report the real dev split once")
    holdout.add_argument("--task", required=True, help="a GLUE task name or a task spec file")
    holdout.add_argument("--size", required=True, type=int, help="training examples to hold out")
    holdout.add_argument("--seed", type=int, default=0)
    holdout.add_argument("--data-dir", help="local GLUE root (glue_data/ TSVs or Hub parquet); default: the Hub")
    holdout.add_argument("--output-dir", required=True, type=Path)

    tasks = commands.add_parser("tasks", help="list the GLUE tasks; with task spec files, check them")
    tasks.add_argument("specs", nargs="*", help="task spec files to check: splits, sizes, label counts")
    return parser


def _settings(args: argparse.Namespace, split: str):
    from eval.harness import EvalSettings

    return EvalSettings(split=split, batch_size=args.batch_size, max_seq_length=args.max_seq_length,
                        data_dir=args.data_dir, limit=getattr(args, "limit", None), device=args.device,
                        threads=args.threads, allow_unfinished=args.allow_unfinished)


def _warn_if_unfinished(args: argparse.Namespace) -> None:
    """``--allow-unfinished`` lets an unfinished run's weights be scored, with a one-line warning."""
    from eval.predictors import unfinished_run

    if args.allow_unfinished and unfinished_run(Path(args.model).expanduser()):
        warn(f"{args.model} is an unfinished training run; scoring its best-so-far weights, not a finished model")


def _eval(args: argparse.Namespace) -> int:
    from eval.core.artifacts import write_json
    from eval.harness import evaluate_model
    from eval.core.outputs import check_apart, check_output_path

    settings = _settings(args, args.split)
    check_output_path(args.output, folder=False, flag="--output")
    tasks = parse_tasks(args.task)
    check_apart(args.output, {"--model": args.model, "--data-dir": args.data_dir,
                              **{"--task": t for t in args.task.split(",")}}, "--output")
    _warn_if_unfinished(args)
    document = evaluate_model(args.model, tasks, settings, name=args.name)
    write_json(args.output, document)
    for name, result in document["results"].items():
        metrics = format_metrics(result["metrics"])
        speed = result["throughput"]["examples_per_second"]
        print(f"{name} {result['split']} ({result['num_examples']} examples): {metrics}  [{speed:.0f} ex/s]")
    print(f"results written to {args.output}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from eval.core.outputs import check_apart
    from eval.leaderboard import write_leaderboard
    from eval.report import load_results

    check_apart(args.output_dir, {f"results[{i}]": path for i, path in enumerate(args.results)}, "--output-dir")
    paths = write_leaderboard(load_results(args.results), args.output_dir, compare=args.compare, title=args.title)
    print(paths["md"].read_text(), end="")
    print(f"leaderboard written to {args.output_dir} (HTML: {paths['html']})")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from eval.core.outputs import check_apart
    from eval.submission import write_submission

    check_apart(args.output_dir, {"--model": args.model, "--data-dir": args.data_dir,
                                  **{"--tasks": t for t in args.tasks.split(",")}}, "--output-dir")
    _warn_if_unfinished(args)
    written = write_submission(args.model, parse_tasks(args.tasks), args.output_dir, _settings(args, "test"),
                               prediction_format=args.format)
    for path in written:
        print(f"wrote {path}")
    return 0


def _tasks(args: argparse.Namespace) -> int:
    if args.specs:
        for spec in args.specs:
            print(describe_spec(spec))
        return 0
    for task in TASKS.values():
        labels = "regression 0-5" if task.is_regression else ", ".join(task.label_names)
        print(f"{task.name:8} {task.display_name:8} {'/'.join(task.metrics):28} {labels}")
    return 0


def describe_spec(path: str) -> str:
    """A task spec, checked: every split is loaded (all data errors surface) and summarised."""
    from collections import Counter

    from eval.data import load_split

    task = get_task(path)
    kind = "regression" if task.is_regression else f"{task.num_labels} classes"
    lines = [f"{task.name} ({task.display_name}): {kind}, text {' + '.join(task.text_columns)}, "
             f"metrics {', '.join(task.metrics)} (main: {task.main_metric})"]
    for split in task.splits:
        data = load_split(task, split)
        if data.labels is None:
            labels = "no labels"
        elif task.is_regression:
            labels = f"scores {min(data.labels):g} to {max(data.labels):g}"
        else:
            counts = Counter(data.labels)
            labels = ", ".join(f"{name} {counts[i]}" for i, name in enumerate(task.label_names))
        empty = sum(1 for texts in data.texts if not all(text.strip() for text in texts))
        if empty or getattr(task, "allow_empty_text", False):  # allowed: say how many rows it let in
            labels += f", {empty} with an empty text"
        lines.append(f"  {split:5} {len(data):7} rows  {labels}  ({data.source})")
    return "\n".join(lines)


def _floors(args: argparse.Namespace) -> int:
    from eval.core.artifacts import write_json
    from eval.floors import floor_documents
    from eval.harness import EvalSettings
    from eval.core.outputs import check_apart, check_output_path

    check_output_path(args.output_dir, folder=True, flag="--output-dir")
    tasks = parse_tasks(args.task)
    check_apart(args.output_dir, {"--data-dir": args.data_dir, **{"--task": t.spec for t in tasks if t.spec}},
                "--output-dir")
    for name, document in floor_documents(tasks, EvalSettings(split=args.split, data_dir=args.data_dir)).items():
        path = write_json(args.output_dir / f"floor-{name}.json", document)
        for task, result in document["results"].items():
            print(f"{document['model']['name']:20} {task} {result['split']}: {format_metrics(result['metrics'])}")
        print(f"  written to {path}")
    return 0


def _holdout(args: argparse.Namespace) -> int:
    from eval.holdout import write_holdout
    from eval.core.outputs import check_apart, check_output_path

    from eval.core.config import seed_problem
    from eval.core.errors import UserError

    if seed_problem("--seed", args.seed):
        raise UserError(seed_problem("--seed", args.seed))
    check_output_path(args.output_dir, folder=True, flag="--output-dir")
    check_apart(args.output_dir, {"--task": args.task, "--data-dir": args.data_dir}, "--output-dir")
    spec = write_holdout(get_task(args.task), args.output_dir, args.size, args.seed, args.data_dir)
    print(describe_spec(str(spec)))
    print(f"task spec written to {spec}; use it as --task {spec}")
    return 0


HANDLERS = {"eval": _eval, "report": _report, "predict": _predict, "tasks": _tasks, "holdout": _holdout,
            "floors": _floors}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    quiet_third_party_logs()
    return run_command(lambda: HANDLERS[args.command](args))


if __name__ == "__main__":
    sys.exit(main())
