"""Which teacher layer each student layer learns from: uniform (TinyBERT), rounded, or explicit pairs.

A layer map is a tuple of ``(teacher, student)`` pairs over *hidden-state indices*: index 0 is the
embedding output and index ``m`` the output of layer ``m`` (what ``output_hidden_states`` returns).
The same pairs drive the attention loss: student layer ``m >= 1`` matches teacher layer ``g(m)``,
i.e. ``attention_scores[m - 1]`` against ``attention_scores[g(m) - 1]``. For 12 -> 4 this is the
TinyBERT reference exactly (hidden ``k·m``, attention ``k·(i+1) - 1`` for 0-based ``i``, ``k = 3``).
"""

from __future__ import annotations

from typing import Sequence

from eval.core.errors import UserError

LayerMap = tuple[tuple[int, int], ...]


def uniform_layer_map(teacher_layers: int, student_layers: int) -> LayerMap:
    """TinyBERT's uniform map ``g(m) = m·N/M`` for ``m = 0..M``.

    When ``M`` does not divide ``N`` (8 of 12), ``g(m)`` is ``m·N/M`` rounded half up:
    ``0, 2, 3, 5, 6, 8, 9, 11, 12``. The rounding keeps the ends fixed (embeddings to embeddings,
    last layer to last layer) and the map strictly increasing whenever ``M <= N``.

    Raises:
        UserError: the student has more layers than the teacher, or a count is not positive.
    """
    if teacher_layers < 1 or student_layers < 1:
        raise UserError(f"layer counts must be positive, got teacher {teacher_layers}, student {student_layers}")
    if student_layers > teacher_layers:
        raise UserError(f"a {student_layers}-layer student cannot learn uniformly from a {teacher_layers}-layer "
                        f"teacher; give an explicit layer_map of [teacher, student] pairs")
    return tuple(((2 * m * teacher_layers + student_layers) // (2 * student_layers), m)
                 for m in range(student_layers + 1))


def resolve_layer_map(spec: str | Sequence[Sequence[int]], teacher_layers: int, student_layers: int) -> LayerMap:
    """A recipe's ``layer_map``: ``"uniform"`` or explicit ``[[teacher, student], ...]`` pairs.

    Raises:
        UserError: unknown name, out-of-range index, a student index used twice, or an embedding
            index paired with a transformer layer.
    """
    if isinstance(spec, str):
        if spec != "uniform":
            raise UserError(f"unknown layer_map {spec!r}; use 'uniform' or a list of [teacher, student] pairs")
        return uniform_layer_map(teacher_layers, student_layers)
    pairs = tuple((int(t), int(s)) for t, s in spec)
    problems = [f"[{t}, {s}] is out of range (teacher 0..{teacher_layers}, student 0..{student_layers})"
                for t, s in pairs if not (0 <= t <= teacher_layers and 0 <= s <= student_layers)]
    problems += [f"[{t}, {s}] pairs an embedding output with a transformer layer"
                 for t, s in pairs if (t == 0) != (s == 0)]
    students = [s for _, s in pairs]
    if len(set(students)) != len(students):
        problems.append("each student layer may appear only once")
    if not pairs:
        problems.append("it is empty")
    if problems:
        raise UserError("invalid layer_map: " + "; ".join(problems))
    return tuple(sorted(pairs, key=lambda p: p[1]))
