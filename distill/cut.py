"""Students cut from their teacher: its embeddings and some of its layers, then task-distilled.

The miniature sizes start from random weights, so everything they know has to come from general
distillation, which needs far more text and compute than most users have. DistilBERT (Sanh et
al., 2019) and Patient-KD (Sun et al., 2019) start the student from the teacher instead: the
same width, the teacher's embeddings and every k-th layer. ``teacher:L`` (a student spec) keeps
``L`` layers chosen by the uniform layer map the losses use (6 -> 3: layers 2, 4, 6), and
``teacher:2,4,6`` names them; the classifier head and pooler come along when the teacher has them.
The cut model records its layers in its config (``cut_layers``), so task distillation maps each
student layer back to the teacher layer it came from.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from distill.layer_map import uniform_layer_map
from eval.core.errors import UserError

if TYPE_CHECKING:
    from torch import nn

PREFIX = "teacher:"
_SPEC = re.compile(r"teacher:(\d+(?:,\d+)*)")
_LAYER = re.compile(r"(^|\.)encoder\.layer\.(\d+)\.")


def is_cut_spec(student: Any) -> bool:
    """Whether a student choice is ``teacher:L`` or ``teacher:i,j,k``."""
    return isinstance(student, str) and student.strip().startswith(PREFIX)


def parse_cut(spec: str) -> int | tuple[int, ...]:
    """``teacher:3`` -> 3 (a layer count); ``teacher:2,4,6`` -> (2, 4, 6) (1-based teacher layers).

    Raises:
        UserError: anything else after ``teacher:``.
    """
    found = _SPEC.fullmatch(spec.strip())
    if not found:
        raise UserError(f"student {spec!r}: write teacher:L (keep L of the teacher's layers, spread evenly) or "
                        f"teacher:i,j,k (keep those layers, counted from 1), e.g. teacher:3 or teacher:2,4,6")
    numbers = tuple(int(n) for n in found.group(1).split(","))
    return numbers[0] if len(numbers) == 1 else numbers


def cut_layers(teacher_layers: int, keep: int | Sequence[int]) -> tuple[int, ...]:
    """The 1-based teacher layers a cut keeps: ``keep`` evenly spread (the uniform layer map), or as listed.

    Raises:
        UserError: more layers than the teacher has, none, a layer out of range or listed twice, or
            layers out of order.
    """
    if isinstance(keep, int):
        if not 1 <= keep <= teacher_layers:
            raise UserError(f"cannot keep {keep} of the teacher's {teacher_layers} layers; choose 1 to {teacher_layers}")
        return tuple(t for t, s in uniform_layer_map(teacher_layers, keep) if s > 0)
    layers = tuple(keep)
    bad = [n for n in layers if not 1 <= n <= teacher_layers]
    if not layers or bad or list(layers) != sorted(set(layers)):
        raise UserError(f"teacher layers {list(layers)}: list distinct layers from 1 to {teacher_layers} in order, "
                        f"e.g. teacher:2,4,6")
    return layers


def cut_model(model: nn.Module, keep: int | Sequence[int]) -> nn.Module:
    """A copy of a BERT model (any head) with only the kept encoder layers, in order.

    Embeddings, pooler and head are the teacher's; layer ``m`` of the cut is teacher layer
    ``cut_layers(...)[m - 1]``, recorded as ``config.cut_layers``.
    """
    config = copy.deepcopy(model.config)
    layers = cut_layers(config.num_hidden_layers, keep)
    source = {index - 1: position for position, index in enumerate(layers)}  # teacher 0-based -> student
    config.num_hidden_layers = len(layers)
    config.cut_layers = list(layers)
    state = {}
    for key, value in model.state_dict().items():
        found = _LAYER.search(key)
        if found is None:
            state[key] = value
        elif int(found.group(2)) in source:
            state[key[:found.start(2)] + str(source[int(found.group(2))]) + key[found.end(2):]] = value
    cut = type(model)(config)
    missing, unexpected = cut.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:  # a model whose layers are not named encoder.layer.N
        raise UserError(f"cannot cut {type(model).__name__}: weights {sorted(missing or unexpected)[:3]} do not map; "
                        f"a BERT-architecture model is needed")
    return cut.train(model.training)


def cut_layer_map(student_config) -> tuple[tuple[int, int], ...] | None:
    """The layer map of a cut student: each student layer to the teacher layer it came from (``None``
    for a student that is not a cut)."""
    layers = getattr(student_config, "cut_layers", None)
    if not layers:
        return None
    return ((0, 0), *((int(t), s) for s, t in enumerate(layers, 1)))


def describe_cut(name: str, teacher_layers: int, layers: Sequence[int]) -> str:
    """A model card sentence: where each layer came from."""
    origins = ", ".join(f"layer {s} = teacher layer {t}" for s, t in enumerate(layers, 1))
    return (f"Cut from {name}: its embeddings, pooler and head, and {len(layers)} of its {teacher_layers} layers "
            f"({origins}).")


def write_cut(model_name: str, keep: int | Sequence[int], output_dir: str | Path, license: str | None = None) -> Path:
    """``distill cut``: load ``model_name`` (any head it has), cut it, write a ``from_pretrained`` folder
    whose card names ``license`` (default: the model's, when known)."""
    from distill.run_folder import save_model_folder, share_files
    from distill.teachers import card_name, load_config, load_model, load_tokenizer
    from eval.core.artifacts import folder_lock, provenance, write_json
    from eval.core.model_card import ModelCard, describe_model, write_model_card
    from eval.core.outputs import check_apart, check_output_path
    from eval.predictors import is_sequence_classifier

    out = check_output_path(output_dir, folder=True, flag="--output-dir")
    check_apart(out, {"--model": model_name}, "--output-dir")
    if out.is_dir() and any(out.iterdir()):
        raise UserError(f"output folder {out} is not empty; pass an empty or new --output-dir")
    config = load_config(model_name)
    head = "classifier" if is_sequence_classifier(getattr(config, "architectures", None)) else "base"
    teacher = load_model(model_name, head)
    tokenizer = load_tokenizer(model_name)
    cut = cut_model(teacher, keep)
    with folder_lock(out, what="cut"):
        save_model_folder(cut, tokenizer, out)
        layers = cut.config.cut_layers
        write_json(out / "cut.json", {"source": model_name, "teacher_layers": teacher.config.num_hidden_layers,
                                      "kept_layers": layers, **provenance()})
        write_model_card(out, ModelCard(
            title=out.name, summary=describe_cut(describe_model(card_name(model_name)),
                                                 teacher.config.num_hidden_layers, layers)
            + " Fine-tune or task-distill it before use.", base_model=card_name(model_name),
            base_model_relation="finetune", license=license,
            tags=("distillation", "layer-pruning"), settings={"kept layers": layers},
            command=f"distill cut --model {model_name} --layers {','.join(map(str, layers))} --output-dir {out}"
                    + (f" --license {license}" if license else "")))
        share_files(out)
    return out
