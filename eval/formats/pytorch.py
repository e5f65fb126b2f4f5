"""PyTorch (``transformers``) sequence classifiers: a model folder of safetensors weights, or a Hub id."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np

from eval.batching import Batch
from eval.core.errors import UserError, first_line
from eval.formats.common import (ModelInfo, _check_labels, _require_classifier, check_model_path, label_order,
                                 refuse_pickle_weights, resolve_device, size_on_disk)
from eval.hub import from_hub_or_cache
from eval.model_paths import check_local_path
from eval.tasks import GlueTask

_PRECISIONS = {"torch.float32": "fp32", "torch.float16": "fp16", "torch.bfloat16": "bf16"}


def detect(path: Path) -> bool:
    """The fallback format: anything else is loaded by ``transformers`` (a folder or a Hub id)."""
    return True


def load(model: str | Path, device: str = "auto", threads: int | None = None) -> "TorchPredictor":
    return TorchPredictor(str(model), device=device)


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
