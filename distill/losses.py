"""Distillation losses (embedding, hidden, attention, logits) and ``DistillLoss``, which weighs them.

Every loss averages over real tokens only: ``attention_mask`` (``[batch, seq]``, 1 = token,
0 = padding) removes padded positions, so a batch's padding never changes the loss. Attention
losses read pre-softmax scores as produced by :mod:`distill.features`.

Attention transfer, three ways (``attention_mode``):

- ``per_head`` compares head ``h``'s scores with head ``h``'s (TinyBERT; needs equal head counts);
- ``head_mean`` first averages the scores over heads, which works for any pair of head counts,
  but keeps little of what the teacher's heads do one by one (on SST-2 sentences the mean keeps
  13-56% of the per-head score variance of MiniLM-L6's layers);
- ``relation``: MiniLM-v2's multi-head self-attention relations (Wang et al., 2021). The queries
  of a layer (all heads side by side, ``[batch, seq, hidden]``) are split into ``R`` relation
  heads of ``hidden / R`` dimensions each, for student and teacher alike, whatever their own head
  counts; each relation head gives ``softmax(Q Qᵀ / √d)`` over the real tokens, and the student's
  is pulled to the teacher's by KL divergence; the same for keys and values. ``R`` divides both
  widths, so no projection is needed and every dimension of the teacher's heads counts.

``auto`` (the default) picks ``per_head`` when the head counts match and ``relation`` otherwise.
MiniLM-v2 transfers one teacher layer (an upper one) into the student's last; here the relation
loss runs over every layer pair of the layer map, as TinyBERT's attention loss does.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from distill.features import Features
from distill.layer_map import LayerMap
from distill.teacher_outputs import TeacherNeeds
from eval.core.errors import UserError


def _token_weights(attention_mask: torch.Tensor) -> torch.Tensor:
    return attention_mask.to(torch.float32)


def hidden_mse(student_hidden: torch.Tensor, teacher_hidden: torch.Tensor, attention_mask: torch.Tensor,
               projection: nn.Module | None = None) -> torch.Tensor:
    """Mean squared error between projected student states and teacher states over real tokens.

    Args:
        student_hidden: ``[batch, seq, student_hidden]``.
        teacher_hidden: ``[batch, seq, teacher_hidden]``.
        attention_mask: ``[batch, seq]``.
        projection: learned ``Linear(student_hidden, teacher_hidden)`` (TinyBERT's ``W_h``);
            ``None`` when the widths already match.

    Returns:
        A scalar: squared error summed over the hidden dimension, averaged over tokens and
        divided by the teacher width (so it equals ``F.mse_loss`` when there is no padding).
    """
    projected = projection(student_hidden) if projection is not None else student_hidden
    weights = _token_weights(attention_mask)
    squared = (projected.float() - teacher_hidden.float()).pow(2).mean(dim=-1)  # [batch, seq]
    return (squared * weights).sum() / weights.sum().clamp(min=1)


# The embedding loss is the hidden loss on hidden-state index 0, with its own projection.
embedding_mse = hidden_mse


def attention_mse(student_scores: torch.Tensor, teacher_scores: torch.Tensor, attention_mask: torch.Tensor,
                  mode: str = "per_head") -> torch.Tensor:
    """MSE between pre-softmax attention scores, over (query, key) pairs of real tokens.

    Args:
        student_scores: ``[batch, student_heads, seq, seq]``.
        teacher_scores: ``[batch, teacher_heads, seq, seq]``.
        attention_mask: ``[batch, seq]``.
        mode: ``per_head`` (needs equal head counts) or ``head_mean`` (any head counts).

    Raises:
        UserError: ``per_head`` with different head counts.
    """
    if mode == "head_mean":
        student_scores = student_scores.mean(dim=1, keepdim=True)
        teacher_scores = teacher_scores.mean(dim=1, keepdim=True)
    elif student_scores.shape[1] != teacher_scores.shape[1]:
        raise UserError(f"attention_mode per_head needs equal head counts (student {student_scores.shape[1]}, "
                        f"teacher {teacher_scores.shape[1]}); use attention_mode head_mean or auto")
    weights = _token_weights(attention_mask)
    pairs = weights[:, None, :, None] * weights[:, None, None, :]  # [batch, 1, query, key]
    squared = (student_scores.float() - teacher_scores.float()).pow(2)
    # TinyBERT zeroes masked scores before its MSE; we drop them from the average as well, so
    # the loss is the same whatever the padding.
    return (squared * pairs).sum() / (pairs.sum() * squared.shape[1]).clamp(min=1)


def relation_kl(student_vectors: torch.Tensor, teacher_vectors: torch.Tensor, attention_mask: torch.Tensor,
                relation_heads: int) -> torch.Tensor:
    """MiniLM-v2's relation loss for one kind of vector (queries, keys or values) of one layer pair.

    Args:
        student_vectors: ``[batch, seq, student_hidden]``.
        teacher_vectors: ``[batch, seq, teacher_hidden]``.
        attention_mask: ``[batch, seq]``; padded keys get no probability, padded queries no weight.
        relation_heads: ``R``, dividing both widths.

    Returns:
        ``KL(teacher || student)`` of the relation rows, averaged over relation heads and real
        (query) tokens.
    """
    def log_relations(vectors: torch.Tensor) -> torch.Tensor:
        batch, seq, width = vectors.shape
        heads = vectors.float().view(batch, seq, relation_heads, width // relation_heads).transpose(1, 2)
        scores = heads @ heads.transpose(-1, -2) / math.sqrt(width // relation_heads)  # [batch, R, seq, seq]
        keys = attention_mask[:, None, None, :].bool()
        return F.log_softmax(scores.masked_fill(~keys, torch.finfo(scores.dtype).min), dim=-1)

    student_log, teacher_log = log_relations(student_vectors), log_relations(teacher_vectors)
    keys = attention_mask[:, None, None, :].bool()
    # Padded keys hold probability 0 on both sides: their terms are dropped, not 0 * (-inf).
    per_row = (teacher_log.exp() * (teacher_log - student_log)).masked_fill(~keys, 0.0).sum(dim=-1)
    queries = _token_weights(attention_mask)[:, None, :]  # [batch, 1, seq]
    return (per_row * queries).sum() / (queries.sum() * relation_heads).clamp(min=1)


def relation_heads_for(student_hidden: int, teacher_hidden: int, teacher_heads: int, wanted: int | None = None) -> int:
    """The relation heads ``R``: ``wanted``, or by default the largest number dividing both widths that is
    not above the teacher's head count (8 for MiniLM-L6 or BERT-base against every miniature size).

    Raises:
        UserError: ``wanted`` does not divide both widths.
    """
    if wanted is not None:
        if wanted < 1 or student_hidden % wanted or teacher_hidden % wanted:
            raise UserError(f"relation_heads {wanted} must divide both the student's width ({student_hidden}) and "
                            f"the teacher's ({teacher_hidden}); e.g. {math.gcd(student_hidden, teacher_hidden)}")
        return wanted
    common = math.gcd(student_hidden, teacher_hidden)
    return max(r for r in range(1, min(common, teacher_heads) + 1) if common % r == 0)


def soft_cross_entropy(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                       temperature: float = 1.0) -> torch.Tensor:
    """TinyBERT's prediction loss, written as a KL divergence so that it is zero at a perfect match.

    ``KL(p_t || p_s) = CE(p_t, p_s) - H(p_t)``; the teacher entropy does not depend on the
    student, so the gradients are TinyBERT's soft cross-entropy's exactly.

    Args:
        student_logits, teacher_logits: ``[batch, num_labels]``.
        temperature: ``T`` softens both distributions (``softmax(z / T)``); not rescaled by ``T²``,
            as in the reference.
    """
    student_log_probs = F.log_softmax(student_logits.float() / temperature, dim=-1)
    teacher_log_probs = F.log_softmax(teacher_logits.float() / temperature, dim=-1)
    return F.kl_div(student_log_probs, teacher_log_probs, log_target=True, reduction="batchmean")


def regression_mse(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """The prediction loss for STS-B: MSE to the teacher's score. Shapes ``[batch, 1]``."""
    return F.mse_loss(student_logits.float(), teacher_logits.float())


def resolve_attention_mode(mode: str, student_heads: int, teacher_heads: int) -> str:
    if mode == "auto":
        return "per_head" if student_heads == teacher_heads else "relation"
    return mode


class DistillLoss(nn.Module):
    """Weighted sum of the enabled losses, with the learned width projections they need.

    Args:
        weights: loss name -> weight (``embedding``, ``hidden``, ``attention``, ``logits``,
            ``labels``, ``teacher_labels``); zero or absent means off.
        layer_map: ``(teacher, student)`` hidden-state index pairs (see :mod:`distill.layer_map`).
        student_hidden, teacher_hidden: widths; a projection is learned when they differ.
        attention_mode: ``per_head``, ``head_mean`` or ``relation`` (already resolved).
        regression: the task predicts a score (MSE instead of soft cross-entropy).
        temperature: for the ``logits`` loss.
        relation_heads: ``R`` for the ``relation`` mode.
    """

    def __init__(self, weights: dict[str, float], layer_map: LayerMap, student_hidden: int, teacher_hidden: int,
                 attention_mode: str = "per_head", regression: bool = False, temperature: float = 1.0,
                 relation_heads: int = 1):
        super().__init__()
        self.weights = {name: float(w) for name, w in weights.items() if w}
        self.layer_map = layer_map
        self.attention_mode = attention_mode
        self.relation_heads = relation_heads
        self.regression = regression
        self.temperature = temperature
        # One projection per feature kind, shared across layers as in the TinyBERT reference.
        self.projections = nn.ModuleDict({
            name: nn.Linear(student_hidden, teacher_hidden)
            for name in ("embedding", "hidden") if name in self.weights
        })

    @property
    def needs_hidden(self) -> bool:
        return "embedding" in self.weights or "hidden" in self.weights

    @property
    def needs_attention(self) -> bool:
        """Attention scores (``per_head`` / ``head_mean``)."""
        return "attention" in self.weights and self.attention_mode != "relation"

    @property
    def relation_layers(self) -> tuple[int, ...]:
        """Student layers whose queries, keys and values the ``relation`` mode compares."""
        if "attention" not in self.weights or self.attention_mode != "relation":
            return ()
        return tuple(s for _, s in self.layer_map if s > 0)

    @property
    def teacher_needs(self) -> TeacherNeeds:
        """The teacher outputs this loss reads: stated here once, used to pick the teacher's source."""
        layers = tuple(t for t, s in self.layer_map if s > 0)
        hidden = ((0,) if "embedding" in self.weights else ()) + (layers if "hidden" in self.weights else ())
        return TeacherNeeds(hidden=tuple(sorted(set(hidden))),
                            attention=layers if self.needs_attention else (),
                            head_mean=self.attention_mode == "head_mean",
                            logits="logits" in self.weights or "teacher_labels" in self.weights,
                            self_attention=layers if self.relation_layers else ())

    def forward(self, student: Features, teacher: Features, labels: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Returns each enabled loss (unweighted) and ``loss``, their weighted sum (a scalar)."""
        mask = student.attention_mask
        parts: dict[str, torch.Tensor] = {}
        if "embedding" in self.weights:
            parts["embedding"] = embedding_mse(student.hidden_states[0], teacher.hidden_states[0], mask,
                                               self.projections["embedding"])
        layers = [(t, s) for t, s in self.layer_map if s > 0]
        if "hidden" in self.weights:
            parts["hidden"] = sum(hidden_mse(student.hidden_states[s], teacher.hidden_states[t], mask,
                                             self.projections["hidden"]) for t, s in layers)
        if "attention" in self.weights and self.attention_mode == "relation":
            parts["attention"] = sum(relation_kl(mine, theirs, mask, self.relation_heads)
                                     for t, s in layers
                                     for mine, theirs in zip(student.self_attention[s], teacher.self_attention[t]))
        elif "attention" in self.weights:
            parts["attention"] = sum(attention_mse(student.attention_scores[s - 1], teacher.attention_scores[t - 1],
                                                   mask, self.attention_mode) for t, s in layers)
        if "logits" in self.weights:
            parts["logits"] = (regression_mse(student.logits, teacher.logits) if self.regression
                               else soft_cross_entropy(student.logits, teacher.logits, self.temperature))
        if "labels" in self.weights:
            parts["labels"] = label_loss(student.logits, labels, self.regression)
        if "teacher_labels" in self.weights:  # the teacher's hard decision, as if it were the gold label
            hard = teacher.logits.squeeze(-1) if self.regression else teacher.logits.argmax(dim=-1)
            parts["teacher_labels"] = label_loss(student.logits, hard, self.regression)
        parts["loss"] = sum(self.weights[name] * value for name, value in parts.items())
        return parts


def label_loss(logits: torch.Tensor, labels: torch.Tensor, regression: bool) -> torch.Tensor:
    """Cross-entropy on gold class ids, or MSE on gold scores. ``logits``: ``[batch, num_labels]``.

    Examples without a label (``-100``, or NaN for a score: mined pairs, unlabeled text) are left
    out; a batch with none has a loss of 0.
    """
    known = ~torch.isnan(labels.float()) if regression else labels != -100
    if not known.any():
        return logits.sum() * 0.0  # keeps the graph, so every process still runs the same backward
    if regression:
        return F.mse_loss(logits.float().squeeze(-1)[known], labels.float()[known])
    return F.cross_entropy(logits.float()[known], labels.long()[known])
