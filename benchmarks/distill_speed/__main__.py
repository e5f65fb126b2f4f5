"""Run the rounds (``python -m benchmarks.distill_speed``) and write the JSON and ``docs/speed.md``."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.distill_speed import __doc__ as DESCRIPTION
from benchmarks.distill_speed.cells import run_cell
from benchmarks.distill_speed.peers import TEXTBREWER_NOTES
from benchmarks.distill_speed.report import NOTES, render, summarise
from benchmarks.distill_speed.settings import BATCH, LENGTH, LR, PAGE, RESULT, SEED, WORK
from benchmarks.shared_data import GLUE_TSV, ROOT, RUNS


def spawn(spec: dict) -> dict:
    """Run one cell in a fresh process with ``spec['threads']`` threads."""
    env = {**os.environ, "OMP_NUM_THREADS": str(spec["threads"]), "MKL_NUM_THREADS": str(spec["threads"]),
           "PYTHONPATH": str(ROOT), "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run([sys.executable, "-m", "benchmarks.distill_speed", "--cell", json.dumps(spec)], env=env,
                          cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"cell {spec['kind']} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"  {spec['label']:18s} threads={spec['threads']} {json.dumps(_brief(result))}", flush=True)
    return result


def _brief(result: dict) -> dict:
    brief = {name: round(p.get("loop_examples_per_second") or p["phase_examples_per_second"], 1)
             for name, p in result.get("phases", {}).items()}
    for key in ("dev_accuracy", "words_per_second", "loop_words_per_second"):
        if result.get(key) is not None:
            brief[key] = round(result[key], 4)
    if "examples_per_second" in result and isinstance(result["examples_per_second"], dict):
        brief.update({k: round(v, 1) for k, v in result["examples_per_second"].items()})
    brief["load"] = result.get("load_before")
    return brief


def measure(args) -> dict:
    WORK.mkdir(parents=True, exist_ok=True)
    base = {"teacher": str(Path(args.teacher).resolve()), "examples": args.examples, "data_dir": str(GLUE_TSV),
            "intermediate_steps": args.intermediate_steps, "prediction_steps": args.prediction_steps}
    store = WORK / "store"
    shutil.rmtree(store, ignore_errors=True)
    systems = {
        "toolkit": {"kind": "toolkit"},
        "toolkit + store": {"kind": "toolkit", "cache": str(store)},
        "textbrewer": {"kind": "textbrewer"},
        "parts": {"kind": "parts"},
    }
    print("building the teacher-output store once (1 thread)", flush=True)
    build = spawn({**base, "kind": "toolkit", "cache": str(store), "threads": 1, "label": "store build",
                   "work": str(WORK / "cell")})
    rounds: dict[str, dict[str, list]] = {str(t): {name: [] for name in systems} for t in args.threads}
    for threads in args.threads:
        # Where the cores are oversubscribed, more threads can be far slower: such thread counts
        # measure a short intermediate phase only.
        steps = ({"intermediate_steps": args.quick_steps, "prediction_steps": 0} if threads in args.quick_threads
                 else {})
        for number in range(args.rounds):
            order = list(systems) if number % 2 == 0 else list(systems)[::-1]
            print(f"threads {threads}, round {number + 1}: {', '.join(order)}", flush=True)
            for name in order:
                spec = {**base, **steps, **systems[name], "threads": threads, "label": name,
                        "work": str(WORK / "cell")}
                rounds[str(threads)][name].append(spawn(spec))
    accuracy = measure_accuracy(args, base)
    augmentation = {"toolkit": [], "reference": []}
    for number in range(args.augment_rounds):
        order = ["toolkit", "reference"] if number % 2 == 0 else ["reference", "toolkit"]
        for system in order:
            spec = {"kind": "augment", "system": system, "sentences": args.sentences, "threads": 1,
                    "data_dir": str(GLUE_TSV),
                    "label": f"augment {system}", "work": str(WORK / "augment")}
            augmentation[system].append(spawn(spec))
    shutil.rmtree(store, ignore_errors=True)
    return {"examples": args.examples, "store_build": build, "rounds": rounds, "accuracy": accuracy,
            "augmentation": augmentation}


def measure_accuracy(args, base: dict) -> dict[str, list[dict]]:
    """Both pipelines, longer, once per seed, each with its dev predictions (for the paired test)."""
    accuracy: dict[str, list[dict]] = {"toolkit": [], "textbrewer": []}
    if not args.accuracy_examples:
        return accuracy
    longer = {**base, "examples": args.accuracy_examples, "intermediate_steps": args.accuracy_intermediate_steps,
              "prediction_steps": args.accuracy_prediction_steps, "threads": 1, "predictions": True}
    print(f"accuracy: {json.dumps({k: v for k, v in longer.items() if k.endswith(('examples', 'steps'))})}, "
          f"seeds {args.accuracy_seeds}", flush=True)
    for seed in args.accuracy_seeds:
        for name in accuracy:
            spec = {**longer, "kind": name, "seed": seed, "label": f"accuracy {name} s{seed}", "work": str(WORK / "cell")}
            accuracy[name].append({"seed": seed, **spawn(spec)})
    return accuracy


def update_accuracy(args) -> None:
    """Run the accuracy comparison again and put it into the results JSON, the speed rounds kept."""
    document = json.loads(RESULT.read_text())
    settings = document["settings"]
    base = {"teacher": settings["teacher"], "data_dir": str(GLUE_TSV)}
    document["raw"]["accuracy"] = measure_accuracy(args, base)
    settings.update(accuracy_examples=args.accuracy_examples, accuracy_seeds=args.accuracy_seeds,
                    accuracy_intermediate_steps=args.accuracy_intermediate_steps,
                    accuracy_prediction_steps=args.accuracy_prediction_steps)
    document["accuracy_command"] = "OMP_NUM_THREADS=1 python -m benchmarks.distill_speed " + shlex.join(sys.argv[1:])
    document["summary"] = summarise(document["raw"])
    RESULT.write_text(json.dumps(document, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.distill_speed", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher", default=str(RUNS / "glue" / "teacher-sst2"), help="fine-tuned SST-2 teacher")
    parser.add_argument("--examples", type=int, default=1600, help="training examples (a multiple of 32)")
    parser.add_argument("--intermediate-steps", type=int, default=50)
    parser.add_argument("--prediction-steps", type=int, default=50, help="a multiple of examples / 32")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--quick-threads", type=int, nargs="*", default=[2],
                        help="thread counts measured on a short intermediate phase only")
    parser.add_argument("--quick-steps", type=int, default=10, help="intermediate steps at --quick-threads")
    parser.add_argument("--teacher-note", default="", help="where the teacher comes from, for the report")
    parser.add_argument("--accuracy-examples", type=int, default=6400, help="the accuracy run's examples (0: none)")
    parser.add_argument("--accuracy-intermediate-steps", type=int, default=200)
    parser.add_argument("--accuracy-prediction-steps", type=int, default=400, help="a multiple of examples / 32")
    parser.add_argument("--accuracy-seeds", type=int, nargs="+", default=[42, 43, 44])
    parser.add_argument("--accuracy-only", action="store_true",
                        help="re-run only the accuracy runs (with --accuracy-* settings) into the existing JSON")
    parser.add_argument("--sentences", type=int, default=1000, help="augmentation: SST-2 sentences")
    parser.add_argument("--augment-rounds", type=int, default=1)
    parser.add_argument("--render", action="store_true", help="only re-render docs/speed.md from the JSON")
    parser.add_argument("--cell", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.cell:
        print(json.dumps(run_cell(json.loads(args.cell))))
        return 0
    if args.accuracy_only:
        update_accuracy(args)
    elif not args.render:
        for examples, steps in ((args.examples, args.prediction_steps),
                                (args.accuracy_examples, args.accuracy_prediction_steps)):
            if examples and (examples % BATCH or steps % (examples // BATCH)):
                parser.error("example counts must be multiples of 32, prediction steps multiples of examples / 32")
        from eval.core.artifacts import provenance

        started = time.time()
        raw = measure(args)
        document = {"schema": "bert-compression-toolkit/distill-speed", "schema_version": 1,
                    "command": "OMP_NUM_THREADS=1 python -m benchmarks.distill_speed " + shlex.join(sys.argv[1:]),
                    "settings": {"teacher": args.teacher, "examples": args.examples,
                                 "intermediate_steps": args.intermediate_steps,
                                 "prediction_steps": args.prediction_steps, "threads": args.threads,
                                 "rounds": args.rounds, "quick_threads": args.quick_threads,
                                 "quick_steps": args.quick_steps, "teacher_note": args.teacher_note,
                                 "accuracy_examples": args.accuracy_examples,
                                 "accuracy_intermediate_steps": args.accuracy_intermediate_steps,
                                 "accuracy_prediction_steps": args.accuracy_prediction_steps,
                                 "accuracy_seeds": args.accuracy_seeds,
                                 "sentences": args.sentences, "batch_size": BATCH,
                                 "max_seq_length": LENGTH, "lr": LR, "seed": SEED},
                    "machine": f"{os.cpu_count()} CPU cores, shared with other jobs",
                    "minutes": round((time.time() - started) / 60, 1),
                    "summary": summarise(raw), "textbrewer_notes": TEXTBREWER_NOTES, "notes": NOTES,
                    "raw": raw, **provenance()}
        RESULT.parent.mkdir(parents=True, exist_ok=True)
        RESULT.write_text(json.dumps(document, indent=2) + "\n")
    document = json.loads(RESULT.read_text())
    PAGE.write_text(render(document))
    print(f"wrote {RESULT} and {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
