"""Predictors: one interface over PyTorch and ONNX Runtime sequence classifiers.

A predictor maps a padded batch of token ids to logits ``[batch, num_labels]`` in the task's
label order. The harness never learns which backend it talks to. ``load_predictor`` picks the
backend from what the model folder holds: ``model.onnx`` means ONNX Runtime, otherwise
``transformers`` loads it (a local folder or a Hub id).
"""

from __future__ import annotations

import inspect
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from eval.batching import Batch
from eval.errors import UserError, first_line
from eval.tasks import GlueTask

ONNX_FILE = "model.onnx"
QUANTIZATION_FILE = "quantization.json"
INC_FILE = "quantized_weight.pt"  # neural-compressor's PT2E INT8 model (a torch.export archive)
_PRECISIONS = {"torch.float32": "fp32", "torch.float16": "fp16", "torch.bfloat16": "bf16"}
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".onnx", ".onnx_data", ".pt")


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


def load_predictor(model: str | Path, device: str = "auto", threads: int | None = None) -> Predictor:
    """Load a sequence classifier from a folder (PyTorch or ONNX), an ``.onnx`` file, or a Hub id."""
    path = Path(model).expanduser()
    if path.suffix == ".onnx" or (path / ONNX_FILE).is_file():
        return OnnxPredictor(path, threads=threads)
    if (path / INC_FILE).is_file():
        return IncPredictor(path, threads=threads)
    return TorchPredictor(str(model), device=device)


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
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder) if folder.exists() else str(model))
    except Exception as err:
        raise UserError(f"cannot load a tokenizer from {model}: {first_line(err)}; "
                        f"save one beside the model (tokenizer.save_pretrained)") from None
    return check_vocabulary_size(tokenizer, model)


def check_vocabulary_size(tokenizer, model: str | Path):
    """Refuse a tokenizer that is only special tokens (every word would become ``[UNK]``)."""
    size = len(tokenizer)
    if size - len(set(tokenizer.all_special_tokens)) < _MIN_WORDS:
        raise UserError(f"the tokenizer of {model} has only {size} tokens, so every word would be unknown; save "
                        f"the real tokenizer beside the model (tokenizer.save_pretrained)")
    return tokenizer


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


class TorchPredictor:
    """A ``transformers`` sequence classifier in eval mode: loaded from a folder or Hub id, or
    already in memory (:meth:`from_module`, for dev evaluation during training)."""

    def __init__(self, model: str, device: str = "auto"):
        from transformers import AutoConfig, AutoModelForSequenceClassification

        if model.startswith(("/", ".", "~")) and not Path(model).expanduser().exists():
            raise UserError(f"model folder {model} does not exist; pass a model folder, an ONNX "
                            f"folder, or a Hub id")
        try:
            config = AutoConfig.from_pretrained(model)
        except Exception as err:
            raise UserError(f"cannot load model {model}: {first_line(err)}; pass a model folder "
                            f"(config.json + weights), an ONNX folder, or a Hub id") from None
        _require_classifier(model, config.architectures)
        loaded, loading = AutoModelForSequenceClassification.from_pretrained(
            model, config=config, output_loading_info=True)
        if loading["missing_keys"]:
            raise UserError(f"model {model} lacks weights {sorted(loading['missing_keys'])[:3]}...; "
                            f"it is not a complete sequence classifier")
        folder = Path(model)
        self._attach(loaded, resolve_device(device), model, size_on_disk(folder) if folder.is_dir() else 0)
        self.model.to(self.device)

    @classmethod
    def from_module(cls, model, device: str = "cpu") -> "TorchPredictor":
        """Wrap a model in memory (on ``device`` already); ``logits`` switches it to eval mode."""
        predictor = cls.__new__(cls)
        predictor._attach(model, device, "<in-memory>", 0)
        return predictor

    def _attach(self, model, device: str, path: str, size_bytes: int) -> None:
        import torch

        self.torch, self.model, self.device, self.config = torch, model, device, model.config
        self.accepts = set(inspect.signature(model.forward).parameters)
        self._order: np.ndarray | None = None
        self.info = ModelInfo(
            path=path, backend="torch", precision=_PRECISIONS.get(str(model.dtype), str(model.dtype)),
            parameters=sum(p.numel() for p in model.parameters()), size_bytes=size_bytes, device=device,
        )

    def check_task(self, task: GlueTask) -> None:
        _check_labels(self.info.path, self.config.num_labels, task)
        self._order = label_order(self.config.id2label, task)

    def logits(self, batch: Batch) -> np.ndarray:
        torch = self.torch
        inputs = {k: torch.from_numpy(v).to(self.device) for k, v in batch.items() if k in self.accepts}
        self.model.eval()
        with torch.inference_mode():
            out = self.model(**inputs).logits.float().cpu().numpy()
        return out if self._order is None else out[:, self._order]


class OnnxPredictor:
    """An ONNX Runtime session over ``model.onnx`` (FP32 or quantized) with its config beside it."""

    def __init__(self, path: Path, threads: int | None = None):
        import onnxruntime as ort

        file = path if path.suffix == ".onnx" else path / ONNX_FILE
        folder = file.parent
        if not file.is_file():
            raise UserError(f"ONNX model {file} does not exist; export one with `quantize export`")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(file), options, providers=["CPUExecutionProvider"])
        except Exception as err:
            raise UserError(f"cannot load ONNX model {file}: {first_line(err)}; re-export it with "
                            f"`quantize export`") from None
        self.input_names = {i.name for i in self.session.get_inputs()}
        config = _read_json(folder / "config.json")
        _require_classifier(str(folder), config.get("architectures"))
        self.num_labels = int(self.session.get_outputs()[0].shape[-1] or len(config.get("id2label", {})) or 2)
        self.id2label = {int(k): v for k, v in config.get("id2label", {}).items()}
        self._order: np.ndarray | None = None
        quantization = _read_json(folder / QUANTIZATION_FILE)
        self.info = ModelInfo(
            path=str(path), backend="onnxruntime", precision=quantization.get("precision", "fp32"),
            parameters=_onnx_parameter_count(file), size_bytes=size_on_disk(file), device="cpu",
        )

    def check_task(self, task: GlueTask) -> None:
        _check_labels(self.info.path, self.num_labels, task)
        self._order = label_order(self.id2label, task)

    def logits(self, batch: Batch) -> np.ndarray:
        feeds = {k: v for k, v in batch.items() if k in self.input_names}
        out = self.session.run(None, feeds)[0].astype(np.float32)
        return out if self._order is None else out[:, self._order]


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


def _onnx_parameter_count(file: Path) -> int:
    import onnx

    model = onnx.load(str(file), load_external_data=False)
    return int(sum(np.prod(t.dims) for t in model.graph.initializer if len(t.dims) > 0))


def _read_json(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise UserError(f"{path} is not valid JSON ({err}); re-export the model") from None




class IncPredictor:
    """A neural-compressor PT2E INT8 model (``quantized_weight.pt``) with its config beside it.

    The archive holds an exported graph that takes ``(input_ids, attention_mask, token_type_ids)``
    positionally, with dynamic batch and sequence axes. ``module`` skips loading (a model just
    quantized in memory).
    """

    def __init__(self, path: Path, threads: int | None = None, module=None):
        import torch

        self.torch = torch
        folder = Path(path)
        if threads:
            torch.set_num_threads(threads)
        config = _read_json(folder / "config.json")
        _require_classifier(str(folder), config.get("architectures"))
        if module is None:
            try:
                module = torch.export.load(str(folder / INC_FILE)).module()
            except Exception as err:
                raise UserError(f"cannot load neural-compressor model {folder / INC_FILE}: {first_line(err)}; "
                                f"re-create it with `quantize int8 --backend neural-compressor`") from None
        self.module = module
        self.num_labels = int(config.get("num_labels") or len(config.get("id2label", {})) or 2)
        self.id2label = {int(k): v for k, v in config.get("id2label", {}).items()}
        self._order: np.ndarray | None = None
        quantization = _read_json(folder / QUANTIZATION_FILE)
        self.info = ModelInfo(
            path=str(folder), backend="neural-compressor", precision=quantization.get("precision", "int8"),
            parameters=sum(t.numel() for t in module.state_dict().values()),
            size_bytes=size_on_disk(folder) if (folder / INC_FILE).is_file() else 0, device="cpu",
        )

    def check_task(self, task: GlueTask) -> None:
        _check_labels(self.info.path, self.num_labels, task)
        self._order = label_order(self.id2label, task)

    def logits(self, batch: Batch) -> np.ndarray:
        torch = self.torch
        ids = batch["input_ids"]
        type_ids = batch.get("token_type_ids", np.zeros_like(ids))
        args = [torch.from_numpy(a) for a in (ids, batch["attention_mask"], type_ids)]
        with torch.no_grad():
            out = self.module(*args)
        out = (out.logits if hasattr(out, "logits") else out[0]).float().numpy()
        return out if self._order is None else out[:, self._order]
