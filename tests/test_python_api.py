"""The Python API: ``from distill import finetune, general, task``, ``from quantize import int8``,
``from eval import evaluate`` — silent imports, config or keywords, a ``datasets.Dataset`` as a task."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest

from eval.core.errors import UserError
from tests.conftest import _sentence, save_tiny_classifier

TINY = {"batch_size": 4, "max_seq_length": 32, "eval_batch_size": 8, "max_steps": 2, "device": "cpu"}


def test_importing_the_packages_prints_nothing():
    code = ("import distill, quantize, eval\n"
            "from distill import finetune, general, task\n"
            "from quantize import int8\n"
            "from eval import evaluate\n"
            "import distill.api, quantize.api, eval.harness\n"  # torch, transformers, torchao behind them
            "assert callable(finetune) and callable(int8) and callable(evaluate)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""


def test_the_functions_are_functions_even_after_their_modules_load():
    import distill
    import distill.finetuning  # noqa: F401  (a submodule named like the function would replace it)
    import distill.general_distill  # noqa: F401
    import eval
    import quantize

    for function in (distill.finetune, distill.general, distill.task, quantize.int8, eval.evaluate):
        assert callable(function) and "Returns:" in function.__doc__, function


@pytest.fixture(scope="module")
def teacher(tmp_path_factory, tokenizer):
    return save_tiny_classifier(tmp_path_factory.mktemp("api") / "teacher", tokenizer, layers=4, seed=1)


def test_finetune_from_keywords_and_from_a_config(tmp_path, teacher, glue_tsv):
    from distill import finetune
    from distill.config import FinetuneConfig

    out = finetune(task="sst2", model=teacher, data_dir=glue_tsv, output_dir=tmp_path / "kw", train=TINY)
    record = json.loads((out / "metrics.json").read_text())
    assert record["completed"] and (out / "config.json").is_file()
    config = FinetuneConfig(task="sst2", model=str(teacher), data_dir=str(glue_tsv), output_dir=str(tmp_path / "cfg"))
    out = finetune(config, train=TINY)  # a section given as a mapping merges into the config's
    assert json.loads((out / "metrics.json").read_text())["completed"]


def _dataset(n: int, seed: int):
    import datasets

    rng = random.Random(seed)
    features = datasets.Features({"text": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=["no", "yes"])})
    return datasets.Dataset.from_dict({"text": [_sentence(rng) for _ in range(n)],
                                       "label": [rng.randint(0, 1) for _ in range(n)]}, features=features)


def test_a_dataset_trains_and_scores_like_a_task_spec(tmp_path, teacher):
    import datasets

    from distill import finetune
    from eval import evaluate

    data = datasets.DatasetDict({"train": _dataset(16, 0), "validation": _dataset(8, 1)})
    out = finetune(task=data, task_name="yes-no", model=teacher, output_dir=tmp_path / "run", train=TINY)
    spec = tmp_path / "run-data" / "task.yaml"
    assert spec.is_file() and f"task: {spec}" in (out / "run_config.yaml").read_text()
    document = evaluate(out, data["validation"], task_name="yes-no", batch_size=4, device="cpu")
    entry = document["results"]["yes-no"]
    assert entry["num_examples"] == 8 and 0 <= entry["metrics"]["accuracy"] <= 1
    assert entry["task_info"]["label_names"] == ["no", "yes"]


def test_bad_settings_are_one_user_error(tmp_path, teacher):
    from distill import finetune
    from eval import evaluate

    with pytest.raises(UserError, match="lr"):
        finetune(task="sst2", model=teacher, output_dir=tmp_path / "x", train={"lr": "fast"})
    with pytest.raises(UserError, match="text_columns"):
        finetune(task="sst2", model=teacher, output_dir=tmp_path / "x", text_columns=["text"])
    with pytest.raises(UserError, match="unknown setting batchsize"):
        evaluate(teacher, "sst2", batchsize=4)
    with pytest.raises(UserError, match="no train split"):
        finetune(task=_dataset(4, 0), model=teacher, output_dir=tmp_path / "y")
