"""The size-accuracy-latency frontier a user picks a student from: dev score against batch-1 latency
and against size on disk, with the Pareto frontier drawn and the trivial floors as lines.

    python -m benchmarks.size_speed --output benchmarks/results/size_speed_frontier.json \\
        --model "teacher INT8=runs/bench27-teacher/onnx_int8_static_max" ...   # latency, one run
    python -m benchmarks.frontier            # reads benchmarks/frontier.yaml, writes docs/frontier*.{md,svg}

Every point is declared in ``benchmarks/frontier.yaml``: a label, the ``glue eval`` results file of
its dev score and the name of its latency row in the size_speed run (every latency of one chart
comes from that one run: one thread, 1 x 128, CPU time). The score is the task's GLUE-Score rule
(the mean of its metrics: MRPC F1 and accuracy, STS-B Pearson and Spearman). A point may list the
results files of several seeds of one model: its score is then their mean, drawn with a bar of one
standard deviation. A point is on the frontier when no other point is both faster (or smaller) and
at least as accurate.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml

from benchmarks.shared_data import RESULTS, ROOT
from eval.core.artifacts import write_atomic, write_json
from eval.stats import mean_std
from eval.tasks import get_task

SPEC = ROOT / "benchmarks" / "frontier.yaml"
DOCS = ROOT / "docs"
SHAPE = "1x128"


def task_score(results: dict) -> tuple[float, dict]:
    """The mean of a task's metrics in a ``glue eval`` results document (points), and the metrics."""
    (result,) = results["results"].values()
    metrics = {k: 100 * v for k, v in result["metrics"].items() if v is not None}
    return sum(metrics.values()) / len(metrics), metrics


def seed_scores(documents: list[dict]) -> dict:
    """One model's score over the results documents of its seeds: the mean (and the sample standard
    deviation where there are several) of each seed's score and of each metric."""
    scored = [task_score(document) for document in documents]
    mean, std = mean_std([score for score, _ in scored])
    metrics = {name: mean_std([m[name] for _, m in scored])[0] for name in scored[0][1]}
    row = {"score": mean, "metrics": metrics, "seeds": len(scored)}
    if std is not None:
        row["score_std"] = std
    return row


def load_points(spec: dict, speed: dict) -> dict[str, list[dict]]:
    """Every declared point with its score, metrics, latency (CPU ms) and size on disk (MB)."""
    out = {}
    for task, entry in spec["tasks"].items():
        points = []
        for point in entry["points"]:
            files = [point["results"]] if isinstance(point["results"], str) else list(point["results"])
            missing = [what for what, ok in (("results file", all((ROOT / f).is_file() for f in files)),
                                              ("latency row", "speed" not in point or point["speed"] in speed["latency"]))
                       if not ok]
            if missing:
                print(f"{task}: {point['label']} left out (no {' or '.join(missing)})")
                continue
            documents = [json.loads((ROOT / f).read_text()) for f in files]
            row = {"label": point["label"], "kind": point.get("kind", "student"), **seed_scores(documents),
                   "results": point["results"], "source": point.get("source", "")}
            if "speed" in point:
                latency = speed["latency"][point["speed"]][SHAPE]
                size = speed["models"][point["speed"]]["size_bytes"] or documents[0]["model"]["size_bytes"]
                row.update(speed_row=point["speed"], latency_ms=latency["cpu_median_ms"], size_mb=size / 1e6,
                           precision=speed["models"][point["speed"]]["precision"])
            points.append(row)
        out[task] = points
    return out


def frontier(points: list[dict], x: str) -> list[str]:
    """Labels of the points no other point beats: lower (or equal) ``x`` and a higher (or equal) score."""
    models = [p for p in points if x in p]
    return [p["label"] for p in models
            if not any(q is not p and q[x] <= p[x] and q["score"] >= p["score"]
                       and (q[x] < p[x] or q["score"] > p["score"]) for q in models)]


def chart(task: str, points: list[dict], x: str, x_label: str, path: Path) -> None:
    import math

    from matplotlib import rc_context
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    from matplotlib.transforms import blended_transform_factory

    models = sorted((p for p in points if x in p), key=lambda p: (p[x], -p["score"]))
    floors = [p for p in points if p["kind"] == "floor"]
    best = set(frontier(points, x))
    figure = Figure(figsize=(7.0, 4.2), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    scores = [p["score"] for p in points]
    near = 0.04 * (max(scores) - min(scores) or 1.0)  # labels closer than this (at one x) would overlap
    for i, p in enumerate(models):
        int8 = p["precision"] == "int8"
        color = "#1f77b4" if p["label"] in best else "#9ab"
        if "score_std" in p:
            axes.errorbar([p[x]], [p["score"]], yerr=[p["score_std"]], color=color, capsize=3, linewidth=1, zorder=2)
        axes.scatter([p[x]], [p["score"]], s=60, zorder=3, marker="s" if int8 else "o", color=color,
                     edgecolor="black" if p["label"] in best else "none")
        below = sum(1 for q in models[:i]  # labels already placed just above this one
                    if abs(math.log10(q[x] / p[x])) < 0.05 and abs(q["score"] - p["score"]) < near)
        axes.annotate(p["label"], (p[x], p["score"]), textcoords="offset points", xytext=(6, 4 - 10 * below),
                      fontsize=7.5)
    line = sorted((p for p in models if p["label"] in best), key=lambda p: p[x])
    axes.step([p[x] for p in line], [p["score"] for p in line], where="post", color="#1f77b4", linewidth=1,
              zorder=2, label="Pareto frontier")
    axes.set_xscale("log")
    logs = [math.log10(p[x]) for p in models]
    pad = max(0.12, 0.1 * (max(logs) - min(logs)))
    axes.set_xlim(10 ** (min(logs) - pad), 10 ** (max(logs) + 2.5 * pad))  # room for the labels on the right
    axes.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.10g}"))
    axes.xaxis.set_minor_formatter(NullFormatter())
    across = blended_transform_factory(axes.transAxes, axes.transData)  # x in the axes, y in points of score
    for p in floors:
        axes.axhline(p["score"], color="#b0b0b0", linestyle="--", linewidth=1, zorder=1)
        axes.text(0.01, p["score"], f"floor: {p['label']} ({p['score']:.1f})", transform=across, fontsize=7,
                  color="#777777", ha="left", va="bottom")
    axes.set_xlabel(x_label)
    axes.set_ylabel(f"{get_task(task).display_name} dev score (mean of its metrics)")
    axes.grid(True, which="both", color="#e5e5e5", linewidth=0.6, zorder=0)
    axes.scatter([], [], marker="o", color="#9ab", label="FP32")
    axes.scatter([], [], marker="s", color="#9ab", label="INT8 (ONNX Runtime)")
    axes.legend(fontsize=7.5, loc="lower right")
    with rc_context({"svg.hashsalt": "frontier"}):
        figure.savefig(path, format="svg", bbox_inches="tight", metadata={"Date": None})


def table(task: str, points: list[dict]) -> str:
    latency_best, size_best = set(frontier(points, "latency_ms")), set(frontier(points, "size_mb"))
    lines = ["| model | dev score | metrics | CPU ms, 1 × 128, 1 thread | MB on disk | frontier | source |",
             "|---|---:|---|---:|---:|---|---|"]
    for p in sorted(points, key=lambda p: -p["score"]):
        marks = ", ".join(m for m, s in (("latency", latency_best), ("size", size_best)) if p["label"] in s)
        metrics = ", ".join(f"{k} {v:.1f}" for k, v in p["metrics"].items())
        latency = f"{p['latency_ms']:.1f}" if "latency_ms" in p else "–"
        size = f"{p['size_mb']:.1f}" if "size_mb" in p else "–"
        score = f"{p['score']:.1f}" + (f" ± {p['score_std']:.1f} ({p['seeds']} seeds)" if "score_std" in p else "")
        lines.append(f"| {p['label']} | {score} | {metrics} | {latency} | {size} | {marks or '–'} | "
                     f"{p['source']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spec", type=Path, default=SPEC)
    parser.add_argument("--speed", type=Path, help="another size_speed JSON than the spec's (a layout check)")
    args = parser.parse_args(argv)
    spec = yaml.safe_load(args.spec.read_text())
    speed = json.loads((args.speed or ROOT / spec["speed"]).read_text())
    points = load_points(spec, speed)
    cpu = speed["provenance"]["cpu"]
    sections = []
    for task, task_points in points.items():
        for x, label, suffix in (("latency_ms", "CPU ms per call, batch 1 x 128 tokens, one thread (log)", "latency"),
                                 ("size_mb", "MB on disk (log)", "size")):
            chart(task, task_points, x, label, DOCS / f"frontier_{task}_{suffix}.svg")
        sections.append(f"## {get_task(task).display_name}\n\n{spec['tasks'][task].get('note', '')}\n\n"
                        f"![{task} score against latency](frontier_{task}_latency.svg)\n"
                        f"![{task} score against size](frontier_{task}_size.svg)\n\n{table(task, task_points)}\n")
    doc = (f"# Which student? Dev score against latency and size\n\n"
           f"<!-- Generated by `python -m benchmarks.frontier` from {args.spec.relative_to(ROOT)}; do not edit. -->\n\n"
           f"{spec.get('note', '').strip()}\n\nLatency: `{spec['speed']}` (one run, every model side by side; "
           f"CPU {cpu['model']}, features {', '.join(cpu['features'])}). Circles FP32 (PyTorch), squares INT8 "
           f"(ONNX Runtime, static max); outlined points are on the Pareto frontier; bars span one standard "
           f"deviation over a point's seeds; dashed lines are the floors (no model).\n\n" + "\n".join(sections))
    write_atomic(DOCS / "frontier.md", doc)
    write_json(RESULTS / "frontier.json", {"points": points, "spec": str(args.spec.relative_to(ROOT)),
                                           "frontier": {task: {x: frontier(p, x) for x in ("latency_ms", "size_mb")}
                                                        for task, p in points.items()}})
    print(f"wrote {DOCS / 'frontier.md'} and its charts")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
