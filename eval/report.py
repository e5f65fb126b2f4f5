"""GLUE leaderboards: results files -> one JSON table -> Markdown, CSV and a self-contained HTML page.

The leaderboard JSON is the single source; the other three formats are rendered from it.

GLUE Score, as the GLUE server computes it: the unweighted mean over the nine tasks, where a task
with two metrics counts their mean (MRPC F1/acc, STS-B Pearson/Spearman, QQP F1/acc) and MNLI
counts once as the mean of matched and mismatched. AX is shown but never scored. A row that
lacks tasks gets the mean of what it has and is marked partial.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
from pathlib import Path
from statistics import fmean
from typing import Any, Iterable

from eval.artifacts import write_atomic, write_json
from eval.errors import UserError
from eval.harness import RESULTS_SCHEMA
from eval.tasks import TASKS, GlueTask

SCORE_GROUPS = tuple(dict.fromkeys(t.score_group for t in TASKS.values() if t.score_group))
LEADERBOARD_FILES = ("leaderboard.json", "leaderboard.md", "leaderboard.csv", "leaderboard.html")


def load_results(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    """Read results files written by ``glue eval`` (or the library's ``evaluate_model``)."""
    documents = []
    for path in map(Path, paths):
        if not path.is_file():
            raise UserError(f"results file {path} does not exist")
        try:
            document = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise UserError(f"{path} is not JSON; pass files written by `glue eval --output`") from None
        if not isinstance(document, dict) or document.get("schema") != RESULTS_SCHEMA:
            raise UserError(f"{path} is not a GLUE results file of this toolkit (no schema "
                            f"{RESULTS_SCHEMA!r}); pass files written by `glue eval --output`")
        documents.append(document)
    if not documents:
        raise UserError("no results files given")
    return documents


def task_score(task: GlueTask, metrics: dict[str, float]) -> float:
    """A task's GLUE points: the mean of its metrics, in percent."""
    return 100 * fmean(metrics[name] for name in task.metrics)


def glue_score(task_metrics: dict[str, dict[str, float]]) -> tuple[float | None, bool]:
    """``(score, partial)`` for one model's per-task metrics (keys are registry task names)."""
    groups: dict[str, list[float]] = {}
    for name, metrics in task_metrics.items():
        task = TASKS[name]
        if task.score_group:
            groups.setdefault(task.score_group, []).append(task_score(task, metrics))
    if not groups:
        return None, True
    members = {g: sum(1 for t in TASKS.values() if t.score_group == g) for g in SCORE_GROUPS}
    partial = len(groups) < len(SCORE_GROUPS) or any(len(v) < members[g] for g, v in groups.items())
    return fmean(fmean(scores) for scores in groups.values()), partial


def build_leaderboard(documents: list[dict[str, Any]]) -> dict[str, Any]:
    """Merge results documents into leaderboard rows (one per model; later files win per task)."""
    rows: dict[str, dict[str, Any]] = {}
    for document in documents:
        model = document["model"]
        row = rows.setdefault(model["path"], {"model": model["name"], "path": model["path"],
                                              "backend": model["backend"], "precision": model["precision"],
                                              "parameters": model["parameters"],
                                              "size_bytes": model["size_bytes"], "tasks": {}})
        for name, result in document["results"].items():
            row["tasks"][name] = {"metrics": result["metrics"], "split": result["split"],
                                  "num_examples": result["num_examples"],
                                  "seconds": result["throughput"]["seconds"]}
    board = []
    for row in rows.values():
        metrics = {name: entry["metrics"] for name, entry in row["tasks"].items()}
        score, partial = glue_score(metrics)
        examples = sum(e["num_examples"] for e in row["tasks"].values())
        seconds = sum(e["seconds"] for e in row["tasks"].values())
        board.append({
            **{k: v for k, v in row.items() if k != "tasks"},
            "score": score, "partial": partial,
            "examples_per_second": examples / seconds if seconds else None,
            "cells": {t.display_name: _cell(t, metrics.get(t.name)) for t in TASKS.values()},
            "tasks": row["tasks"],
        })
    # complete rows first: a partial Score is not comparable with a full one
    board.sort(key=lambda r: (not r["partial"], -1 if r["score"] is None else r["score"]), reverse=True)
    return {"columns": ["Model", "Score", *(t.display_name for t in TASKS.values()), "Params",
                        "Size (MB)", "Throughput (ex/s)"], "rows": board}


def _cell(task: GlueTask, metrics: dict[str, float] | None) -> str:
    if metrics is None:
        return "-"
    return "/".join(f"{100 * metrics[name]:.1f}" for name in task.metrics)


def _table(board: dict[str, Any]) -> list[list[str]]:
    """The leaderboard as rows of strings, header first (shared by Markdown, CSV and HTML)."""
    lines = [board["columns"]]
    for row in board["rows"]:
        score = "-" if row["score"] is None else f"{row['score']:.1f}" + ("*" if row["partial"] else "")
        throughput = row["examples_per_second"]
        lines.append([
            f"{row['model']} ({row['backend']}, {row['precision']})", score,
            *row["cells"].values(), f"{row['parameters'] / 1e6:.1f}M",
            f"{row['size_bytes'] / 1e6:.1f}", "-" if throughput is None else f"{throughput:.0f}",
        ])
    return lines


def render_markdown(board: dict[str, Any]) -> str:
    lines = _table(board)
    out = ["| " + " | ".join(lines[0]) + " |", "|" + "---|" * len(lines[0])]
    out += ["| " + " | ".join(line) + " |" for line in lines[1:]]
    out.append("")
    out.append("Metrics in percent. MRPC and QQP: F1/accuracy; STS-B: Pearson/Spearman; CoLA and AX: "
               "Matthews correlation; others: accuracy. `*`: partial Score (mean of the tasks present).")
    return "\n".join(out) + "\n"


def render_csv(board: dict[str, Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(_table(board))
    return buffer.getvalue()


def render_html(board: dict[str, Any]) -> str:
    """A self-contained page: the table and two scatter charts (Score vs size, vs throughput)."""
    lines = _table(board)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in lines[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in line) + "</tr>" for line in lines[1:])
    points = [(r["model"], r["size_bytes"] / 1e6, r["examples_per_second"], r["score"]) for r in board["rows"]
              if r["score"] is not None]
    charts = (_scatter("GLUE Score vs size on disk (MB, log scale)", [(n, s, y) for n, s, _, y in points])
              + _scatter("GLUE Score vs throughput (examples/s, log scale)",
                         [(n, t, y) for n, _, t, y in points if t]))
    data = json.dumps(board).replace("</", "<\\/")  # raw text inside <script>: only "</" must go
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>GLUE leaderboard</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #222; }}
table {{ border-collapse: collapse; font-size: 14px; }}
th, td {{ border: 1px solid #ccc; padding: 4px 8px; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
th {{ background: #f3f3f3; }}
.charts {{ display: flex; flex-wrap: wrap; gap: 2rem; margin-top: 2rem; }}
</style></head><body>
<h1>GLUE leaderboard</h1>
<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>
<p>Metrics in percent. MRPC and QQP: F1/accuracy; STS-B: Pearson/Spearman; CoLA and AX: Matthews
correlation; others: accuracy. * partial Score (mean of the tasks present).</p>
<div class="charts">{charts}</div>
<script type="application/json" id="leaderboard-data">{data}</script>
</body></html>
"""


def _scatter(title: str, points: list[tuple[str, float, float]]) -> str:
    """A captioned inline SVG scatter plot with a log-scale x axis (empty without points)."""
    if not points:
        return ""
    return f"<figure><figcaption>{html.escape(title)}</figcaption>{scatter_svg(points)}</figure>"


def scatter_svg(points: list[tuple[str, float, float]], x_label: str = "", y_label: str = "") -> str:
    """A standalone SVG scatter plot of ``(name, x, y)`` points, log-scale x axis, each point labelled."""
    width, height, pad, label_room = 560, 300, 50, 110  # room on the right for the last point's label
    xs = [math.log10(max(x, 1e-9)) for _, x, _ in points]
    ys = [y for _, _, y in points]
    x0, x1 = min(xs) - 0.1, max(xs) + 0.1
    y0, y1 = min(ys) - 2, max(ys) + 2

    def sx(v: float) -> float:
        return pad + (v - x0) / (x1 - x0) * (width - 2 * pad - label_room)

    def sy(v: float) -> float:
        return height - pad - (v - y0) / (y1 - y0) * (height - 2 * pad)

    placed: list[tuple[float, float, float]] = []  # (left, right, baseline) of labels already drawn
    marks = ""
    for (name, _, y), x in sorted(zip(points, xs), key=lambda p: -p[0][2]):  # top to bottom
        left, baseline = sx(x) + 7, sy(y) - 7
        right = left + 6 * len(name)  # about 6 px per character at font-size 11
        while any(left < r and l < right and abs(baseline - b) < 12 for l, r, b in placed):
            baseline += 12  # a label in the way: move below it
        placed.append((left, right, baseline))
        marks += (f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="5" fill="#3b6fb6"><title>{html.escape(name)}: '
                  f'{y:.1f}</title></circle><text x="{left:.1f}" y="{baseline:.1f}" font-size="11">'
                  f"{html.escape(name)}</text>")
    ticks = "".join(f'<text x="{sx(v):.1f}" y="{height - pad + 16}" font-size="10" text-anchor="middle">'
                    f"{10 ** v:.3g}</text>" for v in _ticks(x0, x1))
    labels = (f'<text x="{width / 2:.0f}" y="{height - 12}" font-size="11" text-anchor="middle">'
              f"{html.escape(x_label)}</text>"
              f'<text x="12" y="{height / 2:.0f}" font-size="11" text-anchor="middle" '
              f'transform="rotate(-90 12 {height / 2:.0f})">{html.escape(y_label)}</text>')
    return (f'<svg width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg" '
            f'font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>{labels}'
            f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#888"/>'
            f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="#888"/>'
            f'<text x="{pad - 8}" y="{sy(y1):.1f}" font-size="10" text-anchor="end">{y1:.0f}</text>'
            f'<text x="{pad - 8}" y="{sy(y0):.1f}" font-size="10" text-anchor="end">{y0:.0f}</text>'
            f"{ticks}{marks}</svg>")


def _ticks(low: float, high: float) -> list[float]:
    return [low + (high - low) * i / 4 for i in range(5)]


def write_leaderboard(documents: list[dict[str, Any]], output_dir: str | Path) -> dict[str, Path]:
    """Write leaderboard.{json,md,csv,html} into ``output_dir``; returns their paths."""
    board = build_leaderboard(documents)
    folder = Path(output_dir)
    paths = dict(zip(("json", "md", "csv", "html"), (folder / name for name in LEADERBOARD_FILES)))
    write_json(paths["json"], board)
    write_atomic(paths["md"], render_markdown(board))
    write_atomic(paths["csv"], render_csv(board))
    write_atomic(paths["html"], render_html(board))
    return paths
