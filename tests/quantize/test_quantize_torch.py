"""neural-compressor (PT2E) static INT8 of a tiny classifier: saved, reloaded, close to FP32."""

import json

import pytest

from eval.data import load_split
from eval.batching import encode, pad
from eval.predictors import IncPredictor, TorchPredictor, load_predictor, load_tokenizer
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


def test_folder_loads_in_the_harness_and_matches_fp32(inc_int8, tiny_classifier, glue_tsv):
    predictor = load_predictor(inc_int8)
    assert isinstance(predictor, IncPredictor) and predictor.info.precision == "int8"
    data = load_split(get_task("sst2"), "dev", glue_tsv)
    encoded = encode(load_tokenizer(inc_int8), data, 64)
    batch = pad(encoded, list(range(len(encoded))))
    fp32 = TorchPredictor(str(tiny_classifier), device="cpu").logits(batch)
    assert snr_db(fp32, predictor.logits(batch)) > 20


def test_record_names_backend_and_calibration(inc_int8):
    record = json.loads((inc_int8 / "quantization.json").read_text())
    assert record["backend"] == "neural-compressor" and record["method"] == "max"
    assert record["neural_compressor"]["act_algo"] == "minmax"
    assert record["calibration"]["size"] == 8 and record["quantized_nodes"] > 0
