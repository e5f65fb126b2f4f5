"""What every model format shares: the model folder's files, what a results file records about a
model (:class:`ModelInfo`), the :class:`Predictor` interface, tokenizers and label order.

The formats themselves, each with its reader (and writer where the toolkit writes it), are
:mod:`eval.formats.pytorch`, :mod:`eval.formats.onnx` and :mod:`eval.formats.inc_int8`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from eval.batching import Batch
from eval.core.errors import UserError, first_line
from eval.hub import from_hub_or_cache
from eval.tasks import GlueTask

ONNX_FILE = "model.onnx"
OPTIMUM_INT8_FILE = "model_quantized.onnx"  # what Optimum's ORTQuantizer writes into its folder
QUANTIZATION_FILE = "quantization.json"
INC_FILE = "model_int8.safetensors"  # neural-compressor INT8: int8 weights, scales, FP32 rest
LEGACY_INC_FILE = "quantized_weight.pt"  # the old torch.export archive: unpickled on load, refused
INC_FORMAT = "bert-compression-toolkit/inc-int8"
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".onnx", ".onnx_data", ".pt")
# Weight files that are pickles: loading one can run code, so a folder that has only these is refused.
PICKLE_WEIGHTS = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
# A `distill` run folder holds its config from the first moment and its record, with
# ``"completed": true``, only at the end; until then its weights are the best so far, not the model.
RUN_CONFIG_FILE, RUN_RECORD_FILE = "run_config.yaml", "metrics.json"



@dataclass(frozen=True)
class ModelInfo:
    """What a results file records about the model that was scored."""

    path: str
    backend: str  # "torch" or "onnxruntime"
    precision: str  # "fp32", "int8", ...
    parameters: int
    size_bytes: int
    device: str

    def as_dict(self) -> dict:
        return asdict(self)


class Predictor(Protocol):
    info: ModelInfo

    def check_task(self, task: GlueTask) -> None:
        """Raise ``UserError`` when the model cannot score this task (wrong head size)."""

    def logits(self, batch: Batch) -> np.ndarray:
        """``[batch, num_labels]`` float32 logits, columns in the task's label order."""


def check_model_path(path: Path) -> None:
    """Refuse a file where a model folder is expected (``--model run/config.json``): only ``.onnx`` files load."""
    if path.is_file() and path.suffix != ".onnx":
        raise UserError(f"model {path} is a file, not a model; pass the model folder that holds it ({path.parent}), "
                        f"or an .onnx file")


def unfinished_run(folder: str | Path) -> bool:
    """Whether ``folder`` is a `distill` run folder whose run has not completed (killed, failed or still running)."""
    folder = Path(folder)
    if not (folder / RUN_CONFIG_FILE).is_file():
        return False
    try:
        record = json.loads((folder / RUN_RECORD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):  # missing or corrupt: no sign of completion
        return True
    return not (isinstance(record, dict) and record.get("completed") is True)


def refuse_pickle_weights(folder: Path) -> None:
    """A local model folder whose only weights are pickles (``pytorch_model.bin``) is refused: loading a
    pickle can run code. Folders with safetensors weights load those and never read the pickles."""
    if not folder.is_dir() or any(folder.glob("*.safetensors")):
        return
    pickles = sorted(p.name for p in folder.iterdir() if p.suffix.lower() in PICKLE_WEIGHTS and p.is_file())
    if pickles:
        raise UserError(f"model folder {folder} holds its weights only as a pickle ({pickles[0]}), which can run "
                        f"code when loaded and is not loaded; convert it to safetensors where you trust it "
                        f"(from_pretrained, then save_pretrained) and pass that folder")


# Files that hold a tokenizer's vocabulary (fast tokenizers, WordPiece, BPE, SentencePiece).
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "spiece.model", "sentencepiece.bpe.model")

# transformers builds a tokenizer of only the special tokens ([PAD], [UNK], ...) from a folder
# without vocabulary files, which turns every word into [UNK]; a real vocabulary has words too.
_MIN_WORDS = 10


def load_tokenizer(model: str | Path):
    """The tokenizer saved beside a model (folders of both backends carry one).

    Raises:
        UserError: the folder has no vocabulary file, or what loads is not a real vocabulary.
    """
    from transformers import AutoTokenizer

    folder = Path(model).expanduser()
    folder = folder.parent if folder.suffix == ".onnx" else folder
    if folder.is_dir() and not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise UserError(f"{folder} has no tokenizer files ({', '.join(TOKENIZER_FILES[:2])}, ...); save the "
                        f"tokenizer beside the model (tokenizer.save_pretrained) or copy it from the model it came from")
    source = str(folder) if folder.exists() else str(model)
    try:
        tokenizer = from_hub_or_cache(lambda **options: AutoTokenizer.from_pretrained(source, **options), source)
    except UserError:
        raise
    except Exception as err:
        raise UserError(f"cannot load a tokenizer from {model}: {first_line(err)}; "
                        f"save one beside the model (tokenizer.save_pretrained)") from None
    check_vocabulary_size(tokenizer, model)
    if folder.is_dir():
        check_embeddings_cover_tokenizer(tokenizer, _config_value(folder / "config.json", "vocab_size"), model)
    return tokenizer


def check_vocabulary_size(tokenizer, model: str | Path):
    """Refuse a tokenizer that is only special tokens (every word would become ``[UNK]``)."""
    size = len(tokenizer)
    if size - len(set(tokenizer.all_special_tokens)) < _MIN_WORDS:
        raise UserError(f"the tokenizer of {model} has only {size} tokens, so every word would be unknown; save "
                        f"the real tokenizer beside the model (tokenizer.save_pretrained)")
    return tokenizer


def check_embeddings_cover_tokenizer(tokenizer, vocab_size, model: str | Path) -> None:
    """Refuse a model whose embedding table is smaller than its tokenizer's ids: the first example
    holding a larger id would stop the run with an ``IndexError`` (or wrong ONNX outputs).

    Raises:
        UserError: ``vocab_size`` (from the model's config) is at most the tokenizer's largest id.
    """
    if not isinstance(vocab_size, int) or isinstance(vocab_size, bool):
        return
    largest = max(tokenizer.get_vocab().values(), default=-1)
    if largest >= vocab_size:
        raise UserError(f"model {model} has {vocab_size} token embeddings (vocab_size in its config) but its "
                        f"tokenizer has ids up to {largest}: they belong to different models; save the model's own "
                        f"tokenizer beside it, or fix vocab_size")


def _config_value(path: Path, key: str):
    """One key of a model's ``config.json``, or ``None`` when the file is missing or unreadable (reported elsewhere)."""
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return config.get(key) if isinstance(config, dict) else None


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {device!r} asked for, but CUDA is not available here; use --device cpu")
    return device


def size_on_disk(folder: Path) -> int:
    """Bytes of weight files (safetensors, bin, onnx and external data) in a folder or file."""
    if folder.is_file():
        files = [folder, *folder.parent.glob(folder.name + "*data")]
    else:
        files = [p for p in folder.iterdir() if p.suffix in _WEIGHT_SUFFIXES]
    return sum(p.stat().st_size for p in files if p.is_file())


def label_order(id2label: dict, task: GlueTask) -> np.ndarray | None:
    """Column order that maps a model's labels onto the task's, when the model names them.

    A model trained elsewhere may list MNLI's classes as contradiction, neutral, entailment.
    When its ``id2label`` names are the task's names in another order, return the permutation;
    when they are generic (``LABEL_0``) or already in order, return ``None``.
    """
    names = [str(id2label.get(i, id2label.get(str(i), ""))).lower() for i in range(len(id2label))]
    wanted = [n.lower() for n in task.label_names]
    if sorted(names) != sorted(wanted) or names == wanted:
        return None
    return np.array([names.index(n) for n in wanted])


def _check_labels(model: str, num_labels: int, task: GlueTask) -> None:
    if num_labels != task.num_labels:
        raise UserError(f"model {model} has {num_labels} output labels but {task.display_name} needs "
                        f"{task.num_labels}; fine-tune it on {task.name} first (`distill finetune --task {task.spec or task.name}`)")


def is_sequence_classifier(architectures: list[str] | None) -> bool:
    """Whether a config's ``architectures`` name a sequence-classification head."""
    return any(a.endswith("ForSequenceClassification") for a in architectures or [])


def _require_classifier(model: str, architectures: list[str] | None) -> None:
    if not is_sequence_classifier(architectures):
        raise UserError(f"model {model} has no sequence-classification head (architectures: "
                        f"{architectures}); fine-tune it on a task first (`distill finetune`)")


def _read_json(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UserError(f"{path} is not valid JSON ({first_line(err)}); re-export the model") from None
    if not isinstance(data, dict):
        raise UserError(f"{path} is not a JSON object; re-export the model")
    return data
