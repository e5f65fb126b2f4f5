"""Teacher outputs read back from a store equal the live teacher's; the store is built once and resumes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from distill import cli
from distill.data import GlueBatches
from distill.features import expose_attention_scores
from distill.teacher_outputs import DiskStore, LiveTeacher, MemoryStore, TeacherNeeds, store_key, teacher_source
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
    if needs.logits:
        torch.testing.assert_close(stored.logits, live.logits, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("head_mean", [False, True])
def test_stored_outputs_equal_the_live_teacher(setup, tmp_path, head_mean):
    teacher, encoded, batches = setup
    needs = TeacherNeeds(hidden=(0, 2, 4), attention=(2, 4), head_mean=head_mean, logits=True)
    stored, seconds = teacher_source(teacher, needs, encoded, str(tmp_path), batch_size=4, device="cpu")
    assert seconds is not None and seconds >= 0
    live = LiveTeacher(teacher, needs)
    for batch in batches.iterate(0):
        _close(stored(batch), live(batch), needs)


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
