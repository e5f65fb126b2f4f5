"""Latency and throughput of any ``logits(batch)`` callable on fixed-shape synthetic batches."""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from eval.batching import Batch


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
