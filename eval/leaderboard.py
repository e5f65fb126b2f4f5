"""A leaderboard in every format a reader opens: JSON (the board), Markdown, CSV and HTML with charts."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from eval.core.artifacts import write_atomic, write_json
from eval.report import build_leaderboard, default_title, render_csv, render_markdown
from eval.report_html import render_html

LEADERBOARD_FILES = ("leaderboard.json", "leaderboard.md", "leaderboard.csv", "leaderboard.html")


def write_leaderboard(documents: list[dict[str, Any]], output_dir: str | Path, compare: Sequence[str] = (),
                      title: str | None = None) -> dict[str, Path]:
    """Write leaderboard.{json,md,csv,html} and the charts into ``output_dir``; returns the paths.

    Args:
        title: the heading; by default :func:`default_title` ("GLUE leaderboard", or the custom tasks' names).
    """
    board = build_leaderboard(documents, compare)
    title = title or default_title(board)
    folder = Path(output_dir)
    paths = dict(zip(("json", "md", "csv", "html"), (folder / name for name in LEADERBOARD_FILES)))
    write_json(paths["json"], board)
    write_atomic(paths["md"], f"# {title}\n\n" + render_markdown(board))
    write_atomic(paths["csv"], render_csv(board))
    write_atomic(paths["html"], render_html(board, title, folder))
    return paths
