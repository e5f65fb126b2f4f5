"""Students cut from the teacher: the kept layers are the teacher's own, and task distillation maps them home."""

from __future__ import annotations

import pytest
import torch

from distill import cli
from distill.cut import cut_layer_map, cut_layers, cut_model, parse_cut
from distill.objectives import build_distill_loss
from eval.core.errors import UserError
from tests.conftest import assert_user_error, tiny_bert_config


def _teacher(layers: int = 4):
    from transformers import BertForSequenceClassification

    torch.manual_seed(0)
    return BertForSequenceClassification(tiny_bert_config(layers)).eval()


@pytest.mark.parametrize("spec, layers", [("teacher:2", (2, 4)), ("teacher:1", (4,)), ("teacher:4", (1, 2, 3, 4)),
                                          ("teacher:1,3", (1, 3))])
def test_the_cut_keeps_exactly_the_chosen_teacher_layers_before_training(spec, layers):
    teacher = _teacher()
    cut = cut_model(teacher, parse_cut(spec))
    assert tuple(cut.config.cut_layers) == layers and cut.config.num_hidden_layers == len(layers)
    for student_layer, teacher_layer in enumerate(layers):
        mine, theirs = cut.bert.encoder.layer[student_layer].state_dict(), teacher.bert.encoder.layer[teacher_layer - 1].state_dict()
        assert mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in mine)
    for part in ("bert.embeddings", "bert.pooler", "classifier"):
        mine, theirs = cut.get_submodule(part).state_dict(), teacher.get_submodule(part).state_dict()
        assert all(torch.equal(mine[k], theirs[k]) for k in mine)
    assert cut_layer_map(cut.config) == ((0, 0), *((t, s) for s, t in enumerate(layers, 1)))


def test_a_whole_cut_computes_what_the_teacher_computes():
    teacher = _teacher()
    ids = torch.tensor([[2, 10, 11, 3]])
    torch.testing.assert_close(cut_model(teacher, 4)(ids).logits, teacher(ids).logits)


def test_the_losses_map_a_cut_student_to_the_layers_it_came_from():
    teacher = _teacher()
    student = cut_model(teacher, (1, 3))
    loss = build_distill_loss({"hidden": 1.0}, "uniform", "auto", teacher, student)
    assert loss.layer_map == ((0, 0), (1, 1), (3, 2))  # not the uniform 4 -> 2 map, (2, 1), (4, 2)


@pytest.mark.parametrize("spec", ["teacher:", "teacher:x", "teacher:0", "teacher:5", "teacher:3,1", "teacher:2,2"])
def test_impossible_cuts_are_refused(spec):
    with pytest.raises(UserError):
        cut_layers(4, parse_cut(spec))


def test_distill_cut_writes_a_loadable_folder_with_a_card(tmp_path, tiny_classifier, capsys):
    from transformers import AutoModelForSequenceClassification

    out = tmp_path / "cut"
    assert cli.main(["cut", "--model", str(tiny_classifier), "--layers", "1", "--output-dir", str(out)]) == 0
    model = AutoModelForSequenceClassification.from_pretrained(out)
    assert model.config.num_hidden_layers == 1 and model.config.cut_layers == [2]
    assert "teacher layer 2" in (out / "README.md").read_text() and (out / "cut.json").is_file()
    assert_user_error(cli.main, ["cut", "--model", str(tiny_classifier), "--layers", "9", "--output-dir",
                                 str(tmp_path / "bad")], capsys, "cannot keep 9", nothing_written=tmp_path / "bad")
