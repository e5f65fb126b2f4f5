"""Int8Config: validation, one-line errors, and a lossless round trip through JSON and YAML."""

import json
from pathlib import Path

import pytest

from eval.config import dump_yaml, load_config
from eval.errors import UserError
from quantize.config import Int8Config, config_dict, load_int8_config

RECIPES = sorted((Path(__file__).resolve().parents[2] / "recipes" / "quantize").glob("*.yaml"))


def test_defaults_are_max_calibration_qdq_u8s8():
    cfg = Int8Config(model="m", output_dir="o")
    assert (cfg.method, cfg.mode, cfg.quant_format) == ("max", "static", "qdq")
    assert (cfg.activation_type, cfg.weight_type, cfg.per_channel) == ("uint8", "int8", True)


def test_round_trips_through_json_and_yaml(tmp_path):
    cfg = load_int8_config(flags={"model": "m", "output_dir": "o", "calib": "mrpc", "max_drop": 0.5},
                           overrides=["exclude=[a, b]", "op_types=[MatMul]", "method=entropy"])
    as_json = tmp_path / "cfg.json"  # JSON is YAML, so the same loader reads both
    as_json.write_text(json.dumps(config_dict(cfg)))
    as_yaml = tmp_path / "cfg.yaml"
    as_yaml.write_text(dump_yaml(cfg))
    assert load_config(Int8Config, as_json) == cfg
    assert load_config(Int8Config, as_yaml) == cfg


@pytest.mark.parametrize("override, message", [
    ("method=kl", "method: 'kl' is not one of max, percentile, entropy"),
    ("calib=sst3", "unknown GLUE task 'sst3'"),
    ("calib_size=0", "calib_size must be at least 1"),
    ("max_drop=-1", "max_drop is in points"),
    ("backend=tensorrt", "backend: 'tensorrt' is not one of"),
])
def test_bad_values_are_one_line_errors(override, message):
    with pytest.raises(UserError) as err:
        load_int8_config(flags={"model": "m", "output_dir": "o"}, overrides=[override])
    assert message in str(err.value) and "\n" not in str(err.value)


def test_neural_compressor_has_no_percentile():
    with pytest.raises(UserError, match="not offered by neural-compressor"):
        Int8Config(backend="neural-compressor", method="percentile")


def test_model_and_output_dir_are_required():
    with pytest.raises(UserError, match="--model DIR and --output-dir OUT"):
        load_int8_config()


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.name)
def test_shipped_recipes_validate(recipe):
    assert load_config(Int8Config, recipe).method in ("max", "percentile", "entropy")
