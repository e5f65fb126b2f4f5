"""Hugging Face model cards (``README.md``) for every model folder the toolkit writes.

The YAML header is built with ``huggingface_hub``'s ``ModelCardData`` and ``EvalResult``, so the
Hub (and ``ModelCard.load``) reads the ``model-index`` results: the dev metrics the GLUE harness
measured. The body says what the model is, what it came from, and the exact command and recipe
that made it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from eval.artifacts import write_atomic

CARD_FILE = "README.md"
GLUE_DATASET = "nyu-mll/glue"


@dataclass(frozen=True)
class ModelCard:
    """What a card says about one model folder.

    Attributes:
        title: the heading (usually the folder name).
        summary: one paragraph: what the model is and how it was made.
        task: the task it was trained or scored on (a GLUE task or a custom task), if any.
        metrics: dev metrics as fractions, keyed like the task's metrics (from the GLUE harness).
        base_model: the teacher or pre-trained model it came from.
        library: ``transformers`` or ``onnxruntime``.
        tags: extra Hub tags (``distillation``, ``int8``, ...).
        command: the exact command that reproduces the folder.
        settings: name -> value rows for the "How it was made" table (recipe, INT8 settings...).
    """

    title: str
    summary: str
    task: Any | None = None
    metrics: Mapping[str, float] | None = None
    base_model: str | None = None
    library: str = "transformers"
    tags: tuple[str, ...] = ()
    command: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)


def _dataset(task) -> tuple[str, str | None, str]:
    """``(dataset id, config, display name)`` of a task for the card's metadata."""
    hub_config = getattr(task, "hub_config", None)
    if getattr(task, "score_group", None) is not None or getattr(task, "name", None) == "ax":
        return GLUE_DATASET, hub_config, f"GLUE {task.display_name}"
    return getattr(task, "dataset_id", None) or task.name, None, task.display_name


def render_card(card: ModelCard) -> str:
    """The card as Markdown with a YAML header (what ``huggingface_hub.ModelCard.load`` parses)."""
    from huggingface_hub import EvalResult, ModelCardData

    results, datasets = [], []
    if card.task is not None:
        dataset, config, name = _dataset(card.task)
        datasets.append(dataset)
        pipeline = "text-classification"
        results = [EvalResult(task_type=pipeline, dataset_type=dataset, dataset_name=name, dataset_config=config,
                              dataset_split="validation", metric_type=metric, metric_name=metric,
                              metric_value=round(float(value), 6))
                   for metric, value in (card.metrics or {}).items()]
    data = ModelCardData(
        model_name=card.title, base_model=_hub_id(card.base_model), datasets=datasets or None,
        eval_results=results or None, library_name=card.library, pipeline_tag="text-classification",
        tags=["bert-compression-toolkit", *card.tags], language="en",
        metrics=sorted(card.metrics) if card.metrics else None,
    )
    lines = [f"# {card.title}", "", card.summary, ""]
    if card.metrics:
        lines += ["## Dev results", "", "| metric | value |", "|---|---|"]
        lines += [f"| {metric} | {100 * float(value):.2f} |" for metric, value in card.metrics.items()]
        lines += ["", "Measured on the validation split by the toolkit's GLUE harness (`glue eval`).", ""]
    lines += ["## How it was made", ""]
    if card.command:
        lines += ["```bash", card.command, "```", ""]
    if card.settings:
        lines += ["| setting | value |", "|---|---|"]
        lines += [f"| {name} | `{value}` |" for name, value in card.settings.items()]
        lines.append("")
    lines += ["Made with the BERT compression toolkit (TinyBERT distillation, INT8 quantization, GLUE harness).", ""]
    return f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(lines)


def write_model_card(folder: str | Path, card: ModelCard) -> Path:
    """Write ``README.md`` into a model folder (atomically)."""
    return write_atomic(Path(folder) / CARD_FILE, render_card(card))


def _hub_id(model: str | None) -> str | None:
    """Only Hub ids belong in ``base_model``; local folders are named in the body instead."""
    if not model or model.startswith((".", "/", "~")) or Path(model).expanduser().exists():
        return None
    return model
