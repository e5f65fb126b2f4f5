"""Builders the stages share: students, frozen teachers, training batches and the dev evaluator."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from distill import augment as augment_module
from distill.config import TrainSettings
from distill.data import GlueBatches
from distill.loop import Distributed
from distill.students import get_student
from distill.teachers import set_task_labels
from eval.batching import encode
from eval.data import GlueData, load_split
from eval.core.errors import UserError
from eval.harness import EvalSettings, evaluate_task
from eval.metrics import majority_share, selection_score
from eval.predictors import TorchPredictor


def new_student(choice, vocab_config, task, seed: int) -> nn.Module:
    """A randomly initialised classifier of a preset or custom shape, the same for the same seed."""
    from transformers import BertForSequenceClassification

    config = get_student(choice).bert_config(vocab_config)
    set_task_labels(config, task)
    torch.manual_seed(seed)  # the same initial student in every process
    return BertForSequenceClassification(config)


def frozen(model: nn.Module, dist: Distributed) -> nn.Module:
    """A teacher on the run's device, in eval mode, with no gradients."""
    model.to(dist.device).eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


# The label of an unlabeled example: ignored by cross-entropy (its default ignore_index), and
# never read by the distillation losses, which take the teacher's outputs instead.
NO_LABEL = {False: -100, True: float("nan")}


def train_data(task, data_dir: str | None, augmented: str | None, settings: TrainSettings,
               unlabeled: str | None = None) -> GlueData:
    """The training examples: the task's train split or a `distill augment` folder (with its mined pairs),
    plus unlabeled text."""
    data = augment_module.load_augmented(augmented, task) if augmented else load_split(task, "train", data_dir)
    if data.labels is None:
        raise UserError(f"{task.display_name} train split has no labels")
    data = data.select(settings.train_limit) if settings.train_limit else data
    check_classes(task, data, settings)
    # mined pairs of an augmentation folder (distill augment --set pairs=K) train on the teacher's outputs only
    mined = augment_module.mined_texts(augmented) if augmented and not settings.train_limit else []
    texts = mined + (unlabeled_texts(unlabeled, len(task.text_columns)) if unlabeled else [])
    if not texts:
        return data
    source = " + ".join([data.source, *(["mined pairs"] if mined else []), *([unlabeled] if unlabeled else [])])
    return GlueData(data.task, data.split, data.texts + texts, data.labels + [NO_LABEL[task.is_regression]] * len(texts),
                    [*data.indices, *(f"unlabeled-{i}" for i in range(len(texts)))], source)


def check_classes(task, data: GlueData, settings: TrainSettings) -> None:
    """Refuse classification training data whose labels are all one class (a wrong file or label
    column, usually): the model would learn to answer that class and the run would still 'succeed'.

    Raises:
        UserError: one class only, unless ``train.allow_single_class`` is set.
    """
    classes = sorted(set(data.labels))
    if task.is_regression or len(classes) > 1 or settings.allow_single_class:
        return
    names = list(task.label_names or ())
    only = names[classes[0]] if classes and 0 <= classes[0] < len(names) else classes
    raise UserError(f"every one of the {len(data)} training examples of {task.display_name} ({data.source}) has "
                    f"the label {only!r}: a model trained on them learns to answer that class; check the data "
                    f"and its label column, or set train.allow_single_class: true to train anyway")


def unlabeled_texts(source: str, columns: int) -> list[tuple[str, ...]]:
    """Examples without labels: one per line (or JSONL record), the texts of a pair split by a tab.

    Raises:
        UserError: no examples, or lines with the wrong number of texts for the task.
    """
    from distill.corpus import iter_documents

    texts = [tuple(t.strip() for t in document.split("\t")) for document in iter_documents(source)]
    wrong = sum(1 for t in texts if len(t) != columns or not all(t))
    if wrong:
        raise UserError(f"{wrong} of {len(texts)} examples in {source} do not have {columns} non-empty "
                        f"tab-separated text{'s' if columns > 1 else ''}, as the task needs")
    if not texts:
        raise UserError(f"{source} holds no examples; give one example per line")
    return texts


def glue_batches(task, data: GlueData, tokenizer, settings: TrainSettings, dist: Distributed) -> GlueBatches:
    encoded = encode(tokenizer, data, settings.max_seq_length)
    return GlueBatches(encoded, data.labels, settings.batch_size, settings.seed, settings.shuffle,
                       dist.rank, dist.world_size, task.is_regression)


def dev_evaluator(model: nn.Module, tokenizer, task, data_dir: str | None, settings: TrainSettings,
                  dist: Distributed):
    """A function scoring ``model`` (as it is now) on the task's dev split through the GLUE harness.

    Its ``score``, by which the best checkpoint is kept, is the mean of the task's metrics (see
    :func:`eval.metrics.selection_score`); ``majority_share`` says how many predictions fall on one class.
    """
    eval_settings = EvalSettings(split="dev", batch_size=settings.eval_batch_size,
                                 max_seq_length=settings.max_seq_length, data_dir=data_dir,
                                 limit=settings.eval_limit, device=dist.device)

    def evaluate() -> dict[str, Any]:
        result = evaluate_task(TorchPredictor.from_module(model, dist.device), tokenizer, task, eval_settings,
                               progress=False)
        share = majority_share(task, result["predictions"])
        return {"score": selection_score(task, result["metrics"]), "metrics": result["metrics"],
                "num_examples": result["num_examples"], **({"majority_share": share} if share is not None else {})}

    return evaluate
