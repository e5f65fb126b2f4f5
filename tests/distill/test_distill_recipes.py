"""Every shipped recipe validates; config errors are reported together."""

from pathlib import Path

import pytest

from distill.config import TaskConfig, load_recipe
from eval.core.errors import UserError

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
COMMAND = {"general": "general", "task": "task"}


@pytest.mark.parametrize("path", sorted(p for kind in COMMAND for p in (RECIPES / kind).glob("*.yaml")),
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_shipped_recipe_validates(path):
    cfg = load_recipe(COMMAND[path.parent.name], path)
    assert cfg.output_dir
    assert path.read_text().splitlines()[1].startswith("# Run: distill ")


def test_task_recipe_phases_and_overrides(tmp_path):
    cfg = load_recipe("task", RECIPES / "task" / "tiny_sst2.yaml", flags={"teacher": "t", "train.max_steps": 5},
                      overrides=["phases=[{name: only, losses: {logits: 1}}]"])
    assert isinstance(cfg, TaskConfig) and cfg.teacher == "t" and cfg.train.max_steps == 5
    assert [p.name for p in cfg.phases] == ["only"]


def test_all_errors_at_once(tmp_path):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("task: sst2\nteacher: t\nstudent: tiny\noutput_dir: o\nlayer_mapp: uniform\n"
                      "phases: [{name: a, losses: {hiden: 1}}]\ntrain: {batch_size: 0}\n")
    with pytest.raises(UserError) as err:
        load_recipe("task", recipe)
    message = str(err.value)
    assert "layer_mapp" in message and "hiden" in message and "batch_size" in message


def test_general_needs_max_steps_and_no_logit_loss():
    with pytest.raises(UserError, match="max_steps"):
        load_recipe("general", flags={"teacher": "t", "student": "tiny", "corpus": "c", "output_dir": "o"})
    with pytest.raises(UserError, match="logits"):
        load_recipe("general", flags={"teacher": "t", "student": "tiny", "corpus": "c", "output_dir": "o",
                                      "train.max_steps": 3}, overrides=["losses={logits: 1}"])


SIZES = ("tiny", "mini", "small", "medium", "tinybert4")


@pytest.mark.parametrize("size", SIZES)
def test_every_size_has_general_sst2_and_mrpc_recipes(size):
    general = load_recipe("general", RECIPES / "general" / f"{size}.yaml")
    assert general.student == size
    for task in ("sst2", "mrpc"):
        cfg = load_recipe("task", RECIPES / "task" / f"{size}_{task}.yaml")
        assert cfg.task == task and size in str(cfg.student) and cfg.output_dir.endswith(f"{size}-{task}")
        assert [p.name for p in cfg.phases] == ["intermediate", "prediction"]
    assert load_recipe("task", RECIPES / "task" / f"{size}_mrpc.yaml").augmented  # TinyBERT augments small tasks


def test_medium_layer_map_comment_matches_the_rule():
    from distill.layer_map import uniform_layer_map

    teacher_states = [t for t, _ in uniform_layer_map(12, 8)]
    comment = (RECIPES / "general" / "medium.yaml").read_text().split("teacher hidden states ")[1].split(" (")[0]
    assert teacher_states == [int(x) for x in comment.split(", ")]
