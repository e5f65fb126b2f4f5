"""No file the toolkit reads from a model, checkpoint or run folder can run code.

Every such file is replaced, one at a time, by a pickle whose ``__reduce__`` creates a marker
file (as a raw pickle and, for ``.pt``/``.bin`` names, as a ``torch.save`` archive); then the
commands that read that folder run (``glue eval``, ``quantize int8 --model``, a resumed
``distill finetune``). They may fail, with one line; the marker must never appear.
"""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import pytest

from tests.conftest import save_tiny_classifier


class Payload:
    """Unpickling this creates ``marker``: the stand-in for arbitrary code."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def plant(path: Path, marker: Path, as_torch: bool) -> None:
    if as_torch:
        import torch

        torch.save({"state": Payload(marker)}, path)
    else:
        path.write_bytes(pickle.dumps(Payload(marker), protocol=2))


def run(main, argv: list[str]) -> int | None:
    """Run a command in-process; its outcome (an error, even a crash) does not matter here, only
    what it executed. tests/quantize/test_quantize_bad_input.py checks the errors themselves."""
    try:
        return main(argv)
    except (SystemExit, Exception):
        return None


@pytest.fixture(scope="module")
def folders(tmp_path_factory, tokenizer, tiny_classifier):
    """Pristine model folders of every kind the toolkit reads: PyTorch, ONNX, neural-compressor."""
    from safetensors.torch import save_file
    from transformers import AutoModelForSequenceClassification

    from eval.predictors import INC_FILE, INC_FORMAT
    from quantize import api

    root = tmp_path_factory.mktemp("pristine")
    torch_folder = save_tiny_classifier(root / "torch", tokenizer)
    api.export(tiny_classifier, root / "onnx")
    inc = root / "inc"
    shutil.copytree(torch_folder, inc)
    state = AutoModelForSequenceClassification.from_pretrained(torch_folder).state_dict()
    layout = {"activation": {"dtype": "uint8", "quant_min": 0, "quant_max": 255},
              "weight": {"dtype": "int8", "quant_min": -128, "quant_max": 127, "axis": 0}, "quantized": []}
    save_file({k: v.contiguous() for k, v in state.items()}, str(inc / INC_FILE),
              metadata={"format": INC_FORMAT, "layout": json.dumps(layout)})
    (inc / "model.safetensors").unlink()
    (inc / "quantization.json").write_text(json.dumps({"precision": "int8", "backend": "neural-compressor"}))
    return {"torch": torch_folder, "onnx": root / "onnx", "inc": inc}


# The files of each folder kind (plus the pickle formats a loader might fall back to).
FILES = {"torch": ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "pytorch_model.bin"),
         "onnx": ("config.json", "model.onnx", "quantization.json", "tokenizer.json", "tokenizer_config.json"),
         "inc": ("config.json", "model_int8.safetensors", "quantization.json", "tokenizer.json",
                 "tokenizer_config.json", "quantized_weight.pt")}
CASES = [(kind, name, as_torch) for kind, files in FILES.items() for name in files
         for as_torch in ((False, True) if name.endswith((".pt", ".bin")) else (False,))]


@pytest.mark.parametrize("kind, name, as_torch", CASES, ids=[f"{k}/{n}{'-torch' if t else ''}" for k, n, t in CASES])
def test_model_folder_files_never_run_code(kind, name, as_torch, folders, tmp_path, glue_tsv):
    from eval.cli import main as glue
    from quantize.cli import main as quantize

    folder = tmp_path / kind
    shutil.copytree(folders[kind], folder)
    if name == "pytorch_model.bin":  # a folder whose only weights are a pickle: transformers' fallback
        (folder / "model.safetensors").unlink()
    if name == "quantized_weight.pt":  # the old neural-compressor format
        (folder / "model_int8.safetensors").unlink()
    marker = tmp_path / "PAYLOAD_RAN"
    plant(folder / name, marker, as_torch)
    run(glue, ["eval", "--model", str(folder), "--task", "sst2", "--data-dir", str(glue_tsv),
               "--output", str(tmp_path / "results.json"), "--device", "cpu"])
    assert not marker.exists(), f"glue eval ran code from {kind}/{name}"
    if kind != "inc":
        run(quantize, ["int8", "--model", str(folder), "--output-dir", str(tmp_path / "int8"), "--calib", "sst2",
                       "--calib-size", "4", "--data-dir", str(glue_tsv), "--max-seq-length", "32"])
        assert not marker.exists(), f"quantize int8 ran code from {kind}/{name}"


@pytest.fixture(scope="module")
def finetune_run(tmp_path_factory, tiny_classifier, glue_tsv):
    """A finished 3-step ``distill finetune`` run that kept a checkpoint at every step, and its command."""
    from distill.cli import main as distill

    out = tmp_path_factory.mktemp("runs") / "ft"
    argv = ["finetune", "--model", str(tiny_classifier), "--task", "sst2", "--data-dir", str(glue_tsv),
            "--output-dir", str(out), "--max-steps", "3", "--device", "cpu", "--set", "train.batch_size=4",
            "--set", "train.max_seq_length=32", "--set", "train.save_every=1", "--set", "train.eval_batch_size=8",
            "--keep-checkpoints"]
    assert distill(argv) == 0
    return out, argv


@pytest.mark.parametrize("name, as_torch", [("trainer_state.pt", False), ("trainer_state.pt", True),
                                            ("rng_rank0.pt", False), ("rng_rank0.pt", True),
                                            ("model.safetensors", False), ("run_config.yaml", False)])
def test_checkpoint_files_never_run_code_on_resume(name, as_torch, finetune_run, tmp_path):
    from distill.cli import main as distill

    source, argv = finetune_run
    out = tmp_path / "ft"
    shutil.copytree(source, out)
    (out / "metrics.json").unlink()  # an unfinished run: the next command resumes from its checkpoint
    last = sorted((out / "checkpoints").iterdir())[-1]
    marker = tmp_path / "PAYLOAD_RAN"
    plant(last / name, marker, as_torch)
    code = run(distill, [a if a != str(source) else str(out) for a in argv])
    assert not marker.exists(), f"resuming ran code from checkpoint file {name}"
    assert code == 2, "the resumed run must have read (and refused) the planted checkpoint file"


@pytest.mark.parametrize("name", ["metrics.json", "run_config.yaml", "train_log.jsonl"])
def test_run_folder_files_never_run_code(name, finetune_run, tmp_path, glue_tsv):
    from distill.cli import main as distill
    from eval.cli import main as glue

    source, argv = finetune_run
    out = tmp_path / "ft"
    shutil.copytree(source, out)
    marker = tmp_path / "PAYLOAD_RAN"
    plant(out / name, marker, as_torch=False)
    run(distill, [a if a != str(source) else str(out) for a in argv])
    run(glue, ["eval", "--model", str(out), "--task", "sst2", "--data-dir", str(glue_tsv),
               "--output", str(tmp_path / "results.json"), "--device", "cpu"])
    assert not marker.exists(), f"a command ran code from run-folder file {name}"
