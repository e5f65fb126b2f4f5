"""``distill task``: TinyBERT task distillation, each phase of the recipe in order (intermediate layers, predictions)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from distill.builders import dev_evaluator, frozen, glue_batches, new_student, train_data
from distill.checkpoint import WEIGHTS
from distill.config import Phase, TaskConfig
from distill.cut import cut_model, is_cut_spec, parse_cut
from distill.data import GlueBatches
from distill.features import expose_attention_scores
from distill.loop import Distributed, seed_everything, train
from distill.objectives import DistillObjective, build_distill_loss, distill_step
from distill.run_folder import PHASE_DONE, RunFolder
from distill.students import is_preset
from distill.teacher_outputs import teacher_source
from distill.teachers import card_name, check_vocabulary, load_model, load_tokenizer
from eval.core.artifacts import write_json
from eval.core.errors import UserError
from eval.core.model_card import describe_model
from eval.tasks import get_task


def task_distill(cfg: TaskConfig) -> Path:
    """Distil ``cfg.teacher`` into ``cfg.student`` on ``cfg.task``; the last phase writes the folder."""
    task = get_task(cfg.task)
    teacher_name = describe_model(card_name(cfg.teacher))
    card = {"summary": (f"A student task-distilled from {teacher_name} on {task.display_name} (TinyBERT: "
                        + ", then ".join(f"{p.name} phase with {' + '.join(p.losses)} losses" for p in cfg.phases)
                        + (", on augmented data" if cfg.augmented else "")
                        + (f", starting from {cfg.student}: the teacher's embeddings, head and those of its layers"
                           if is_cut_spec(cfg.student) else "")
                        + (f", with unlabeled in-domain text labelled by the teacher ({cfg.unlabeled})"
                           if cfg.unlabeled else "") + ")."),
            "base_model": card_name(cfg.teacher), "base_model_relation": "finetune",
            "tags": ("distillation", "tinybert")}
    with RunFolder.start(cfg, cfg.train) as run:
        if run.finished:
            return run.tidy("task", task, **card)
        teacher, student, tokenizer = _models(cfg, task, run.dist)
        data = train_data(task, cfg.data_dir, cfg.augmented, cfg.train, cfg.unlabeled)
        batches = glue_batches(task, data, tokenizer, cfg.train, run.dist)
        summaries: dict[str, Any] = {}
        for index, phase in enumerate(cfg.phases):
            work = run.out if index == len(cfg.phases) - 1 else run.out / phase.name
            if (work / PHASE_DONE).is_file() and (work / WEIGHTS).is_file():  # finished before an interruption
                summaries[phase.name] = _phase_record(work / PHASE_DONE)
            else:
                work.mkdir(parents=True, exist_ok=True)
                summaries[phase.name] = _run_phase(run, phase, cfg, task, teacher, student, tokenizer, batches, work)
            student.load_state_dict(load_file(str(work / WEIGHTS)))  # the best (or last) of the phase
        return run.finish("task", {"phases": summaries, **summaries[cfg.phases[-1].name]}, task, **card)


def _phase_record(path: Path) -> dict[str, Any]:
    try:
        record = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        record = None
    if not isinstance(record, dict):
        raise UserError(f"{path} is corrupt; delete it to run that phase again")
    return record


def _models(cfg: TaskConfig, task, dist: Distributed):
    """The frozen teacher, the student (preset, custom shape or folder) and their shared tokenizer."""
    teacher = frozen(load_model(cfg.teacher, "classifier", task, require_head=True), dist)
    tokenizer = load_tokenizer(cfg.teacher)
    if is_cut_spec(cfg.student):  # the teacher's embeddings, head and some of its layers
        student = cut_model(teacher, parse_cut(cfg.student)).train()
        for parameter in student.parameters():
            parameter.requires_grad_(True)
    elif is_preset(cfg.student) or not Path(str(cfg.student)).expanduser().exists():
        student = new_student(cfg.student, teacher.config, task, cfg.train.seed)  # unknown names fail here
    else:
        check_vocabulary(tokenizer, load_tokenizer(cfg.student), cfg.teacher, str(cfg.student))
        torch.manual_seed(cfg.train.seed)  # a general-distilled student has no head yet: same init everywhere
        student = load_model(cfg.student, "classifier", task)
    # One attention implementation for the whole run, whichever phase it resumes in: sdpa and
    # eager-style attention differ in the last bits, and exact resumption needs the same numbers.
    for model in (teacher, student):
        expose_attention_scores(model)
    return teacher, student, tokenizer


def _run_phase(run: RunFolder, phase: Phase, cfg: TaskConfig, task, teacher, student, tokenizer,
               batches: GlueBatches, work: Path) -> dict[str, Any]:
    loss = build_distill_loss(phase.losses, cfg.layer_map, cfg.attention_mode, teacher, student,
                              regression=task.is_regression, temperature=phase.temperature,
                              relation_heads=cfg.relation_heads)
    needs = loss.teacher_needs
    # The teacher's outputs are ready before the loop starts, so the loop's throughput is the student's.
    teacher_outputs, seconds = teacher_source(teacher, needs, batches.encoded, cfg.teacher_cache,
                                              cfg.train.eval_batch_size, run.dist.device)
    predicts = needs.logits or "labels" in loss.weights
    seed_everything(cfg.train.seed + run.dist.rank)
    result = train(DistillObjective(student, loss), batches, distill_step(teacher_outputs), cfg.train, work, cfg,
                   run.dist, lr=phase.lr, epochs=phase.epochs,
                   evaluate=dev_evaluator(student, tokenizer, task, cfg.data_dir, cfg.train, run.dist) if predicts else None,
                   on_best=lambda: run.save_model(student, tokenizer, work), description=f"{task.name} {phase.name}")
    if seconds is not None:
        result["teacher_outputs_seconds"] = seconds
    if run.dist.is_main:
        if not predicts:  # intermediate layers only: nothing to score, keep the last weights
            run.save_model(student, tokenizer, work)
        write_json(work / PHASE_DONE, result)
    run.barrier()
    return result
