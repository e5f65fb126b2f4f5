"""Student sizes: named presets and custom shapes, turned into a ``BertConfig`` beside a teacher."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from eval.core.errors import UserError


@dataclass(frozen=True)
class StudentSpec:
    """The shape of a BERT student; everything else (vocabulary, positions) comes from the teacher.

    Attributes:
        layers: transformer layers.
        hidden: hidden width; must be a multiple of ``heads``.
        heads: attention heads.
        intermediate: feed-forward width.
    """

    layers: int
    hidden: int
    heads: int
    intermediate: int

    def __post_init__(self):
        for name in ("layers", "hidden", "heads", "intermediate"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise UserError(f"student {name} must be a positive integer, got {value!r}")
        if self.hidden % self.heads:
            raise UserError(f"student hidden size {self.hidden} is not a multiple of its {self.heads} "
                            f"heads; pick heads that divide hidden")

    def bert_config(self, teacher_config, num_labels: int | None = None, **extra):
        """A ``BertConfig`` of this shape sharing the teacher's vocabulary and embedding sizes."""
        from transformers import BertConfig

        labels = {"num_labels": num_labels} if num_labels else {}
        return BertConfig(
            vocab_size=teacher_config.vocab_size,
            max_position_embeddings=teacher_config.max_position_embeddings,
            type_vocab_size=teacher_config.type_vocab_size,
            pad_token_id=teacher_config.pad_token_id,
            hidden_size=self.hidden, num_hidden_layers=self.layers,
            num_attention_heads=self.heads, intermediate_size=self.intermediate,
            **labels, **extra,
        )


# Google's BERT miniatures (Turc et al., 2019) and the two TinyBERT students (Jiao et al., 2020).
STUDENTS: Mapping[str, StudentSpec] = MappingProxyType({
    "tiny": StudentSpec(2, 128, 2, 512),
    "mini": StudentSpec(4, 256, 4, 1024),
    "small": StudentSpec(4, 512, 8, 2048),
    "medium": StudentSpec(8, 512, 8, 2048),
    "tinybert4": StudentSpec(4, 312, 12, 1200),
    "tinybert6": StudentSpec(6, 768, 12, 3072),
})


def get_student(spec: str | Mapping[str, Any] | StudentSpec) -> StudentSpec:
    """A preset by name, or a custom ``{layers, hidden, heads, intermediate}`` mapping.

    Raises:
        UserError: unknown preset name, or a custom shape with missing/invalid fields.
    """
    if isinstance(spec, StudentSpec):
        return spec
    if isinstance(spec, Mapping):
        fields = ("layers", "hidden", "heads", "intermediate")
        unknown = sorted(set(spec) - set(fields))
        missing = [f for f in fields if f not in spec]
        if unknown or missing:
            raise UserError(f"custom student needs exactly {', '.join(fields)}; "
                            f"missing {missing}, unknown {unknown}")
        return StudentSpec(**{f: spec[f] for f in fields})
    key = str(spec).strip().lower()
    if key not in STUDENTS:
        raise UserError(f"unknown student {spec!r}; choose one of {', '.join(STUDENTS)}, "
                        f"a student folder, or {{layers, hidden, heads, intermediate}}")
    return STUDENTS[key]


def check_student_choice(student: Any) -> None:
    """Refuse, as a config is read, a student that can never be built: an unknown preset (``huge``)
    or a bad custom shape. A path (with ``/``), an existing folder and ``teacher:L`` pass: a folder
    may be written by an earlier pipeline stage, and a cut is checked against its teacher.

    Raises:
        UserError: the unknown preset (with the choices) or the shape's problem.
    """
    name = student if isinstance(student, Mapping) else str(student).strip()
    if isinstance(name, str) and (name.startswith(("teacher:", ".", "~")) or "/" in name or "\\" in name
                                  or Path(name).exists()):
        return
    get_student(name)


def is_preset(name: Any) -> bool:
    return isinstance(name, Mapping) or str(name).strip().lower() in STUDENTS
