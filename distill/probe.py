"""Transfer probe: does an encoder (a general-distilled student) know anything a task can use?

Two cheap measurements of a frozen encoder, each made for the teacher too, so a user sees from
minutes of CPU whether general distillation worked before spending hours on task distillation:

- ``zero_shot``: sentence similarity with no training. The two sentences of STS-B pairs are
  encoded apart, their last hidden states mean-pooled over real tokens, and the cosine of the two
  vectors is correlated with the gold scores (Pearson and Spearman, in points). Pairs come from
  the **train** split (a seeded sample): nothing is fitted, and the dev split stays untouched for
  the reports that tune nothing on it.
- ``linear``: a logistic regression on the frozen mean-pooled vectors of a small labelled task
  (SST-2 by default; any task name or spec), fitted on two thirds of a seeded train sample for a few
  hundred full-batch steps and scored on the other third.

A random encoder scores near 0 on the first and near the majority class on the second; the
teacher's figures are the ceiling.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from distill.config import ProbeSettings
from eval.batching import encode, length_sorted_batches
from eval.core.console import warn
from eval.data import GlueData, load_split
from eval.core.errors import UserError
from eval.metrics import score
from eval.tasks import get_task

PROBE_FILE = "probe.json"  # beside a general-distilled student


def _sample(data: GlueData, count: int, seed: int) -> GlueData:
    rows = np.random.default_rng(seed).permutation(len(data))[:count]
    return data.subset(sorted(rows.tolist()))


@torch.inference_mode()
def sentence_vectors(model: nn.Module, tokenizer, texts: list[str], max_seq_length: int, batch_size: int = 64,
                     device: str = "cpu") -> np.ndarray:
    """Mean-pooled last hidden states of single texts, ``[len(texts), hidden]`` (float32)."""
    data = GlueData(None, "probe", [(t,) for t in texts], None, list(range(len(texts))), "probe")
    encoded = encode(tokenizer, data, max_seq_length)
    out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    model.eval()
    for rows, batch in length_sorted_batches(encoded, batch_size):
        inputs = {k: torch.from_numpy(v).to(device) for k, v in batch.items()}
        states = model(**inputs).last_hidden_state
        mask = inputs["attention_mask"].unsqueeze(-1).to(states.dtype)
        out[rows] = ((states * mask).sum(1) / mask.sum(1).clamp(min=1)).float().cpu().numpy()
    return out


def zero_shot_similarity(model: nn.Module, tokenizer, settings: ProbeSettings, device: str = "cpu") -> dict[str, Any]:
    task = get_task(settings.similarity_task)
    if len(task.text_columns) != 2 or not task.is_regression:
        raise UserError(f"probe.similarity_task {task.name} must be a pair task with similarity scores (e.g. stsb)")
    data = _sample(load_split(task, "train", settings.data_dir), settings.examples, settings.seed)
    first = sentence_vectors(model, tokenizer, [t[0] for t in data.texts], settings.max_seq_length, device=device)
    second = sentence_vectors(model, tokenizer, [t[1] for t in data.texts], settings.max_seq_length, device=device)
    norms = np.linalg.norm(first, axis=1) * np.linalg.norm(second, axis=1)
    cosine = (first * second).sum(axis=1) / np.maximum(norms, 1e-12)
    metrics = score(task, cosine, data.labels).values
    return {"task": task.name, "split": "train", "pairs": len(data),
            **{name: round(100 * value, 2) for name, value in metrics.items()}}


def linear_probe(model: nn.Module, tokenizer, settings: ProbeSettings, device: str = "cpu") -> dict[str, Any]:
    task = get_task(settings.linear_task)
    if task.is_regression:
        raise UserError(f"probe.linear_task {task.name} must be a classification task (e.g. sst2)")
    data = _sample(load_split(task, "train", settings.data_dir), settings.examples, settings.seed)
    texts = [" ".join(t) for t in data.texts]  # a pair's texts side by side: the probe reads one vector
    vectors = torch.from_numpy(sentence_vectors(model, tokenizer, texts, settings.max_seq_length, device=device))
    labels = torch.tensor(np.asarray(data.labels, dtype=np.int64))
    cut = 2 * len(data) // 3
    mean, std = vectors[:cut].mean(0), vectors[:cut].std(0).clamp(min=1e-6)
    features = (vectors - mean) / std
    generator = torch.Generator().manual_seed(settings.seed)
    classifier = nn.Linear(features.shape[1], task.num_labels)
    with torch.no_grad():
        classifier.weight.normal_(0, 0.01, generator=generator)
        classifier.bias.zero_()
    optimizer = torch.optim.Adam(classifier.parameters(), lr=1e-2, weight_decay=1e-3)
    with torch.enable_grad():
        for _ in range(settings.steps):
            optimizer.zero_grad()
            nn.functional.cross_entropy(classifier(features[:cut]), labels[:cut]).backward()
            optimizer.step()
    with torch.no_grad():
        predictions = classifier(features[cut:]).argmax(-1).numpy()
    metrics = score(task, predictions, data.labels[cut:]).values
    majority = float(np.bincount(labels[cut:].numpy()).max() / (len(data) - cut))
    return {"task": task.name, "split": "train", "fit": cut, "scored": len(data) - cut,
            **{name: round(100 * value, 2) for name, value in metrics.items()},
            "majority_accuracy": round(100 * majority, 2)}


def transfer_probe(model: nn.Module, tokenizer, settings: ProbeSettings, device: str = "cpu") -> dict[str, Any]:
    """Both measurements of a frozen encoder (a ``BertModel``; a classifier's encoder works too).

    Returns:
        ``{"zero_shot": {...}, "linear": {...}}``, each omitted when its task is ``None``.

    Raises:
        UserError: a task's data cannot be loaded (no ``data_dir`` and no Hub), or a task of the wrong kind.
    """
    encoder = getattr(model, "base_model", model)
    torch.manual_seed(settings.seed)
    result: dict[str, Any] = {}
    if settings.similarity_task:
        result["zero_shot"] = zero_shot_similarity(encoder, tokenizer, settings, device)
    if settings.linear_task:
        result["linear"] = linear_probe(encoder, tokenizer, settings, device)
    return result


def describe(name: str, probe: dict[str, Any]) -> str:
    """One line per probe result, for the console."""
    parts = []
    if "zero_shot" in probe:
        z = probe["zero_shot"]
        parts.append(f"zero-shot {z['task']} Pearson {z.get('pearson', float('nan')):.1f} "
                     f"Spearman {z.get('spearmanr', float('nan')):.1f}")
    if "linear" in probe:
        lin = probe["linear"]
        main = next(k for k in lin if k not in ("task", "split", "fit", "scored", "majority_accuracy"))
        parts.append(f"linear {lin['task']} {main} {lin[main]:.1f} (majority {lin['majority_accuracy']:.1f})")
    return f"{name}: " + "; ".join(parts)


def probe_beside_teacher(student: nn.Module, teacher: nn.Module, tokenizer, settings: ProbeSettings,
                         device: str = "cpu") -> dict[str, Any]:
    """The probe of a student and of its teacher, printed; skipped with a warning when its data cannot be
    loaded (a run offline without ``probe.data_dir``), so a finished distillation is never lost to it."""
    if not settings.enabled:
        return {"skipped": "probe.enabled is false"}
    try:
        result = {"student": transfer_probe(student, tokenizer, settings, device),
                  "teacher": transfer_probe(teacher, tokenizer, settings, device)}
    except UserError as err:
        warn(f"transfer probe skipped: {err} (set probe.data_dir, or probe.enabled: false)")
        return {"skipped": str(err)}
    for name, found in result.items():
        print(f"transfer probe, {describe(name, found)}", flush=True)
    return result
