"""Losses: zero at a match, positive with gradients otherwise, blind to padding; attention scores are pre-softmax."""

from __future__ import annotations

import pytest
import torch

from distill.features import expose_attention_scores, extract
from distill.layer_map import uniform_layer_map
from distill.losses import (DistillLoss, attention_mse, hidden_mse, regression_mse, relation_heads_for,
                            relation_kl, resolve_attention_mode, soft_cross_entropy)
from distill.features import Features
from eval.core.errors import UserError
from tests.conftest import tiny_bert_config


def _mask(batch=2, seq=5, real=(5, 3)):
    return torch.tensor([[1] * n + [0] * (seq - n) for n in real][:batch])


def _pad(x: torch.Tensor, dims: tuple[int, ...], extra: int = 3) -> torch.Tensor:
    """Grow the sequence dimensions with garbage (what padded positions may hold)."""
    for dim in dims:
        shape = list(x.shape)
        shape[dim] = extra
        x = torch.cat([x, 100 * torch.randn(shape)], dim=dim)
    return x


def test_hidden_mse_zero_positive_and_ignores_padding():
    torch.manual_seed(0)
    mask = _mask()
    teacher = torch.randn(2, 5, 8)
    assert hidden_mse(teacher, teacher, mask) == 0
    student = torch.randn(2, 5, 4, requires_grad=True)
    projection = torch.nn.Linear(4, 8)
    loss = hidden_mse(student, teacher, mask, projection)
    assert loss > 0
    loss.backward()
    assert student.grad.abs().sum() > 0 and projection.weight.grad.abs().sum() > 0
    assert student.grad[1, 3:].abs().sum() == 0  # padded tokens get no gradient
    # garbage in padded positions (and in extra padding) leaves the loss unchanged
    padded_mask = torch.cat([mask, torch.zeros(2, 3, dtype=torch.long)], dim=1)
    same = hidden_mse(_pad(student.detach(), (1,)), _pad(teacher, (1,)), padded_mask, projection)
    torch.testing.assert_close(same, loss.detach())


def test_hidden_mse_equals_mse_without_padding():
    a, b = torch.randn(2, 5, 8), torch.randn(2, 5, 8)
    torch.testing.assert_close(hidden_mse(a, b, torch.ones(2, 5)), torch.nn.functional.mse_loss(a, b))


@pytest.mark.parametrize("mode,student_heads", [("per_head", 4), ("head_mean", 2)])
def test_attention_mse_zero_positive_and_ignores_padding(mode, student_heads):
    torch.manual_seed(0)
    mask = _mask()
    teacher = torch.randn(2, 4, 5, 5)
    matching = teacher if student_heads == 4 else teacher.reshape(2, 2, 2, 5, 5).mean(dim=2)
    assert attention_mse(matching, teacher, mask, mode) == pytest.approx(0, abs=1e-7)
    student = torch.randn(2, student_heads, 5, 5, requires_grad=True)
    loss = attention_mse(student, teacher, mask, mode)
    assert loss > 0
    loss.backward()
    assert student.grad.abs().sum() > 0
    assert student.grad[1, :, :, 3:].abs().sum() == 0 and student.grad[1, :, 3:, :].abs().sum() == 0
    padded_mask = torch.cat([mask, torch.zeros(2, 3, dtype=torch.long)], dim=1)
    same = attention_mse(_pad(student.detach(), (2, 3)), _pad(teacher, (2, 3)), padded_mask, mode)
    torch.testing.assert_close(same, loss.detach())


def test_relation_kl_zero_positive_ignores_padding_and_needs_no_projection():
    torch.manual_seed(0)
    mask = _mask()
    teacher = torch.randn(2, 5, 12)
    assert relation_kl(teacher, teacher, mask, relation_heads=4) == pytest.approx(0, abs=1e-6)
    student = torch.randn(2, 5, 8, requires_grad=True)  # another width: relations are [seq, seq] either way
    loss = relation_kl(student, teacher, mask, relation_heads=4)
    assert loss > 0
    loss.backward()
    assert student.grad.abs().sum() > 0 and student.grad[1, 3:].abs().sum() == 0  # padded tokens: no gradient
    padded_mask = torch.cat([mask, torch.zeros(2, 3, dtype=torch.long)], dim=1)
    same = relation_kl(_pad(student.detach(), (1,)), _pad(teacher, (1,)), padded_mask, relation_heads=4)
    torch.testing.assert_close(same, loss.detach())


def test_relation_kl_matches_its_definition_on_one_head():
    torch.manual_seed(1)
    student, teacher = torch.randn(1, 4, 6), torch.randn(1, 4, 6)
    p = torch.softmax(teacher[0] @ teacher[0].T / 6 ** 0.5, -1)
    q = torch.softmax(student[0] @ student[0].T / 6 ** 0.5, -1)
    expected = (p * (p.log() - q.log())).sum(-1).mean()
    torch.testing.assert_close(relation_kl(student, teacher, torch.ones(1, 4), 1), expected)


def test_relation_heads_divide_both_widths():
    assert relation_heads_for(128, 384, 12) == 8 and relation_heads_for(312, 768, 12) == 12
    assert relation_heads_for(128, 768, 12, wanted=16) == 16
    with pytest.raises(UserError, match="must divide"):
        relation_heads_for(128, 384, 12, wanted=12)


def test_attention_modes_for_head_counts():
    assert resolve_attention_mode("auto", 12, 12) == "per_head"
    assert resolve_attention_mode("auto", 2, 12) == "relation"
    assert resolve_attention_mode("head_mean", 2, 12) == "head_mean"
    with pytest.raises(UserError, match="head_mean"):
        attention_mse(torch.zeros(1, 2, 3, 3), torch.zeros(1, 4, 3, 3), torch.ones(1, 3), "per_head")


def test_soft_cross_entropy_zero_at_match_and_temperature_softens():
    torch.manual_seed(0)
    teacher = torch.randn(6, 3) * 3
    assert soft_cross_entropy(teacher, teacher) == pytest.approx(0, abs=1e-6)
    student = torch.randn(6, 3, requires_grad=True)
    loss = soft_cross_entropy(student, teacher)
    assert loss > 0
    loss.backward()
    assert student.grad.abs().sum() > 0
    # a high temperature flattens both distributions, so they disagree less
    assert soft_cross_entropy(student, teacher, temperature=10.0) < loss
    # gradients equal those of TinyBERT's soft cross-entropy -sum(p_t * log p_s)
    reference_student = student.detach().clone().requires_grad_(True)
    reference = (-torch.softmax(teacher, -1) * torch.log_softmax(reference_student, -1)).sum(-1).mean()
    reference.backward()
    torch.testing.assert_close(student.grad, reference_student.grad)


def test_regression_mse():
    scores = torch.randn(4, 1)
    assert regression_mse(scores, scores) == 0
    assert regression_mse(scores + 1, scores) == pytest.approx(1.0)


def _tiny(layers: int, heads: int, hidden: int = 32, seed: int = 0):
    from transformers import BertForSequenceClassification

    torch.manual_seed(seed)
    return BertForSequenceClassification(tiny_bert_config(layers, hidden=hidden, heads=heads)).eval()


def _batch():
    ids = torch.tensor([[2, 10, 11, 12, 13, 3], [2, 14, 15, 3, 0, 0]])
    return {"input_ids": ids, "attention_mask": (ids != 0).long(), "token_type_ids": torch.zeros_like(ids)}


def test_extracted_attention_is_pre_softmax_and_outputs_unchanged():
    model, batch = _tiny(2, 4), _batch()
    model.set_attn_implementation("eager")
    eager = extract(model, batch, attention=True)  # Hugging Face: post-softmax probabilities
    expose_attention_scores(model)
    ours = extract(model, batch, attention=True)
    torch.testing.assert_close(ours.logits, eager.logits)
    additive = (1 - batch["attention_mask"][:, None, None, :].float()) * torch.finfo(torch.float32).min
    for scores, probabilities in zip(ours.attention_scores, eager.attention_scores):
        assert scores.shape == probabilities.shape == (2, 4, 6, 6)
        torch.testing.assert_close(torch.softmax(scores + additive, dim=-1), probabilities)
        assert (scores < 0).any()  # raw scores, not probabilities


def test_distill_loss_zero_for_identical_models_and_trains_projections():
    teacher, batch = _tiny(2, 4, seed=0), _batch()
    expose_attention_scores(teacher)
    weights = {"embedding": 1.0, "hidden": 1.0, "attention": 1.0, "logits": 1.0}
    features = extract(teacher, batch, attention=True)
    loss = DistillLoss(weights, uniform_layer_map(2, 2), 32, 32)
    with torch.no_grad():  # identity projections: an identical student has zero loss
        for projection in loss.projections.values():
            projection.weight.copy_(torch.eye(32))
            projection.bias.zero_()
    assert all(float(v.detach()) == pytest.approx(0, abs=1e-6) for v in loss(features, features).values())

    student = _tiny(1, 2, hidden=16, seed=1).train()
    expose_attention_scores(student)
    loss = DistillLoss(weights, uniform_layer_map(2, 1), 16, 32, attention_mode="head_mean")
    parts = loss(extract(student, batch, attention=True), features)
    assert set(parts) == {*weights, "loss"} and parts["loss"] > 0
    parts["loss"].backward()
    assert all(p.grad is not None for p in loss.projections.parameters())


def test_relation_mode_compares_queries_keys_and_values_of_mapped_layers():
    teacher, student, batch = _tiny(2, 4, seed=0), _tiny(1, 2, hidden=16, seed=1).train(), _batch()
    loss = DistillLoss({"attention": 1.0}, uniform_layer_map(2, 1), 16, 32, attention_mode="relation",
                       relation_heads=2)
    assert loss.relation_layers == (1,) and not loss.needs_attention and loss.teacher_needs.self_attention == (2,)
    theirs = extract(teacher, batch, hidden=False, self_attention=(2,))
    assert [v.shape for v in theirs.self_attention[2]] == [(2, 6, 32)] * 3
    mine = extract(student, batch, hidden=False, self_attention=(1,))
    parts = loss(mine, theirs)
    assert parts["attention"] > 0
    parts["loss"].backward()
    assert student.bert.encoder.layer[0].attention.self.value.weight.grad.abs().sum() > 0
    same = extract(teacher, batch, hidden=False, self_attention=(1, 2))
    identical = DistillLoss({"attention": 1.0}, uniform_layer_map(2, 2), 32, 32, attention_mode="relation",
                            relation_heads=4)
    assert float(identical(same, same)["attention"]) == pytest.approx(0, abs=1e-6)


@pytest.mark.parametrize("regression", [False, True])
def test_teacher_labels_train_on_the_teachers_hard_decision(regression):
    teacher_logits = torch.tensor([[2.0, -1.0], [0.1, 0.3]]) if not regression else torch.tensor([[3.5], [1.0]])
    student_logits = torch.randn_like(teacher_logits, requires_grad=True)
    loss = DistillLoss({"teacher_labels": 1.0}, ((0, 0),), 4, 4, regression=regression)
    assert loss.teacher_needs.logits
    parts = loss(Features(torch.ones(2, 3), logits=student_logits), Features(torch.ones(2, 3), logits=teacher_logits))
    expected = (torch.nn.functional.mse_loss(student_logits.squeeze(-1), teacher_logits.squeeze(-1)) if regression
                else torch.nn.functional.cross_entropy(student_logits, torch.tensor([0, 1])))
    torch.testing.assert_close(parts["teacher_labels"], expected)


def test_features_without_teacher_logits_fail_only_when_needed():
    loss = DistillLoss({"hidden": 1.0}, ((0, 0), (2, 1)), 4, 4)
    hidden = tuple(torch.randn(1, 3, 4) for _ in range(3))
    parts = loss(Features(torch.ones(1, 3), hidden_states=hidden[:2]), Features(torch.ones(1, 3), hidden_states=hidden))
    assert set(parts) == {"hidden", "loss"}
