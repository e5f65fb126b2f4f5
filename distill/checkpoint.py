"""Output folders and checkpoints: refuse foreign runs, write atomically, resume exactly.

A run folder holds ``run_config.yaml`` (the resolved config) from its first moment, so a rerun
can tell "same run, resume" from "different run, refuse". A checkpoint is a folder
``checkpoints/step_N/`` with ``model.safetensors`` (every trainable weight: student and
projections), ``trainer_state.pt`` (optimizer, scheduler, step, best score, history; tensors and
plain containers only, so ``torch.load(weights_only=True)`` reads it), ``rng_rank{R}.pt`` (each
process's random state) and ``run_config.yaml``. It is written under a temporary name and renamed
into place, so a crash leaves either the previous checkpoint or the new one.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import torch
import yaml
from safetensors.torch import load_model, save_model

from eval.core.artifacts import folder_lock, write_atomic, write_failures
from eval.core.config import dump_yaml, from_dict, to_dict
from eval.core import safe_yaml
from eval.core.errors import UserError
from eval.core.outputs import check_config_apart

RUN_CONFIG = "run_config.yaml"
LOG_FILE = "train_log.jsonl"  # the training loop's record, kept when a run finishes
EVENTS_DIR = "tensorboard"  # the same figures as TensorBoard event files, kept likewise
WEIGHTS = "model.safetensors"
STATE = "trainer_state.pt"
# Fields that may change between a run and its resumption without changing the result (``license``
# only changes what the model card says).
_RESUMABLE_FIELDS = {("train", "device"), ("device",), ("train", "log_every"), ("train", "save_every"),
                     ("train", "checkpoint_limit"), ("train", "keep_checkpoints"), ("train", "eval_batch_size"),
                     ("train", "report_to"), ("license",)}


def _comparable(config: Any) -> dict:
    data = to_dict(config) if not isinstance(config, dict) else dict(config)
    data = yaml.safe_load(yaml.safe_dump(data))  # same normalisation as the file on disk
    for path in _RESUMABLE_FIELDS:
        node = data
        for key in path[:-1]:
            node = node.get(key, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict):
            node.pop(path[-1], None)
    return data


def prepare_output_dir(output_dir: str | Path, config: Any) -> bool:
    """Create the run folder, or accept it for resumption.

    Returns:
        ``True`` when the folder already holds this same run (resume), ``False`` for a new run.

    Raises:
        UserError: the folder holds a different run or unrelated files (nothing is touched).
    """
    folder = Path(output_dir)
    if folder.exists() and not folder.is_dir():
        raise UserError(f"output {folder} is a file; pass a folder to --output-dir")
    config_file = folder / RUN_CONFIG
    if config_file.is_file():
        check_contents(folder)
        saved = _saved_config(config_file, type(config))
        if saved is None and _holds_work(folder):
            raise UserError(f"{config_file} is corrupt, so this folder's run cannot be checked or resumed; "
                            f"restore it, or pass another --output-dir")
        if saved is not None and saved != _comparable(config) and _holds_work(folder):
            keys = _differences(saved, _comparable(config))
            raise UserError(f"output folder {folder} holds a different run (differs in {', '.join(keys[:4])}); "
                            f"pass another --output-dir, or delete that folder to start over")
        if _holds_work(folder):
            return True
        # A run that failed before its first checkpoint (a typo in a path, say) left only its
        # config: nothing to lose, so the corrected command starts afresh in the same folder.
    elif folder.is_dir() and any(folder.iterdir()):
        raise UserError(f"output folder {folder} is not empty and holds no run_config.yaml; pass an empty "
                        f"or new --output-dir")
    write_atomic(config_file, dump_yaml(config))
    return False


class claimed_output_dir:
    """Hold a run folder for a whole run: locked, prepared (new or resumed), and removed again when
    the run fails before writing anything but its config (bad data, a missing teacher...), so a
    failed start leaves nothing behind.

    Raises:
        UserError: another process holds the folder, or it holds a different run.
    """

    def __init__(self, output_dir: str | Path, config: Any):
        self.folder, self.config = Path(output_dir), config

    def __enter__(self) -> bool:
        check_config_apart(self.config)
        self.new = not self.folder.exists()
        self.lock = folder_lock(self.folder).__enter__()
        try:
            return prepare_output_dir(self.folder, self.config)
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise

    def __exit__(self, kind, *_) -> None:
        try:
            if kind is not None:
                remove_partial_writes(self.folder)
            if kind is not None and self.new and not _holds_work(self.folder):
                shutil.rmtree(self.folder, ignore_errors=True)
        finally:
            self.lock.__exit__(None, None, None)


# What a save leaves while it writes (a model folder, a checkpoint), before it renames into place.
PARTIAL_WRITES = (".tmp-model", "checkpoints/.tmp-step_*")


def remove_partial_writes(folder: Path) -> None:
    """Delete the half-written saves a failed run left (a full disk, a kill): they are never resumed
    from, and they must not make a run folder that holds nothing else look like work to keep."""
    for pattern in PARTIAL_WRITES:
        for path in [*folder.glob(pattern), *folder.glob(f"*/{pattern}")]:  # the run's and each phase's
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)


def _saved_config(path: Path, cls: type) -> dict | None:
    """A saved run config as the current config class reads it (fields added since get their defaults);
    ``None`` when the file is not a YAML mapping."""
    try:
        saved = safe_yaml.load(path.read_text(), str(path))
    except (UserError, UnicodeDecodeError):
        return None
    if not isinstance(saved, dict):
        return None
    if not dataclasses.is_dataclass(cls):
        return _comparable(saved)
    try:
        return _comparable(from_dict(cls, _comparable(saved)))
    except UserError:  # a field that no longer exists, or a value that is no longer valid
        return _comparable(saved)


# Files that run code when loaded (pickles). A run folder holds only the toolkit's own: the trainer
# state and random state of its checkpoints, read with ``torch.load(weights_only=True)``.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib")


def check_contents(folder: Path) -> None:
    """Refuse to resume a run folder holding what the toolkit never writes there: a symbolic link (a
    resumed run would append its log, or write its weights, wherever the link points) or a pickle
    outside a checkpoint (it would ship in the finished, "ready to ship" folder).

    Raises:
        UserError: naming the first such path and the fix.
    """
    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            raise UserError(f"run folder {folder} holds a symbolic link, {path}, which the toolkit never writes; "
                            f"remove it (or start in a new --output-dir) to resume")
        own = path.name == STATE or path.name.startswith("rng_rank")
        in_checkpoint = own and path.parent.parent.name == "checkpoints"
        if path.suffix.lower() in PICKLE_SUFFIXES and path.is_file() and not in_checkpoint:
            raise UserError(f"run folder {folder} holds {path}, a pickle file the toolkit never writes there; "
                            f"remove it (or start in a new --output-dir) to resume")


def _holds_work(folder: Path) -> bool:
    """Whether a run folder holds anything besides its config and logs (checkpoints, weights, parts)."""
    return any(p.is_file() and p.name not in (RUN_CONFIG, LOG_FILE) and EVENTS_DIR not in p.relative_to(folder).parts
               for p in folder.rglob("*"))


def _differences(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for key in sorted(set(a) | set(b), key=str):
            out += _differences(a.get(key), b.get(key), f"{prefix}{key}.")
        return out
    return [] if a == b else [prefix.rstrip(".") or "config"]


def checkpoint_dirs(folder: Path) -> list[Path]:
    """Complete checkpoints under ``folder/checkpoints``, oldest first."""
    root = folder / "checkpoints"
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and p.name.startswith("step_") and p.name[5:].isdigit()]
    return sorted(found, key=lambda p: int(p.name[5:]))


def save_checkpoint(folder: Path, step: int, module: torch.nn.Module, state: dict[str, Any], config: Any,
                    rank: int = 0, world_size: int = 1, keep: int = 2) -> Path:
    """Write ``folder/checkpoints/step_{step}`` atomically; keep the newest ``keep`` checkpoints.

    Every process calls this (each saves its own RNG state); rank 0 writes the rest and renames.
    """
    root = folder / "checkpoints"
    tmp = root / f".tmp-step_{step}"
    final = root / f"step_{step}"
    if rank == 0:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    _barrier(world_size)
    with write_failures(f"checkpoint {final}", root):
        torch.save(_rng_state(), tmp / f"rng_rank{rank}.pt")
    _barrier(world_size)
    if rank == 0:
        try:
            with write_failures(f"checkpoint {final}", root):
                save_model(module, str(tmp / WEIGHTS))
                torch.save(state, tmp / STATE)
                (tmp / RUN_CONFIG).write_text(dump_yaml(config))
        except BaseException:  # a full disk: leave the previous checkpoint, not half of this one
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        for old in checkpoint_dirs(folder)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    _barrier(world_size)
    return final


def load_checkpoint(path: Path, module: torch.nn.Module, rank: int = 0) -> dict[str, Any]:
    """Load weights into ``module``, restore this process's RNG, and return the trainer state.

    Raises:
        UserError: the checkpoint is incomplete, corrupt, or does not fit the model.
    """
    try:
        missing, unexpected = load_model(module, str(path / WEIGHTS), strict=False)
        state = torch.load(path / STATE, weights_only=True, map_location="cpu")
        rng_file = path / f"rng_rank{rank}.pt"
        rng = torch.load(rng_file if rng_file.is_file() else path / "rng_rank0.pt", weights_only=True)
    except Exception as err:  # safetensors, pickle and OS errors all mean the same to the user
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"cannot read checkpoint {path}: {first}; delete it to resume from the one before, "
                        f"or use a new --output-dir") from None
    if missing or unexpected:
        raise UserError(f"checkpoint {path} does not fit this model (missing {list(missing)[:3]}, "
                        f"unexpected {list(unexpected)[:3]}); use a new --output-dir")
    _set_rng_state(rng)
    return state


def _rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _barrier(world_size: int) -> None:
    if world_size > 1:
        torch.distributed.barrier()
