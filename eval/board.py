"""The leaderboard's schema: what :func:`eval.report.build_leaderboard` returns, ``leaderboard.json``
holds, and both renderers (Markdown/CSV in :mod:`eval.report`, HTML in :mod:`eval.report_html`) read.

Typed dicts, so the board stays plain JSON on disk and every key is declared in one place; a key
a renderer reads that is not declared here is a type error, not a silent ``KeyError`` at report time.
"""

from __future__ import annotations

from typing import TypedDict


class MetricCell(TypedDict):
    """One metric of one task for one row: mean and standard deviation over its seeds (fractions)."""

    mean: float
    std: float | None
    n: int


Cell = dict[str, MetricCell]  # metric name -> its values, for one task of one row


class TaskColumn(TypedDict):
    """A task's metadata as a results file records it (``eval.tasks.task_metadata``)."""

    name: str
    display_name: str
    is_glue: bool
    score_group: str | None
    metrics: list[str]
    main_metric: str
    is_regression: bool
    label_names: list[str]
    spec: str | None


class Row(TypedDict):
    """One model name: its results merged over seeds (model folders), task by task."""

    name: str
    backend: str
    precision: str
    parameters: int
    size_bytes: int
    models: int
    seeds: int
    seeds_min: int
    score: float | None  # GLUE Score in points, over the score groups the row has
    partial: bool  # the score averages fewer groups than the board has
    examples_per_second: float | None
    measured_with: list[str]
    tasks: dict[str, Cell]


class Comparison(TypedDict):
    """A paired test of row ``a`` against row ``b`` (``eval.stats.Comparison.as_dict``)."""

    task: str
    metric: str
    a: str
    b: str
    a_value: float
    b_value: float
    difference: float
    ci95: tuple[float, float]
    p_value: float
    seeds: tuple[int, int]
    examples: int
    resamples: int
    test: str


class Score(TypedDict):
    label: str
    groups: list[str]


class Throughput(TypedDict):
    label: str
    setups: list[str]


class Board(TypedDict):
    splits: list[str]
    tasks: list[TaskColumn]
    score: Score
    throughput: Throughput
    rows: list[Row]
    comparisons: list[Comparison]
    ranked_by: str
