"""Bad input: one line on stderr, exit code 2, for every case issue 4 lists."""

import pytest

from quantize.cli import main


def _int8(model, out, glue, *extra):
    return main(["int8", "--model", str(model), "--output-dir", str(out), "--calib", "sst2",
                 "--calib-size", "4", "--data-dir", str(glue), *extra])


def _one_line_error(capsys, *fragments):
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    for fragment in fragments:
        assert fragment in err, err


def test_model_without_classifier_head(tmp_path, tokenizer, capsys):
    from transformers import BertModel

    from tests.conftest import tiny_bert_config

    BertModel(tiny_bert_config()).save_pretrained(tmp_path / "encoder")
    tokenizer.save_pretrained(tmp_path / "encoder")
    capsys.readouterr()  # drop the save progress bar
    assert main(["export", "--model", str(tmp_path / "encoder"), "--output-dir", str(tmp_path / "o")]) == 2
    _one_line_error(capsys, "no sequence-classification head")


def test_unknown_calibration_task(tmp_path, tiny_classifier, glue_tsv, capsys):
    assert _int8(tiny_classifier, tmp_path / "o", glue_tsv, "--calib", "sst3") == 2
    _one_line_error(capsys, "unknown GLUE task 'sst3'")


def test_calibration_set_smaller_than_requested(tmp_path, tiny_classifier, glue_tsv, capsys):
    assert _int8(tiny_classifier, tmp_path / "o", glue_tsv, "--calib-size", "500") == 2
    _one_line_error(capsys, "has 16 examples, fewer than the 500 requested")


def test_corrupt_onnx_file(tmp_path, onnx_fp32, glue_tsv, capsys):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text((onnx_fp32 / "config.json").read_text())
    (broken / "model.onnx").write_bytes(b"\x08\x07not a protobuf" * 10)
    assert _int8(broken, tmp_path / "o", glue_tsv) == 2
    _one_line_error(capsys, "is corrupt or unreadable")


@pytest.mark.parametrize("args, fragment", [
    (["--method", "minmax"], "method: 'minmax' is not one of max, percentile, entropy"),
    (["--backend", "neural-compressor", "--method", "percentile"], "'percentile' is not one of max, entropy"),
])
def test_unsupported_method(tmp_path, tiny_classifier, glue_tsv, capsys, args, fragment):
    assert _int8(tiny_classifier, tmp_path / "o", glue_tsv, *args) == 2
    _one_line_error(capsys, fragment)


@pytest.mark.integration
def test_export_then_int8_end_to_end(tmp_path, tiny_classifier, glue_tsv, capsys):
    assert main(["export", "--model", str(tiny_classifier), "--output-dir", str(tmp_path / "fp32")]) == 0
    assert _int8(tmp_path / "fp32", tmp_path / "int8", glue_tsv, "--max-drop", "100") == 0
    assert "saved INT8 model to" in capsys.readouterr().out
    assert (tmp_path / "int8" / "model.onnx").is_file()
