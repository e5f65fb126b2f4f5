"""The transfer probe: zero-shot similarity and a linear probe of a frozen encoder, beside its teacher's."""

from __future__ import annotations

import json

import pytest

from distill import cli
from distill.config import ProbeSettings
from distill.probe import transfer_probe
from tests.distill.conftest import FAST


def test_the_probe_measures_both_tasks_on_train_samples(tiny_teacher, tokenizer, glue_tsv):
    from transformers import AutoModel

    settings = ProbeSettings(data_dir=str(glue_tsv), examples=30, steps=20)
    found = transfer_probe(AutoModel.from_pretrained(tiny_teacher), tokenizer, settings)
    zero, linear = found["zero_shot"], found["linear"]
    assert (zero["task"], zero["split"], linear["task"], linear["split"]) == ("stsb", "train", "sst2", "train")
    assert -100 <= zero["pearson"] <= 100 and 0 <= linear["accuracy"] <= 100
    assert linear["fit"] + linear["scored"] == 16  # the fixture's 16 training rows: two thirds fit, the rest scored
    assert transfer_probe(AutoModel.from_pretrained(tiny_teacher), tokenizer, settings) == found  # seeded


def test_general_distillation_ends_with_the_probe_of_student_and_teacher(tmp_path, tiny_mlm, corpus, glue_tsv):
    out = tmp_path / "general"
    assert cli.main(["general", "--teacher", str(tiny_mlm), "--student", "tiny", "--corpus", str(corpus),
                     "--output-dir", str(out), "--max-steps", "2", "--set", f"probe.data_dir={glue_tsv}",
                     "--set", "probe.steps=5", *FAST]) == 0
    probe = json.loads((out / "probe.json").read_text())
    assert set(probe) == {"student", "teacher"} and "zero_shot" in probe["student"]
    assert json.loads((out / "metrics.json").read_text())["details"]["probe"] == probe


def test_a_probe_without_its_data_is_skipped_with_a_warning(tmp_path, tiny_mlm, corpus, capsys):
    out = tmp_path / "general"
    assert cli.main(["general", "--teacher", str(tiny_mlm), "--student", "tiny", "--corpus", str(corpus),
                     "--output-dir", str(out), "--max-steps", "2", "--set", f"probe.data_dir={tmp_path}/nowhere",
                     *FAST]) == 0
    assert "warning: transfer probe skipped" in capsys.readouterr().err
    assert "skipped" in json.loads((out / "probe.json").read_text())


@pytest.mark.parametrize("setting", ["examples=10", "steps=0", "max_seq_length=4"])
def test_probe_settings_are_checked(setting, capsys, tiny_mlm):
    from tests.conftest import assert_user_error

    assert_user_error(cli.main, ["probe", "--model", str(tiny_mlm), "--set", setting], capsys, "probe.")
