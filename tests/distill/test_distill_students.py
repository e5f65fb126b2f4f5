"""Student presets build, heads divide hidden, bad names and shapes are one-line errors."""

import pytest

from distill.students import STUDENTS, StudentSpec, get_student
from eval.errors import UserError
from tests.conftest import tiny_bert_config


@pytest.mark.parametrize("name", list(STUDENTS))
def test_every_preset_builds(name):
    from transformers import BertForSequenceClassification

    spec = get_student(name)
    assert spec.hidden % spec.heads == 0
    config = spec.bert_config(tiny_bert_config(), num_labels=3)
    assert (config.num_hidden_layers, config.hidden_size, config.num_attention_heads) == (spec.layers, spec.hidden, spec.heads)
    assert config.vocab_size == tiny_bert_config().vocab_size and config.num_labels == 3
    # build the model on the meta device: checks the shapes without allocating tinybert6's weights
    import torch

    with torch.device("meta"):
        model = BertForSequenceClassification(config)
    assert len(model.bert.encoder.layer) == spec.layers


def test_presets_match_the_published_sizes():
    assert STUDENTS["tiny"] == StudentSpec(2, 128, 2, 512)
    assert STUDENTS["tinybert4"] == StudentSpec(4, 312, 12, 1200)


def test_custom_and_bad_students():
    assert get_student({"layers": 3, "hidden": 96, "heads": 3, "intermediate": 384}).layers == 3
    with pytest.raises(UserError, match="unknown student 'tini'; choose one of tiny"):
        get_student("tini")
    with pytest.raises(UserError, match="not a multiple"):
        StudentSpec(2, 130, 4, 512)
    with pytest.raises(UserError, match="missing"):
        get_student({"layers": 3})
