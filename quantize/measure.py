"""Measure a predictor: its task metric on dev (through the GLUE harness) and its latency."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

import numpy as np

from eval.batching import Batch, encode, length_sorted_batches
from eval.data import load_split
from eval.harness import EvalSettings, evaluate_task
from eval.tasks import get_task

LATENCY_SHAPE = (1, 128)  # batch 1, sequence 128: the interactive-serving case the issue targets


def score(predictor, tokenizer, cfg) -> float:
    """The eval task's main metric (a fraction) on its dev split, as ``glue eval`` computes it."""
    task = get_task(cfg.task_for_eval)
    settings = EvalSettings(split="dev", batch_size=cfg.batch_size, max_seq_length=cfg.max_seq_length,
                            data_dir=cfg.data_dir, threads=cfg.threads)
    return evaluate_task(predictor, tokenizer, task, settings, progress=False)["metrics"][task.main_metric]


def probe_batches(tokenizer, cfg) -> list[Batch]:
    """The first ``cfg.guard_probe_size`` dev examples of the eval task, in padded batches."""
    data = load_split(get_task(cfg.task_for_eval), "dev", cfg.data_dir)
    encoded = encode(tokenizer, data.select(cfg.guard_probe_size), cfg.max_seq_length)
    return [batch for _, batch in length_sorted_batches(encoded, cfg.batch_size)]


def logits_on(predictor, batches: list[Batch]) -> np.ndarray:
    return np.concatenate([predictor.logits(batch) for batch in batches])


def snr_db(reference: np.ndarray, candidate: np.ndarray) -> float:
    """Signal-to-quantization-noise ratio in dB: 10 log10(|ref|^2 / |ref - candidate|^2)."""
    noise = float(np.sum((np.asarray(reference) - np.asarray(candidate)) ** 2))
    return float(10 * np.log10(float(np.sum(np.asarray(reference) ** 2)) / max(noise, 1e-30)))


def latency_batch(folder: Path, batch_size: int = LATENCY_SHAPE[0], seq_len: int = LATENCY_SHAPE[1]) -> Batch:
    """A synthetic batch that fits the model in ``folder`` (its vocabulary and position limit)."""
    config = json.loads((Path(folder) / "config.json").read_text())
    seq_len = min(seq_len, int(config.get("max_position_embeddings", seq_len)))
    return synthetic_batch(batch_size, seq_len, vocab_size=int(config.get("vocab_size", 1000)))


def synthetic_batch(batch_size: int, seq_len: int, vocab_size: int = 1000, seed: int = 0) -> Batch:
    """A full (unpadded) batch of random token ids: latency depends on shape, not on the text."""
    rng = np.random.default_rng(seed)
    low = min(100, vocab_size // 2)  # skip the special tokens at the start of BERT vocabularies
    ids = rng.integers(low, vocab_size, size=(batch_size, seq_len), dtype=np.int64)
    return {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}


def measure(logits: Callable[[Batch], object], batch: Batch, warmup: int = 3, iters: int = 20,
            min_seconds: float = 0.0) -> dict[str, float]:
    """Median and p90 latency in ms, and examples per second at the median.

    The median, not the mean, because the machine may be shared: a neighbour's burst inflates a
    few runs, not the typical one.
    """
    for _ in range(warmup):
        logits(batch)
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < iters or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        logits(batch)
        times.append(time.perf_counter() - t0)
    median = float(np.median(times))
    return {"batch_size": len(batch["input_ids"]), "seq_len": int(batch["input_ids"].shape[1]),
            "median_ms": 1000 * median, "p90_ms": 1000 * float(np.percentile(times, 90)),
            "examples_per_second": len(batch["input_ids"]) / median, "runs": len(times)}
