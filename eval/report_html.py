"""The leaderboard as a self-contained HTML page: the table and two matplotlib charts (score vs size, vs speed).

Charts are drawn with matplotlib into SVG files beside the page (``score_vs_size.svg``,
``score_vs_throughput.svg``) and inlined in it, so the page needs nothing from the network. Each
row is one point at its ranking value (:func:`eval.report.ranking`): colour by model family
(teacher, label-only, distilled, INT8...), marker shape by student size, a hollow marker for a
partial score; a second legend under the axes says what colour, shape and fill mean. Rows are
named in a legend rather than next to their points, so labels never overlap; points that would
cover each other are moved a few points apart around their true position, so none hides.
"""

from __future__ import annotations

import html
import io
import json
import math
from pathlib import Path
from typing import Any

from eval.board import Board, Row
from eval.core.artifacts import write_atomic
from eval.report import comparison_note, has_score, is_floor, legend, p_text, ranking, seed_count, setup_marks, verdict

# Model families by a word of the row name (first match wins); INT8 rows by their precision.
FAMILIES = {"teacher": "#222222", "distilled": "#1f5fbf", "student": "#1f5fbf", "pretrained": "#e08a00",
            "scratch": "#8c8c8c", "baseline": "#8c8c8c"}
INT8_COLOUR, OTHER_COLOUR = "#2a9d4a", "#8e44ad"
SIZES = {"tiny": "o", "mini": "s", "small": "^", "medium": "D", "tinybert4": "v", "tinybert6": "P"}
NO_SIZE = "*"  # a row whose name has no student size (a teacher, a model from elsewhere)
CHARTS = (("score_vs_size.svg", "size on disk (MB, log scale)", lambda r: r["size_bytes"] / 1e6),
          ("score_vs_throughput.svg", "throughput as evaluated (examples/s, log scale; how: see the table)",
           lambda r: r["examples_per_second"]))
MARKER_POINTS = 8.0  # marker diameter in points (scatter size 64 = 8²)
GAP = 1.3  # overlapping markers are moved this many diameters apart


def family(row: Row) -> tuple[str, str]:
    """``(family, colour)`` of a row."""
    if row["precision"] == "int8":
        return "INT8", INT8_COLOUR
    words = row["name"].replace("_", "-").split("-")
    name = next((f for f in FAMILIES if f in words), "other")
    return name, FAMILIES.get(name, OTHER_COLOUR)


def size_of(row: Row) -> str | None:
    """The student size a row's name contains (``tiny``, ``mini``...), if any."""
    words = row["name"].replace("_", "-").split("-")
    return next((size for size in SIZES if size in words), None)


def marker(row: Row) -> str:
    return SIZES.get(size_of(row), NO_SIZE)


def spread(pixels: list[tuple[float, float]], dpi: float) -> list[tuple[float, float]]:
    """Offsets in points that move overlapping markers apart: points closer than a marker's diameter form a
    group, and a group's members are placed on a small circle around where they were, ``GAP`` diameters apart.

    Args:
        pixels: the points' display positions, ``[(x, y), ...]`` in pixels.
        dpi: the figure's pixels per inch (a point is 1/72 inch).
    Returns:
        ``[(dx, dy), ...]`` in points, ``(0, 0)`` for a point that overlaps nothing.
    """
    limit = MARKER_POINTS * dpi / 72
    groups: list[list[int]] = []
    for i, (x, y) in enumerate(pixels):
        near = [g for g in groups if any(math.dist((x, y), pixels[j]) < limit for j in g)]
        groups = [g for g in groups if g not in near] + [[j for g in near for j in g] + [i]]
    offsets = [(0.0, 0.0)] * len(pixels)
    for group in (g for g in groups if len(g) > 1):
        # Neighbours on the circle GAP diameters apart: a gap shows where one marker ends and the next begins.
        radius = GAP * MARKER_POINTS / 2 / math.sin(math.pi / len(group))
        for k, j in enumerate(sorted(group)):
            angle = math.pi + 2 * math.pi * k / len(group)
            offsets[j] = (radius * math.cos(angle), radius * math.sin(angle))
    return offsets


def _encoding_handles(rows: list[dict[str, Any]], floors: bool) -> list:
    """Legend entries for what the marks mean: one per family colour, per size shape, hollow, dashed."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Patch(color=colour, label=f"colour: {name}") for name, colour in dict(map(family, rows)).items()]
    sizes = dict.fromkeys(size_of(row) for row in rows)
    handles += [Line2D([], [], marker=SIZES.get(size, NO_SIZE), linestyle="none", color="#666666",
                       label=f"shape: {size or 'no size in name'}") for size in sizes]
    if any(row["partial"] for row in rows):
        handles.append(Line2D([], [], marker="o", linestyle="none", markerfacecolor="white", color="#666666",
                              label="hollow: partial score"))
    if floors:
        handles.append(Line2D([], [], color="#b0b0b0", linestyle="--", label="dashed: floor (no model)"))
    return handles


def chart_svg(board: Board, x_label: str, x_of) -> str | None:
    """One scatter chart as SVG text (``None`` when no row has both a ranking value and an x value)."""
    from matplotlib import rc_context
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    from matplotlib.transforms import offset_copy

    y_label, y_of = ranking(board)
    points = [(row, x_of(row), y_of(row)) for row in board["rows"]
              if y_of(row) is not None and not is_floor(row) and x_of(row)]
    if not points:
        return None
    floors = [(row, y_of(row)) for row in board["rows"] if is_floor(row) and y_of(row) is not None]
    figure = Figure(figsize=(6.4, 4.0), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    drawn = []
    for row, x, y in points:
        _, colour = family(row)
        partial = row["partial"]  # hollow: a mean over fewer tasks than the others, not their score
        drawn.append(axes.scatter([x], [y], s=MARKER_POINTS ** 2, marker=marker(row), zorder=3,
                                  facecolor="white" if partial else colour, edgecolor=colour if partial else "white",
                                  linewidth=1.6 if partial else 0.8,
                                  label=f"{row['name']} ({y:.1f}{'*, partial' if partial else ''})"))
    for row, y in floors:  # a rule has no size or speed: a line across the chart
        axes.axhline(y, color="#b0b0b0", linestyle="--", linewidth=1.0, zorder=1,
                     label=f"{row['name']} ({y:.1f}{'*, partial' if row['partial'] else ''})")
    axes.set_xscale("log")
    logs = [math.log10(x) for _, x, _ in points]
    x_pad = max(0.15, 0.08 * (max(logs) - min(logs)))
    axes.set_xlim(10 ** (min(logs) - x_pad), 10 ** (max(logs) + x_pad))
    axes.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.10g}"))
    axes.xaxis.set_minor_formatter(NullFormatter())
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    axes.grid(True, which="both", color="#e5e5e5", linewidth=0.6, zorder=0)
    scores = [y for _, _, y in points] + [y for _, y in floors]
    low, high = min(scores), max(scores)
    pad = max(1.0, 0.08 * (high - low))
    axes.set_ylim(low - pad, high + pad)
    rows_legend = axes.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8, frameon=False)
    axes.add_artist(rows_legend)
    rows_legend.set_clip_on(False)  # add_artist clips to the axes, and this legend stands beside them
    axes.legend(handles=_encoding_handles([row for row, _, _ in points], bool(floors)), loc="upper center",
                bbox_to_anchor=(0.5, -0.16), ncol=3, fontsize=7.5, frameon=False, handlelength=1.2,
                title="what the marks mean (points that would overlap are moved a few points apart)",
                title_fontsize=7.5)
    figure.draw_without_rendering()  # lays the axes out, so overlaps are measured where they will be drawn
    pixels = [tuple(axes.transData.transform((x, y))) for _, x, y in points]
    for collection, (dx, dy) in zip(drawn, spread(pixels, figure.dpi)):
        if dx or dy:
            collection.set_offset_transform(offset_copy(axes.transData, figure, x=dx, y=dy, units="points"))
    buffer = io.StringIO()
    # A fixed salt for the SVG's element ids and no date: the same board draws the same bytes.
    with rc_context({"svg.hashsalt": "glue-report"}):
        figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    return buffer.getvalue()


def _metric_html(value: dict) -> str:
    std = f"<small> ±{100 * value['std']:.1f}</small>" if value["std"] is not None else ""
    return f"<span>{100 * value['mean']:.1f}{std}</span>"


def _html_row(board: Board, row: Row) -> str:
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
    measured = "".join(f"<br><small>{html.escape(setup)}</small>" for setup in row["measured_with"])
    cells += ["-" if is_floor(row) else f"{row['parameters'] / 1e6:.1f}M<br><small>{row['size_bytes'] / 1e6:.1f} MB</small>",
              "-" if speed is None else f"{speed:,.0f}{setup_marks(board, row)}{measured}"]
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def render_html(board: Board, title: str, folder: Path | None = None) -> str:
    """The page; with ``folder``, the charts are also written there as SVG files."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in
                   ["Model", *([board["score"]["label"]] if has_score(board) else []),
                    *(t["display_name"] for t in board["tasks"]), "Params / size", board["throughput"]["label"]])
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
                       f"</thead><tbody>{rows}</tbody></table></div><p>{html.escape(comparison_note(board))}</p>")
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
td:last-child small {{ white-space: nowrap; }}
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

