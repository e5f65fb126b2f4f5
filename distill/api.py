"""Library entry points, one per command: ``finetune``, ``general_distill``, ``task_distill``, ``augment``.

Each takes a validated config, writes one output folder (loadable with ``from_pretrained``,
plus ``run_config.yaml`` and ``metrics.json``) and returns its path. Rerunning the same config
resumes from the last checkpoint; a finished run returns at once.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from torch import nn

from distill import augment as augment_module
from distill.checkpoint import prepare_output_dir
from distill.config import AugmentConfig, FinetuneConfig, GeneralConfig, Phase, TaskConfig, TrainSettings
from distill.data import CorpusBatches, GlueBatches
from distill.features import Features, expose_attention_scores, extract
from distill.layer_map import resolve_layer_map
from distill.loop import Distributed, seed_everything, setup_distributed, train
from distill.losses import DistillLoss, label_loss, resolve_attention_mode
from distill.students import get_student, is_preset
from distill.teachers import check_vocabulary, load_model, load_tokenizer, set_task_labels
from eval.artifacts import provenance, write_json
from eval.batching import encode, length_sorted_batches
from eval.config import to_dict
from eval.data import GlueData, load_split
from eval.errors import UserError
from eval.harness import EvalSettings, evaluate_task
from eval.predictors import TorchPredictor
from eval.tasks import GlueTask, get_task

METRICS = "metrics.json"
PHASE_DONE = "phase.json"
DEFAULT_VOCAB_SOURCE = "minilm-l6"


class LabelObjective(nn.Module):
    """Plain fine-tuning: cross-entropy (or MSE for STS-B) on gold labels."""

    def __init__(self, model: nn.Module, regression: bool):
        super().__init__()
        self.model, self.regression = model, regression

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        logits = extract(self.model, batch, hidden=False).logits
        loss = label_loss(logits, batch["labels"], self.regression)
        return {"loss": loss, "labels": loss}


class DistillObjective(nn.Module):
    """A student and its ``DistillLoss`` (whose projections train with it)."""

    def __init__(self, student: nn.Module, loss: DistillLoss):
        super().__init__()
        self.student, self.loss = student, loss

    def forward(self, batch: dict[str, torch.Tensor], teacher: Features) -> dict[str, torch.Tensor]:
        features = extract(self.student, batch, hidden=self.loss.needs_hidden, attention=self.loss.needs_attention)
        return self.loss(features, teacher, batch.get("labels"))


# ---------------------------------------------------------------------------------------- stages


def finetune(cfg: FinetuneConfig) -> Path:
    """Fine-tune a teacher (Hub id, alias, folder) or a random-init student preset on a task's labels."""
    task = get_task(cfg.task)
    out, dist = _start(cfg, cfg.train)
    if _finished(out):
        return out
    if is_preset(cfg.model):  # the label-only baseline: a random student with the teacher's vocabulary
        tokenizer = load_tokenizer(cfg.tokenizer or DEFAULT_VOCAB_SOURCE)
        vocab_config = _config_of(cfg.tokenizer or DEFAULT_VOCAB_SOURCE)
        model = _new_student(cfg.model, vocab_config, task, cfg.train.seed)
    else:
        tokenizer = load_tokenizer(cfg.model)
        torch.manual_seed(cfg.train.seed)  # a pre-trained encoder's new head: the same init for the same seed
        model = load_model(cfg.model, "classifier", task)
    batches = _glue_batches(task, _train_data(task, cfg.data_dir, None, cfg.train), tokenizer, cfg.train, dist)
    seed_everything(cfg.train.seed + dist.rank)
    result = train(LabelObjective(model, task.is_regression), batches, lambda m, b: m(b), cfg.train, out, cfg,
                   dist, evaluate=_dev_evaluator(model, tokenizer, task, cfg.data_dir, cfg.train, dist),
                   on_best=lambda: save_model_folder(model, tokenizer, out), description=f"finetune {task.name}")
    return _finish(out, "finetune", cfg, result, task, dist)


def general_distill(cfg: GeneralConfig) -> Path:
    """Distil a pre-trained teacher's attention and hidden states into a random student on raw text."""
    out, dist = _start(cfg, cfg.train)
    if _finished(out):
        return out
    tokenizer = load_tokenizer(cfg.teacher)
    teacher = _frozen(load_model(cfg.teacher, "base"), dist)
    spec = get_student(cfg.student)
    torch.manual_seed(cfg.train.seed)  # the same initial student in every process
    from transformers import BertModel

    student = BertModel(spec.bert_config(teacher.config), add_pooling_layer=False)
    loss = _distill_loss(cfg.losses, cfg.layer_map, cfg.attention_mode, teacher, student, None, 1.0)
    _expose(loss, teacher, student)
    batches = CorpusBatches(cfg.corpus, tokenizer, cfg.train.max_seq_length, cfg.train.batch_size,
                            cfg.train.seed, dist.rank, dist.world_size)
    seed_everything(cfg.train.seed + dist.rank)
    step_fn = _distill_step(teacher, loss, cache=None)
    result = train(DistillObjective(student, loss), batches, step_fn, cfg.train, out, cfg, dist,
                   description="general distillation")
    if dist.is_main:
        save_model_folder(student, tokenizer, out)
    return _finish(out, "general", cfg, result, None, dist)


def task_distill(cfg: TaskConfig) -> Path:
    """TinyBERT task distillation: each phase of ``cfg.phases`` in order, the last one writing ``output_dir``."""
    task = get_task(cfg.task)
    out, dist = _start(cfg, cfg.train)
    if _finished(out):
        return out
    teacher = _frozen(load_model(cfg.teacher, "classifier", task, require_head=True), dist)
    tokenizer = load_tokenizer(cfg.teacher)
    if is_preset(cfg.student) or not Path(str(cfg.student)).expanduser().exists():
        student = _new_student(cfg.student, teacher.config, task, cfg.train.seed)  # unknown names fail here
    else:
        check_vocabulary(tokenizer, load_tokenizer(cfg.student), cfg.teacher, str(cfg.student))
        torch.manual_seed(cfg.train.seed)  # a general-distilled student has no head yet: same init everywhere
        student = load_model(cfg.student, "classifier", task)
    # One attention implementation for the whole run, whichever phase it resumes in: sdpa and
    # eager-style attention differ in the last bits, and exact resumption needs the same numbers.
    for model in (teacher, student):
        expose_attention_scores(model)
    data = _train_data(task, cfg.data_dir, cfg.augmented, cfg.train)
    batches = _glue_batches(task, data, tokenizer, cfg.train, dist)
    cache = TeacherLogitsCache(batches.encoded, cfg.train.eval_batch_size)
    summaries = {}
    for index, phase in enumerate(cfg.phases):
        last = index == len(cfg.phases) - 1
        work = out if last else out / phase.name
        if (work / PHASE_DONE).is_file():  # finished before an interruption: reload and move on
            student.load_state_dict(load_file(str(work / "model.safetensors")))
            summaries[phase.name] = json.loads((work / PHASE_DONE).read_text())
            continue
        work.mkdir(parents=True, exist_ok=True)
        summaries[phase.name] = _run_phase(phase, cfg, task, teacher, student, tokenizer, batches, cache, work, dist)
        student.load_state_dict(load_file(str(work / "model.safetensors")))  # the best (or last) of the phase
    return _finish(out, "task", cfg, {"phases": summaries, **summaries[cfg.phases[-1].name]}, task, dist)


def augment(cfg: AugmentConfig) -> Path:
    """TinyBERT data augmentation of a task's training split (cached in parts, resumable)."""
    return augment_module.run(cfg)


# ---------------------------------------------------------------------------------------- pieces


class TeacherLogitsCache:
    """Teacher logits for every training example, computed once when the prediction phase first asks.

    The prediction phase needs only the teacher's logits, and the teacher is fixed, so it runs
    once over the data (length-sorted, little padding) instead of once per epoch. Computing all
    of them in one fixed order also makes them independent of the shuffled batches, which keeps
    resumed runs bit-identical to uninterrupted ones.
    """

    def __init__(self, encoded, batch_size: int):
        self.encoded, self.batch_size = encoded, batch_size
        self.logits: torch.Tensor | None = None  # [examples, num_labels]

    def fill(self, teacher: nn.Module, device: str) -> float:
        """Run the teacher over all examples once; returns the seconds it took."""
        started = time.perf_counter()
        self.logits = torch.zeros(len(self.encoded), teacher.config.num_labels)
        with torch.no_grad():
            for rows, padded in length_sorted_batches(self.encoded, self.batch_size):
                inputs = {k: torch.from_numpy(v).to(device) for k, v in padded.items()}
                self.logits[rows] = extract(teacher, inputs, hidden=False).logits.float().cpu()
        return time.perf_counter() - started

    def get(self, teacher: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.logits is None:
            self.fill(teacher, batch["input_ids"].device)
        return self.logits[batch["rows"].cpu()].to(batch["input_ids"].device)


def _run_phase(phase: Phase, cfg: TaskConfig, task: GlueTask, teacher, student, tokenizer, batches, cache, work: Path,
               dist: Distributed) -> dict[str, Any]:
    loss = _distill_loss(phase.losses, cfg.layer_map, cfg.attention_mode, teacher, student, task, phase.temperature)
    predicts = "logits" in loss.weights or "labels" in loss.weights
    # Fill the logit cache before the loop starts, so the loop's throughput is the student's.
    cache_seconds = (cache.fill(teacher, dist.device) if "logits" in loss.weights and cache.logits is None
                     and not (loss.needs_hidden or loss.needs_attention) else None)
    seed_everything(cfg.train.seed + dist.rank)
    result = train(DistillObjective(student, loss), batches, _distill_step(teacher, loss, cache), cfg.train, work,
                   cfg, dist, lr=phase.lr, epochs=phase.epochs,
                   evaluate=_dev_evaluator(student, tokenizer, task, cfg.data_dir, cfg.train, dist) if predicts else None,
                   on_best=lambda: save_model_folder(student, tokenizer, work), description=f"{task.name} {phase.name}")
    if cache_seconds is not None:
        result["teacher_logits_seconds"] = cache_seconds
    if dist.is_main:
        if not predicts:  # intermediate layers only: nothing to score, keep the last weights
            save_model_folder(student, tokenizer, work)
        write_json(work / PHASE_DONE, result)
    _barrier(dist)
    return result


def _distill_loss(weights, layer_map_spec, attention_mode, teacher, student, task, temperature) -> DistillLoss:
    layer_map = resolve_layer_map(layer_map_spec, teacher.config.num_hidden_layers, student.config.num_hidden_layers)
    mode = resolve_attention_mode(attention_mode, student.config.num_attention_heads,
                                  teacher.config.num_attention_heads)
    return DistillLoss(dict(weights), layer_map, student.config.hidden_size, teacher.config.hidden_size,
                       attention_mode=mode, regression=bool(task and task.is_regression), temperature=temperature)


def _distill_step(teacher: nn.Module, loss: DistillLoss, cache: TeacherLogitsCache | None):
    intermediate = loss.needs_hidden or loss.needs_attention

    def step(model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            if intermediate or cache is None:
                features = extract(teacher, batch, hidden=loss.needs_hidden, attention=loss.needs_attention)
            else:
                features = Features(batch["attention_mask"], logits=cache.get(teacher, batch))
        return model(batch, features)

    return step


def _expose(loss: DistillLoss, *models: nn.Module) -> None:
    if loss.needs_attention:
        for model in models:
            expose_attention_scores(model)


def _new_student(choice, vocab_config, task: GlueTask, seed: int):
    from transformers import BertForSequenceClassification

    config = get_student(choice).bert_config(vocab_config)
    set_task_labels(config, task)
    torch.manual_seed(seed)  # the same initial student in every process
    return BertForSequenceClassification(config)


def _config_of(name: str):
    from distill.teachers import load_config

    return load_config(name)


def _frozen(model: nn.Module, dist: Distributed) -> nn.Module:
    model.to(dist.device).eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


def _train_data(task: GlueTask, data_dir: str | None, augmented: str | None, train_cfg: TrainSettings) -> GlueData:
    data = augment_module.load_augmented(augmented, task) if augmented else load_split(task, "train", data_dir)
    if data.labels is None:
        raise UserError(f"{task.display_name} train split has no labels")
    return data.select(train_cfg.train_limit) if train_cfg.train_limit else data


def _glue_batches(task: GlueTask, data: GlueData, tokenizer, train_cfg: TrainSettings, dist: Distributed) -> GlueBatches:
    encoded = encode(tokenizer, data, train_cfg.max_seq_length)
    return GlueBatches(encoded, data.labels, train_cfg.batch_size, train_cfg.seed, train_cfg.shuffle,
                       dist.rank, dist.world_size, task.is_regression)


def _dev_evaluator(model, tokenizer, task: GlueTask, data_dir: str | None, train_cfg: TrainSettings, dist: Distributed):
    settings = EvalSettings(split="dev", batch_size=train_cfg.eval_batch_size, max_seq_length=train_cfg.max_seq_length,
                            data_dir=data_dir, limit=train_cfg.eval_limit, device=dist.device)

    def evaluate() -> dict[str, Any]:
        result = evaluate_task(TorchPredictor.from_module(model, dist.device), tokenizer, task, settings, progress=False)
        return {"score": result["metrics"][task.main_metric], "metrics": result["metrics"],
                "num_examples": result["num_examples"]}

    return evaluate


def save_model_folder(model: nn.Module, tokenizer, folder: Path) -> None:
    """``save_pretrained`` model and tokenizer into ``folder``, each file replaced atomically."""
    tmp = folder / ".tmp-model"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    for file in tmp.iterdir():
        os.replace(file, folder / file.name)
    tmp.rmdir()


def _start(cfg, train_cfg: TrainSettings) -> tuple[Path, Distributed]:
    dist = setup_distributed(train_cfg.device)
    out = Path(cfg.output_dir)
    if dist.is_main:
        prepare_output_dir(out, cfg)
    _barrier(dist)
    return out, dist


def _finished(out: Path) -> bool:
    metrics = out / METRICS
    return metrics.is_file() and json.loads(metrics.read_text()).get("completed", False)


def _finish(out: Path, stage: str, cfg, result: dict, task: GlueTask | None, dist: Distributed) -> Path:
    if dist.is_main:
        best = result.get("best")
        write_json(out / METRICS, {
            "stage": stage, "completed": True, "task": task.name if task else None,
            "main_metric": task.main_metric if task else None,
            "dev": best["metrics"] if best else None, "best_step": best["step"] if best else None,
            "steps": result.get("steps"), "history": result.get("history"),
            "last_log": result.get("last_log"), "throughput": result.get("throughput"),
            **({"phases": result["phases"]} if "phases" in result else {}),
            "config": to_dict(cfg), **provenance(),
        })
    _barrier(dist)
    return out


def _barrier(dist: Distributed) -> None:
    if dist.world_size > 1:
        torch.distributed.barrier()
