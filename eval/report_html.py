"""The leaderboard as a self-contained HTML page: the table and two matplotlib charts (score vs size, vs speed).

Charts are drawn with matplotlib into SVG files beside the page (``score_vs_size.svg``,
``score_vs_throughput.svg``) and inlined in it, so the page needs nothing from the network. Each
row is one point: colour by model family (teacher, label-only, distilled, INT8...), marker by
student size, named in the legend rather than next to the point, so labels never overlap; a row
with a partial score (fewer tasks than the board's) is drawn hollow.
"""

from __future__ import annotations

import html
import io
import json
from pathlib import Path
from typing import Any

from eval.artifacts import write_atomic
from eval.report import has_score, is_floor, legend, p_text, seed_count, verdict

# Model families by a word of the row name (first match wins); INT8 rows by their precision.
FAMILIES = {"teacher": "#222222", "distilled": "#1f5fbf", "student": "#1f5fbf", "pretrained": "#e08a00",
            "scratch": "#8c8c8c", "baseline": "#8c8c8c"}
INT8_COLOUR, OTHER_COLOUR = "#2a9d4a", "#8e44ad"
SIZES = {"tiny": "o", "mini": "s", "small": "^", "medium": "D", "tinybert4": "v", "tinybert6": "P"}
CHARTS = (("score_vs_size.svg", "size on disk (MB, log scale)", lambda r: r["size_bytes"] / 1e6),
          ("score_vs_throughput.svg", "throughput on the dev sets (examples/s, log scale)",
           lambda r: r["examples_per_second"]))


def family(row: dict[str, Any]) -> tuple[str, str]:
    """``(family, colour)`` of a row."""
    if row["precision"] == "int8":
        return "INT8", INT8_COLOUR
    words = row["name"].replace("_", "-").split("-")
    name = next((f for f in FAMILIES if f in words), "other")
    return name, FAMILIES.get(name, OTHER_COLOUR)


def marker(row: dict[str, Any]) -> str:
    words = row["name"].replace("_", "-").split("-")
    return next((m for size, m in SIZES.items() if size in words), "o")


def chart_svg(board: dict[str, Any], x_label: str, x_of) -> str | None:
    """One scatter chart as SVG text (``None`` when no row has both a score and an x value)."""
    from matplotlib import rc_context
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    points = [(row, x_of(row)) for row in board["rows"]
              if row["score"] is not None and not is_floor(row) and x_of(row)]
    if not points:
        return None
    floors = [row for row in board["rows"] if is_floor(row) and row["score"] is not None]
    figure = Figure(figsize=(6.4, 4.0), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    for row, x in points:
        _, colour = family(row)
        partial = row["partial"]  # hollow: a mean over fewer tasks than the others, not their score
        axes.scatter([x], [row["score"]], s=64, marker=marker(row), zorder=3,
                     facecolor="white" if partial else colour, edgecolor=colour if partial else "white",
                     linewidth=1.6 if partial else 0.8,
                     label=f"{row['name']} ({row['score']:.1f}{'*, partial' if partial else ''})")
    for row in floors:  # a rule has no size or speed: a line across the chart
        axes.axhline(row["score"], color="#b0b0b0", linestyle="--", linewidth=1.0, zorder=1,
                     label=f"{row['name']} ({row['score']:.1f}{'*, partial' if row['partial'] else ''})")
    axes.set_xscale("log")
    axes.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.10g}"))
    axes.xaxis.set_minor_formatter(NullFormatter())
    axes.set_xlabel(x_label)
    axes.set_ylabel(board["score"]["label"])
    axes.grid(True, which="both", color="#e5e5e5", linewidth=0.6, zorder=0)
    scores = [r["score"] for r, _ in points] + [r["score"] for r in floors]
    low, high = min(scores), max(scores)
    pad = max(1.0, 0.08 * (high - low))
    axes.set_ylim(low - pad, high + pad)
    axes.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8, frameon=False)
    buffer = io.StringIO()
    # A fixed salt for the SVG's element ids and no date: the same board draws the same bytes.
    with rc_context({"svg.hashsalt": "glue-report"}):
        figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    return buffer.getvalue()


def _metric_html(value: dict) -> str:
    std = f"<small> ±{100 * value['std']:.1f}</small>" if value["std"] is not None else ""
    return f"<span>{100 * value['mean']:.1f}{std}</span>"


def _html_row(board: dict[str, Any], row: dict[str, Any]) -> str:
    """One table row: a cell's metrics on separate lines, standard deviations small beside their means."""
    seeds = f" · {seed_count(row)} seeds" if row["seeds"] > 1 else ""
    kind = "floor: no model" if is_floor(row) else f"{html.escape(row['backend'])}, {html.escape(row['precision'])}{seeds}"
    cells = [f"<b>{html.escape(row['name'])}</b><br><small>{kind}</small>",
             "-" if row["score"] is None else f"{row['score']:.1f}" + ("*" if row["partial"] else "")]
    if not has_score(board):
        cells.pop()
    for task in board["tasks"]:
        cell = row["tasks"].get(task["name"])
        cells.append("<br>".join(_metric_html(cell[m]) for m in task["metrics"] if m in cell) if cell else "-")
    speed = row["examples_per_second"]
    cells += ["-" if is_floor(row) else f"{row['parameters'] / 1e6:.1f}M<br><small>{row['size_bytes'] / 1e6:.1f} MB</small>",
              "-" if speed is None else f"{speed:,.0f}"]
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def render_html(board: dict[str, Any], title: str, folder: Path | None = None) -> str:
    """The page; with ``folder``, the charts are also written there as SVG files."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in
                   ["Model", *([board["score"]["label"]] if has_score(board) else []),
                    *(t["display_name"] for t in board["tasks"]), "Params / size", "Throughput (ex/s)"])
    body = "".join(_html_row(board, row) for row in board["rows"])
    charts = []
    for file_name, x_label, x_of in CHARTS:
        svg = chart_svg(board, x_label, x_of)
        if svg is None:
            continue
        if folder is not None:
            write_atomic(Path(folder) / file_name, svg)
        charts.append("<figure>" + svg[svg.index("<svg"):] + "</figure>")
    comparisons = ""
    if board["comparisons"]:
        rows = "".join(
            f"<tr><td>{html.escape(c['task'])}</td><td>{html.escape(c['metric'])}</td><td>{html.escape(c['a'])} "
            f"({100 * c['a_value']:.2f})</td><td>{html.escape(c['b'])} ({100 * c['b_value']:.2f})</td>"
            f"<td>{100 * c['difference']:+.2f}</td><td>[{100 * c['ci95'][0]:+.2f}, {100 * c['ci95'][1]:+.2f}]</td>"
            f"<td>{html.escape(p_text(c)).replace(' ', '&nbsp;')}</td><td>{html.escape(verdict(c))}</td></tr>"
            for c in board["comparisons"])
        comparisons = ("<h2>Comparisons</h2><div class=\"wrap\"><table><thead><tr><th>task</th><th>metric</th>"
                       "<th>A</th><th>B</th><th>A − B</th><th>95% interval</th><th>p</th><th>verdict</th></tr>"
                       f"</thead><tbody>{rows}</tbody></table></div><p>Paired bootstrap over the dev examples "
                       "(10,000 resamples), each side's metric averaged over its seeds; two-sided p-value; p ≥ 0.05 "
                       "is a tie.</p>")
    data = json.dumps(board).replace("</", "<\\/")  # raw text inside <script>: only "</" must go
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; max-width: 1200px; }}
.wrap {{ overflow-x: auto; }}
table {{ border-collapse: collapse; font-size: 13px; }}
th, td {{ border: 1px solid #d0d0d0; padding: 3px 6px; text-align: right; vertical-align: top; }}
th {{ background: #f3f3f3; }}
th:first-child, td:first-child {{ text-align: left; min-width: 8rem; max-width: 13rem; overflow-wrap: break-word; }}
td span {{ white-space: nowrap; }}
td small {{ color: #666; }}
.charts {{ display: flex; flex-wrap: wrap; gap: 1.5rem; margin-top: 1.5rem; }}
figure {{ margin: 0; }}
figure svg {{ max-width: 100%; height: auto; }}
p {{ font-size: 13px; max-width: 60rem; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<div class="wrap"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>
<p>{html.escape(legend(board)).replace('`*`', '<code>*</code>')}</p>
{comparisons}
<div class="charts">{''.join(charts)}</div>
<script type="application/json" id="leaderboard-data">{data}</script>
</body></html>
"""

