"""An interrupted run resumes from its last checkpoint and ends exactly where an uninterrupted one does."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from distill import api, task_distill
from distill.checkpoint import STATE
from distill.config import load_recipe
from distill.teacher_outputs import LiveTeacher

pytestmark = pytest.mark.integration


def _config(tmp_path, name, teacher, glue_tsv, device="cpu", precision="bf16"):
    return load_recipe("task", flags={"task": "sst2", "teacher": str(teacher), "student": "tiny",
                                      "data_dir": str(glue_tsv), "output_dir": str(tmp_path / name)},
                       overrides=["train.batch_size=4", "train.max_seq_length=32", "train.save_every=2",
                                  f"train.device={device}", f"train.precision={precision}", "train.eval_limit=4",
                                  "train.keep_checkpoints=true",
                                  "phases=[{name: intermediate, losses: {hidden: 1, attention: 1}, epochs: 1},"
                                  " {name: prediction, losses: {logits: 1}, epochs: 2}]"])


def _interrupt_the_prediction_phase_at_its_third_batch(monkeypatch):
    """Ctrl-C at the 3rd batch of the prediction phase, after its checkpoint at step 2."""
    real_step = task_distill.distill_step
    calls = {"n": 0}

    def interrupting_step(teacher_outputs):
        step = real_step(teacher_outputs)

        def wrapped(model, batch):
            if not isinstance(teacher_outputs, LiveTeacher):  # stored logits: the prediction phase
                calls["n"] += 1
                if calls["n"] == 3:
                    raise KeyboardInterrupt
            return step(model, batch)

        return wrapped

    monkeypatch.setattr(task_distill, "distill_step", interrupting_step)
    return real_step


def test_interrupted_task_distillation_matches_uninterrupted(tmp_path, tiny_teacher, glue_tsv, monkeypatch):
    reference = api.task_distill(_config(tmp_path, "reference", tiny_teacher, glue_tsv))

    config = _config(tmp_path, "resumed", tiny_teacher, glue_tsv)
    real_step = _interrupt_the_prediction_phase_at_its_third_batch(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        api.task_distill(config)
    out = tmp_path / "resumed"
    assert (out / "intermediate" / "phase.json").is_file()  # phase 1 finished and stays finished
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["step_2"]
    assert not (out / "metrics.json").exists()

    monkeypatch.setattr(task_distill, "distill_step", real_step)
    resumed = api.task_distill(config)
    for name in ("model.safetensors",):
        expected, got = load_file(reference / name), load_file(resumed / name)
        assert expected.keys() == got.keys()
        for key in expected:
            torch.testing.assert_close(got[key], expected[key], rtol=0, atol=0)
    final = lambda folder: load_file(folder / "checkpoints" / "step_8" / "model.safetensors")  # noqa: E731
    for key, value in final(reference).items():
        torch.testing.assert_close(final(resumed)[key], value, rtol=0, atol=0)



@pytest.mark.skipif(not torch.cuda.is_available(), reason="fp16 loss scaling runs on CUDA only")
def test_an_fp16_run_resumes_with_the_loss_scale_it_had_reached(tmp_path, tiny_teacher, glue_tsv, monkeypatch):
    config = _config(tmp_path, "fp16", tiny_teacher, glue_tsv, device="cuda", precision="fp16")
    real_step = _interrupt_the_prediction_phase_at_its_third_batch(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        api.task_distill(config)
    saved = torch.load(tmp_path / "fp16" / "checkpoints" / "step_2" / STATE, weights_only=True)["scaler"]
    assert saved["scale"] > 0  # beside the optimizer and the scheduler

    monkeypatch.setattr(task_distill, "distill_step", real_step)
    loaded = []
    load = torch.amp.GradScaler.load_state_dict
    monkeypatch.setattr(torch.amp.GradScaler, "load_state_dict", lambda self, s: (loaded.append(s), load(self, s)))
    api.task_distill(config)
    assert loaded == [saved]  # the resumed phase goes on with the scale it had, not a fresh 65,536
