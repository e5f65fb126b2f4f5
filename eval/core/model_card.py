"""Hugging Face model cards (``README.md``) for every model folder the toolkit writes.

The YAML header is built with ``huggingface_hub``'s ``ModelCardData`` and ``EvalResult``, so the
Hub (and ``ModelCard.load``) reads the ``model-index`` results: the dev metrics the GLUE harness
measured. It follows the Hub's conventions: ``license`` (the user's ``--license``, else the base
model's when known, else ``other`` with a sentence saying to set it), ``base_model`` as a Hub id (a local model folder is
followed to its own card's ``base_model``, so a student of ``runs/teacher`` names the Hub model
the teacher came from, never a local path), ``base_model_relation`` (``finetune`` for fine-tuned
and distilled models: the Hub has no ``distillation`` relation, so the body says what ``finetune``
stands for; ``quantized`` for INT8 copies), and ``datasets`` listing Hub datasets only. The body
says what the model is, what it came from, and the exact command and recipe that made it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from eval.core.artifacts import write_atomic

CARD_FILE = "README.md"
GLUE_DATASET = "nyu-mll/glue"
# Licenses of the Hub models the toolkit names by alias (distill/teachers.py), for students' cards.
HUB_LICENSES = {
    "bert-base-uncased": "apache-2.0",
    "bert-large-uncased": "apache-2.0",
    "google-bert/bert-base-uncased": "apache-2.0",
    "google-bert/bert-large-uncased": "apache-2.0",
    "sentence-transformers/all-MiniLM-L6-v2": "apache-2.0",
}
UNKNOWN_LICENSE = "other"
# A Hub license id (apache-2.0, mit, cc-by-sa-4.0, other): what a card's `license:` may hold.
LICENSE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+-]{0,63}")


def license_problem(license: str | None) -> str | None:
    """Why ``license`` cannot go in a card's header (``None``: it can, or none was given)."""
    if license is None or (isinstance(license, str) and LICENSE_ID.fullmatch(license)):
        return None
    return (f"license {license!r} is not a Hub license id; give one such as apache-2.0, mit, cc-by-4.0 or other "
            f"(letters, digits, '.', '-' and '+' only)")


@dataclass(frozen=True)
class ModelCard:
    """What a card says about one model folder.

    Attributes:
        title: the heading (usually the folder name).
        summary: one paragraph: what the model is and how it was made.
        task: the task it was trained or scored on (a GLUE task or a custom task), if any.
        metrics: dev metrics as fractions, keyed like the task's metrics (from the GLUE harness).
        base_model: the teacher or pre-trained model it came from: a Hub id, or a local model folder
            (the card names the ``base_model`` of that folder's own card).
        base_model_relation: how it relates to ``base_model``: ``finetune`` (fine-tuned, or distilled:
            the closest Hub value) or ``quantized``; written only when a Hub ``base_model`` is known.
        license: its license; default: the base model's when known, else ``other``.
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
    base_model_relation: str | None = None
    license: str | None = None
    library: str = "transformers"
    tags: tuple[str, ...] = ()
    command: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)


def _dataset(task) -> tuple[str, str | None, str, bool]:
    """``(dataset id, config, display name, on the Hub)`` of a task for the card's metadata.

    A task spec's local files are no Hub dataset: its results name the task, and ``datasets``
    does not list it; a spec reading a Hub dataset (``dataset: {path: org/name}``) names that.
    """
    hub_config = getattr(task, "hub_config", None)
    if getattr(task, "is_glue", False):
        return GLUE_DATASET, hub_config, f"GLUE {task.display_name}", True
    hub = getattr(task, "dataset", None)
    if hub is not None and not Path(hub.path).expanduser().exists():
        return hub.path, hub.name, task.display_name, True
    return task.name, None, task.display_name, False


def render_card(card: ModelCard) -> str:
    """The card as Markdown with a YAML header (what ``huggingface_hub.ModelCard.load`` parses)."""
    from huggingface_hub import EvalResult, ModelCardData

    results, datasets = [], []
    if card.task is not None:
        dataset, config, name, on_hub = _dataset(card.task)
        if on_hub:
            datasets.append(dataset)
        pipeline = "text-classification"
        results = [EvalResult(task_type=pipeline, dataset_type=dataset, dataset_name=name, dataset_config=config,
                              dataset_split="validation", metric_type=metric, metric_name=metric,
                              metric_value=round(float(value), 6))
                   for metric, value in (card.metrics or {}).items()]
    base_model, base_license = base_model_of(card.base_model)
    license = card.license or base_license or UNKNOWN_LICENSE
    relation = {"base_model_relation": card.base_model_relation} if card.base_model_relation and base_model else {}
    data = ModelCardData(
        model_name=card.title, license=license, base_model=base_model, datasets=datasets or None,
        eval_results=results or None, library_name=card.library, pipeline_tag="text-classification",
        tags=["bert-compression-toolkit", *card.tags], language="en",
        metrics=sorted(card.metrics) if card.metrics else None, **relation,
    )
    lines = [f"# {card.title}", "", card.summary, ""]
    if relation and "distillation" in card.tags:
        lines += [f"The Hub has no `distillation` relation, so the header names {base_model} with "
                  f"`base_model_relation: {card.base_model_relation}`, the closest one: this model learned from a "
                  f"model that came from {base_model}; it is not a copy of it.", ""]
    if card.metrics:
        lines += ["## Dev results", "", "| metric | value |", "|---|---|"]
        lines += [f"| {metric} | {100 * float(value):.2f} |" for metric, value in card.metrics.items()]
        lines += ["", "Measured on the validation split by the toolkit's GLUE harness (`glue eval`).", ""]
    lines += ["## How it was made", ""]
    if card.command:
        lines += ["```bash", card.command, "```", ""]
    rows = {name: value for name, value in card.settings.items() if value is not None}
    if rows:
        lines += ["| setting | value |", "|---|---|"]
        lines += [f"| {name} | {readable(value).replace('|', '/')} |" for name, value in rows.items()]
        lines.append("")
    lines += ["## License", "", _license_text(license, base_model if not card.license else None,
                                              given=bool(card.license or base_license)), ""]
    lines += ["Made with the BERT compression toolkit (TinyBERT distillation, INT8 quantization, GLUE harness).", ""]
    return f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(lines)


def readable(value: Any) -> str:
    """A setting as a person writes it: ``5e-05``, ``yes``, ``task sst2, split train, size 256``, ``none``."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, Mapping):
        return ", ".join(f"{key.replace('_', ' ')} {readable(item)}" for key, item in value.items() if item is not None)
    if isinstance(value, (list, tuple, set)):
        return ", ".join(readable(item) for item in value) or "none"
    return str(value)


def _license_text(license: str, base_model: str | None, given: bool) -> str:
    if given:
        source = f", that of its base model {base_model}" if base_model else ""
        return f"{license}{source}. The data it was trained on may carry terms of its own."
    return ("The toolkit does not know this model's license, so the header says `license: other`: set `license` "
            "there to the license of the base model and of the training data before you share it.")


def write_model_card(folder: str | Path, card: ModelCard) -> Path:
    """Write ``README.md`` into a model folder (atomically)."""
    return write_atomic(Path(folder) / CARD_FILE, render_card(card))


def describe_model(model: str) -> str:
    """How a card's text names a model: a Hub id as it is; a local folder by its name and the Hub
    model its own card names ("`teacher` (a local model from google-bert/bert-base-uncased)"), never
    by its path."""
    folder = Path(model).expanduser()
    if not folder.is_dir():
        return model
    base, _ = base_model_of(model)
    return f"`{folder.resolve().name}` (a local model{f' from {base}' if base else ''})"


def base_model_of(model: str | None) -> tuple[str | None, str | None]:
    """``(Hub id, license)`` a card names for a base model; each ``None`` where unknown.

    Only Hub ids belong in ``base_model``. A local model folder is followed to its own card: the
    ``base_model`` it names (a fine-tuned teacher in ``runs/teacher`` names the Hub model it was
    fine-tuned from) and its license. A Hub id is taken as it is, with its license when known.
    """
    if not model:
        return None, None
    folder = Path(model).expanduser()
    if folder.is_dir():
        header = card_header(folder)
        base = header.get("base_model")
        base = base[0] if isinstance(base, list) and base else base
        base = base if isinstance(base, str) and base else None
        license = header.get("license") if isinstance(header.get("license"), str) else None
        if license == UNKNOWN_LICENSE:
            license = None
        return base, license or HUB_LICENSES.get(base or "")
    if model.startswith((".", "/", "~")) or folder.exists():
        return None, None
    return model, HUB_LICENSES.get(model)


def card_header(folder: str | Path) -> dict[str, Any]:
    """The YAML header of a model folder's card (``README.md``), or ``{}`` when it has none readable."""
    from eval.core import safe_yaml
    from eval.core.errors import UserError

    try:
        text = (Path(folder) / CARD_FILE).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    if not text.startswith("---"):
        return {}
    header = text[3:].split("\n---", 1)[0]
    try:
        data = safe_yaml.load(header, f"the model card of {folder}")
    except UserError:
        return {}
    return data if isinstance(data, dict) else {}
