"""The loop's optimizer: fused AdamW gives the for-loop AdamW's updates up to float rounding."""

from __future__ import annotations

import torch

from distill.config import TrainSettings
from distill.loop import build_optimizer, parameter_groups, warmup_then_decay


def _model(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Embedding(50, 8), torch.nn.LayerNorm(8), torch.nn.Linear(8, 3))


def test_fused_adamw_matches_the_reference_adamw():
    settings = TrainSettings(weight_decay=0.01, warmup=0.2)
    fused_model, reference_model = _model(0), _model(0)
    fused, fused_schedule = build_optimizer(fused_model, settings, lr=1e-2, steps=10)
    assert fused.defaults["fused"]
    reference = torch.optim.AdamW(parameter_groups(reference_model, settings.weight_decay), lr=1e-2)
    reference_schedule = torch.optim.lr_scheduler.LambdaLR(reference, warmup_then_decay(2, 10))
    inputs = torch.randint(0, 50, (6, 5))
    for model, optimizer, schedule in ((fused_model, fused, fused_schedule),
                                       (reference_model, reference, reference_schedule)):
        for _ in range(5):
            model(inputs).pow(2).mean().backward()
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
    for ours, theirs in zip(fused_model.parameters(), reference_model.parameters()):
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    assert any((p != q).any() for p, q in zip(fused_model.parameters(), _model(0).parameters()))  # it did train


def test_schedule_warms_up_then_decays_to_zero():
    schedule = warmup_then_decay(2, 10)
    assert [round(schedule(s), 3) for s in (0, 1, 2, 6, 10)] == [0.333, 0.667, 1.0, 0.5, 0.0]
