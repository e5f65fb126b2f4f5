"""Leaderboards: results files -> one JSON board -> Markdown, CSV and an HTML page with charts.

The board (``leaderboard.json``) is the single source; the other formats are rendered from it.

Rows are models by name (``glue eval --name``, default the folder name). Results of one name for
one task from different model folders are replicates — the same configuration trained with other
seeds — and every cell shows their mean ± sample standard deviation; results of the *same* folder
and task replace each other (the later file wins).

Columns are the tasks present, GLUE tasks in the benchmark's order and then custom tasks (task
specs). The GLUE Score follows the server's rule — the mean over tasks, a task with two metrics
counting their mean, MNLI-m and -mm counting once together — taken over the GLUE tasks this board
has, and labelled with how many (e.g. "GLUE Score (6 tasks)"): it is comparable between rows of
one board, not with the nine-task Score of the GLUE server. A row that lacks some of the board's
tasks gets the mean of what it has and is marked partial. Custom tasks never count. The Score is
shown only when it averages two or more GLUE tasks: over one it would repeat that task's column.

Rows rank by the GLUE Score where it is shown, else by the first task's main metric (descending):
a board of custom tasks ranks by its own metric, never alphabetically. Its default title names its
tasks ("Wiki topics leaderboard") instead of GLUE; a caller's title always wins.

Throughput is model time on the split as each row was evaluated, so every row records how it was
measured (backend, device, threads, batch size, sequence length); rows measured differently (e.g.
PyTorch eager beside ONNX Runtime) are marked as such rather than silently compared.

``compare`` pairs (``"A:B"``) add a paired bootstrap test of row A against row B on every task
both have (:mod:`eval.stats`), from the per-example predictions that results files carry.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from statistics import fmean
from typing import Any, Callable, Iterable, Sequence

from eval.board import Board, Row
from eval.board import Comparison as ComparisonRecord
from eval.core.errors import UserError
from eval.harness import RESULTS_SCHEMA, RESULTS_VERSION
from eval.metrics import METRICS
from eval.stats import RESAMPLES, Comparison, mean_std, paired_bootstrap
from eval.tasks import TASKS, task_metadata

GLUE_ORDER = tuple(TASKS)
SCORE_GROUPS = tuple(dict.fromkeys(t.score_group for t in TASKS.values() if t.score_group))
SIGNIFICANCE = 0.05


# ------------------------------------------------------------------------------------------ input


def load_results(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    """Read results files written by ``glue eval`` (folders: every ``*.json`` in them), checked.

    Raises:
        UserError: a missing or foreign file, or one whose metrics are not numbers.
    """
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(path.glob("*.json"))
            if not found:
                raise UserError(f"folder {path} holds no results files (*.json)")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise UserError(f"results file {path} does not exist")
    return [_checked(path) for path in files]


def _checked(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise UserError(f"{path} is not JSON; pass files written by `glue eval --output`") from None
    if not isinstance(document, dict) or document.get("schema") != RESULTS_SCHEMA:
        raise UserError(f"{path} is not a GLUE results file of this toolkit (no schema {RESULTS_SCHEMA!r}); "
                        f"pass files written by `glue eval --output`")
    version = document.get("schema_version")
    if isinstance(version, bool) or version not in range(1, RESULTS_VERSION + 1):
        raise UserError(f"{path} has schema_version {version!r}, which this toolkit does not know (1 to "
                        f"{RESULTS_VERSION}); re-run `glue eval` for it with this version of the toolkit")
    model, results = document.get("model"), document.get("results")
    if not isinstance(model, dict) or not isinstance(results, dict) or not results:
        raise UserError(f"{path} has no model or no results; re-run `glue eval` for it")
    for task, entry in results.items():
        metrics = entry.get("metrics") if isinstance(entry, dict) else None
        if not isinstance(metrics, dict) or not metrics:
            raise UserError(f"{path}: task {task!r} has no metrics; re-run `glue eval` for it")
        bad = [m for m, v in metrics.items() if isinstance(v, bool) or not isinstance(v, (int, float))
               or not math.isfinite(v)]
        if bad:
            raise UserError(f"{path}: task {task!r} has metrics that are not finite numbers ({', '.join(bad)}); "
                            f"re-run `glue eval` for it")
        problems = _entry_problems(task, entry)
        if problems:
            raise UserError(f"{path}: task {task!r} {'; '.join(problems)}: it was not written by `glue eval` as it "
                            f"is; re-run `glue eval` for it")
        _task_info(task, entry, path)
    document["_file"] = str(path)
    return document


_SLACK = 1e-9  # float rounding of a correlation of exactly 1 (pearsonr can give 1.0000000000000002)


def _entry_problems(task: str, entry: dict) -> list[str]:
    """What a results entry holds that ``glue eval`` never writes: unknown metrics or values out of their
    range (fractions in [0, 1], correlations in [-1, 1]), no examples, or another task's name."""
    problems = []
    for name, value in entry["metrics"].items():
        metric = METRICS.get(name)
        low = -1.0 if metric is not None and metric.correlation else 0.0
        if metric is None:
            problems.append(f"has an unknown metric {name!r} (known: {', '.join(METRICS)})")
        elif not low - _SLACK <= value <= 1 + _SLACK:
            problems.append(f"has {name} {value!r}, outside [{low:g}, 1]")
    examples = entry.get("num_examples")
    if isinstance(examples, bool) or not isinstance(examples, int) or examples < 1:
        problems.append(f"has num_examples {examples!r}, not a count of at least 1")
    info = entry.get("task_info")
    names = {"task": entry.get("task"), "task_info.name": info.get("name") if isinstance(info, dict) else None}
    problems += [f"is keyed {task!r} but its {key} is {value!r}" for key, value in names.items()
                 if value is not None and value != task]
    return problems


def _task_info(task: str, entry: dict, path: Path | str) -> dict[str, Any]:
    """The task's metadata: recorded in the results (schema 2), else the GLUE registry's (schema 1)."""
    info = entry.get("task_info")
    if isinstance(info, dict) and info.get("metrics"):
        return info
    if task in TASKS:
        return task_metadata(TASKS[task])
    raise UserError(f"{path}: unknown task {task!r} without task metadata; re-run `glue eval` for it")


# ------------------------------------------------------------------------------------------ board


def build_leaderboard(documents: list[dict[str, Any]], compare: Sequence[str] = ()) -> Board:
    """Merge results documents into rows (one per model name) and the task columns they fill."""
    rows: dict[str, dict[str, Any]] = {}
    tasks: dict[str, dict[str, Any]] = {}
    for document in documents:
        model = document["model"]
        row = rows.setdefault(model["name"], {"name": model["name"], "backend": model["backend"],
                                              "precision": model["precision"], "models": {}, "entries": {},
                                              "setups": []})
        row["models"][model["path"]] = model
        setup = measured_with(document)
        if model["backend"] != "rule" and setup not in row["setups"]:  # a floor is a rule, never timed
            row["setups"].append(setup)
        for task, entry in document["results"].items():
            tasks.setdefault(task, _task_info(task, entry, document.get("_file", "?")))
            row["entries"].setdefault(task, {})[model["path"]] = entry  # same folder: the later file wins
    columns = sorted(tasks.values(), key=lambda t: (not t["is_glue"], GLUE_ORDER.index(t["name"])
                                                     if t["name"] in GLUE_ORDER else 0, t["name"]))
    groups = list(dict.fromkeys(t["score_group"] for t in columns if t["is_glue"] and t["score_group"]))
    splits = sorted({e.get("split", "dev") for d in documents for e in d["results"].values()})
    board = {
        "splits": splits,
        "tasks": columns,
        "score": {"label": score_label(len(groups)), "groups": groups},
        "throughput": {"label": f"Throughput (ex/s, {'/'.join(splits)}, as evaluated)", "setups": []},
        "rows": [_row(row, tasks, groups) for row in rows.values()],
        "comparisons": [c.as_dict() for c in compare_rows(rows, tasks, compare)],
    }
    label, value_of = ranking(board)
    board["ranked_by"] = label
    if has_score(board):
        board["rows"].sort(key=lambda r: (r["partial"], -(r["score"] if r["score"] is not None else -1e9), r["name"]))
    else:
        board["rows"].sort(key=lambda r: (value_of(r) is None, -(value_of(r) or 0.0), r["name"]))
    # Marks [a], [b]... follow the rows: the top row's measurement is [a].
    board["throughput"]["setups"] = list(dict.fromkeys(s for r in board["rows"] for s in r["measured_with"]))
    return board


def ranking(board: Board) -> tuple[str, Callable[[Row], float | None]]:
    """What rows rank by and the charts plot, and how to read it off a row (in points, ``None`` if absent):
    the GLUE Score where the board shows it, else the first task's main metric."""
    if has_score(board):
        return board["score"]["label"], lambda row: row["score"]
    first = board["tasks"][0]
    task, metric = first["name"], first["main_metric"]

    def value(row: Row) -> float | None:
        cell = row["tasks"].get(task, {}).get(metric)
        return None if cell is None else 100 * cell["mean"]

    return f"{first['display_name']} {METRIC_NAMES.get(metric, metric)}", value


def default_title(board: Board) -> str:
    """"GLUE leaderboard", or for a board of custom tasks only, its tasks' names ("Wiki topics leaderboard")."""
    if any(t["is_glue"] for t in board["tasks"]):
        return "GLUE leaderboard"
    return f"{', '.join(t['display_name'] for t in board['tasks'])} leaderboard"


BACKENDS = {"torch": "PyTorch eager", "onnxruntime": "ONNX Runtime", "neural-compressor": "PyTorch INT8 (INC)"}


def measured_with(document: dict[str, Any]) -> str:
    """How a results file's throughput was measured, e.g. "PyTorch eager, cpu, all 2 cores, batch 64, ≤128 tokens"."""
    model, settings = document["model"], document.get("settings") or {}
    parts = [BACKENDS.get(model["backend"], model["backend"]), str(model.get("device") or "cpu")]
    if parts[1] == "cpu":
        cores = (document.get("cpu") or {}).get("cores")
        threads = settings.get("threads")
        parts.append(f"{threads} thread{'s' if threads != 1 else ''}" if threads
                     else f"all {cores} cores" if cores else "default threads")
    if settings.get("batch_size"):
        parts.append(f"batch {settings['batch_size']}")
    if settings.get("max_seq_length"):
        parts.append(f"≤{settings['max_seq_length']} tokens")
    return ", ".join(parts)


def score_label(groups: int) -> str:
    return "GLUE Score" if groups == len(SCORE_GROUPS) else f"GLUE Score ({groups} task{'s' if groups != 1 else ''})"


def glue_score(cells: dict[str, dict], tasks: dict[str, dict], only: set[str] | None = None
               ) -> tuple[float | None, set[str]]:
    """The GLUE server's rule over a row's cells (or ``only`` those tasks), in points, and the score
    groups it averaged: a task's metrics are averaged, then a group's tasks, then the groups."""
    by_group: dict[str, list[float]] = {}
    for task, cell in cells.items():
        info = tasks[task]
        if (only is None or task in only) and info["is_glue"] and info["score_group"] \
                and len(cell) == len(info["metrics"]):
            by_group.setdefault(info["score_group"], []).append(fmean(100 * m["mean"] for m in cell.values()))
    return (fmean(fmean(v) for v in by_group.values()) if by_group else None), set(by_group)


def _row(row: Row, tasks: dict[str, dict], groups: list[str]) -> dict[str, Any]:
    cells, examples, seconds = {}, 0, 0.0
    for task, by_model in row["entries"].items():
        entries = list(by_model.values())
        cell = {}
        for metric in tasks[task]["metrics"]:
            values = [float(e["metrics"][metric]) for e in entries if metric in e["metrics"]]
            if values:
                mean, std = mean_std(values)
                cell[metric] = {"mean": mean, "std": std, "n": len(values)}
        cells[task] = cell
        examples += sum(int(e.get("num_examples", 0)) for e in entries)
        seconds += sum(float(e.get("throughput", {}).get("seconds", 0.0)) for e in entries)
    score, scored_groups = glue_score(cells, tasks)
    models = list(row["models"].values())
    counts = [c["n"] for cell in cells.values() for c in cell.values()]
    return {
        "name": row["name"], "backend": row["backend"], "precision": row["precision"],
        "parameters": round(fmean(m["parameters"] for m in models)),
        "size_bytes": round(fmean(m["size_bytes"] for m in models)),
        "models": len(models),
        # Tasks of one row may have run with different numbers of seeds (a study still running).
        "seeds": max(counts, default=0),
        "seeds_min": min(counts, default=0),
        "score": score,
        "partial": scored_groups != set(groups),
        "examples_per_second": examples / seconds if seconds else None,
        "measured_with": row["setups"],
        "tasks": cells,
    }


def seed_count(row: Row) -> str:
    """The seeds behind a row's cells: ``3``, or ``1–3`` when its tasks have different numbers."""
    low = row.get("seeds_min", row["seeds"])
    return str(row["seeds"]) if low == row["seeds"] else f"{low}–{row['seeds']}"


def compare_rows(rows: dict[str, dict], tasks: dict[str, dict], pairs: Sequence[str]) -> list[Comparison]:
    """Paired bootstrap tests of row A against row B, on every task and metric both have.

    Raises:
        UserError: a pair not written ``A:B``, or naming a row the board does not have.
    """
    out = []
    for pair in pairs:
        a, sep, b = pair.partition(":")
        if not sep or a not in rows or b not in rows:
            raise UserError(f"--compare {pair!r}: give A:B with two row names of this board "
                            f"({', '.join(sorted(rows))})")
        for task in [t for t in rows[a]["entries"] if t in rows[b]["entries"]]:
            side_a, side_b = (list(rows[x]["entries"][task].values()) for x in (a, b))
            labels = side_a[0].get("labels")
            if labels is None or any(e.get("labels") != labels or e.get("predictions") is None
                                     for e in side_a + side_b):
                continue  # older results without predictions, or scored on different examples
            for metric in tasks[task]["metrics"]:
                test = paired_bootstrap(metric, [e["predictions"] for e in side_a], [e["predictions"] for e in side_b],
                                        labels, resamples=RESAMPLES)
                out.append(Comparison(task=task, metric=metric, a=a, b=b, seeds=(len(side_a), len(side_b)),
                                      examples=len(labels), resamples=RESAMPLES, **test))
    return out


def p_text(comparison: ComparisonRecord) -> str:
    """The p-value as printed: a bootstrap with R resamples cannot tell p below 2/R, so 0 reads "< 2/R"."""
    if comparison["p_value"] > 0:
        return f"{comparison['p_value']:.4f}"
    return f"< {2 / comparison['resamples']:.4f}"


def verdict(comparison: ComparisonRecord) -> str:
    if comparison["p_value"] >= SIGNIFICANCE:
        return "tie (within noise)"
    return f"{comparison['a'] if comparison['difference'] > 0 else comparison['b']} better"


# ---------------------------------------------------------------------------------------- renders


def cell_parts(cell: dict[str, dict] | None, metrics: Sequence[str]) -> list[str]:
    """``88.1`` or ``88.1 ± 0.5`` for each metric of a cell (in percent); ``["-"]`` for none."""
    if not cell:
        return ["-"]

    def one(value: dict) -> str:
        text = f"{100 * value['mean']:.1f}"
        return text + (f" ± {100 * value['std']:.1f}" if value["std"] is not None else "")

    return [one(cell[m]) for m in metrics if m in cell]


def setup_marks(board: Board, row: Row) -> str:
    """`` [a]`` naming the row's measurement in the legend's key; empty when every row was measured alike."""
    setups = board["throughput"]["setups"]
    if len(setups) < 2 or is_floor(row):
        return ""
    return f" [{','.join(chr(ord('a') + setups.index(s)) for s in row['measured_with'])}]"


def table(board: Board, join: str = "/") -> list[list[str]]:
    """The leaderboard as rows of display strings, header first; a cell's metrics joined by ``join``."""
    header = ["Model", board["score"]["label"], *(t["display_name"] for t in board["tasks"]), "Seeds",
              "Params", "Size (MB)", board["throughput"]["label"]]
    lines = [header]
    for row in board["rows"]:
        score = "-" if row["score"] is None else f"{row['score']:.1f}" + ("*" if row["partial"] else "")
        speed = row["examples_per_second"]
        floor = is_floor(row)
        lines.append([f"{row['name']} " + ("(floor: no model)" if floor else f"({row['backend']}, {row['precision']})"),
                      score,
                      *(join.join(cell_parts(row["tasks"].get(t["name"]), t["metrics"])) for t in board["tasks"]),
                      "-" if floor else seed_count(row), "-" if floor else f"{row['parameters'] / 1e6:.1f}M",
                      "-" if floor else f"{row['size_bytes'] / 1e6:.1f}", "-" if speed is None else f"{speed:,.0f}{setup_marks(board, row)}"])
    return lines if has_score(board) else [line[:1] + line[2:] for line in lines]


def is_floor(row: Row) -> bool:
    """A trivial floor (``glue floors``): a rule that learns nothing from text, not a model."""
    return row["backend"] == "rule"


def has_score(board: Board) -> bool:
    """Whether the board has a GLUE Score column: only when it averages two or more GLUE tasks (over one
    it would repeat that task's column)."""
    return len(board["score"]["groups"]) >= 2


METRIC_NAMES = {"matthews_correlation": "Matthews correlation", "f1": "F1", "f1_macro": "macro-F1",
                "accuracy": "accuracy", "pearson": "Pearson", "spearmanr": "Spearman"}


def throughput_note(board: Board) -> str:
    """What the throughput column measured: one setup for all rows, or a key to the rows' ``[a]`` marks."""
    setups = board["throughput"]["setups"]
    if not setups:
        return ""
    text = ("Throughput: examples per second of model time (no tokenization) over the split, as each row was "
            "evaluated")
    if len(setups) == 1:
        return f"{text}: {setups[0]}."
    key = "; ".join(f"[{chr(ord('a') + i)}] {s}" for i, s in enumerate(setups))
    return f"{text} — rows with different marks were measured differently and do not compare speed for speed: {key}."


FLOOR_NOTES = {
    "floor-majority": "floor-majority predicts the most frequent training label (regression: the mean training "
                      "score, whose correlations are undefined and shown as 0)",
    "floor-word-overlap": "floor-word-overlap uses the word overlap of a pair's two texts (classification: a "
                          "threshold fitted on train)",
}


def comparison_note(board: Board) -> str:
    """How the comparisons were tested, naming the split they were scored on."""
    split = "/".join(board.get("splits") or ["dev"])
    return (f"Paired bootstrap over the {split} examples ({RESAMPLES:,} resamples), each side's metric averaged over its "
            "seeds; two-sided p-value; a difference with p ≥ 0.05 is a tie.")


def legend(board: Board) -> str:
    per_task = "; ".join(f"{t['display_name']}: {'/'.join(METRIC_NAMES.get(m, m) for m in t['metrics'])}"
                         for t in board["tasks"])
    text = f"Metrics in percent ({per_task}). Mean ± standard deviation over seeds where a row has several."
    floors = {row["name"] for row in board["rows"] if is_floor(row)}
    said = [text for name, text in FLOOR_NOTES.items() if name in floors]
    if said:
        text += f" Floors (no model): {'; '.join(said)}."
    if has_score(board):
        text += (f" {board['score']['label']}: the GLUE server's rule over the GLUE tasks of this board only; "
                 f"`*` marks a partial score (the mean of the tasks the row has).")
    else:
        text += f" Rows rank by {board['ranked_by']}."
    return f"{text} {throughput_note(board)}".rstrip()


def render_markdown(board: Board) -> str:
    lines = table(board)
    out = ["| " + " | ".join(lines[0]) + " |", "|" + "---|" * len(lines[0])]
    out += ["| " + " | ".join(line) + " |" for line in lines[1:]]
    out += ["", legend(board)]
    if board["comparisons"]:
        out += ["", "| task | metric | A | B | A − B | 95% interval | p | verdict |", "|---|---|---|---|---|---|---|---|"]
        out += [f"| {c['task']} | {c['metric']} | {c['a']} ({100 * c['a_value']:.2f}) | {c['b']} "
                f"({100 * c['b_value']:.2f}) | {100 * c['difference']:+.2f} | [{100 * c['ci95'][0]:+.2f}, "
                f"{100 * c['ci95'][1]:+.2f}] | {p_text(c)} | {verdict(c)} |" for c in board["comparisons"]]
        out += ["", comparison_note(board)]
    return "\n".join(out) + "\n"


def render_csv(board: Board) -> str:
    """One row per model, numbers only (and how its throughput was measured): a mean, std and seed count column
    per task metric."""
    metrics = [(t["name"], m) for t in board["tasks"] for m in t["metrics"]]
    header = ["model", "backend", "precision", "parameters", "size_bytes", "examples_per_second",
              "throughput_measured_with", "score",
              "score_partial", *(f"{t}.{m}.{part}" for t, m in metrics for part in ("mean", "std", "n"))]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in board["rows"]:
        values = []
        for task, metric in metrics:
            cell = row["tasks"].get(task, {}).get(metric)
            values += ["", "", 0] if cell is None else [cell["mean"], "" if cell["std"] is None else cell["std"],
                                                         cell["n"]]
        writer.writerow([row["name"], row["backend"], row["precision"], row["parameters"], row["size_bytes"],
                         "" if row["examples_per_second"] is None else row["examples_per_second"],
                         "; ".join(row["measured_with"]),
                         "" if row["score"] is None else row["score"], row["partial"], *values])
    return buffer.getvalue()
