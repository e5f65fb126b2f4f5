"""The one training loop, shared by fine-tuning, general distillation and every task-distillation phase.

Stages differ only in their data and in a small ``step_fn(model, batch) -> {"loss": ..., ...}``;
the loop owns the rest: AdamW with linear warmup and decay, gradient accumulation and clipping,
autocast on CUDA, progress bar, JSONL log and TensorBoard scalars with throughput, periodic dev
evaluation that keeps the best model, atomic checkpoints and exact resumption, and data
parallelism under ``torchrun``.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from distill.checkpoint import EVENTS_DIR, LOG_FILE, checkpoint_dirs, load_checkpoint, save_checkpoint
from distill.config import TrainSettings
from eval.core.console import warn
from eval.core.errors import UserError

StepFn = Callable[[nn.Module, dict[str, torch.Tensor]], dict[str, torch.Tensor]]


class Batches(Protocol):
    batches_per_epoch: int | None  # None: an endless stream, the run is bounded by max_steps

    def iterate(self, epoch: int, skip: int = 0) -> Iterator[dict[str, torch.Tensor]]: ...


@dataclass(frozen=True)
class Distributed:
    rank: int = 0
    world_size: int = 1
    device: str = "cpu"

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_distributed(device: str = "auto") -> Distributed:
    """Join the ``torchrun`` process group when launched by it (NCCL on GPUs, gloo on CPU)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    cuda = torch.cuda.is_available() and device in ("auto", "cuda") or device.startswith("cuda")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {device!r} asked for, but CUDA is not available here; use --device cpu")
    if world_size == 1:
        return Distributed(device=device if device != "auto" else ("cuda" if cuda else "cpu"))
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend="nccl" if cuda else "gloo")
    if cuda:
        torch.cuda.set_device(local_rank)
    return Distributed(rank, world_size, f"cuda:{local_rank}" if cuda else "cpu")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def total_steps(settings: TrainSettings, batches: Batches, epochs: float) -> int:
    """Optimizer steps of a run: ``epochs`` over the data, capped by ``max_steps``."""
    if batches.batches_per_epoch is None:
        return int(settings.max_steps)
    steps = math.ceil(batches.batches_per_epoch * epochs / settings.grad_accum)
    return max(1, min(steps, settings.max_steps or steps))


def build_optimizer(model: nn.Module, settings: TrainSettings, lr: float, steps: int):
    """AdamW (no decay on biases and LayerNorm weights) with linear warmup then linear decay to 0.

    The fused AdamW kernel (one pass over each parameter instead of one per operation) is used
    wherever PyTorch has it, CPU included: the update is the same formula, equal up to float
    rounding, and on CPU it takes a fraction of the time, which matters for a small student whose
    word-embedding table dominates the parameter count.
    """
    optimizer = torch.optim.AdamW(parameter_groups(model, settings.weight_decay), lr=lr,
                                  fused=_fused_adamw_available(model))
    schedule = warmup_then_decay(int(settings.warmup * steps), steps)
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Trainable parameters in two groups: weight matrices decay, biases and LayerNorm weights do not."""
    decay, no_decay = [], []
    for parameter in model.parameters():
        if parameter.requires_grad:
            (no_decay if parameter.ndim < 2 else decay).append(parameter)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def freeze_word_embeddings(model: nn.Module) -> None:
    """Stop training the word-embedding table of every transformer in ``model`` (the optimizer skips it)."""
    from transformers import PreTrainedModel

    tables = [m.get_input_embeddings() for m in model.modules() if isinstance(m, PreTrainedModel)]
    if not tables:
        raise UserError("train.freeze_word_embeddings: this model has no word-embedding table to freeze")
    for table in tables:
        table.weight.requires_grad_(False)


def warmup_then_decay(warmup: int, steps: int) -> Callable[[int], float]:
    """The learning-rate factor at each step: linear warmup over ``warmup`` steps, then linear decay to 0."""

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (steps - step) / max(1, steps - warmup))

    return schedule


def _fused_adamw_available(model: nn.Module) -> bool:
    devices = {p.device.type for p in model.parameters() if p.requires_grad}
    dtypes = {p.dtype for p in model.parameters() if p.requires_grad}
    return len(devices) == 1 and devices <= {"cpu", "cuda"} and dtypes <= {torch.float32, torch.float16, torch.bfloat16}


def train(model: nn.Module, batches: Batches, step_fn: StepFn, settings: TrainSettings, work_dir: Path,
          config: Any, dist: Distributed, lr: float | None = None, epochs: float | None = None,
          evaluate: Callable[[], dict[str, Any]] | None = None, on_best: Callable[[], None] | None = None,
          description: str = "train") -> dict[str, Any]:
    """Train ``model`` until its step budget is spent; resume from the newest checkpoint in ``work_dir``.

    Args:
        model: every trainable module (student plus projections); its forward is called by ``step_fn``.
        batches: replayable batches (:mod:`distill.data`).
        step_fn: ``(model, batch) -> dict`` with ``loss`` (a scalar to minimise) and named parts to log.
        work_dir: where ``checkpoints/``, the JSONL log and the TensorBoard event files (``tensorboard/``) go.
        config: the resolved run config, stored in every checkpoint.
        evaluate: returns ``{"score": float, ...}`` on dev (higher is better), run on rank 0 every
            ``eval_every`` steps (or once per epoch) and at the end.
        on_best: called on rank 0 when ``evaluate`` sets a new best score (save the model there).

    Returns:
        A summary: steps, best evaluation, eval history, final logged losses and throughput.
    """
    epochs = epochs if epochs is not None else settings.epochs
    steps = total_steps(settings, batches, epochs)
    model.to(dist.device)
    if settings.freeze_word_embeddings:
        freeze_word_embeddings(model)
    optimizer, scheduler = build_optimizer(model, settings, lr or settings.lr, steps)
    cuda = dist.device.startswith("cuda")
    scaler = torch.amp.GradScaler("cuda", enabled=cuda and settings.precision == "fp16")
    state: dict[str, Any] = {"step": 0, "best_score": None, "best": None, "history": []}
    existing = checkpoint_dirs(work_dir)
    if existing:
        state = load_checkpoint(existing[-1], model, dist.rank)
        optimizer.load_state_dict(state.pop("optimizer"))
        scheduler.load_state_dict(state.pop("scheduler"))
        scaler_state = state.pop("scaler", None)  # fp16 on CUDA: the loss scale it had reached
        if scaler.is_enabled() and scaler_state:
            scaler.load_state_dict(scaler_state)
    if state["step"] >= steps:
        return _summary(state, steps, {})
    wrapped = model
    if dist.world_size > 1:
        # Phases leave some parameters unused (the classifier during intermediate distillation).
        wrapped = nn.parallel.DistributedDataParallel(
            model, device_ids=[dist.device] if dist.device.startswith("cuda") else None,
            find_unused_parameters=True)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(settings.precision)
    autocast = (lambda: torch.autocast("cuda", dtype=dtype)) if cuda and dtype else nullcontext
    per_epoch = batches.batches_per_epoch
    eval_every = settings.eval_every or (math.ceil(per_epoch / settings.grad_accum) if per_epoch else steps)

    log = RunLog(work_dir, state["step"], settings.report_to) if dist.is_main else None
    bar = tqdm(total=steps, initial=state["step"], desc=description, unit="step", disable=not dist.is_main,
               dynamic_ncols=True)
    meter = _Meter()
    micro = state["step"] * settings.grad_accum  # micro-batches consumed so far
    stream = _micro_batches(batches, micro)
    model.train()
    try:
        while state["step"] < steps:
            started = time.perf_counter()
            for index in range(settings.grad_accum):
                batch = {k: v.to(dist.device, non_blocking=True) for k, v in next(stream).items()}
                last = index == settings.grad_accum - 1
                sync = wrapped.no_sync() if dist.world_size > 1 and not last else nullcontext()
                with sync, autocast():
                    parts = step_fn(wrapped, batch)
                scaler.scale(parts["loss"] / settings.grad_accum).backward()
                meter.add(parts, batch, settings.grad_accum)
            scaler.unscale_(optimizer)
            if settings.max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), settings.max_grad_norm)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            state["step"] += 1
            meter.seconds += time.perf_counter() - started
            bar.update(1)
            step = state["step"]
            if step % settings.log_every == 0 or step == steps:
                record = {"step": step, "lr": scheduler.get_last_lr()[0], **meter.read(dist)}
                bar.set_postfix(loss=f"{record['loss']:.4f}", ex_s=f"{record['examples_per_second']:.1f}")
                if log:
                    log.train(record)
                state["last_log"] = record
            if evaluate and (step % eval_every == 0 or step == steps):
                _evaluate(state, evaluate, on_best, dist, log)
                model.train()
            if step % settings.save_every == 0 or step == steps:
                save_checkpoint(work_dir, step, model, {**state, "optimizer": optimizer.state_dict(),
                                                        "scheduler": scheduler.state_dict(),
                                                        "scaler": scaler.state_dict()},
                                config, dist.rank, dist.world_size, settings.checkpoint_limit)
    finally:
        bar.close()
        if log:
            log.close()
    return _summary(state, steps, meter.totals())


def _micro_batches(batches: Batches, consumed: int) -> Iterator[dict[str, torch.Tensor]]:
    """Endless micro-batches across epochs, starting after the ``consumed`` first ones."""
    per_epoch = batches.batches_per_epoch
    epoch, skip = (consumed // per_epoch, consumed % per_epoch) if per_epoch else (0, consumed)
    while True:
        yield from batches.iterate(epoch, skip)
        epoch, skip = epoch + 1, 0


def _evaluate(state: dict, evaluate: Callable, on_best: Callable | None, dist: Distributed,
              log: "RunLog | None") -> None:
    if dist.is_main:
        result = {"step": state["step"], **evaluate()}
        state["history"].append(result)
        if log:
            log.evaluation(result)
        if state["best_score"] is None or result["score"] > state["best_score"]:
            state["best_score"], state["best"] = float(result["score"]), result
            if on_best:
                on_best()
    if dist.world_size > 1:
        torch.distributed.barrier()


class _Meter:
    """Running loss averages and throughput (real, non-padding tokens) between log lines."""

    def __init__(self):
        self.sums: dict[str, float] = {}
        self.count = 0
        self.examples = self.tokens = 0
        self.seconds = 0.0
        self.total_examples = self.total_tokens = 0
        self.total_seconds = 0.0

    def add(self, parts: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], accum: int) -> None:
        for name, value in parts.items():
            self.sums[name] = self.sums.get(name, 0.0) + float(value.detach()) / accum
        self.count += 1 / accum
        self.examples += int(batch["input_ids"].shape[0])
        self.tokens += int(batch["attention_mask"].sum())

    def read(self, dist: Distributed) -> dict[str, float]:
        numbers = torch.tensor([self.examples, self.tokens], dtype=torch.float64, device=dist.device)  # NCCL: on GPU
        if dist.world_size > 1:  # throughput of the whole job, all processes together
            torch.distributed.all_reduce(numbers)
        seconds = max(self.seconds, 1e-9)
        out = {name: total / max(self.count, 1e-9) for name, total in self.sums.items()}
        out.update(examples_per_second=float(numbers[0]) / seconds, tokens_per_second=float(numbers[1]) / seconds)
        self.total_examples += int(numbers[0])
        self.total_tokens += int(numbers[1])
        self.total_seconds += self.seconds
        self.sums, self.count, self.examples, self.tokens, self.seconds = {}, 0, 0, 0, 0.0
        return out

    def totals(self) -> dict[str, float]:
        seconds = max(self.total_seconds, 1e-9)
        return {"examples": self.total_examples, "tokens": self.total_tokens, "seconds": self.total_seconds,
                "examples_per_second": self.total_examples / seconds,
                "tokens_per_second": self.total_tokens / seconds}


def _summary(state: dict, steps: int, throughput: dict) -> dict[str, Any]:
    return {"steps": steps, "best": state.get("best"), "history": state.get("history", []),
            "last_log": state.get("last_log"), "throughput": throughput}


class RunLog:
    """What a run records as it trains: ``train_log.jsonl`` (one JSON object per log line or dev
    evaluation) and, with ``report_to="tensorboard"`` (``train.report_to``, the default), the same
    figures as TensorBoard scalars in ``tensorboard/``: ``train/loss`` and each loss part,
    ``train/lr``, ``throughput/*`` and ``dev/score`` with each dev metric (``dev/accuracy``...).

    Both append when a run resumes. Events logged after the step a run starts from (a kill between
    checkpoints, or a start that failed) are hidden from TensorBoard (``purge_step``), as those
    steps are trained again. Without the ``tensorboard`` package the JSONL log is written alone,
    with a warning.
    """

    def __init__(self, work_dir: Path, start_step: int = 0, report_to: str = "tensorboard"):
        self.jsonl = _open_log(work_dir / LOG_FILE)
        self.events = _event_writer(work_dir / EVENTS_DIR, start_step) if report_to == "tensorboard" else None

    def train(self, record: dict[str, Any]) -> None:
        """One log line: ``step``, ``lr``, every loss part, ``examples_per_second``, ``tokens_per_second``."""
        self._write(record)
        if self.events is not None:
            step = record["step"]
            for name, value in record.items():
                if name != "step":
                    group = "throughput" if name.endswith("_per_second") else "train"
                    self.events.add_scalar(f"{group}/{name}", value, step)
            self.events.flush()

    def evaluation(self, result: dict[str, Any]) -> None:
        """One dev evaluation: its ``score`` (the selection score) and each metric."""
        self._write({"eval": result})
        if self.events is not None:
            step = result["step"]
            self.events.add_scalar("dev/score", result["score"], step)
            for name, value in (result.get("metrics") or {}).items():
                self.events.add_scalar(f"dev/{name}", value, step)
            self.events.flush()

    def close(self) -> None:
        self.jsonl.close()
        if self.events is not None:
            self.events.close()

    def _write(self, record: dict[str, Any]) -> None:
        self.jsonl.write(json.dumps(record) + "\n")
        self.jsonl.flush()


_warned_no_tensorboard: list[bool] = []


def _event_writer(folder: Path, start_step: int):
    """torch's TensorBoard ``SummaryWriter`` on ``folder``, or ``None`` when tensorboard is not installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        if not _warned_no_tensorboard:  # once per process, not once per phase
            _warned_no_tensorboard.append(True)
            warn("the tensorboard package is not installed, so this run writes train_log.jsonl only; "
                 "pip install tensorboard to get TensorBoard event files, or pass --report-to none")
        return None
    # Steps up to the start are kept; anything logged after it, before a kill, is trained again.
    return SummaryWriter(str(folder), purge_step=start_step + 1)


def _open_log(path: Path):
    """The training log, opened to append; never through a symbolic link (it would write elsewhere)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except OSError as err:
        raise UserError(f"cannot open the training log {path} ({err.strerror}); if it is a symbolic link, "
                        f"remove it") from None
    return os.fdopen(fd, "a")
