"""Typed configs: precedence, every error at once, round trip."""

from dataclasses import dataclass, field
from typing import Literal

import pytest

from eval.core.config import dump_yaml, load_config
from eval.core.errors import UserError


@dataclass(frozen=True)
class Train:
    lr: float = 5e-5
    batch_size: int = 32


@dataclass(frozen=True)
class Custom:
    layers: int
    hidden: int


@dataclass(frozen=True)
class Recipe:
    task: str = "sst2"
    student: str | Custom = "tiny"
    method: Literal["max", "entropy"] = "max"
    layer_map: tuple[tuple[int, int], ...] | None = None
    losses: dict[str, float] = field(default_factory=dict)
    train: Train = Train()

    def __post_init__(self):
        if self.train.batch_size < 1:
            raise ValueError("train.batch_size must be at least 1")


def test_precedence_defaults_recipe_flags_set(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("task: mrpc\ntrain: {lr: 1.0e-4, batch_size: 8}\nlosses: {hidden: 1}\n")
    cfg = load_config(Recipe, recipe, flags={"task": "rte", "student": None}, overrides=["train.lr=3e-5"])
    assert cfg.task == "rte"  # flag beats recipe
    assert cfg.train.lr == 3e-5  # --set beats recipe
    assert cfg.train.batch_size == 8  # recipe beats default
    assert cfg.student == "tiny"  # a flag left as None changes nothing
    assert cfg.losses["hidden"] == 1.0 and isinstance(cfg.losses["hidden"], float)


def test_union_of_name_and_mapping_and_nested_tuples():
    cfg = load_config(Recipe, overrides=["student={layers: 2, hidden: 64}", "layer_map=[[0, 0], [6, 1]]"])
    assert cfg.student == Custom(2, 64)
    assert cfg.layer_map == ((0, 0), (6, 1))


def test_all_errors_are_reported_together(tmp_path):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("tsak: sst2\nmethod: minmax\ntrain: {lr: fast, batch_size: 2.5}\nstudent: 3\n")
    with pytest.raises(UserError) as err:
        load_config(Recipe, recipe)
    message = str(err.value)
    assert "unknown key 'tsak' (did you mean 'task'?)" in message
    assert "method: 'minmax' is not one of max, entropy" in message
    assert "train.lr: expected float, got 'fast'" in message
    assert "train.batch_size: expected int, got 2.5" in message
    assert "student: 3 is not str or a mapping" in message
    assert "\n" not in message


def test_cross_field_check_and_bad_files(tmp_path):
    with pytest.raises(UserError, match="batch_size must be at least 1"):
        load_config(Recipe, overrides=["train.batch_size=0"])
    with pytest.raises(UserError, match="does not exist"):
        load_config(Recipe, tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(UserError, match="must be a mapping"):
        load_config(Recipe, tmp_path / "list.yaml")
    with pytest.raises(UserError, match="not key=value"):
        load_config(Recipe, overrides=["train.lr"])


def test_resolved_config_round_trips_through_yaml(tmp_path):
    cfg = load_config(Recipe, overrides=["student={layers: 2, hidden: 64}", "layer_map=[[0, 0]]",
                                         "losses={logits: 1.0}"])
    path = tmp_path / "run_config.yaml"
    path.write_text(dump_yaml(cfg))
    assert load_config(Recipe, path) == cfg
