"""Layer maps: TinyBERT's uniform pairs, the rounding rule for non-dividing counts, explicit maps."""

import pytest

from distill.layer_map import resolve_layer_map, uniform_layer_map
from eval.core.errors import UserError


def test_uniform_12_to_4_is_tinybert():
    pairs = uniform_layer_map(12, 4)
    assert pairs == ((0, 0), (3, 1), (6, 2), (9, 3), (12, 4))
    # the reference's attention rule: student layer i (0-based) <- teacher k*(i+1)-1 with k = 3
    assert [t - 1 for t, s in pairs if s] == [3 * (i + 1) - 1 for i in range(4)]


def test_non_dividing_counts_round_half_up():
    assert [t for t, _ in uniform_layer_map(12, 8)] == [0, 2, 3, 5, 6, 8, 9, 11, 12]
    assert [t for t, _ in uniform_layer_map(6, 4)] == [0, 2, 3, 5, 6]
    for n, m in [(12, 5), (12, 7), (6, 6), (24, 5)]:
        teacher = [t for t, _ in uniform_layer_map(n, m)]
        assert teacher[0] == 0 and teacher[-1] == n and teacher == sorted(set(teacher))


def test_student_deeper_than_teacher_is_an_error():
    with pytest.raises(UserError, match="explicit layer_map"):
        uniform_layer_map(4, 6)


def test_explicit_maps():
    assert resolve_layer_map([[6, 2], [0, 0], [2, 1]], 6, 2) == ((0, 0), (2, 1), (6, 2))
    with pytest.raises(UserError, match="out of range"):
        resolve_layer_map([[7, 1]], 6, 2)
    with pytest.raises(UserError, match="only once"):
        resolve_layer_map([[2, 1], [4, 1]], 6, 2)
    with pytest.raises(UserError, match="embedding"):
        resolve_layer_map([[0, 1]], 6, 2)
    with pytest.raises(UserError, match="unknown layer_map"):
        resolve_layer_map("uniformly", 6, 2)
