"""Issue 31, the rest: bad input to `glue`, `distill`, `quantize` and `pipeline` fails as one line, exit 2,
with nothing written and nothing outside the run folder touched; quiet successes of nothing are errors.

Each table case builds its input under ``tmp_path`` (a damaged copy of a tiny model, a data file, a
forged results file, a recipe), snapshots ``tmp_path``, runs the command in-process and checks the
error line, and that ``tmp_path`` is exactly as it was (no output, no staging folder, no lock file).
The other tests cover what a table cannot: a full disk mid-run, a kill before the first output,
two lock holders at once, and the warnings and opt-outs that let a user go on.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import pytest

from distill import cli as distill_cli
from eval import cli as glue_cli
from pipeline import cli as pipeline_cli
from quantize import cli as quantize_cli
from tests.conftest import assert_user_error, save_tiny_classifier, tiny_bert_config, write_records, write_task
from tests.distill.conftest import FAST

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
MAINS = {"glue": glue_cli.main, "distill": distill_cli.main, "quantize": quantize_cli.main,
         "pipeline": pipeline_cli.main}
Build = Callable[[Path, SimpleNamespace], list[str]]  # (tmp_path, models and data) -> argv


def snapshot(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


# ------------------------------------------------------------------ inputs


@pytest.fixture(scope="module")
def small_vocab_model(tmp_path_factory, tokenizer) -> Path:
    """A classifier with 20 token embeddings beside the 70-token fixture tokenizer."""
    import torch
    from transformers import BertForSequenceClassification

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("models") / "small-vocab"
    config = tiny_bert_config()
    config.vocab_size = 20
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture
def inputs(tiny_classifier, tiny_regressor, glue_tsv, small_vocab_model) -> SimpleNamespace:
    return SimpleNamespace(model=tiny_classifier, regressor=tiny_regressor, glue=glue_tsv, small_vocab=small_vocab_model)


def copy_model(root: Path, given: SimpleNamespace, name: str = "model") -> Path:
    target = root / name
    shutil.copytree(given.model, target)
    return target


def pickle_only(root: Path, given: SimpleNamespace, name: str = "pytorch_model.bin") -> Path:
    """The classifier with its weights as a torch pickle only (what older `save_pretrained` wrote)."""
    import torch
    from safetensors.torch import load_file

    model = copy_model(root, given)
    torch.save(load_file(model / "model.safetensors"), model / name)
    (model / "model.safetensors").unlink()
    return model


def unfinished(root: Path, given: SimpleNamespace, metrics: str | None = None) -> Path:
    """A `distill` run folder as a kill leaves it: config and best-so-far weights, no completed record."""
    model = copy_model(root, given, "run")
    (model / "run_config.yaml").write_text("task: sst2\nmodel: minilm-l6\n")
    if metrics is not None:
        (model / "metrics.json").write_text(metrics)
    return model


def int8_folder(root: Path, given: SimpleNamespace, kind: str) -> Path:
    """A folder that is already INT8: by its record, a neural-compressor file, or a quantized ONNX graph."""
    model = copy_model(root, given)
    if kind == "record":
        (model / "quantization.json").write_text(json.dumps({"precision": "int8", "source_model": "runs/fp32"}))
    elif kind == "inc":
        (model / "model_int8.safetensors").write_bytes(b"")
    else:
        import onnx
        from onnx import TensorProto, helper

        (model / "model.safetensors").unlink()
        weight = helper.make_tensor("w", TensorProto.INT8, [2], [1, -1])
        scale = helper.make_tensor("s", TensorProto.FLOAT, [], [0.1])
        nodes = [helper.make_node("DequantizeLinear", ["w", "s"], ["wf"], name="dq"),
                 helper.make_node("Add", ["x", "wf"], ["y"], name="add")]
        graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])], [weight, scale])
        onnx.save(helper.make_model(graph), model / "model.onnx")
    return model


def onnx_without_config(root: Path, given: SimpleNamespace) -> Path:
    """A folder with an ONNX graph and a tokenizer but no config.json."""
    model = int8_folder(root, given, "onnx")
    (model / "config.json").unlink()
    return model


def a_file(root: Path, name: str = "data.txt") -> Path:
    path = root / name
    path.write_text("not a folder\n")
    return path


def a_folder(root: Path, name: str = "recipes") -> Path:
    (root / name).mkdir()
    return root / name


def recipe_file(root: Path, text: str, name: str = "recipe.yaml") -> Path:
    path = root / name
    path.write_text(text)
    return path


# ------------------------------------------------------------------ glue


def glue_eval(model: Callable[[Path, SimpleNamespace], Path | str], *extra: str, task: str = "sst2",
              data: bool = True) -> Build:
    def build(root: Path, given: SimpleNamespace) -> list[str]:
        args = ["eval", "--model", str(model(root, given)), "--task", task, "--output", str(root / "out" / "r.json")]
        return args + (["--data-dir", str(given.glue)] if data else []) + list(extra)
    return build


def glue_predict(model: Callable[[Path, SimpleNamespace], Path | str]) -> Build:
    return lambda root, given: ["predict", "--model", str(model(root, given)), "--tasks", "sst2", "--data-dir",
                                str(given.glue), "--output-dir", str(root / "out")]


def spec_file(fmt: str, body: str | None = None, **keys) -> Build:
    """``glue eval`` on a task spec whose validation file holds ``body`` (raw text)."""
    def build(root: Path, given: SimpleNamespace) -> list[str]:
        spec = write_task(root / "task", fmt=fmt, spec=keys or None)
        if body is not None:
            (root / "task" / f"validation.{fmt}").write_text(body)
        return ["eval", "--model", str(given.model), "--task", str(spec), "--output", str(root / "out" / "r.json")]
    return build


def hub_spec(path: str) -> Build:
    def build(root: Path, given: SimpleNamespace) -> list[str]:
        spec = root / "hub.yaml"
        spec.write_text(f"name: hubtask\ndataset: {{path: {json.dumps(path)}}}\ntext_columns: [text]\n"
                        f"label_names: [a, b]\n")
        return ["eval", "--model", str(given.model), "--task", str(spec), "--output", str(root / "out" / "r.json")]
    return build


def parquet_glue(columns: dict[str, list]) -> Build:
    def build(root: Path, given: SimpleNamespace) -> list[str]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        (root / "glue" / "sst2").mkdir(parents=True)
        pq.write_table(pa.table(columns), root / "glue" / "sst2" / "validation-00000-of-00001.parquet")
        return ["eval", "--model", str(given.model), "--task", "sst2", "--data-dir", str(root / "glue"), "--output",
                str(root / "out" / "r.json")]
    return build


def results_document(**changes) -> dict:
    """A results file as `glue eval` writes it, with ``changes`` applied to its sst2 entry (or the top)."""
    entry = {"task": "sst2", "split": "dev", "num_examples": 16, "num_examples_full": 16,
             "metrics": {"accuracy": 0.75}, "main_metric": "accuracy", "throughput": {"seconds": 1.0},
             "task_info": {"name": "sst2", "display_name": "SST-2", "is_glue": True, "score_group": "sst2",
                           "metrics": ["accuracy"], "main_metric": "accuracy", "is_regression": False,
                           "label_names": ["negative", "positive"], "spec": None}}
    document = {"schema": "bert-compression-toolkit/glue-results", "schema_version": 2,
                "model": {"name": "m", "path": "/runs/m", "backend": "torch", "precision": "fp32", "parameters": 1,
                          "size_bytes": 1, "device": "cpu"}, "results": {"sst2": entry}}
    for key, value in changes.items():
        target = document if key in document else entry
        if key == "metrics":
            target["metrics"] = value
        elif value is None:
            target.pop(key, None)
        else:
            target[key] = value
    return document


def report(**changes) -> Build:
    def build(root: Path, given: SimpleNamespace) -> list[str]:
        (root / "results").mkdir()
        (root / "results" / "m.json").write_text(json.dumps(results_document(**changes)))
        return ["report", str(root / "results"), "--output-dir", str(root / "board")]
    return build


def info(**keys) -> dict:
    return {**results_document()["results"]["sst2"]["task_info"], **keys}


GLUE_CASES = {
    # a file that is not a model, a pickle, a tokenizer the model's embeddings do not cover
    "eval --model config.json": (glue_eval(lambda r, g: g.model / "config.json"), ["is a file, not a model",
                                                                                  "pass the model folder"]),
    "eval --model model.safetensors": (glue_eval(lambda r, g: g.model / "model.safetensors"), ["is a file"]),
    "eval --model vocab file": (glue_eval(lambda r, g: a_file(r, "vocab.txt")), ["is a file, not a model"]),
    "eval on pytorch_model.bin only": (glue_eval(pickle_only), ["pytorch_model.bin", "pickle", "safetensors"]),
    "eval on model.pt only": (glue_eval(lambda r, g: pickle_only(r, g, "model.pt")), ["model.pt", "pickle"]),
    "eval vocab_size below the tokenizer": (glue_eval(lambda r, g: g.small_vocab), ["20 token embeddings",
                                                                                    "ids up to 69"]),
    "predict vocab_size below the tokenizer": (glue_predict(lambda r, g: g.small_vocab), ["20 token embeddings"]),
    "predict --model config.json": (glue_predict(lambda r, g: g.model / "config.json"), ["is a file, not a model"]),
    "predict on pickle only": (glue_predict(pickle_only), ["pickle"]),
    # unfinished training folders
    "eval on a killed run": (glue_eval(unfinished), ["unfinished training run", "--allow-unfinished"]),
    "eval on a run not completed": (glue_eval(lambda r, g: unfinished(r, g, '{"completed": false}')),
                                    ["unfinished training run"]),
    "eval on a run with a corrupt record": (glue_eval(lambda r, g: unfinished(r, g, "{half")),
                                            ["unfinished training run"]),
    "eval on a run with a list record": (glue_eval(lambda r, g: unfinished(r, g, "[1]")), ["unfinished"]),
    "predict on a killed run": (glue_predict(unfinished), ["unfinished training run"]),
    # ONNX folders
    "eval ONNX without config.json": (glue_eval(onnx_without_config), ["has no config.json", "quantize export"]),
    # data locations and files
    "eval --data-dir is a file": (lambda r, g: ["eval", "--model", str(g.model), "--task", "sst2", "--data-dir",
                                                str(a_file(r)), "--output", str(r / "out.json")],
                                  ["is a file; pass a folder"]),
    "predict --data-dir is a file": (lambda r, g: ["predict", "--model", str(g.model), "--tasks", "sst2",
                                                   "--data-dir", str(a_file(r)), "--output-dir", str(r / "out")],
                                     ["is a file; pass a folder"]),
    "csv row 1 has an extra field": (spec_file("csv", "text,label\na good film,pos,extra\nbad,neg\n"),
                                     ["row 1 of", "has 3 fields but its header has 2", "quote"]),
    "csv row 3 has a missing field": (spec_file("csv", "text,label\na,pos\nb,neg\nc\n"), ["row 3 of", "1 fields"]),
    "csv every row has an extra field": (spec_file("csv", "text,label\na,pos,x\nb,neg,y\n"), ["row 1 of"]),
    "csv after blank lines": (spec_file("csv", "text,label\n\na,pos\n\nb,neg,z\n"), ["row 2 of"]),
    "tsv row 2 has an extra tab": (spec_file("tsv", "text\tlabel\na\tpos\nb\tneg\tx\n"), ["row 2 of", "3 fields"]),
    "glue parquet without the text column": (parquet_glue({"text": ["a ."], "label": [1]}),
                                             ["lacks text columns ['sentence']", "its columns are text, label"]),
    "glue parquet of other columns": (parquet_glue({"review": ["a ."], "stars": [1], "idx": [0]}),
                                      ["its columns are review, stars, idx"]),
    "hub dataset with a space": (hub_spec("my data/not here"), ["not a local folder and not a Hub id"]),
    "hub dataset as a missing local path": (hub_spec("./no-such-folder"), ["not a local folder and not a Hub id"]),
    "hub dataset with three parts": (hub_spec("a/b/c"), ["not a local folder and not a Hub id"]),
    "hub dataset with ..": (hub_spec("owner/..name"), ["not a Hub id"]),
    # forged or damaged results files
    "report schema version 99": (report(schema_version=99), ["schema_version 99", "does not know"]),
    "report schema version missing": (report(schema_version=None), ["schema_version None"]),
    "report schema version text": (report(schema_version="2"), ["schema_version '2'"]),
    "report accuracy 1.5": (report(metrics={"accuracy": 1.5}), ["accuracy 1.5, outside [0, 1]", "m.json"]),
    "report accuracy -0.1": (report(metrics={"accuracy": -0.1}), ["accuracy -0.1, outside [0, 1]"]),
    "report f1 2": (report(metrics={"accuracy": 0.5, "f1": 2}), ["f1 2, outside [0, 1]"]),
    "report f1_macro 1.01": (report(metrics={"f1_macro": 1.01}), ["f1_macro 1.01"]),
    "report matthews 3": (report(metrics={"matthews_correlation": 3.0}), ["matthews_correlation 3.0, outside [-1, 1]"]),
    "report pearson -1.5": (report(metrics={"pearson": -1.5}), ["pearson -1.5, outside [-1, 1]"]),
    "report spearmanr 7": (report(metrics={"spearmanr": 7}), ["spearmanr 7"]),
    "report unknown metric": (report(metrics={"bleu": 0.3}), ["unknown metric 'bleu'"]),
    "report num_examples 0": (report(num_examples=0), ["num_examples 0"]),
    "report num_examples -3": (report(num_examples=-3), ["num_examples -3"]),
    "report num_examples missing": (report(num_examples=None), ["num_examples None"]),
    "report num_examples text": (report(num_examples="16"), ["num_examples '16'"]),
    "report num_examples true": (report(num_examples=True), ["num_examples True"]),
    "report task_info of another task": (report(task_info=info(name="mrpc")), ["keyed 'sst2'",
                                                                              "task_info.name is 'mrpc'"]),
    "report entry of another task": (report(task="cola"), ["keyed 'sst2' but its task is 'cola'"]),
}


@pytest.mark.parametrize("case", GLUE_CASES)
def test_glue_bad_input(case, tmp_path, inputs, capsys):
    _refused("glue", GLUE_CASES[case], tmp_path, inputs, capsys)


def _refused(command: str, case: tuple[Build, list[str]], root: Path, given: SimpleNamespace, capsys) -> str:
    build, fragments = case
    argv = build(root, given)
    capsys.readouterr()
    before = snapshot(root)
    line = assert_user_error(MAINS[command], argv, capsys, *fragments)
    assert snapshot(root) == before, f"written: {snapshot(root) ^ before}"
    return line


# ------------------------------------------------------------------ distill


def finetune(*extra: str, model: Callable[[Path, SimpleNamespace], Path | str] | None = None,
             task: Callable[[Path], str] | None = None) -> Build:
    def build(root: Path, given: SimpleNamespace) -> list[str]:
        chosen = str(model(root, given)) if model else str(given.model)
        data = ["--task", task(root)] if task else ["--task", "sst2", "--data-dir", str(given.glue)]
        return ["finetune", "--model", chosen, *data, "--output-dir", str(root / "run"), "--max-steps", "1", *FAST,
                *extra]
    return build


def task_distill(*extra: str, student: Callable[[Path, SimpleNamespace], Path | str] = lambda r, g: "tiny") -> Build:
    return lambda root, given: ["task", "--task", "sst2", "--teacher", str(given.model), "--student",
                                str(student(root, given)), "--data-dir", str(given.glue), "--output-dir",
                                str(root / "run"), "--max-steps", "1", *FAST, *extra]


def augment(*extra: str) -> Build:
    return lambda root, given: ["augment", "--task", "sst2", "--model", str(given.model), "--data-dir",
                                str(given.glue), "--output-dir", str(root / "aug"), *extra]


def general(*extra: str) -> Build:
    return lambda root, given: ["general", "--teacher", str(given.model), "--student", "tiny", "--corpus",
                                str(a_file(root, "corpus.txt")), "--output-dir", str(root / "g"), "--max-steps",
                                "1", *FAST, *extra]


def one_class_spec(root: Path) -> str:
    return str(write_task(root / "task", labels=["pos"]))


def one_class_glue(root: Path) -> str:
    """A glue_data copy whose SST-2 training labels are all 1; returns the --data-dir."""
    folder = root / "glue" / "SST-2"
    folder.mkdir(parents=True)
    (folder / "train.tsv").write_text("sentence\tlabel\n" + "".join(f"the film {i} .\t1\n" for i in range(8)))
    return str(root / "glue")


DISTILL_CASES = {
    # seeds: numpy takes 0 to 2**32 - 1
    "finetune --seed -1": (finetune("--seed", "-1"), ["train.seed must be between 0 and 4294967295", "got -1"]),
    "finetune 23-digit seed": (finetune("--seed", "1" * 23), ["train.seed must be between 0 and 4294967295"]),
    "finetune seed 2**32": (finetune("--set", "train.seed=4294967296"), ["got 4294967296"]),
    "task --seed -7": (task_distill("--seed", "-7"), ["train.seed must be between"]),
    "augment --seed -5": (augment("--seed", "-5"), ["seed must be between 0 and 4294967295"]),
    "general seed 2**40": (general("--seed", str(2**40)), ["train.seed must be between"]),
    # NaN and infinities in any float setting
    "finetune lr=nan": (finetune("--set", "train.lr=nan"), ["train.lr: 'nan' is not a finite number"]),
    "finetune lr=.nan": (finetune("--set", "train.lr=.nan"), ["train.lr: nan is not a finite number"]),
    "finetune lr=inf": (finetune("--set", "train.lr=inf"), ["train.lr: 'inf' is not a finite number"]),
    "finetune lr=-.inf": (finetune("--set", "train.lr=-.inf"), ["train.lr: -inf is not a finite number"]),
    "finetune warmup=.nan": (finetune("--set", "train.warmup=.nan"), ["train.warmup: nan is not a finite"]),
    "finetune epochs=.inf": (finetune("--set", "train.epochs=.inf"), ["train.epochs: inf is not a finite"]),
    "finetune weight_decay=NaN": (finetune("--set", "train.weight_decay=NaN"), ["train.weight_decay: 'NaN'"]),
    "finetune max_grad_norm=-inf": (finetune("--set", "train.max_grad_norm=-inf"), ["train.max_grad_norm"]),
    "finetune recipe lr: .nan": (lambda r, g: finetune("--recipe", str(recipe_file(r, "train:\n  lr: .nan\n")))(r, g),
                                 ["train.lr: nan is not a finite number"]),
    "task loss weight .nan": (task_distill("--set", "phases=[{name: p, losses: {logits: .nan}}]"),
                              ["phases[0].losses.logits: nan is not a finite number"]),
    "task phase temperature inf": (task_distill("--set", "phases=[{name: p, losses: {logits: 1}, temperature: .inf}]"),
                                   ["phases[0].temperature: inf is not a finite"]),
    "task phase lr nan": (task_distill("--set", "phases=[{name: p, losses: {logits: 1}, lr: .nan}]"),
                          ["phases[0].lr: nan"]),
    "augment replace_prob nan": (augment("--set", "replace_prob=.nan"), ["replace_prob: nan is not a finite"]),
    "general lr nan": (general("--set", "train.lr=.nan"), ["train.lr: nan"]),
    # augment limits
    "augment limit -1": (augment("--set", "limit=-1"), ["limit must be at least 1", "got -1"]),
    "augment limit 0": (augment("--set", "limit=0"), ["limit must be at least 1", "got 0"]),
    # a single class
    "finetune on one class (task spec)": (finetune(task=one_class_spec), ["the label 'pos'", "allow_single_class"]),
    "finetune on one class (glue_data)": (lambda r, g: finetune("--data-dir", one_class_glue(r))(r, g),
                                          ["the label 'positive'", "train.allow_single_class: true"]),
    "task on one class": (lambda r, g: task_distill("--data-dir", one_class_glue(r))(r, g), ["allow_single_class"]),
    "finetune train_limit 1 leaves one class": (finetune("--set", "train.train_limit=1"), ["allow_single_class"]),
    # models
    "finetune vocab_size below the tokenizer": (finetune(model=lambda r, g: g.small_vocab), ["20 token embeddings"]),
    "task student vocab_size below the tokenizer": (task_distill(student=lambda r, g: g.small_vocab),
                                                    ["20 token embeddings"]),
    "finetune --model config.json": (finetune(model=lambda r, g: g.model / "config.json"), ["is a file, not a model"]),
    "task --teacher pickle only": (lambda r, g: task_distill()(r, SimpleNamespace(**{**vars(g),
                                                                                   "model": pickle_only(r, g)})),
                                   ["pickle"]),
    "finetune --model pickle only": (finetune(model=pickle_only), ["pytorch_model.bin", "pickle"]),
    # paths
    "finetune --data-dir is a file": (lambda r, g: finetune("--data-dir", str(a_file(r)))(r, g), ["is a file"]),
    "finetune --recipe is a folder": (lambda r, g: finetune("--recipe", str(a_folder(r)))(r, g),
                                      ["is a folder; pass a YAML file"]),
    "augment --recipe is a folder": (lambda r, g: augment("--recipe", str(a_folder(r)))(r, g), ["is a folder"]),
}


@pytest.mark.parametrize("case", DISTILL_CASES)
def test_distill_bad_input(case, tmp_path, inputs, capsys):
    _refused("distill", DISTILL_CASES[case], tmp_path, inputs, capsys)


# ------------------------------------------------------------------ quantize


def int8(*extra: str, model: Callable[[Path, SimpleNamespace], Path | str] | None = None) -> Build:
    return lambda root, given: ["int8", "--model", str(model(root, given) if model else given.model), "--output-dir",
                                str(root / "out"), "--calib", "sst2", "--calib-size", "4", "--data-dir",
                                str(given.glue), "--max-seq-length", "32", *extra]


QUANTIZE_CASES = {
    "--max-drop nan": (int8("--max-drop", "nan"), ["max_drop: nan is not a finite number"]),
    "--max-drop inf": (int8("--max-drop", "inf"), ["max_drop: inf is not a finite number"]),
    "--max-drop=-inf": (int8("--max-drop=-inf"), ["max_drop: -inf"]),
    "max_drop=.nan": (int8("--set", "max_drop=.nan"), ["max_drop: nan"]),
    "--smooth-quant nan": (int8("--smooth-quant", "nan"), ["smooth_quant: nan is not a finite number"]),
    "percentile=.nan": (int8("--set", "percentile=.nan"), ["percentile: nan"]),
    "recipe max_drop: .inf": (lambda r, g: int8("--recipe", str(recipe_file(r, "max_drop: .inf\n")))(r, g),
                              ["max_drop: inf"]),
    "dynamic with --method entropy": (int8("--mode", "dynamic", "--method", "entropy"),
                                      ["method is an option of mode static", "mode dynamic does not honour it"]),
    "dynamic with --method percentile": (int8("--mode", "dynamic", "--method", "percentile"),
                                         ["method is an option of mode static"]),
    "dynamic with a percentile": (int8("--mode", "dynamic", "--set", "percentile=99.9"),
                                  ["percentile is an option of mode static"]),
    "--set seed=-1": (int8("--set", "seed=-1"), ["seed must be between 0 and 4294967295"]),
    "--set seed=2**32": (int8("--set", "seed=4294967296"), ["seed must be between"]),
    "--recipe is a folder": (lambda r, g: int8("--recipe", str(a_folder(r)))(r, g), ["is a folder; pass a YAML file"]),
    "already INT8 by its record": (int8(model=lambda r, g: int8_folder(r, g, "record")),
                                   ["is already INT8", "precision int8", "runs/fp32"]),
    "already INT8 (neural-compressor)": (int8(model=lambda r, g: int8_folder(r, g, "inc")),
                                         ["is already INT8", "model_int8.safetensors"]),
    "already INT8 (ONNX graph)": (int8(model=lambda r, g: int8_folder(r, g, "onnx")),
                                  ["is already INT8", "DequantizeLinear"]),
    "already INT8 (the .onnx file)": (int8(model=lambda r, g: int8_folder(r, g, "onnx") / "model.onnx"),
                                      ["is already INT8"]),
    "already INT8, neural-compressor backend": (int8("--backend", "neural-compressor",
                                                     model=lambda r, g: int8_folder(r, g, "record")),
                                                ["is already INT8"]),
    "--model config.json": (int8(model=lambda r, g: g.model / "config.json"), ["is a file, not a model"]),
    "vocab_size below the tokenizer": (int8(model=lambda r, g: g.small_vocab), ["20 token embeddings"]),
    "pickle weights only": (int8(model=pickle_only), ["pickle"]),
    "--data-dir is a file": (lambda r, g: [*int8()(r, g), "--data-dir", str(a_file(r))], ["is a file; pass a folder"]),
    "export --model config.json": (lambda r, g: ["export", "--model", str(g.model / "config.json"), "--output-dir",
                                                 str(r / "out")], ["is a file, not a model"]),
    "export of pickle weights": (lambda r, g: ["export", "--model", str(pickle_only(r, g)), "--output-dir",
                                               str(r / "out")], ["pickle"]),
}


@pytest.mark.parametrize("case", QUANTIZE_CASES)
def test_quantize_bad_input(case, tmp_path, inputs, capsys):
    _refused("quantize", QUANTIZE_CASES[case], tmp_path, inputs, capsys)


# ------------------------------------------------------------------ pipeline

ONE_STAGE = "  - {name: s, run: finetune, config: {task: sst2, model: minilm-l6}}\n"


def stages(body: str, command: str = "run", *extra: str) -> Build:
    def build(root: Path, given: SimpleNamespace) -> list[str]:
        recipe = recipe_file(root, f"kind: stages\noutput_dir: {root}/run\nstages:{body}")
        return [command, str(recipe), *extra]
    return build


def task_pipeline(*extra: str) -> Build:
    def build(root: Path, given: SimpleNamespace) -> list[str]:
        recipe = recipe_file(root, f"task: sst2\nteacher: minilm-l6\nstudent: tiny\noutput_dir: {root}/run\n")
        return ["check", str(recipe), *extra]
    return build


def study(seeds: str) -> Build:
    def build(root: Path, given: SimpleNamespace) -> list[str]:
        recipe = recipe_file(root, f"kind: study\noutput_dir: {root}/run\nteacher: minilm-l6\nsizes: {{tiny: {{}}}}\n"
                                   f"tasks: {{rte: {{}}}}\nvariants: [scratch]\nseeds: {seeds}\n")
        return ["check", str(recipe)]
    return build


PIPELINE_CASES = {
    "run stages: []": (stages(" []\n"), ["has no stages", "nothing to run"]),
    "check stages: []": (stages(" []\n", "check"), ["has no stages"]),
    "plan stages: []": (stages(" []\n", "plan"), ["has no stages"]),
    "run --exclude '*'": (stages("\n" + ONE_STAGE, "run", "--exclude", "*"), ["--exclude * leaves none of the 1"]),
    "check --exclude '*'": (stages("\n" + ONE_STAGE, "check", "--exclude", "*"), ["leaves none"]),
    "plan --exclude 's*'": (stages("\n" + ONE_STAGE, "plan", "--exclude", "s*"), ["leaves none"]),
    "run --only s --exclude s": (stages("\n" + ONE_STAGE, "run", "--only", "s", "--exclude", "s"), ["leaves none"]),
    "recipe is a folder": (lambda r, g: ["run", str(a_folder(r))], ["is a folder; pass a YAML file"]),
    "stage lr .nan": (stages("\n  - {name: s, run: finetune, config: {task: sst2, model: minilm-l6, "
                             "train: {lr: .nan}}}\n"), ["stage 's'", "train.lr: nan is not a finite number"]),
    "stage seed -1": (stages("\n  - {name: s, run: finetune, config: {task: sst2, model: minilm-l6, "
                             "train: {seed: -1}}}\n"), ["train.seed must be between"]),
    "stage max_drop .nan": (stages("\n  - {name: q, run: int8, config: {model: m, calib: sst2, max_drop: .nan}}\n"),
                            ["max_drop: nan"]),
    "stage augment limit -1": (stages("\n  - {name: a, run: augment, config: {task: sst2, model: minilm-l6, "
                                      "limit: -1}}\n"), ["limit must be at least 1"]),
    "--set stages.task lr nan": (task_pipeline("--set", "stages.task.train.lr=nan"), ["stage 'task'", "not a finite"]),
    "--set dynamic int8 with entropy": (task_pipeline("--set", "stages.int8.mode=dynamic", "--set",
                                                      "stages.int8.method=entropy"), ["method is an option of mode static"]),
    "--set baseline seed 2**33": (task_pipeline("--set", "stages.baseline.train.seed=8589934592"),
                                  ["stage 'baseline'", "train.seed must be between"]),
    "study seeds [-1]": (study("[-1]"), ["train.seed must be between 0 and 4294967295"]),
}


@pytest.mark.parametrize("case", PIPELINE_CASES)
def test_pipeline_bad_input(case, tmp_path, inputs, capsys):
    _refused("pipeline", PIPELINE_CASES[case], tmp_path, inputs, capsys)


def test_the_issue_31_suite_is_large():
    assert len(GLUE_CASES) + len(DISTILL_CASES) + len(QUANTIZE_CASES) + len(PIPELINE_CASES) >= 100


# ------------------------------------------------------------------ what goes on with a warning or an opt-out


def test_an_unfinished_run_is_scored_with_allow_unfinished_and_one_warning(tmp_path, inputs, capsys):
    model = unfinished(tmp_path, inputs)
    out = tmp_path / "r.json"
    argv = ["eval", "--model", str(model), "--task", "sst2", "--data-dir", str(inputs.glue), "--output", str(out)]
    assert glue_cli.main([*argv, "--allow-unfinished"]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "unfinished training run" in warnings[0]
    (model / "metrics.json").write_text(json.dumps({"completed": True}))
    assert glue_cli.main([*argv]) == 0  # finished: scored without the flag, and without a warning
    assert "warning" not in capsys.readouterr().err


def test_one_class_trains_when_allowed(tmp_path, inputs, capsys):
    build = finetune("--set", "train.allow_single_class=true", task=one_class_spec)
    assert distill_cli.main(build(tmp_path, inputs)) == 0
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["completed"] is True


def test_a_plausible_hub_id_fails_in_one_line_without_retry_logs(tmp_path, inputs, capsys, caplog, monkeypatch):
    import logging

    import datasets

    def unreachable(*args, **kwargs):  # what an offline machine meets, without the 24-48 s of retries
        logging.getLogger("huggingface_hub.utils._http").warning("Retrying in 1s [Retry 1/5].")
        raise ConnectionError("Couldn't reach 'someone/nothing-here' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.setattr(datasets, "load_dataset", unreachable)
    argv = hub_spec("someone/nothing-here")(tmp_path, inputs)
    with caplog.at_level(logging.WARNING):
        assert_user_error(glue_cli.main, argv, capsys, "cannot load someone/nothing-here", "use data_files")
    assert "Retrying" not in caplog.text
    assert logging.getLogger("huggingface_hub").level != logging.CRITICAL  # put back afterwards


def test_a_results_file_glue_eval_wrote_still_loads(tmp_path):
    from eval.report import load_results

    path = tmp_path / "m.json"
    path.write_text(json.dumps(results_document(metrics={"accuracy": 1.0, "f1": 0.0})))
    (document,) = load_results([path])
    assert document["results"]["sst2"]["metrics"] == {"accuracy": 1.0, "f1": 0.0}
    schema_1 = results_document(schema_version=1, task_info=None)  # before task_info was recorded
    path.write_text(json.dumps(schema_1))
    assert load_results([path])[0]["schema_version"] == 1


def test_a_dynamic_recipe_that_lists_the_default_method_still_loads():
    from quantize.config import load_int8_config

    cfg = load_int8_config(ROOT / "recipes" / "quantize" / "dynamic_baseline.yaml", flags={"model": "m",
                                                                                         "output_dir": "o"})
    assert cfg.mode == "dynamic" and cfg.method == "max"


# ------------------------------------------------------------------ a full disk mid-run


def _full_disk(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_while_saving_the_model_is_one_line_and_leaves_nothing(tmp_path, inputs, capsys, monkeypatch):
    from transformers import PreTrainedModel

    def save_half(self, folder, *args, **kwargs):
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / "model.safetensors").write_bytes(b"half")
        _full_disk()

    monkeypatch.setattr(PreTrainedModel, "save_pretrained", save_half)
    argv = finetune("--keep-checkpoints")(tmp_path, inputs)
    before = snapshot(tmp_path)
    assert_user_error(distill_cli.main, argv, capsys, "No space left on device", "the disk is full",
                      "re-run the same command")
    assert snapshot(tmp_path) == before  # run_config.yaml, train_log.jsonl, .tmp-model/ and the lock: all gone


def test_a_full_disk_while_writing_a_checkpoint_is_one_line(tmp_path, inputs, capsys, monkeypatch):
    import distill.checkpoint as checkpoint

    def torch_save_on_a_full_disk(*args, **kwargs):  # what torch.save raises when a write fails
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")

    monkeypatch.setattr(checkpoint, "save_model", torch_save_on_a_full_disk)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: SimpleNamespace(total=10**9, used=10**9, free=4096))
    argv = finetune("--keep-checkpoints")(tmp_path, inputs)
    assert_user_error(distill_cli.main, argv, capsys, "cannot write checkpoint", "the disk is full")
    run = tmp_path / "run"
    assert not list(run.glob("checkpoints/.tmp-*")) and not list(run.rglob(".tmp-model"))
    assert not (tmp_path / ".run.lock").exists()
    monkeypatch.undo()
    assert distill_cli.main(argv) == 0  # the same command, with space again, finishes the run


def test_a_write_failure_with_free_space_is_a_bug_and_keeps_its_traceback(tmp_path):
    from eval.core.artifacts import write_failures

    with pytest.raises(RuntimeError, match="tensors share memory"):
        with write_failures("the model", tmp_path):
            raise RuntimeError("Some tensors share memory")


def test_a_full_disk_as_enospc_from_a_checkpoint_leaves_no_partial_checkpoint(tmp_path, inputs, capsys, monkeypatch):
    import distill.checkpoint as checkpoint

    monkeypatch.setattr(checkpoint, "save_model", _full_disk)
    argv = finetune("--keep-checkpoints")(tmp_path, inputs)
    assert_user_error(distill_cli.main, argv, capsys, "the disk is full")
    assert not list((tmp_path / "run").glob("checkpoints/.tmp-*"))


def test_an_object_array_in_a_teacher_output_store_is_one_line_and_never_unpickled(tmp_path):
    import numpy as np

    from distill.teacher_outputs import DiskStore, TeacherNeeds
    from eval.core.errors import UserError

    np.save(tmp_path / "logits.npy", np.array([{"run": "code"}], dtype=object), allow_pickle=True)
    with pytest.raises(UserError, match=r"logits.npy.*Python objects.*delete .* and re-run"):
        DiskStore(tmp_path, TeacherNeeds(logits=True), np.array([3]), 4)
    np.save(tmp_path / "logits.npy", np.zeros((1, 2), dtype=np.float32))
    assert DiskStore(tmp_path, TeacherNeeds(logits=True), np.array([3]), 4).arrays["logits"].shape == (1, 2)


# ------------------------------------------------------------------ output folders: atomic, shared, unlocked


def test_quantize_output_appears_only_at_the_swap(tmp_path):
    from quantize.outputs import staged_output

    out = tmp_path / "int8"
    with staged_output(out, "quantization.json") as staging:
        assert not out.exists()
        (staging / "quantization.json").write_text("{}")
    assert (out / "quantization.json").is_file() and sorted(p.name for p in tmp_path.iterdir()) == ["int8"]
    with pytest.raises(KeyError):
        with staged_output(tmp_path / "failed", "quantization.json") as staging:
            (staging / "model.onnx").write_text("half")
            raise KeyError("a bug mid-run")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["int8"]


def test_a_kill_before_the_first_output_leaves_only_what_the_next_run_removes(tmp_path):
    out = tmp_path / "int8"
    script = ("import os, sys; from quantize.outputs import staged_output\n"
              "with staged_output(sys.argv[1], 'quantization.json') as staging:\n"
              "    (staging / 'model.onnx').write_text('half')\n"
              "    os.kill(os.getpid(), 9)\n")
    subprocess.run([sys.executable, "-c", script, str(out)], cwd=ROOT, timeout=120)
    assert not out.exists()  # no empty output folder
    from quantize.outputs import staged_output

    with staged_output(out, "quantization.json") as staging:
        (staging / "quantization.json").write_text("{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["int8"]  # the staging folder and the lock: gone


def test_every_file_of_an_int8_folder_is_shared(tmp_path, tokenizer):
    import torch

    from quantize.inc_backend import NeuralCompressorBackend

    backend = SimpleNamespace(reference=SimpleNamespace(model=SimpleNamespace(config=tiny_bert_config())),
                              tokenizer=tokenizer)
    candidate = {"tensors": {"classifier.bias": torch.zeros(2)}, "layout": {"quantized": []}}
    NeuralCompressorBackend.save(backend, candidate, tmp_path)
    assert (tmp_path / "model_int8.safetensors").stat().st_mode & 0o777 == 0o644


def test_a_run_that_fails_after_taking_its_folder_leaves_no_lock_file(tmp_path, inputs, capsys):
    argv = finetune("--data-dir", str(tmp_path / "no-data"))(tmp_path, inputs)  # fails once the run holds the folder
    assert_user_error(distill_cli.main, argv, capsys, "does not exist")
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    argv = int8(model=lambda r, g: g.small_vocab)(tmp_path, inputs)  # fails inside the staged output
    assert_user_error(quantize_cli.main, argv, capsys, "token embeddings")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_two_holders_of_a_folder_lock_exclude_each_other(tmp_path):
    """Threads take the lock of one folder many times over; the lock file is removed after each hold,
    so a waiter can wake up on a removed file: it must lock the current one, never hold it alongside."""
    from eval.core.artifacts import folder_lock, lock_file
    from eval.core.errors import UserError

    out = tmp_path / "run"
    inside, overlaps, errors = [0], [], []
    guard = threading.Lock()

    def worker() -> None:
        try:
            for _ in range(25):
                with folder_lock(out, wait=True):
                    with guard:
                        inside[0] += 1
                        overlaps.append(inside[0])
                    time.sleep(0.001)
                    with guard:
                        inside[0] -= 1
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors and len(overlaps) == 150 and max(overlaps) == 1
    assert not lock_file(out).exists()
    with folder_lock(out):  # and a second holder is refused while the first holds it
        with pytest.raises(UserError, match="another run is writing"):
            with folder_lock(out):
                pass
        assert lock_file(out).exists()
    assert not lock_file(out).exists()


def test_a_lock_held_by_another_process_is_respected(tmp_path):
    from eval.core.artifacts import folder_lock
    from eval.core.errors import UserError

    out = tmp_path / "run"
    script = ("import sys, time; from eval.core.artifacts import folder_lock\n"
              "with folder_lock(sys.argv[1]):\n    print('held', flush=True); time.sleep(30)\n")
    holder = subprocess.Popen([sys.executable, "-c", script, str(out)], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(UserError, match="another run is writing"):
            with folder_lock(out):
                pass
    finally:
        holder.kill()
        holder.wait()
    with folder_lock(out):  # a killed holder's lock is free again (the kernel released it)
        pass
