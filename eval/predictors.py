"""Predictors: one interface over PyTorch and ONNX Runtime sequence classifiers.

A predictor maps a padded batch of token ids to logits ``[batch, num_labels]`` in the task's
label order. The harness never learns which backend it talks to. ``load_predictor`` picks the
backend from what the model folder holds: ``model.onnx`` means ONNX Runtime,
``model_int8.safetensors`` a neural-compressor INT8 model (rebuilt from safetensors, never
unpickled), otherwise ``transformers`` loads it (a local folder or a Hub id).
"""

from __future__ import annotations

import functools
import inspect
import json
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from eval.batching import Batch
from eval.core.errors import UserError, first_line
from eval.hub import from_hub_or_cache
from eval.model_paths import check_local_path
from eval.tasks import GlueTask

ONNX_FILE = "model.onnx"
OPTIMUM_INT8_FILE = "model_quantized.onnx"  # what Optimum's ORTQuantizer writes into its folder
QUANTIZATION_FILE = "quantization.json"
INC_FILE = "model_int8.safetensors"  # neural-compressor INT8: int8 weights, scales, FP32 rest
LEGACY_INC_FILE = "quantized_weight.pt"  # the old torch.export archive: unpickled on load, refused
INC_FORMAT = "bert-compression-toolkit/inc-int8"
_PRECISIONS = {"torch.float32": "fp32", "torch.float16": "fp16", "torch.bfloat16": "bf16"}
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


def load_predictor(model: str | Path, device: str = "auto", threads: int | None = None,
                   allow_unfinished: bool = False) -> Predictor:
    """Load a sequence classifier from a folder (PyTorch or ONNX), an ``.onnx`` file, or a Hub id.

    Args:
        allow_unfinished: load an unfinished training run's best-so-far weights (``--allow-unfinished``).

    Raises:
        UserError: a file that is not a model, a training run that has not finished (unless
            ``allow_unfinished``), or a folder the backend cannot load.
    """
    path = Path(model).expanduser()
    check_model_path(path)
    if path.is_dir() and unfinished_run(path) and not allow_unfinished:
        raise UserError(f"model folder {path} is an unfinished training run ({RUN_CONFIG_FILE} but no {RUN_RECORD_FILE} "
                        f"with \"completed\": true): its weights are the best so far, not the finished model; "
                        f"re-run the same `distill` command to finish it, or pass --allow-unfinished to score it anyway")
    if path.suffix == ".onnx" or onnx_file_in(path) is not None:
        return OnnxPredictor(path, threads=threads)
    if (path / INC_FILE).is_file():
        return IncPredictor(path, threads=threads)
    if (path / LEGACY_INC_FILE).is_file():
        raise UserError(f"{path} holds a neural-compressor model in the old {LEGACY_INC_FILE} format, which "
                        f"runs code when loaded (pickle) and is refused; re-create it with "
                        f"`quantize int8 --backend neural-compressor`")
    return TorchPredictor(str(model), device=device)


def onnx_file_in(folder: Path) -> Path | None:
    """The ONNX model of a folder: ``model.onnx`` (the toolkit's, and Optimum's FP32 export) or
    ``model_quantized.onnx`` (Optimum's INT8); ``None`` when it has neither.

    Raises:
        UserError: it has both (which one to score is the user's choice: pass the file).
    """
    found = [folder / name for name in (ONNX_FILE, OPTIMUM_INT8_FILE) if (folder / name).is_file()]
    if len(found) > 1:
        raise UserError(f"{folder} holds both {ONNX_FILE} and {OPTIMUM_INT8_FILE}; pass the one to use as --model "
                        f"(e.g. {found[1]})")
    return found[0] if found else None


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


class TorchPredictor:
    """A ``transformers`` sequence classifier in eval mode: loaded from a folder or Hub id, or
    already in memory (:meth:`from_module`, for dev evaluation during training)."""

    def __init__(self, model: str, device: str = "auto"):
        from safetensors import SafetensorError
        from transformers import AutoConfig, AutoModelForSequenceClassification

        check_local_path(model)  # runs/teacherr beside runs/teacher: a typo, not a Hub id
        if model.startswith(("/", ".", "~")) and not Path(model).expanduser().exists():
            raise UserError(f"model folder {model} does not exist; pass a model folder, an ONNX "
                            f"folder, or a Hub id")
        local = Path(model).expanduser()
        check_model_path(local)
        refuse_pickle_weights(local)
        try:
            config = from_hub_or_cache(lambda **options: AutoConfig.from_pretrained(model, **options), model)
        except UserError:
            raise
        except Exception as err:
            raise UserError(f"cannot load model {model}: {first_line(err)}; pass a model folder "
                            f"(config.json + weights), an ONNX folder, or a Hub id") from None
        _require_classifier(model, config.architectures)
        try:
            safe = {"use_safetensors": True} if local.is_dir() else {}  # never a pickle from a folder
            loaded, loading = from_hub_or_cache(lambda **options: AutoModelForSequenceClassification.from_pretrained(
                model, config=config, output_loading_info=True, **safe, **options), model)
        except (OSError, ValueError, RuntimeError, SafetensorError) as err:  # missing, truncated or mismatched weights
            raise UserError(f"cannot load the weights of {model}: {first_line(err)}; the folder needs complete "
                            f"weights (model.safetensors) written by save_pretrained") from None
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


# ONNX Runtime fusions this harness turns off because the fused kernel is slower than the ops it
# replaces. SkipLayerNormalization (residual Add + LayerNorm in one op), measured with ORT 1.32 on
# an Intel Xeon (Sapphire Rapids), one thread, 1x128: MiniLM-L6 FP32 1.11x and static INT8 1.28x
# faster without it; batch 32: 1.09x and 1.22x (benchmarks/results/quantize_*.json, docs/quantization.md).
SLOW_ORT_FUSIONS = ("SkipLayerNormFusion",)


class OnnxPredictor:
    """An ONNX Runtime session over ``model.onnx`` (FP32 or quantized) with its config beside it."""

    def __init__(self, path: Path, threads: int | None = None):
        import onnxruntime as ort

        file = path if path.suffix == ".onnx" else onnx_file_in(path) or path / ONNX_FILE
        folder = file.parent
        if not file.is_file():
            raise UserError(f"ONNX model {file} does not exist; export one with `quantize export`")
        if not (folder / "config.json").is_file():
            raise UserError(f"ONNX model folder {folder} has no config.json (the labels and architecture); copy the "
                            f"config.json of the model it was exported from beside {file.name}, or re-export it "
                            f"with `quantize export`")
        parameters, full_range = _onnx_weights(file)  # refuses external data outside the folder first
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(file), options, providers=["CPUExecutionProvider"],
                                                disabled_optimizers=list(SLOW_ORT_FUSIONS))
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
        if full_range:
            warn_full_range(file)
        self.info = ModelInfo(
            path=str(path), backend="onnxruntime",
            precision=quantization.get("precision", "int8" if file.name == OPTIMUM_INT8_FILE else "fp32"),
            parameters=parameters, size_bytes=size_on_disk(file), device="cpu",
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


def _onnx_weights(file: Path) -> tuple[int, bool]:
    """Parameter count, and whether any 8-bit weight that is multiplied (not an embedding table) uses
    the full 8-bit range, i.e. was built without ``reduce_range``."""
    import onnx
    from onnx import numpy_helper

    try:
        graph = onnx.load(str(file), load_external_data=False).graph
    except Exception as err:  # protobuf's DecodeError and friends: not an ONNX file
        raise UserError(f"cannot load ONNX model {file}: {first_line(err)}; re-export it with "
                        f"`quantize export`") from None
    for tensor in graph.initializer:
        external_data_file(tensor, file)
    parameters = int(sum(np.prod(t.dims) for t in graph.initializer if len(t.dims) > 0))
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def only_gathered(name: str) -> bool:  # an embedding table, possibly behind a DequantizeLinear
        users = consumers.get(name, [])
        return all(u.op_type == "Gather" or (u.op_type == "DequantizeLinear" and only_gathered(u.output[0]))
                   for u in users)

    limits = {onnx.TensorProto.INT8: 64, onnx.TensorProto.UINT8: 127}  # reduce_range bounds
    full_range = any(t.data_type in limits and len(t.dims) == 2 and not only_gathered(t.name)
                     and np.abs(numpy_helper.to_array(t, str(file.parent)).astype(np.int32)).max() > limits[t.data_type]
                     for t in graph.initializer)
    return parameters, full_range


def external_data_file(tensor, model_file: Path) -> Path | None:
    """Where an initializer's external data lies: resolved against the model's folder (not the current
    directory), and refused unless it stays inside that folder and exists."""
    import onnx

    if tensor.data_location != onnx.TensorProto.EXTERNAL:
        return None
    location = next((entry.value for entry in tensor.external_data if entry.key == "location"), "")
    folder = model_file.parent.resolve()
    path = (folder / location).resolve()
    if not location or Path(location).is_absolute() or not path.is_relative_to(folder):
        raise UserError(f"{model_file}: tensor {tensor.name!r} keeps its data at {location!r}, outside the model's "
                        f"folder; re-export the model so its data files lie beside it")
    if not path.is_file():
        raise UserError(f"{model_file}: tensor {tensor.name!r} keeps its data in {location}, which is not in "
                        f"{model_file.parent}; copy it there or re-export the model")
    return path


VNNI_FEATURES = ("avx512_vnni", "avx_vnni", "amx_int8")
_warned_full_range: set[str] = set()


def has_vnni() -> bool:
    """Whether this CPU multiplies u8 x s8 pairs without an int16 intermediate (VNNI or AMX)."""
    from eval.core.artifacts import cpu_features

    return bool(set(VNNI_FEATURES) & set(cpu_features()["features"]))


def warn_full_range(file: Path) -> None:
    """Warn once per process: full-range INT8 weights on a CPU without VNNI can saturate and give wrong logits."""
    if _warned_full_range or has_vnni():
        return
    _warned_full_range.add(str(file))
    warnings.warn(f"{file} has full-range INT8 weights, and this CPU has no VNNI: ONNX Runtime's u8 x s8 "
                  f"products can saturate here and change predictions; rebuild it on this machine with "
                  f"`quantize int8 --reduce-range on` (or `auto`)", RuntimeWarning, stacklevel=3)


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


class IncPredictor:
    """A neural-compressor INT8 classifier (``model_int8.safetensors``) with its config beside it.

    The folder holds plain tensors (int8 weights, their per-channel scales, activation scales and
    the FP32 rest) and the architecture in ``config.json``; the model is rebuilt from those, so
    loading never unpickles anything. ``module`` skips loading (a model just quantized in memory).
    """

    def __init__(self, path: Path, threads: int | None = None, module=None):
        import torch

        self.torch, self.threads = torch, threads
        folder = Path(path)
        config = _read_json(folder / "config.json")
        _require_classifier(str(folder), config.get("architectures"))
        self.module = module if module is not None else load_inc_int8(folder)
        self.num_labels = int(config.get("num_labels") or len(config.get("id2label", {})) or 2)
        self.id2label = {int(k): v for k, v in config.get("id2label", {}).items()}
        self._order: np.ndarray | None = None
        quantization = _read_json(folder / QUANTIZATION_FILE)
        self.info = ModelInfo(
            path=str(folder), backend="neural-compressor", precision=quantization.get("precision", "int8"),
            parameters=sum(t.numel() for t in self.module.state_dict().values()),
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
        with torch.no_grad(), torch_threads(torch, self.threads):
            out = self.module(*args)
        out = (out.logits if hasattr(out, "logits") else out[0]).float().numpy()
        return out if self._order is None else out[:, self._order]


@contextmanager
def torch_threads(torch, threads: int | None):
    """PyTorch's intra-op thread count set to ``threads`` for one call, then restored (``None``: unchanged).

    The count is process-wide; a predictor sets it around its own calls instead of for everyone.
    """
    before = torch.get_num_threads()
    if threads and threads != before:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if threads and threads != before:
            torch.set_num_threads(before)


def load_inc_int8(folder: Path):
    """Rebuild a neural-compressor INT8 classifier from ``config.json`` and ``model_int8.safetensors``.

    Raises:
        UserError: the file is missing, truncated, not this format, or does not fit the config.
    """
    from safetensors import safe_open
    from transformers import AutoConfig, AutoModelForSequenceClassification

    file = folder / INC_FILE
    try:
        with safe_open(str(file), framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}
        if metadata.get("format") != INC_FORMAT:
            raise ValueError(f"format {metadata.get('format')!r} is not {INC_FORMAT!r}")
        layout = json.loads(metadata["layout"])
        config = AutoConfig.from_pretrained(str(folder))
        model = AutoModelForSequenceClassification.from_config(config, attn_implementation="eager")
        return build_inc_int8(model, tensors, layout)
    except Exception as err:
        raise UserError(f"cannot load neural-compressor INT8 model {file}: {first_line(err)}; re-create it "
                        f"with `quantize int8 --backend neural-compressor`") from None


def build_inc_int8(model, tensors: dict, layout: dict):
    """Swap the Linear layers ``layout['quantized']`` names for ``QuantizedLinear`` and load every tensor.

    Raises:
        ValueError: a tensor is missing, unexpected, or of the wrong shape.
    """
    quantized_linear = quantized_linear_class()
    for name in layout["quantized"]:
        owner, _, leaf = name.rpartition(".")
        parent = model.get_submodule(owner) if owner else model
        linear = getattr(parent, leaf)
        setattr(parent, leaf, quantized_linear(linear.in_features, linear.out_features, layout))
    try:
        missing, unexpected = model.load_state_dict(tensors, strict=False)
    except RuntimeError as err:  # shape mismatch
        raise ValueError(first_line(err)) from None
    if missing or unexpected:
        raise ValueError(f"tensors do not fit the config (missing {sorted(missing)[:3]}, unexpected "
                         f"{sorted(unexpected)[:3]})")
    for module in model.modules():
        if isinstance(module, quantized_linear):
            module.cache_scalars()
    return model.eval()


@functools.lru_cache(maxsize=1)
def quantized_linear_class():
    """The ``QuantizedLinear`` module class (built on first use: importing this module skips torch)."""
    import torch
    import torch.ao.quantization.fx._decomposed  # noqa: F401  registers the quantized_decomposed ops

    ops = torch.ops.quantized_decomposed
    dtypes = {"uint8": torch.uint8, "int8": torch.int8}

    class QuantizedLinear(torch.nn.Module):
        """Linear with uint8 per-tensor input and int8 per-channel weights, as PT2E's convert writes it.

        Quantize-dequantize of the input, dequantize of the weight, FP32 ``linear``: the same ops
        (``quantized_decomposed``) as neural-compressor's graph, so eager results are identical and
        ``torch.compile`` (inductor, freezing) lowers each one to an int8 kernel.
        """

        def __init__(self, in_features: int, out_features: int, layout: dict):
            super().__init__()
            self.act, self.wq = layout["activation"], layout["weight"]
            self.register_buffer("weight", torch.zeros(out_features, in_features, dtype=dtypes[self.wq["dtype"]]))
            self.register_buffer("weight_scale", torch.ones(out_features))
            self.register_buffer("weight_zero_point", torch.zeros(out_features, dtype=torch.int64))
            self.register_buffer("input_scale", torch.ones(()))
            self.register_buffer("input_zero_point", torch.zeros((), dtype=torch.int64))
            self.register_buffer("bias", torch.zeros(out_features))
            self.cache_scalars()

        def cache_scalars(self) -> None:
            # per-tensor qparams as Python numbers: the form inductor's int8 patterns match
            self.x_args = (float(self.input_scale), int(self.input_zero_point), self.act["quant_min"],
                           self.act["quant_max"], dtypes[self.act["dtype"]])

        def forward(self, x):
            x = ops.dequantize_per_tensor.default(ops.quantize_per_tensor.default(x, *self.x_args), *self.x_args)
            weight = ops.dequantize_per_channel.default(
                self.weight, self.weight_scale, self.weight_zero_point, self.wq["axis"], self.wq["quant_min"],
                self.wq["quant_max"], dtypes[self.wq["dtype"]])
            return torch.nn.functional.linear(x, weight, self.bias)

    return QuantizedLinear
