"""Student presets build, heads divide hidden, bad names and shapes are one-line errors."""

import pytest

from distill.students import STUDENTS, StudentSpec, get_student
from eval.core.errors import UserError
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


def _low_rank_teacher(rank: int, width: int = 32):
    """A tiny teacher whose embedding tables lie in a ``rank``-dimensional subspace."""
    import torch
    from transformers import BertModel

    from tests.conftest import tiny_bert_config

    teacher = BertModel(tiny_bert_config(hidden=width), add_pooling_layer=False)
    generator = torch.Generator().manual_seed(0)
    directions = torch.randn(rank, width, generator=generator)
    with torch.no_grad():
        for name in ("word_embeddings", "position_embeddings", "token_type_embeddings"):
            table = getattr(teacher.embeddings, name).weight
            table.copy_(torch.randn(table.shape[0], rank, generator=generator) @ directions)
    return teacher


def test_teacher_embeddings_keep_the_geometry_of_the_teachers_words():
    """Projected onto the teacher's principal directions, dot products between words are kept."""
    import torch
    from transformers import BertModel

    from distill.student_init import embeddings_from_teacher
    from distill.students import StudentSpec

    teacher = _low_rank_teacher(rank=8)
    student = BertModel(StudentSpec(1, 8, 2, 16).bert_config(teacher.config), add_pooling_layer=False)
    before = student.embeddings.word_embeddings.weight.clone()
    embeddings_from_teacher(student, teacher)
    for name in ("word_embeddings", "position_embeddings", "token_type_embeddings"):
        s, t = getattr(student.embeddings, name).weight, getattr(teacher.embeddings, name).weight
        assert torch.allclose(s @ s.T, t @ t.T, atol=1e-3), name
    assert not torch.allclose(before, student.embeddings.word_embeddings.weight)


def test_teacher_embeddings_refuse_a_student_wider_than_its_teacher():
    import pytest
    from transformers import BertModel

    from distill.student_init import embeddings_from_teacher
    from distill.students import StudentSpec
    from eval.core.errors import UserError

    teacher = _low_rank_teacher(rank=4, width=16)
    student = BertModel(StudentSpec(1, 32, 2, 16).bert_config(teacher.config), add_pooling_layer=False)
    with pytest.raises(UserError, match="at most as wide as its teacher"):
        embeddings_from_teacher(student, teacher)
