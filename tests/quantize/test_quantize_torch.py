"""neural-compressor (PT2E) static INT8 of a tiny classifier: stored as safetensors, rebuilt, close to FP32."""

import json

import numpy as np
import pytest

from eval.batching import encode, pad
from eval.data import load_split
from eval.core.errors import UserError
from eval.predictors import INC_FILE, LEGACY_INC_FILE, IncPredictor, TorchPredictor, load_predictor, load_tokenizer
from eval.tasks import get_task
from quantize import api
from quantize.measure import snr_db
from tests.quantize.conftest import tiny_int8_config

pytest.importorskip("neural_compressor.torch.quantization")


@pytest.fixture(scope="module")
def inc_int8(tmp_path_factory, tiny_classifier, glue_tsv):
    out = tmp_path_factory.mktemp("inc") / "int8"
    api.int8(tiny_int8_config(tiny_classifier, out, glue_tsv, backend="neural-compressor"))
    return out


def _dev_batch(folder, glue_tsv):
    encoded = encode(load_tokenizer(folder), load_split(get_task("sst2"), "dev", glue_tsv), 64)
    return pad(encoded, list(range(len(encoded))))


def test_folder_holds_safetensors_only_and_matches_fp32(inc_int8, tiny_classifier, glue_tsv):
    assert (inc_int8 / INC_FILE).is_file() and not list(inc_int8.glob("*.pt")) and not list(inc_int8.glob("*.bin"))
    predictor = load_predictor(inc_int8)
    assert isinstance(predictor, IncPredictor) and predictor.info.precision == "int8"
    batch = _dev_batch(inc_int8, glue_tsv)
    fp32 = TorchPredictor(str(tiny_classifier), device="cpu").logits(batch)
    assert snr_db(fp32, predictor.logits(batch)) > 20


def test_rebuilt_model_has_int8_weights_in_every_linear(inc_int8):
    from safetensors import safe_open

    with safe_open(str(inc_int8 / INC_FILE), "pt") as handle:
        layout = json.loads(handle.metadata()["layout"])
        dtypes = {name: handle.get_tensor(f"{name}.weight").dtype for name in layout["quantized"]}
    assert len(dtypes) == 2 * 6 + 2  # 6 Linear per layer, 2 layers, pooler and classifier
    assert {str(d) for d in dtypes.values()} == {"torch.int8"}


def test_rebuilt_model_equals_the_model_the_guard_scored(inc_int8, glue_tsv):
    record = json.loads((inc_int8 / "quantization.json").read_text())
    batch = _dev_batch(inc_int8, glue_tsv)
    first, second = (load_predictor(inc_int8).logits(batch) for _ in range(2))
    np.testing.assert_array_equal(first, second)
    assert record["dev"]["int8"] == pytest.approx(record["guard"]["steps"][0]["metric"])


def test_record_names_backend_and_calibration(inc_int8):
    record = json.loads((inc_int8 / "quantization.json").read_text())
    assert record["backend"] == "neural-compressor" and record["method"] == "max"
    assert record["neural_compressor"]["act_algo"] == "minmax"
    assert record["calibration"]["size"] == 8 and record["quantized_nodes"] == 14
    assert INC_FILE in record["files"]


def test_old_pickle_format_is_refused_without_loading(tmp_path, inc_int8):
    old = tmp_path / "old"
    old.mkdir()
    (old / "config.json").write_text((inc_int8 / "config.json").read_text())
    (old / LEGACY_INC_FILE).write_bytes(b"PK\x03\x04 a torch.export archive")
    with pytest.raises(UserError, match="old quantized_weight.pt format, which runs code when loaded"):
        load_predictor(old)


def test_truncated_weights_are_one_line_errors(tmp_path, inc_int8):
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        (broken / name).write_bytes((inc_int8 / name).read_bytes())
    (broken / INC_FILE).write_bytes((inc_int8 / INC_FILE).read_bytes()[:1000])
    with pytest.raises(UserError, match="cannot load neural-compressor INT8 model"):
        load_predictor(broken)



def test_stored_format_computes_exactly_what_neural_compressor_converted(tmp_path, tiny_classifier, glue_tsv):
    import torch

    from quantize.calibration import torch_inputs
    from quantize.inc_backend import NeuralCompressorBackend, quantize_pt2e

    backend = NeuralCompressorBackend(tiny_int8_config(tiny_classifier, tmp_path / "o", glue_tsv,
                                                       backend="neural-compressor"), tmp_path)
    converted = quantize_pt2e(backend.exported, backend.batches, "max")
    rebuilt = backend.predictor(backend.build(()))
    for batch in backend.batches:
        with torch.no_grad():
            expected = converted(*torch_inputs(batch))
        expected = (expected.logits if hasattr(expected, "logits") else expected[0]).numpy()
        np.testing.assert_array_equal(rebuilt.logits(batch), expected)
