"""``distill finetune``: fine-tune a teacher, or a randomly initialised student preset, on a task's labels."""

from __future__ import annotations

from pathlib import Path

import torch

from distill.builders import dev_evaluator, glue_batches, new_student, train_data
from distill.config import FinetuneConfig
from distill.loop import seed_everything, train
from distill.objectives import LabelObjective, label_step
from distill.run_folder import RunFolder
from distill.students import is_preset
from distill.teachers import card_name, load_config, load_model, load_tokenizer
from eval.core.model_card import describe_model
from eval.data import load_split
from eval.tasks import get_task

DEFAULT_VOCAB_SOURCE = "minilm-l6"


def finetune(cfg: FinetuneConfig) -> Path:
    """Fine-tune ``cfg.model`` on ``cfg.task``; the folder keeps the best dev checkpoint. Returns the folder."""
    task = get_task(cfg.task)
    preset = is_preset(cfg.model)
    vocab = cfg.tokenizer or DEFAULT_VOCAB_SOURCE
    card = {"summary": (f"A `{cfg.model}` student trained from random initialisation on the labels of "
                        f"{task.display_name} only (the label-only baseline), with the vocabulary of {vocab}."
                        if preset else f"{describe_model(card_name(cfg.model))} fine-tuned on the labels of "
                                       f"{task.display_name}."),
            "base_model": None if preset else card_name(cfg.model), "base_model_relation": "finetune",
            "tags": ("fine-tuned",)}
    with RunFolder.start(cfg, cfg.train) as run:
        if run.finished:
            return run.tidy("finetune", task, **card)
        if preset:  # the label-only baseline: a random student with the teacher's vocabulary
            tokenizer = load_tokenizer(vocab)
            model = new_student(cfg.model, load_config(vocab), task, cfg.train.seed)
        else:
            tokenizer = load_tokenizer(cfg.model)
            torch.manual_seed(cfg.train.seed)  # a pre-trained encoder's new head: the same init for the same seed
            model = load_model(cfg.model, "classifier", task)
        data = train_data(task, cfg.data_dir, None, cfg.train)
        batches = glue_batches(task, data, tokenizer, cfg.train, run.dist)
        seed_everything(cfg.train.seed + run.dist.rank)
        result = train(LabelObjective(model, task.is_regression), batches, label_step, cfg.train, run.out, cfg,
                       run.dist, evaluate=dev_evaluator(model, tokenizer, task, cfg.data_dir, cfg.train, run.dist),
                       on_best=lambda: run.save_model(model, tokenizer), description=f"finetune {task.name}")
        card["summary"] += subset_sentence(task, len(data), cfg)
        return run.finish("finetune", result, task, **card)


def subset_sentence(task, seen: int, cfg: FinetuneConfig) -> str:
    """For the model card, when the model saw part of the task's training data: " It was trained on
    4,000 of the 67,349 SST-2 training examples." (a GLUE task's full size is in the registry; a task
    spec's is its train file's); otherwise nothing."""
    full = getattr(task, "train_examples", None)
    if full is None and cfg.train.train_limit and seen >= cfg.train.train_limit:  # a task spec, cut short
        full = len(load_split(task, "train", cfg.data_dir))
    if not full or seen >= full:
        return ""
    return f" It was trained on {seen:,} of the {full:,} {task.display_name} training examples."
