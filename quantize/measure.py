"""Measure a predictor: its task metric on dev (through the GLUE harness) and its latency."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from eval.batching import Batch, encode, length_sorted_batches
from eval.data import GlueData, load_split
from eval.harness import EvalSettings, evaluate_task
from eval.tasks import Task

LATENCY_SHAPE = (1, 128)  # batch 1, sequence 128: the interactive-serving case the issue targets


@dataclass(frozen=True)
class DevSet:
    """The scored task and its dev split, read once per run and shared by every score and probe."""

    task: Task
    data: GlueData


def dev_set(cfg) -> DevSet:
    """The dev split of ``cfg``'s scored task (``cfg.scored_task``)."""
    return DevSet(cfg.scored_task, load_split(cfg.scored_task, "dev", cfg.data_dir))


def score(predictor, tokenizer, cfg, dev: DevSet | None = None) -> float:
    """The eval task's main metric (a fraction) on its dev split, as ``glue eval`` computes it.

    ``dev``: the dev set already read (the guard scores many candidates on it); ``None`` reads it.
    """
    dev = dev or dev_set(cfg)
    settings = EvalSettings(split="dev", batch_size=cfg.batch_size, max_seq_length=cfg.max_seq_length,
                            data_dir=cfg.data_dir, threads=cfg.threads)
    result = evaluate_task(predictor, tokenizer, dev.task, settings, progress=False, data=dev.data)
    return result["metrics"][dev.task.main_metric]


def probe_batches(tokenizer, cfg, dev: DevSet | None = None) -> list[Batch]:
    """The first ``cfg.guard_probe_size`` dev examples of the eval task, in padded batches."""
    dev = dev or dev_set(cfg)
    encoded = encode(tokenizer, dev.data.select(cfg.guard_probe_size), cfg.max_seq_length)
    return [batch for _, batch in length_sorted_batches(encoded, cfg.batch_size)]


def snr_probe(reference, tokenizer, cfg, load: Callable = lambda model: model,
              dev: DevSet | None = None) -> Callable[[object], float]:
    """A guard probe: logit SNR (dB) of a candidate against ``reference`` on a few dev examples.

    ``load`` turns what the guard's ``build`` returns (a path, a predictor) into a predictor.
    """
    batches = probe_batches(tokenizer, cfg, dev)
    expected = logits_on(reference, batches)
    return lambda model: snr_db(expected, logits_on(load(model), batches))


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


def measure(logits: Callable[[Batch], object], batch: Batch, warmup: int = 3, iters: int = 20) -> dict[str, float]:
    """Median and p90 latency in ms of one ``logits(batch)`` callable (see :func:`measure_interleaved`)."""
    return measure_interleaved({"model": logits}, batch, warmup, iters)["model"]


def measure_interleaved(models: Mapping[str, Callable[[Batch], object]], batch: Batch, warmup: int = 3,
                        rounds: int = 20, block: int = 1) -> dict[str, dict[str, float]]:
    """Latency of several models on one batch, timed in rounds: ``block`` calls of each per round.

    On a shared machine a neighbour's burst then slows every model alike instead of whichever
    happened to be timed at that moment, so ratios stay fair. With ``block > 1`` each block
    starts with one untimed call: switching between runtimes (PyTorch's OpenMP pool, ONNX
    Runtime's spinning pool) makes the first call after a switch pay for the other's threads.
    The median, not the mean, so a burst inflates a few runs rather than the typical one.
    Each call's CPU time on the calling thread is recorded too (``cpu_median_ms``): with one
    intra-op thread all the work runs there, and time spent preempted by a neighbour is not
    counted, which makes it the steadier figure on a shared machine (meaningless above 1 thread).
    """
    for logits in models.values():
        for _ in range(warmup):
            logits(batch)
    times: dict[str, list[float]] = {name: [] for name in models}
    cpu: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(rounds):
        for name, logits in models.items():
            if block > 1:
                logits(batch)
            for _ in range(block):
                start, start_cpu = time.perf_counter(), time.thread_time()
                logits(batch)
                times[name].append(time.perf_counter() - start)
                cpu[name].append(time.thread_time() - start_cpu)
    return {name: {**_summary(runs, batch), "cpu_median_ms": 1000 * float(np.median(cpu[name]))}
            for name, runs in times.items()}


def latency_record(latency: Mapping[str, dict], threads: int | None, **extra) -> dict:
    """FP32 vs INT8 latency as ``quantization.json`` records it."""
    return {"threads": threads, **latency, **extra,
            "speedup": latency["fp32"]["median_ms"] / latency["int8"]["median_ms"]}


def _summary(times: list[float], batch: Batch) -> dict[str, float]:
    median = float(np.median(times))
    return {"batch_size": len(batch["input_ids"]), "seq_len": int(batch["input_ids"].shape[1]),
            "median_ms": 1000 * median, "p90_ms": 1000 * float(np.percentile(times, 90)),
            "examples_per_second": len(batch["input_ids"]) / median, "runs": len(times)}
