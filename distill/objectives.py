"""What the loop trains: a model plus its loss, and the step function that feeds it one batch."""

from __future__ import annotations

import torch
from torch import nn

from distill.cut import cut_layer_map
from distill.features import Features, expose_attention_scores, extract
from distill.layer_map import resolve_layer_map
from distill.losses import DistillLoss, label_loss, relation_heads_for, resolve_attention_mode
from distill.teacher_outputs import TeacherSource


class LabelObjective(nn.Module):
    """Plain fine-tuning: cross-entropy (or MSE for regression) on gold labels."""

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
        features = extract(self.student, batch, hidden=self.loss.needs_hidden, attention=self.loss.needs_attention,
                           self_attention=self.loss.relation_layers)
        return self.loss(features, teacher, batch.get("labels"))


def label_step(model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return model(batch)


def distill_step(teacher: TeacherSource):
    """The loop's step for a :class:`DistillObjective`: the teacher's outputs, then the student's loss."""

    def step(model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return model(batch, teacher(batch))

    return step


def build_distill_loss(weights, layer_map_spec, attention_mode: str, teacher: nn.Module, student: nn.Module,
                       regression: bool = False, temperature: float = 1.0,
                       relation_heads: int | None = None) -> DistillLoss:
    """A ``DistillLoss`` between two models: layer map, attention mode and relation heads resolved from
    their shapes.

    Models are switched to pre-softmax attention scores when the loss compares attention scores.
    """
    cut = cut_layer_map(student.config) if layer_map_spec == "uniform" else None  # a cut: layers map home
    layer_map = cut or resolve_layer_map(layer_map_spec, teacher.config.num_hidden_layers,
                                         student.config.num_hidden_layers)
    mode = resolve_attention_mode(attention_mode, student.config.num_attention_heads,
                                  teacher.config.num_attention_heads)
    heads = relation_heads_for(student.config.hidden_size, teacher.config.hidden_size,
                               teacher.config.num_attention_heads, relation_heads)
    loss = DistillLoss(dict(weights), layer_map, student.config.hidden_size, teacher.config.hidden_size,
                       attention_mode=mode, regression=regression, temperature=temperature, relation_heads=heads)
    if loss.needs_attention:
        for model in (teacher, student):
            expose_attention_scores(model)
    return loss
