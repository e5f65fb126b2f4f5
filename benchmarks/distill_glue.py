"""Real-data distillation benchmark: teachers, label-only baselines, task-only and general+task students.

Run from the repository root (CPU is fine; each stage resumes or is skipped when already done):

    python benchmarks/distill_glue.py                 # every stage, then the results table
    python benchmarks/distill_glue.py --only teacher-sst2 teacher-mrpc
    python benchmarks/distill_glue.py --collect       # just rebuild the JSON/Markdown from runs/

Writes ``benchmarks/results/distill_glue.json`` and ``distill_glue.md`` (rendered from the JSON).
Sizes are chosen to fit a shared 2-core CPU in about an hour: SST-2 uses the first 10,000
training phrases at max_seq_length 64; MRPC uses the full train set at 128. Every number in the
results comes from the runs' own ``metrics.json``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
RUNS = Path("runs")  # relative to ROOT (the cwd of every stage), as typed on the command line
RESULTS = ROOT / "benchmarks" / "results"
GLUE_TSV, GLUE_PARQUET = DATA / "glue_data", DATA / "glue_parquet"
CORPUS = DATA / "corpus" / "wikipedia-vital-articles-en" / "summaries_en-us.txt"

SST2 = ["--set", "train.train_limit=10000", "--set", "train.max_seq_length=64"]
MRPC = ["--set", "train.max_seq_length=128"]
STUDENT = ["--set", "train.lr=3e-4", "--set", "train.batch_size=32"]
TASK = {"sst2": (GLUE_TSV, SST2), "mrpc": (GLUE_PARQUET, MRPC)}
# TinyBERT augmentation of the students' training examples (SST-2: the same first 10,000 phrases
# the label-only baseline sees); distilled students train on originals + variants.
MRPC_AUGMENT = ["--set", "variants=4", "--set", "max_seq_length=128"]
AUGMENT = {"sst2": ["--set", "variants=4", "--set", "limit=10000", "--set", "max_seq_length=64"],
           "mrpc": [*MRPC_AUGMENT, "--set", "shared_words=free"]}  # free: as the TinyBERT reference
# Later MRPC variants of the augmentation (stage suffix -> settings on top of MRPC_AUGMENT), each
# followed by the same general+task distillation: gentler replacement, then words the two
# sentences share swapped in both (tie) or in neither (keep) instead of in the first only (free).
MRPC_AUGMENT_VARIANTS = {"p01": ["--set", "shared_words=free", "--set", "replace_prob=0.1"],
                         "tie": ["--set", "shared_words=tie"],
                         "keep": ["--set", "shared_words=keep"]}
# MRPC dev has 408 pairs (one pair = 0.25 accuracy points), so the label-only baseline and the
# distilled student are also run with more seeds (besides the default) and compared on the mean.
SEEDS = (43, 44)
SEEDED = ("baseline-tiny-mrpc", "full-tiny-mrpc-tie")
BASELINE_EPOCHS = 9
TASK_EPOCHS = (1, 3)  # (intermediate, prediction) epochs over the augmented set
# Dev evaluations (best kept) every N prediction steps: about 9 over the 3 epochs, as many as the
# label-only baseline gets (one per epoch), so neither side has more chances at a lucky checkpoint.
EVAL_EVERY = {"sst2": 520, "mrpc": 190}


def _without_limit(sizes: list[str]) -> list[str]:
    """The task's settings minus ``train_limit``: the augmented set was already built from the limited data."""
    pairs = [sizes[i:i + 2] for i in range(0, len(sizes), 2)]
    return [x for pair in pairs if not pair[1].startswith("train.train_limit=") for x in pair]


def _task_phases(intermediate_epochs: int, prediction_epochs: int) -> list[str]:
    return ["--set", f"phases=[{{name: intermediate, losses: {{embedding: 1, hidden: 1, attention: 1}}, "
                     f"epochs: {intermediate_epochs}}}, {{name: prediction, losses: {{logits: 1}}, "
                     f"epochs: {prediction_epochs}}}]"]


def _replaced(command: list[str], paths: dict[Path, Path]) -> list[str]:
    """``command`` with the arguments equal to a key of ``paths`` swapped for its value."""
    swap = {str(k): str(v) for k, v in paths.items()}
    return [swap.get(a, a) for a in command]


def stages() -> dict[str, list[str]]:
    """Stage name -> `distill` arguments, in run order."""
    out: dict[str, list[str]] = {
        "teacher-sst2": ["finetune", "--model", "minilm-l6", "--task", "sst2", "--data-dir", str(GLUE_TSV),
                         "--output-dir", str(RUNS / "teacher-sst2"), "--set", "train.max_seq_length=64", "--set", "train.epochs=1",
                         "--set", "train.lr=5e-5", "--set", "train.eval_every=500", "--set", "train.save_every=250",
                         "--set", "train.log_every=20"],
        "teacher-mrpc": ["finetune", "--model", "minilm-l6", "--task", "mrpc", "--data-dir", str(GLUE_PARQUET),
                         "--output-dir", str(RUNS / "teacher-mrpc"), *MRPC, "--set", "train.epochs=3",
                         "--set", "train.lr=5e-5", "--set", "train.eval_every=50", "--set", "train.save_every=50"],
        "general-tiny": ["general", "--teacher", "minilm-l6", "--student", "tiny", "--corpus", str(CORPUS),
                         "--output-dir", str(RUNS / "general-tiny"), "--max-steps", "1500",
                         "--set", "train.max_seq_length=128", "--set", "train.batch_size=32",
                         "--set", "train.lr=5e-4", "--set", "train.warmup=0.05", "--set", "train.save_every=100"],
        **{f"{task}-augmented": ["augment", "--task", task, "--model", "minilm-l6", "--data-dir", str(data),
                                 "--output-dir", str(RUNS / f"{task}-augmented"), *AUGMENT[task]]
           for task, (data, _) in TASK.items()},
    }
    for task, (data, sizes) in TASK.items():
        augmented = ["--augmented", str(RUNS / f"{task}-augmented")]
        out[f"baseline-tiny-{task}"] = ["finetune", "--model", "tiny", "--tokenizer", "minilm-l6", "--task", task,
                                        "--data-dir", str(data), "--output-dir", str(RUNS / f"baseline-tiny-{task}"),
                                        *sizes, *STUDENT, "--set", f"train.epochs={BASELINE_EPOCHS}"]
        for name, student in (("taskonly", "tiny"), ("full", str(RUNS / "general-tiny"))):
            out[f"{name}-tiny-{task}"] = ["task", "--task", task, "--teacher", str(RUNS / f"teacher-{task}"),
                                          "--student", student, "--data-dir", str(data), *augmented,
                                          "--output-dir", str(RUNS / f"{name}-tiny-{task}"),
                                          *_without_limit(sizes), *STUDENT, "--set", f"train.eval_every={EVAL_EVERY[task]}",
                                          *_task_phases(*TASK_EPOCHS)]
    # MRPC, second variant: the prediction phase on the original pairs, continuing from the
    # augmented intermediate phase above (see docs/results.md: embedding-neighbour variants often
    # stop being paraphrases, and the teacher then calls far fewer of them positive).
    out["full-tiny-mrpc-origpred"] = ["task", "--task", "mrpc", "--teacher", str(RUNS / "teacher-mrpc"),
                                      "--student", str(RUNS / "full-tiny-mrpc" / "intermediate"),
                                      "--data-dir", str(GLUE_PARQUET), "--output-dir",
                                      str(RUNS / "full-tiny-mrpc-origpred"), *MRPC, *STUDENT,
                                      "--set", "train.eval_every=115",
                                      "--set", "phases=[{name: prediction, losses: {logits: 1}, epochs: 8}]"]
    for suffix, settings in MRPC_AUGMENT_VARIANTS.items():
        augmented = RUNS / f"mrpc-augmented-{suffix}"
        out[f"mrpc-augmented-{suffix}"] = ["augment", "--task", "mrpc", "--model", "minilm-l6", "--data-dir",
                                           str(GLUE_PARQUET), "--output-dir", str(augmented), *MRPC_AUGMENT, *settings]
        for name in ("full", "taskonly")[:2 if suffix == "tie" else 1]:  # task-only: the default setting only
            out[f"{name}-tiny-mrpc-{suffix}"] = _replaced(out[f"{name}-tiny-mrpc"], {
                RUNS / "mrpc-augmented": augmented, RUNS / f"{name}-tiny-mrpc": RUNS / f"{name}-tiny-mrpc-{suffix}"})
    order = ["teacher-sst2", "teacher-mrpc", "general-tiny", "sst2-augmented", "baseline-tiny-sst2", "full-tiny-sst2",
             "taskonly-tiny-sst2", "mrpc-augmented", "baseline-tiny-mrpc", "full-tiny-mrpc", "taskonly-tiny-mrpc", "full-tiny-mrpc-origpred",
             *(f"{stage}-{suffix}" for suffix in MRPC_AUGMENT_VARIANTS for stage in ("mrpc-augmented", "full-tiny-mrpc")),
             "taskonly-tiny-mrpc-tie"]
    for name in SEEDED:
        for seed in SEEDS:
            out[f"{name}-seed{seed}"] = _replaced(out[name], {RUNS / name: RUNS / f"{name}-seed{seed}"}) + [
                "--seed", str(seed)]
            order.append(f"{name}-seed{seed}")
    return {name: out[name] for name in order}


ROWS = [("teacher (MiniLM-L6-H384, fine-tuned)", "teacher-{task}"),
        ("tiny, label-only fine-tuning (random init)", "baseline-tiny-{task}"),
        ("tiny, task distillation only (augmented)", "taskonly-tiny-{task}"),
        ("tiny, general + task distillation (augmented)", "full-tiny-{task}"),
        ("tiny, general + task distillation (augmented intermediate, original-pairs prediction)",
         "full-tiny-{task}-origpred"),
        ("tiny, general + task distillation (augmented with replace probability 0.1)", "full-tiny-{task}-p01"),
        ("tiny, task distillation only (augmented, shared words swapped in both sentences)", "taskonly-tiny-{task}-tie"),
        ("tiny, general + task distillation (augmented, shared words swapped in both sentences)", "full-tiny-{task}-tie"),
        ("tiny, general + task distillation (augmented, shared words kept)", "full-tiny-{task}-keep")]


def collect() -> dict:
    """Read every finished run's metrics.json into one results document."""
    runs = {}
    for name, args in stages().items():
        metrics_file = Path(args[args.index("--output-dir") + 1]) / ("augment.json" if args[0] == "augment" else "metrics.json")
        if metrics_file.is_file():
            data = json.loads(metrics_file.read_text())
            data.pop("history", None)
            runs[name] = {"command": "distill " + shlex.join(args), **data}
    table = {}
    for task in TASK:
        teacher = runs.get(f"teacher-{task}", {}).get("dev") or {}
        rows = {}
        for label, stage in ROWS:
            dev = runs.get(stage.format(task=task), {}).get("dev")
            if dev:
                rows[label] = {**dev, **({"retention_of_teacher": {k: dev[k] / teacher[k] for k in dev if teacher.get(k)}}
                                         if teacher else {})}
        table[task] = rows
    from eval.artifacts import provenance

    seeds = seed_table(runs)
    return {"schema": "bert-compression-toolkit/distill-glue", "schema_version": 1, "table": table,
            "seeds": seeds, "targets": targets(table) + seed_targets(seeds), "runs": runs, **provenance()}


def seed_table(runs: dict) -> dict:
    """Row label -> dev scores of each seed and their mean, for the stages in SEEDED whose seed runs all finished."""
    from distill.config import TrainSettings

    out = {}
    for label, stage in ROWS:
        name = stage.format(task="mrpc")
        if name not in SEEDED:
            continue
        devs = [runs.get(n, {}).get("dev") for n in (name, *(f"{name}-seed{seed}" for seed in SEEDS))]
        if all(devs):
            out[label] = {"seeds": [TrainSettings.seed, *SEEDS], **{m: [d[m] for d in devs] for m in devs[0]},
                          "mean": {m: sum(d[m] for d in devs) / len(devs) for m in devs[0]}}
    return out


def seed_targets(seeds: dict) -> list[dict]:
    base = seeds.get(ROWS[1][0])
    return [{"target": f"mrpc, mean of {len(row['seeds'])} seeds: {label} beats label-only on {metric}",
             "met": row["mean"][metric] > base["mean"][metric],
             "margin_points": 100 * (row["mean"][metric] - base["mean"][metric])}
            for label, row in seeds.items() if base and row is not base for metric in ("f1", "accuracy")]


def targets(table: dict) -> list[dict]:
    """The issue's done-when checks, each with its margin (positive = met by that much)."""
    checks = []
    sst2, mrpc = table.get("sst2", {}), table.get("mrpc", {})
    full, base, teacher = (sst2.get(label) for label, _ in (ROWS[3], ROWS[1], ROWS[0]))
    if full and base:
        margin = 100 * (full["accuracy"] - base["accuracy"]) - 2.0
        checks.append({"target": f"sst2: general+task beats label-only by >= 2 accuracy points "
                                 f"(gain {margin + 2.0:+.2f})", "met": margin >= 0, "margin_points": margin})
    if full and teacher:
        retention = full["accuracy"] / teacher["accuracy"]
        checks.append({"target": "sst2: general+task keeps >= 90% of teacher accuracy (goal 96%)",
                       "met": retention >= 0.90, "retention": retention, "margin_points": 100 * (retention - 0.90)})
    base = mrpc.get(ROWS[1][0])
    for label, stage in ROWS:
        full = mrpc.get(label)
        if not (stage.startswith("full-") and full and base):
            continue
        for metric in ("f1", "accuracy"):
            margin = 100 * (full[metric] - base[metric])
            checks.append({"target": f"mrpc: {label} beats label-only on {metric}",
                           "met": margin > 0, "margin_points": margin})
    return checks


def render(results: dict) -> str:
    lines = []
    for task, rows in results["table"].items():
        metrics = sorted({m for row in rows.values() for m in row if m != "retention_of_teacher"})
        lines += [f"### {task} (dev)", "", "| model | " + " | ".join(metrics) + " | retention |",
                  "|---" * (len(metrics) + 2) + "|"]
        for label, row in rows.items():
            retention = ", ".join(f"{k} {v:.1%}" for k, v in row.get("retention_of_teacher", {}).items())
            lines.append(f"| {label} | " + " | ".join(f"{100 * row[m]:.2f}" for m in metrics) + f" | {retention} |")
        lines.append("")
    seeds = results.get("seeds", {})
    if seeds:
        lines += ["### mrpc (dev), mean over seeds", "", "| model | seeds | f1 | accuracy |", "|---|---|---|---|"]
        lines += [f"| {label} | {', '.join(map(str, row['seeds']))} | " + " | ".join(
            f"{100 * row['mean'][m]:.2f} ({', '.join(f'{100 * v:.2f}' for v in row[m])})" for m in ("f1", "accuracy"))
            + " |" for label, row in seeds.items()]
        lines.append("")
    lines += ["### targets", ""] + [f"- {'met' if c['met'] else 'MISSED'}: {c['target']} "
                                   f"(margin {c['margin_points']:+.2f} points)" for c in results.get("targets", [])]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", help="run only these stages")
    parser.add_argument("--collect", action="store_true", help="only rebuild the results from runs/")
    args = parser.parse_args()
    if not args.collect:
        for name, command in stages().items():
            if args.only and name not in args.only:
                continue
            print(f"== {name}: distill {shlex.join(command)}", flush=True)
            code = subprocess.call([sys.executable, "-m", "distill.cli", *command], cwd=ROOT)
            if code:
                print(f"stage {name} failed with exit code {code}", flush=True)
    results = collect()  # relative run paths: run from the repository root
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "distill_glue.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "distill_glue.md").write_text(render(results))
    print(render(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
