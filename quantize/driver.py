"""The one INT8 sequence every backend shares: FP32 score, sensitivity probe, accuracy guard,
size, latency and the ``quantization.json`` record, written into an atomically swapped folder.

A backend (:class:`Backend`) only knows its library: how to load the FP32 reference, which names
it can quantize, how to build an INT8 candidate with some names kept FP32, how to load a
candidate as a predictor, and how to save one. Everything else happens here, once.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import shutil
from pathlib import Path
from typing import Any, Protocol

from eval.core.artifacts import provenance, share_files, write_atomic, write_json
from eval.core.config import dump_yaml
from eval.core.console import warn
from eval.core.model_card import ModelCard, describe_model, write_model_card
from eval.core.outputs import check_config_apart
from eval.core.errors import UserError
from eval.predictors import QUANTIZATION_FILE, load_predictor, size_on_disk
from quantize.config import Int8Config, config_dict
from quantize.guard import guard_groups, run_guard
from quantize.measure import dev_set, latency_batch, latency_record, measure_interleaved, score, snr_probe
from quantize.outputs import staged_output
from quantize.sources import model_task, refuse_int8_source

WORK = ".work"  # scratch space inside the staging folder, removed before the swap
RECIPE_FILE = "quantize_config.yaml"  # the resolved config: `quantize int8 --recipe` it to redo the folder
# A result the accuracy guard left with under this share of its quantizable nodes in INT8, or
# less than MIN_SIZE_RATIO times smaller than FP32, is no INT8 model: it is refused unless
# ``allow_fallback`` asks for it (issue 27: a guard left 1.02x smaller, 0.99x faster).
MIN_INT8_SHARE = 0.5
MIN_SIZE_RATIO = 1.5


class Backend(Protocol):
    """What the driver needs from a quantization library (quantize/ort_backend.py, quantize/inc_backend.py)."""

    name: str
    reference: Any  # the FP32 predictor INT8 is compared with (``logits(batch)``)
    tokenizer: Any
    fp32_size: int  # bytes of the FP32 weights

    def quantizable(self) -> list[str]:
        """Names the guard and ``exclude`` refer to (ONNX nodes, PyTorch modules), in model order."""

    def build(self, exclude: tuple[str, ...]) -> Any:
        """An INT8 candidate with the named nodes or modules kept FP32."""

    def predictor(self, candidate: Any) -> Any:
        """A candidate as a predictor (``logits(batch)``), for the guard and its probe."""

    def quantized(self, candidate: Any) -> int:
        """How many names are actually INT8 in the candidate (0 is refused)."""

    def save(self, candidate: Any, folder: Path) -> None:
        """Write the candidate, its config and tokenizer into ``folder`` (a model folder)."""

    def record(self) -> dict[str, Any]:
        """The backend's own part of ``quantization.json`` (settings, calibration, export)."""


def quantize_int8(cfg: Int8Config, make_backend) -> dict[str, Any]:
    """Run ``cfg`` with the backend ``make_backend(cfg, work_dir)`` builds; write the output folder.

    Returns:
        The ``quantization.json`` record written beside the model.

    Raises:
        UserError: an unknown name in ``exclude``, nothing quantizable or quantized, no ``calib``
            where the model's task is unknown, a guard that kept most nodes FP32 (see
            :func:`refuse_fallback`), bad input. Nothing is left at ``output_dir`` then.
    """
    cfg = with_model_task(cfg)
    check_config_apart(cfg)
    refuse_int8_source(cfg.model)
    cfg.calib_task, cfg.scored_task  # a missing task spec fails here, before any work
    with staged_output(cfg.output_dir, QUANTIZATION_FILE) as staging:
        work = staging / WORK
        work.mkdir()
        backend = make_backend(cfg, work)
        record = _run(cfg, backend, staging)
        refuse_fallback(cfg, record)  # raising here removes the staging folder: nothing is swapped in
        shutil.rmtree(work)
        write_atomic(staging / RECIPE_FILE, dump_yaml(cfg))
        write_model_card(staging, int8_card(Path(cfg.output_dir).name, cfg, record))
        record["files"] = file_digests(staging)
        write_json(staging / QUANTIZATION_FILE, record)
        share_files(staging)  # libraries write some files 0600 (safetensors): the folder is meant to be shared
    return record


def with_model_task(cfg: Int8Config) -> Int8Config:
    """``cfg`` with ``calib`` set: as given, else the task the model was trained on, else ``eval_task``.

    Raises:
        UserError: no ``calib`` and the model's folder records no task, or one that cannot be read
            here (a task spec that has moved); the message names ``--calib``.
    """
    if cfg.calib is not None:
        return cfg
    found = model_task(cfg.model)
    if found is None:
        if cfg.eval_task is not None:
            return dataclasses.replace(cfg, calib=cfg.eval_task)
        raise UserError(f"which task model {cfg.model} was trained on is not recorded in its folder (no metrics.json "
                        f"of a `distill` run, no GLUE task in its model card); pass --calib TASK (a GLUE name such "
                        f"as mrpc, or a task spec file) to calibrate and score on that task")
    task, source = found
    resolved = dataclasses.replace(cfg, calib=task)
    try:
        resolved.calib_task
    except UserError as err:
        raise UserError(f"model {cfg.model} was trained on task {task!r} (per {source}), which cannot be read here "
                        f"({err}); pass --calib TASK with that task (e.g. the spec's current path)") from None
    return resolved


def size_text(record: dict[str, Any]) -> str:
    """How many times smaller than FP32, or "an unknown factor" when the FP32 size was not measured."""
    ratio = record["size_bytes"]["ratio"]
    return "an unknown factor" if ratio is None else f"{ratio:.2f}x"


def fallback_dominated(record: dict[str, Any]) -> bool:
    """Whether the accuracy guard fell back so far that the result is no INT8 model (see MIN_INT8_SHARE)."""
    total, int8 = record["quantizable_nodes"], record["quantized_nodes"]
    ratio = record["size_bytes"]["ratio"]  # None: the FP32 size is unknown (a Hub id), so only the share counts
    return bool(record["excluded_layers"]) and (int8 < MIN_INT8_SHARE * total
                                                or (ratio is not None and ratio < MIN_SIZE_RATIO))


def refuse_fallback(cfg: Int8Config, record: dict[str, Any]) -> None:
    """Refuse a result in which the accuracy guard kept most quantizable nodes in FP32.

    Such a model is about as large and as slow as FP32; saving it as "INT8" would be a quiet
    failure. ``cfg.allow_fallback`` keeps it (the CLI then warns).

    Raises:
        UserError: after the guard fell back, fewer than ``MIN_INT8_SHARE`` of the quantizable
            nodes are INT8 or the model is less than ``MIN_SIZE_RATIO`` times smaller than FP32;
            names the figures and the fixes.
    """
    total, int8 = record["quantizable_nodes"], record["quantized_nodes"]
    if cfg.allow_fallback or not fallback_dominated(record):
        return
    guard = record["guard"]
    outcome = (f"to stay within --max-drop {cfg.max_drop:g}" if guard["fits"] else
               f"and still loses {record['dev']['drop_points']:.2f} points (> --max-drop {cfg.max_drop:g})")
    calib = f", calibrate on more data (--calib-size, now {cfg.calib_size})" if record.get("calibration") else ""
    raise UserError(f"the accuracy guard kept {total - int8} of {total} quantizable nodes in FP32 {outcome} (the model "
                    f"is {size_text(record)} smaller, {record['latency']['speedup']:.2f}x "
                    f"faster than FP32): this is not an INT8 model, so nothing was saved; raise --max-drop{calib}, "
                    f"quantize without the guard (no --max-drop), or pass --allow-fallback to keep it")


def warn_below_resolution(max_drop: float, task, examples: int) -> None:
    """Warn when ``max_drop`` is below what one dev example changes the metric by (100 / examples points).

    The guard can then only be met by losing nothing at all, so it falls back far more than the
    user meant (issue 27). Regression metrics move by less than a point per example: no warning.
    """
    step = 100 / max(examples, 1)
    if task.is_regression or max_drop >= step:
        return
    warn(f"--max-drop {max_drop:g} is below about one dev example's worth of {task.main_metric} ({step:.2f} points on "
         f"{examples} examples): the guard can only meet it by losing nothing, and may keep most layers FP32; "
         f"allow at least {step:.2f} points or score on a larger dev split")


def _run(cfg: Int8Config, backend: Backend, staging: Path) -> dict[str, Any]:
    names = backend.quantizable()
    if not names:
        raise UserError(f"the model has no node of the types this backend quantizes ({backend.name}); "
                        f"check op_types and that the model is a BERT-style classifier")
    check_exclude(cfg.exclude, names)
    dev = dev_set(cfg)  # read once: every score below and the guard's probe share it
    task = dev.task
    if cfg.max_drop is not None:
        warn_below_resolution(cfg.max_drop, task, len(dev.data))
    fp32_metric = score(backend.reference, backend.tokenizer, cfg, dev=dev)
    probe = None if cfg.max_drop is None else snr_probe(backend.reference, backend.tokenizer, cfg,
                                                        load=backend.predictor, dev=dev)
    guard = run_guard(guard_groups(names, cfg.exclude, cfg.granularity), backend.build,
                      lambda candidate: score(backend.predictor(candidate), backend.tokenizer, cfg, dev=dev),
                      fp32_metric, cfg.max_drop, base=tuple(cfg.exclude), probe=probe)
    count = backend.quantized(guard.model)
    if count == 0 and guard.excluded_layers:
        raise UserError(f"the accuracy guard had to keep all {len(names)} quantizable nodes in FP32 to stay within "
                        f"--max-drop {cfg.max_drop:g}: no INT8 model is left, so nothing was saved; raise --max-drop, "
                        f"calibrate on more data (--calib-size), or quantize without the guard (no --max-drop)")
    if count == 0:
        raise UserError("the quantization quantized nothing (0 INT8 nodes); check op_types and exclude")
    backend.save(guard.model, staging)
    int8 = load_predictor(staging, device="cpu", threads=cfg.threads)
    latency = measure_interleaved({"fp32": backend.reference.logits, "int8": int8.logits}, latency_batch(staging))
    int8_size = size_on_disk(staging)
    return {
        "precision": "int8",
        "backend": backend.name,
        "method": getattr(cfg, "method", None) if getattr(cfg, "mode", "static") == "static" else None,
        "mode": getattr(cfg, "mode", "static"),
        "source_model": cfg.model,
        **backend.record(),
        "quantizable_nodes": len(names),
        "quantized_nodes": count,
        **guard.record(cfg.max_drop, task),
        "size_bytes": {"fp32": backend.fp32_size, "int8": int8_size,
                       "ratio": backend.fp32_size / int8_size if backend.fp32_size else None},
        "latency": latency_record(latency, cfg.threads),
        "config": config_dict(cfg),
        **provenance(),
    }


def int8_card(title: str, cfg: Int8Config, record: dict[str, Any]) -> ModelCard:
    """The model card of an INT8 folder: its dev metric, where it came from, and how it was quantized."""
    dev, calibration = record["dev"], record.get("calibration") or {}
    examples = " ".join(str(calibration.get(key, "")) for key in ("size", "task", "split")) + " examples"
    method = f"{record['method']} calibration on {examples}" if record["method"] else "dynamic ranges"
    summary = (f"An INT8 copy of {describe_model(str(cfg.model))} made with {record['backend']} "
               f"({record['mode']}, {method}): "
               f"{record['quantized_nodes']} of {record['quantizable_nodes']} quantizable nodes run in INT8. On "
               f"{dev['task']} dev its {dev['metric']} is {100 * dev['int8']:.2f} against {100 * dev['fp32']:.2f} "
               f"in FP32; it is {record['size_bytes']['ratio'] or 0:.2f}x smaller and "
               f"{record['latency']['speedup']:.2f}x faster at batch 1 on the machine that made it.")
    settings = {"backend": record["backend"], "mode": record["mode"],
                "method": record["method"] or "none (dynamic ranges, computed per batch)",
                "calibration": (f"{examples} (seed {calibration.get('seed')}, max sequence length "
                                f"{calibration.get('max_seq_length')})") if calibration else "none",
                "max_drop": (f"{cfg.max_drop:g} points of {dev['metric']}" if cfg.max_drop is not None
                             else "not set (no accuracy guard)"),
                "kept in FP32 by the guard": record["excluded_layers"] or "none",
                "recipe": f"{RECIPE_FILE} (beside the model); quantization.json holds every figure"}
    return ModelCard(title=title, summary=summary, task=cfg.scored_task, metrics={dev["metric"]: dev["int8"]},
                     base_model=str(cfg.model), base_model_relation="quantized", license=cfg.license,
                     library="onnxruntime" if record["backend"] == "onnxruntime" else "pytorch",
                     tags=("int8", "quantized", record["backend"]), settings=settings,
                     command=f"quantize int8 --recipe {Path(cfg.output_dir) / RECIPE_FILE}")


def check_exclude(exclude: tuple[str, ...], names: list[str]) -> None:
    """Every excluded name must be one the backend can quantize; say which are not, with a guess."""
    known = set(names)
    unknown = [name for name in exclude if name not in known]
    if unknown:
        hints = [f"{name!r}" + (f" (did you mean {close[0]!r}?)" if (close := difflib.get_close_matches(name, names, 1))
                                else "") for name in unknown]
        raise UserError(f"exclude names {', '.join(hints)}, which the model does not have among its "
                        f"{len(names)} quantizable nodes (e.g. {names[0]!r}); fix the names")


def file_digests(folder: Path) -> dict[str, str]:
    """sha256 of every file of a finished folder: lets anyone check it is complete and unchanged."""
    digests = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digests[str(path.relative_to(folder))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests
