"""Bad input to ``quantize export | int8``: exit 2, one ``error:`` line naming the problem, no
traceback, nothing written. Built on tiny random BERTs; each case fails before any real work."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from quantize.cli import main
from tests.conftest import assert_user_error


@pytest.fixture
def out(tmp_path) -> Path:
    return tmp_path / "out"


def _int8(model, out, glue, *extra) -> list[str]:
    return ["int8", "--model", str(model), "--output-dir", str(out), "--calib", "sst2", "--calib-size", "4",
            "--data-dir", str(glue), "--max-seq-length", "32", *extra]


def _copy(folder: Path, tmp_path: Path, name: str = "model") -> Path:
    target = tmp_path / name
    shutil.copytree(folder, target)
    return target


# Arguments and config values: refused before any model is loaded.
@pytest.mark.parametrize("extra, fragments", [
    (["--backend", "tensorrt"], ["unknown backend 'tensorrt'", "onnxruntime, neural-compressor"]),
    (["--method", "minmax"], ["method: 'minmax' is not one of max, percentile, entropy"]),
    (["--mode", "qat"], ["mode: 'qat' is not one of static, dynamic"]),
    (["--set", "quant_format=qint"], ["quant_format: 'qint' is not one of qdq, qoperator"]),
    (["--reduce-range", "sometimes"], ["reduce_range: 'sometimes' is not one of auto, on, off"]),
    (["--exporter", "jit"], ["exporter: 'jit' is not one of dynamo, legacy"]),
    (["--backend", "neural-compressor", "--set", "per_channel=false"],
     ["per_channel is an option of backend onnxruntime; backend neural-compressor does not honour it"]),
    (["--backend", "neural-compressor", "--mode", "dynamic"], ["mode is an option of backend onnxruntime"]),
    (["--backend", "neural-compressor", "--smooth-quant", "0.5"], ["smooth_quant is an option of backend onnxruntime"]),
    (["--backend", "neural-compressor", "--reduce-range", "on"], ["reduce_range is an option of backend onnxruntime"]),
    (["--backend", "neural-compressor", "--method", "percentile"], ["'percentile' is not one of max, entropy"]),
    (["--threads", "0"], ["threads must be at least 1, got 0"]),
    (["--threads", "-1"], ["threads must be at least 1, got -1"]),
    (["--batch-size", "0"], ["batch_size must be at least 1"]),
    (["--max-seq-length", "4"], ["max_seq_length must be at least 8"]),
    (["--max-seq-length", "100000"], ["max_seq_length must be at most 512"]),
    (["--calib-size", "0"], ["calib_size must be at least 1"]),
    (["--calib-size", "abc"], ["argument --calib-size: invalid int value: 'abc'"]),
    (["--calib", "sst3"], ["unknown GLUE task 'sst3'"]),
    (["--eval-task", "mnli3"], ["unknown GLUE task 'mnli3'"]),
    (["--max-drop", "-1"], ["max_drop is in points and must be >= 0"]),
    (["--set", "op_types=[Bogus]"], ["op_types ['Bogus'] are not op types ONNX Runtime quantizes"]),
    (["--set", "op_types=[]"], ["op_types is empty"]),
    (["--smooth-quant", "0"], ["smooth_quant (alpha) must be in (0, 1]"]),
    (["--smooth-quant", "0.5", "--mode", "dynamic"], ["smooth_quant needs calibration"]),
    (["--set", "calib_size"], ["is not key=value"]),
    (["--set", "exclude=[a,"], ["the value is not valid YAML"]),
    (["--set", "per_chanel=true"], ["unknown key 'per_chanel' (did you mean 'per_channel'?)"]),
    (["--bogus-flag"], ["unrecognized arguments: --bogus-flag"]),
])
def test_bad_arguments(tmp_path, out, tiny_classifier, glue_tsv, capsys, extra, fragments):
    assert_user_error(main, _int8(tiny_classifier, out, glue_tsv, *extra), capsys, *fragments, nothing_written=out)


def test_every_bad_argument_at_once(out, tiny_classifier, glue_tsv, capsys):
    line = assert_user_error(main, _int8(tiny_classifier, out, glue_tsv, "--threads", "0", "--calib-size", "0",
                                         "--method", "kl"), capsys, nothing_written=out)
    assert "threads" in line and "calib_size" in line and "'kl'" in line


def test_missing_model_and_output(capsys):
    assert_user_error(main, ["int8"], capsys, "missing model, output_dir", "--model DIR and --output-dir OUT")


@pytest.mark.parametrize("recipe_text, fragment", [
    (None, "does not exist"),
    ("backend: [unclosed", "is not valid YAML"),
    ("- a list\n- not a mapping", "must be a mapping"),
    ("backend: onnxruntime\n".encode("utf-16"), "is UTF-16 text; save it as UTF-8 text"),
    ("# caf\xe9\n".encode("latin-1"), "is not UTF-8 text"),
    (b"#" * 70_000 + b"\n# caf\xe9\n", "is not UTF-8 text"),  # past the part that is sniffed
])
def test_bad_recipe(tmp_path, out, capsys, recipe_text, fragment):
    recipe = tmp_path / "recipe.yaml"
    if isinstance(recipe_text, bytes):
        recipe.write_bytes(recipe_text)
    elif recipe_text is not None:
        recipe.write_text(recipe_text)
    assert_user_error(main, ["int8", "--recipe", str(recipe), "--model", "m", "--output-dir", str(out)], capsys,
                      fragment, nothing_written=out)


# Model folders that are missing, incomplete or corrupt.
def test_missing_model_folder(tmp_path, out, glue_tsv, capsys):
    assert_user_error(main, _int8(tmp_path / "nowhere", out, glue_tsv), capsys, "does not exist", nothing_written=out)


@pytest.mark.parametrize("damage, fragment", [
    ("no-config", "cannot load model"),
    ("config-not-json", "cannot load model"),
    ("config-not-bert", "cannot load model"),
    ("no-weights", "cannot load the weights"),
    ("truncated-weights", "cannot load the weights"),
    ("corrupt-weights", "cannot load the weights"),
    ("no-tokenizer", "tokenizer"),
])
def test_damaged_pytorch_folder(tmp_path, out, tiny_classifier, glue_tsv, capsys, damage, fragment):
    model = _copy(tiny_classifier, tmp_path)
    weights = model / "model.safetensors"
    if damage == "no-config":
        (model / "config.json").unlink()
    elif damage == "config-not-json":
        (model / "config.json").write_text("{not json")
    elif damage == "config-not-bert":
        (model / "config.json").write_text(json.dumps({"model_type": "banana", "architectures": ["X"]}))
    elif damage == "no-weights":
        weights.unlink()
    elif damage == "truncated-weights":
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    elif damage == "corrupt-weights":
        weights.write_bytes(os.urandom(4096))
    else:
        for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
            (model / name).unlink(missing_ok=True)
    assert_user_error(main, _int8(model, out, glue_tsv), capsys, fragment, nothing_written=out)


def test_model_without_classifier_head(tmp_path, out, tokenizer, glue_tsv, capsys):
    from transformers import BertModel

    from tests.conftest import tiny_bert_config

    BertModel(tiny_bert_config()).save_pretrained(tmp_path / "encoder")
    tokenizer.save_pretrained(tmp_path / "encoder")
    capsys.readouterr()
    assert_user_error(main, ["export", "--model", str(tmp_path / "encoder"), "--output-dir", str(out)], capsys,
                      "no sequence-classification head", nothing_written=out)
    assert_user_error(main, _int8(tmp_path / "encoder", out, glue_tsv), capsys, "no sequence-classification head",
                      nothing_written=out)


@pytest.mark.parametrize("damage, fragment", [
    ("corrupt-onnx", "is corrupt or unreadable"),
    ("no-config", "has no config.json"),
])
def test_damaged_onnx_folder(tmp_path, out, onnx_fp32, glue_tsv, capsys, damage, fragment):
    model = _copy(onnx_fp32, tmp_path)
    if damage == "corrupt-onnx":
        (model / "model.onnx").write_bytes(b"\x08\x07not a protobuf" * 10)
    else:
        (model / "config.json").unlink()
    assert_user_error(main, _int8(model, out, glue_tsv), capsys, fragment, nothing_written=out)


# What is quantized: names and op types that match nothing are errors, never a silent FP32 "int8".
def test_unknown_exclude_node_is_named(out, onnx_fp32, glue_tsv, capsys):
    assert_user_error(main, _int8(onnx_fp32, out, glue_tsv, "--set", "exclude=[bert.encoder.layer.0.attention.self.query/MatMull]"),
                      capsys, "'bert.encoder.layer.0.attention.self.query/MatMull'",
                      "did you mean 'bert.encoder.layer.0.attention.self.query/MatMul'", nothing_written=out)


def test_op_types_that_match_no_node(out, onnx_fp32, glue_tsv, capsys):
    assert_user_error(main, _int8(onnx_fp32, out, glue_tsv, "--set", "op_types=[Attention]"), capsys,
                      "no node of the types this backend quantizes", nothing_written=out)


def test_excluding_everything_quantizes_nothing(out, onnx_fp32, glue_tsv, capsys):
    from quantize.ort_backend import preprocess, quantizable_nodes

    names = quantizable_nodes(preprocess(onnx_fp32 / "model.onnx", out.with_name("pre.onnx")), ("MatMul", "Gather"))
    assert_user_error(main, _int8(onnx_fp32, out, glue_tsv, "--set", f"exclude={json.dumps(names)}"), capsys,
                      "quantized nothing", nothing_written=out)


@pytest.mark.integration
def test_unknown_exclude_module_with_neural_compressor(out, tiny_classifier, glue_tsv, capsys):
    pytest.importorskip("neural_compressor.torch.quantization")
    assert_user_error(main, _int8(tiny_classifier, out, glue_tsv, "--backend", "neural-compressor", "--set",
                                  "exclude=[bert.encoder.layer.9.output.dense]"), capsys,
                      "'bert.encoder.layer.9.output.dense'", nothing_written=out)


# Data.
def test_calibration_set_smaller_than_requested(out, onnx_fp32, glue_tsv, capsys):
    argv = _int8(onnx_fp32, out, glue_tsv)
    argv[argv.index("--calib-size") + 1] = "500"
    assert_user_error(main, argv, capsys, "has 16 examples, fewer than the 500 requested", nothing_written=out)


def test_missing_data_dir(tmp_path, out, onnx_fp32, capsys):
    assert_user_error(main, _int8(onnx_fp32, out, tmp_path / "no-data"), capsys, "no-data", nothing_written=out)


# Output paths.
def test_output_is_a_file(tmp_path, onnx_fp32, glue_tsv, capsys):
    target = tmp_path / "file.txt"
    target.write_text("x")
    assert_user_error(main, _int8(onnx_fp32, target, glue_tsv), capsys, "is a file")
    assert_user_error(main, ["export", "--model", str(onnx_fp32), "--output-dir", str(target)], capsys, "is a file")
    assert target.read_text() == "x"


def test_output_parent_is_a_file(tmp_path, onnx_fp32, glue_tsv, capsys):
    parent = tmp_path / "file.txt"
    parent.write_text("x")
    assert_user_error(main, _int8(onnx_fp32, parent / "out", glue_tsv), capsys, "is a file")


@pytest.mark.skipif(os.geteuid() == 0 and not os.environ.get("CI_AS_USER"), reason="root ignores file modes")
def test_read_only_output_folder(tmp_path, onnx_fp32, glue_tsv, capsys):  # pragma: no cover - needs non-root
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    assert_user_error(main, _int8(onnx_fp32, folder / "out", glue_tsv), capsys, "permission denied")


def test_read_only_file_system_is_one_line(tmp_path, onnx_fp32, glue_tsv, capsys, monkeypatch):
    import errno

    import quantize.outputs as outputs

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(tmp_path / "out"))

    monkeypatch.setattr(outputs, "folder_lock", read_only)
    assert_user_error(main, _int8(onnx_fp32, tmp_path / "out", glue_tsv), capsys, "read-only", "another --output-dir")


def test_unknown_exporter_for_export(out, tiny_classifier, capsys):
    assert_user_error(main, ["export", "--model", str(tiny_classifier), "--output-dir", str(out), "--exporter",
                             "jit"], capsys, "unknown exporter 'jit'", nothing_written=out)


def test_export_of_a_missing_model(tmp_path, out, capsys):
    assert_user_error(main, ["export", "--model", str(tmp_path / "nowhere"), "--output-dir", str(out)], capsys,
                      "does not exist", nothing_written=out)
