"""INT8 configs: one per backend, validation, every problem in one line, a lossless round trip."""

import dataclasses
import json
from pathlib import Path

import pytest

from eval.core.config import dump_yaml, read_yaml, to_dict
from eval.core.errors import UserError
from quantize.config import (CONFIGS, NeuralCompressorConfig, OnnxRuntimeConfig, config_dict, int8_config_from_dict,
                             load_int8_config)

RECIPES = sorted((Path(__file__).resolve().parents[2] / "recipes" / "quantize").glob("*.yaml"))
PATHS = {"model": "m", "output_dir": "o"}


def test_defaults_are_max_calibration_qdq_u8s8_reduce_range_auto():
    cfg = int8_config_from_dict(PATHS)
    assert isinstance(cfg, OnnxRuntimeConfig)
    assert (cfg.method, cfg.mode, cfg.quant_format, cfg.reduce_range) == ("max", "static", "qdq", "auto")
    assert (cfg.activation_type, cfg.weight_type, cfg.per_channel, cfg.exporter) == ("uint8", "int8", True, "dynamo")


def test_backend_picks_the_config_class():
    assert isinstance(int8_config_from_dict({**PATHS, "backend": "neural-compressor"}), NeuralCompressorConfig)


@pytest.mark.parametrize("data", [
    {**PATHS, "calib": "mrpc", "max_drop": 0.5, "exclude": ["a", "b"], "op_types": ["MatMul"], "method": "entropy",
     "smooth_quant": 0.5, "reduce_range": "off", "exporter": "legacy"},
    {**PATHS, "backend": "neural-compressor", "method": "entropy", "guard_granularity": "op", "threads": 2},
])
def test_every_config_round_trips_through_to_dict_json_and_yaml(tmp_path, data):
    cfg = int8_config_from_dict(data)
    assert int8_config_from_dict(to_dict(cfg)) == cfg
    (tmp_path / "cfg.json").write_text(json.dumps(config_dict(cfg)))  # JSON is YAML: one loader reads both
    (tmp_path / "cfg.yaml").write_text(dump_yaml(cfg))
    assert load_int8_config(tmp_path / "cfg.json") == cfg == load_int8_config(tmp_path / "cfg.yaml")


@pytest.mark.parametrize("option", ["per_channel", "quant_format", "op_types", "mode", "reduce_range",
                                    "smooth_quant", "percentile", "exporter", "matmul_output"])
def test_an_onnxruntime_option_given_to_neural_compressor_names_the_backend(option):
    value = OnnxRuntimeConfig.__dataclass_fields__[option].default
    with pytest.raises(UserError) as err:
        int8_config_from_dict({**PATHS, "backend": "neural-compressor", option: value})
    assert f"{option} is an option of backend onnxruntime; backend neural-compressor does not honour it" in str(err.value)


def test_every_problem_is_listed_at_once():
    with pytest.raises(UserError) as err:
        load_int8_config(flags={"backend": "neural-compressor", "per_channel": False},
                         overrides=["calib_size=0", "method=percentile", "threads=-1", "bogus=1"])
    message = str(err.value)
    assert "\n" not in message
    for fragment in ("per_channel is an option of backend onnxruntime", "method: 'percentile' is not one of max, "
                     "entropy", "unknown key 'bogus'", "missing model, output_dir"):
        assert fragment in message, message


@pytest.mark.parametrize("override, message", [
    ("method=kl", "method: 'kl' is not one of max, percentile, entropy"),
    ("calib=sst3", "unknown GLUE task 'sst3'"),
    ("eval_task=mnli3", "unknown GLUE task 'mnli3'"),
    ("calib_size=0", "calib_size must be at least 1"),
    ("batch_size=0", "batch_size must be at least 1"),
    ("max_seq_length=4", "max_seq_length must be at least 8"),
    ("max_seq_length=100000", "max_seq_length must be at most 512"),
    ("threads=0", "threads must be at least 1"),
    ("max_drop=-1", "max_drop is in points"),
    ("backend=tensorrt", "unknown backend 'tensorrt'"),
    ("op_types=[Bogus]", "op_types ['Bogus'] are not op types ONNX Runtime quantizes"),
    ("op_types=[]", "op_types is empty"),
    ("smooth_quant=2", "smooth_quant (alpha) must be in (0, 1]"),
    ("reduce_range=maybe", "reduce_range: 'maybe' is not one of auto, on, off"),
    ("exporter=jit", "exporter: 'jit' is not one of dynamo, legacy"),
    ("per_channel=[1,", "is not valid YAML"),
])
def test_bad_values_are_one_line_errors(override, message):
    with pytest.raises(UserError) as err:
        load_int8_config(flags=PATHS, overrides=[override])
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.name)
def test_shipped_recipes_hold_every_field_and_validate(recipe):
    data = read_yaml(recipe)
    cls = CONFIGS[data["backend"]]
    assert set(data) == {f.name for f in dataclasses.fields(cls)}, "a recipe holds every field of its backend"
    assert isinstance(load_int8_config(recipe, flags=PATHS), cls)
