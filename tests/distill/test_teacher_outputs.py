"""Teacher outputs read back from a store equal the live teacher's; the store is built once and resumes.

The live teacher runs in inference mode on groups of similar-length examples; it gives the padded
single forward's targets up to float rounding, and the student trains on them as on those.
"""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import torch

from distill import cli
from distill.data import GlueBatches
from distill.features import expose_attention_scores, extract
from distill.teacher_outputs import (DiskStore, LiveTeacher, MemoryStore, TeacherNeeds, length_groups, store_key,
                                     teacher_source)
from eval.core.artifacts import folder_lock
from eval.batching import encode
from eval.data import load_split
from eval.tasks import get_task
from tests.distill.conftest import FAST

ALL = TeacherNeeds(hidden=(0, 2, 4), attention=(2, 4), head_mean=False, logits=True)


@pytest.fixture()
def setup(tiny_teacher, tokenizer, glue_tsv):
    from transformers import AutoModelForSequenceClassification

    teacher = AutoModelForSequenceClassification.from_pretrained(tiny_teacher).eval()
    expose_attention_scores(teacher)
    encoded = encode(tokenizer, load_split(get_task("sst2"), "train", glue_tsv), 32)
    batches = GlueBatches(encoded, None, batch_size=5, seed=0)
    return teacher, encoded, batches


def _close(stored, live, needs: TeacherNeeds) -> None:
    mask = live.attention_mask.bool()
    for index in needs.hidden:  # float16 storage: equal up to its rounding, on real tokens
        torch.testing.assert_close(stored.hidden_states[index][mask], live.hidden_states[index][mask],
                                   rtol=2e-3, atol=2e-3)
    pairs = mask[:, None, :, None] & mask[:, None, None, :]
    for layer in needs.attention:
        expected = live.attention_scores[layer - 1]
        if needs.head_mean:
            expected = expected.mean(dim=1, keepdim=True)
        got = stored.attention_scores[layer - 1]
        torch.testing.assert_close(got.masked_select(pairs), expected.masked_select(pairs.expand_as(expected)),
                                   rtol=2e-3, atol=2e-3)
    for layer in needs.self_attention:
        for got, expected in zip(stored.self_attention[layer], live.self_attention[layer]):
            torch.testing.assert_close(got[mask], expected[mask], rtol=2e-3, atol=2e-3)
    if needs.logits:
        torch.testing.assert_close(stored.logits, live.logits, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("head_mean", [False, True])
def test_stored_outputs_equal_the_live_teacher(setup, tmp_path, head_mean):
    teacher, encoded, batches = setup
    needs = TeacherNeeds(hidden=(0, 2, 4), attention=(2, 4), head_mean=head_mean, logits=True, self_attention=(2, 4))
    stored, seconds = teacher_source(teacher, needs, encoded, str(tmp_path), batch_size=4, device="cpu")
    assert seconds is not None and seconds >= 0
    live = LiveTeacher(teacher, needs)
    for batch in batches.iterate(0):
        _close(stored(batch), live(batch), needs)


@pytest.mark.parametrize("lengths", [[5, 5, 5], [30, 3, 4, 29, 12, 3, 30, 11], [1], list(range(1, 33))])
@pytest.mark.parametrize("overhead", [0, 8, 10**6])
def test_length_groups_cover_every_row_once_each_as_wide_as_its_longest(lengths, overhead):
    groups = length_groups(lengths, overhead)
    rows = sorted(r for group, _ in groups for r in group.tolist())
    assert rows == list(range(len(lengths)))
    assert all(width == max(lengths[r] for r in group.tolist()) for group, width in groups)
    assert [w for _, w in groups] == sorted((w for _, w in groups), reverse=True)
    if overhead == 10**6:  # a forward call costs more than any padding: one group
        assert len(groups) == 1
    if overhead == 0:  # padding costs, calls are free: one group per distinct length
        assert len(groups) == len(set(lengths))


@pytest.mark.parametrize("head_mean", [False, True])
def test_grouped_live_teacher_equals_one_padded_forward_on_real_tokens(setup, head_mean):
    teacher, _, batches = setup
    needs = TeacherNeeds(hidden=(0, 2, 4), attention=(2, 4), head_mean=head_mean, logits=True)
    grouped = LiveTeacher(teacher, needs, group_overhead=0)  # as many groups as lengths
    checked = 0
    for batch in batches.iterate(0):
        lengths = batch["attention_mask"].sum(dim=1).tolist()
        checked += len(length_groups(lengths, 0)) > 1
        with torch.no_grad():
            padded = extract(teacher, batch, attention=True)
        got = grouped(batch)
        mask = batch["attention_mask"].bool()
        pairs = mask[:, None, :, None] & mask[:, None, None, :]
        for index in needs.hidden:
            torch.testing.assert_close(got.hidden_states[index][mask], padded.hidden_states[index][mask],
                                       rtol=1e-5, atol=1e-5)
            assert not got.hidden_states[index][~mask].any()  # padding: zeros, never read by the losses
        for layer in needs.attention:
            expected = padded.attention_scores[layer - 1]
            expected = expected.mean(dim=1, keepdim=True) if head_mean else expected
            scores = got.attention_scores[layer - 1]
            assert scores.shape == expected.shape
            torch.testing.assert_close(scores.masked_select(pairs), expected.masked_select(pairs.expand_as(expected)),
                                       rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(got.logits, padded.logits, rtol=1e-5, atol=1e-5)
        assert got.hidden_states[1] is None and got.attention_scores[0] is None  # only what the loss reads
    assert checked  # the fixture's batches do mix lengths


def test_student_trains_on_inference_mode_targets_as_on_no_grad_ones(setup):
    """Inference-mode tensors may not be saved for backward: the losses must only read them."""
    from distill.builders import new_student
    from distill.objectives import DistillObjective, build_distill_loss

    teacher, _, batches = setup
    batch = next(iter(batches.iterate(0)))
    grads = []
    for grouped in (False, True):
        student = new_student("tiny", teacher.config, get_task("sst2"), seed=0)
        loss = build_distill_loss({"embedding": 1, "hidden": 1, "attention": 1, "logits": 1}, "uniform", "auto",
                                  teacher, student)
        objective = DistillObjective(student, loss).eval()  # no dropout: both runs see the same network
        if grouped:
            targets = LiveTeacher(teacher, loss.teacher_needs, group_overhead=0)(batch)
        else:
            with torch.no_grad():
                targets = extract(teacher, batch, attention=True, self_attention=loss.teacher_needs.self_attention)
        objective(batch, targets)["loss"].backward()
        grads.append([p.grad.clone() for p in objective.parameters() if p.grad is not None])
    assert len(grads[0]) == len(grads[1]) > 0
    for ours, reference in zip(*grads):
        torch.testing.assert_close(ours, reference, rtol=1e-4, atol=1e-6)


def test_logits_alone_stay_in_memory_and_a_live_teacher_needs_no_store(setup):
    teacher, encoded, batches = setup
    source, _ = teacher_source(teacher, TeacherNeeds(logits=True), encoded, None, batch_size=4, device="cpu")
    assert isinstance(source.__self__, MemoryStore)
    live, seconds = teacher_source(teacher, ALL, encoded, None, batch_size=4, device="cpu")
    assert isinstance(live, LiveTeacher) and seconds is None
    batch = next(iter(batches.iterate(0)))
    torch.testing.assert_close(source(batch).logits, live(batch).logits, rtol=1e-5, atol=1e-5)


def test_store_is_built_once_and_extended_with_what_it_lacks(setup, tmp_path, monkeypatch):
    teacher, encoded, _ = setup
    calls = {"n": 0}
    forward = teacher.forward

    def counting(*args, **kwargs):
        calls["n"] += 1
        return forward(*args, **kwargs)

    monkeypatch.setattr(teacher, "forward", counting)
    first = TeacherNeeds(hidden=(0, 4), logits=True)
    DiskStore.open(tmp_path, teacher, first, encoded, 4, "cpu")
    passes = calls["n"]
    assert passes == -(-len(encoded) // 4)
    DiskStore.open(tmp_path, teacher, first, encoded, 4, "cpu")  # all there: no teacher run
    assert calls["n"] == passes
    DiskStore.open(tmp_path, teacher, TeacherNeeds(hidden=(0, 2), attention=(2,), head_mean=True), encoded, 4, "cpu")
    assert calls["n"] == 2 * passes  # one more pass, for hidden-2 and attention-2 only
    [folder] = [p for p in tmp_path.iterdir() if p.is_dir()]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["outputs"] == sorted(["hidden-0", "hidden-4", "logits", "hidden-2", "attention-2-mean"])


def test_a_run_that_finds_the_store_being_built_waits_for_it(setup, tmp_path, capfd):
    # Two seeds side by side (pipeline --jobs 2) or torchrun's ranks open one store at once.
    teacher, encoded, _ = setup
    needs = TeacherNeeds(hidden=(0, 4), logits=True)
    opened = []

    def open_store():
        opened.append(DiskStore.open(tmp_path, teacher, needs, encoded, 4, "cpu"))

    with folder_lock(tmp_path / store_key(teacher, encoded), what="teacher-output build"):  # another run builds it
        waiter = threading.Thread(target=open_store)
        waiter.start()
        waiter.join(timeout=1.0)
        assert waiter.is_alive() and not opened  # waiting, not failing
    waiter.join(timeout=120)
    assert len(opened) == 1 and "waiting for another teacher-output build" in capfd.readouterr().err


def test_a_store_the_disk_cannot_hold_is_refused_before_the_teacher_runs(setup, tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    from eval.core.errors import UserError

    teacher, encoded, _ = setup
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**6, 10**6 - 1000, 1000))  # 1 kB free
    monkeypatch.setattr(teacher, "forward", lambda *a, **k: pytest.fail("the teacher ran"))
    with pytest.raises(UserError, match=r"needs .* GB more in .*, and the disk has 0.0 GB free.*teacher_cache"):
        DiskStore.open(tmp_path, teacher, TeacherNeeds(hidden=(0, 4), logits=True), encoded, 4, "cpu")
    assert not list(tmp_path.glob("*/*.npy"))  # nothing written


def test_an_intermediate_store_keeps_the_logits_for_the_prediction_phase(setup, tmp_path, monkeypatch):
    teacher, encoded, batches = setup
    DiskStore.open(tmp_path, teacher, TeacherNeeds(hidden=(0, 4)), encoded, 4, "cpu")  # intermediate phase
    monkeypatch.setattr(teacher, "forward", lambda *a, **k: pytest.fail("the teacher ran again for its logits"))
    store = DiskStore.open(tmp_path, teacher, TeacherNeeds(logits=True), encoded, 4, "cpu")  # prediction phase
    batch = next(iter(batches.iterate(0)))
    monkeypatch.undo()
    torch.testing.assert_close(store.features(batch).logits, LiveTeacher(teacher, ALL)(batch).logits,
                               rtol=1e-5, atol=1e-5)


def test_store_key_changes_with_the_teacher_and_the_inputs(setup, tiny_classifier, tokenizer, glue_tsv):
    from transformers import AutoModelForSequenceClassification

    teacher, encoded, _ = setup
    other = AutoModelForSequenceClassification.from_pretrained(tiny_classifier)
    shorter = encode(tokenizer, load_split(get_task("sst2"), "train", glue_tsv), 8)
    keys = {store_key(teacher, encoded), store_key(other, encoded), store_key(teacher, shorter)}
    assert len(keys) == 3


def test_an_interrupted_build_resumes_and_matches_an_uninterrupted_one(setup, tmp_path, monkeypatch):
    from distill import teacher_outputs

    teacher, encoded, _ = setup
    reference = DiskStore.open(tmp_path / "ref", teacher, ALL, encoded, 2, "cpu")
    monkeypatch.setattr(teacher_outputs, "_FLUSH_EVERY", 2)
    real_pass = teacher_outputs._teacher_pass

    def interrupted(*args, **kwargs):
        for number, item in enumerate(real_pass(*args, **kwargs)):
            if number == 5:
                raise KeyboardInterrupt
            yield item

    monkeypatch.setattr(teacher_outputs, "_teacher_pass", interrupted)
    with pytest.raises(KeyboardInterrupt):
        DiskStore.open(tmp_path / "resumed", teacher, ALL, encoded, 2, "cpu")
    partial = next((tmp_path / "resumed").iterdir()) / ".partial"
    assert json.loads((partial / "progress.json").read_text())["batches"] == 4
    monkeypatch.setattr(teacher_outputs, "_teacher_pass", real_pass)
    resumed = DiskStore.open(tmp_path / "resumed", teacher, ALL, encoded, 2, "cpu")
    assert not partial.exists()
    for name, array in reference.arrays.items():
        np.testing.assert_array_equal(resumed.arrays[name], array)


@pytest.mark.integration
def test_task_and_general_distillation_with_a_teacher_cache(tmp_path, tiny_teacher, tiny_mlm, corpus, glue_tsv):
    cache = tmp_path / "cache"
    for seed in ("1", "2"):  # the second run reads what the first stored
        assert cli.main(["task", "--task", "sst2", "--teacher", str(tiny_teacher), "--student", "tiny",
                         "--data-dir", str(glue_tsv), "--output-dir", str(tmp_path / f"task{seed}"), "--seed", seed,
                         "--set", f"teacher_cache={cache}", "--set", "train.max_steps=2", *FAST]) == 0
    assert len([p for p in cache.iterdir() if p.is_dir()]) == 1
    phases = json.loads((tmp_path / "task2" / "metrics.json").read_text())["phases"]
    assert all("teacher_outputs_seconds" in summary for summary in phases.values())
    out = tmp_path / "general"
    assert cli.main(["general", "--teacher", str(tiny_mlm), "--student", "tiny", "--corpus", str(corpus),
                     "--output-dir", str(out), "--max-steps", "3", "--set", f"teacher_cache={tmp_path / 'gcache'}",
                     *FAST]) == 0
    details = json.loads((out / "metrics.json").read_text())["details"]
    assert details["corpus_sequences"] > 0 and json.loads((out / "metrics.json").read_text())["steps"] == 3
