"""A stage's output folder from start to finish: lock, resume or refuse, save the model, record, tidy up.

Every `distill` stage reads the same way::

    with RunFolder.start(cfg, cfg.train) as run:
        if run.finished:
            return run.out
        ... build the model and data, then loop.train(...) ...
        return run.finish("finetune", result, task, model=model, tokenizer=tokenizer)

``finish`` writes ``metrics.json`` (the run's record, with ``"completed": true``), a model card,
makes every file readable by others (0644), and removes training checkpoints unless the config
keeps them: resuming needs them only while the run is unfinished.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import nn

from distill.checkpoint import EVENTS_DIR, LOG_FILE, RUN_CONFIG, claimed_output_dir
from distill.config import TrainSettings
from distill.loop import Distributed, setup_distributed
from eval.core.artifacts import provenance, share_files, write_failures, write_json
from eval.core.config import to_dict
from eval.core.console import warn
from eval.core.errors import UserError
from eval.metrics import COLLAPSE_SHARE
from eval.core.model_card import CARD_FILE, ModelCard, card_header, write_model_card

METRICS = "metrics.json"
PHASE_DONE = "phase.json"


class RunFolder:
    """One stage's output folder, held under a lock for the whole run (rank 0 under ``torchrun``)."""

    def __init__(self, out: Path, cfg: Any, dist: Distributed):
        self.out, self.cfg, self.dist = out, cfg, dist
        self._claim: claimed_output_dir | None = None

    @classmethod
    def start(cls, cfg: Any, train: TrainSettings | None = None, device: str = "auto") -> "RunFolder":
        dist = setup_distributed(train.device if train else device)
        return cls(Path(cfg.output_dir), cfg, dist)

    def __enter__(self) -> "RunFolder":
        if self.dist.is_main:
            claim = claimed_output_dir(self.out, self.cfg)
            claim.__enter__()
            self._claim = claim
        self.barrier()
        return self

    def __exit__(self, *exc) -> None:
        if self._claim is not None:
            self._claim.__exit__(*exc)

    @property
    def finished(self) -> bool:
        return is_finished(self.out)

    def tidy(self, stage: str, task=None, summary: str | None = None, base_model: str | None = None,
             tags: tuple[str, ...] = (), base_model_relation: str | None = None) -> Path:
        """A finished run's folder made ready to ship, if an older version of the toolkit left it
        otherwise: its model card written (rewritten when the config now names another license),
        checkpoints removed (unless kept), files shared."""
        if self.dist.is_main:
            record = json.loads((self.out / METRICS).read_text())
            best = {"metrics": record["dev"], "step": record.get("best_step")} if record.get("dev") else None
            license = getattr(self.cfg, "license", None)
            relicensed = license is not None and card_header(self.out).get("license") != license
            if summary is not None and (relicensed or not (self.out / CARD_FILE).is_file()):
                write_model_card(self.out, self._card(stage, summary, task, best, base_model, tags,
                                                      base_model_relation))
            if not getattr(getattr(self.cfg, "train", None), "keep_checkpoints", False):
                remove_checkpoints(self.out)
            share_files(self.out)
        self.barrier()
        return self.out

    def save_model(self, model: nn.Module, tokenizer, folder: Path | None = None) -> None:
        """``save_pretrained`` model and tokenizer into ``folder`` (default: the run folder), atomically per file."""
        if self.dist.is_main:
            save_model_folder(model, tokenizer, folder or self.out)

    def finish(self, stage: str, result: dict, task=None, summary: str | None = None, base_model: str | None = None,
               tags: tuple[str, ...] = (), base_model_relation: str | None = None) -> Path:
        """Record the finished run, write its model card (when ``summary`` is given), tidy the folder.

        Returns:
            The run folder.
        """
        if self.dist.is_main:
            best = result.get("best")
            warn_if_collapsed(best, task)
            record = {
                "stage": stage, "completed": True, "task": task.name if task else None,
                "main_metric": task.main_metric if task else None,
                "dev": best["metrics"] if best else None, "best_step": best["step"] if best else None,
                "steps": result.get("steps"), "history": result.get("history"),
                "last_log": result.get("last_log"), "throughput": result.get("throughput"),
                **{key: result[key] for key in ("phases", "details") if key in result},
                "config": to_dict(self.cfg), **provenance(),
            }
            if summary is not None:
                write_model_card(self.out, self._card(stage, summary, task, best, base_model, tags,
                                                      base_model_relation))
            keep = getattr(getattr(self.cfg, "train", None), "keep_checkpoints", False)
            if not keep:
                remove_checkpoints(self.out)
            share_files(self.out)
            write_json(self.out / METRICS, record)  # last: its "completed" marks the whole folder done
        self.barrier()
        return self.out

    def _card(self, stage: str, summary: str, task, best: dict | None, base_model: str | None,
              tags: tuple[str, ...], base_model_relation: str | None = None) -> ModelCard:
        train = getattr(self.cfg, "train", None)
        settings = {"stage": f"distill {stage}", "recipe": f"{RUN_CONFIG} (beside the weights)"}
        if train is not None:
            settings.update({"learning rate": train.lr, "batch size": train.batch_size,
                             "max sequence length": train.max_seq_length, "seed": train.seed})
        if best:
            settings["dev evaluation step kept"] = best["step"]
        return ModelCard(title=self.out.name, summary=summary, task=task, metrics=best["metrics"] if best else None,
                         base_model=base_model, base_model_relation=base_model_relation,
                         license=getattr(self.cfg, "license", None), tags=tags, settings=settings,
                         command=f"distill {stage} --recipe {self.out / RUN_CONFIG}")

    def barrier(self) -> None:
        if self.dist.world_size > 1:
            torch.distributed.barrier()


def warn_if_collapsed(best: dict | None, task) -> None:
    """Say so when the kept model predicts one class for (almost) every dev example: it learned the prior."""
    share = (best or {}).get("majority_share")
    if share is not None and share >= COLLAPSE_SHARE:
        warn(f"the best {task.display_name} model predicts one class for {100 * share:.1f}% of the dev examples "
             f"(its metrics are those of a constant predictor); train longer, raise the learning rate, or check "
             f"the labels")


def is_finished(out: Path) -> bool:
    """Whether ``out`` holds a completed run (its ``metrics.json`` says so)."""
    metrics = Path(out) / METRICS
    if not metrics.is_file():
        return False
    try:
        return bool(json.loads(metrics.read_text()).get("completed", False))
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        raise UserError(f"{metrics} is corrupt; delete it to let the run resume from its last checkpoint") from None


def save_model_folder(model: nn.Module, tokenizer, folder: Path) -> None:
    """``save_pretrained`` model and tokenizer into ``folder``, each file replaced atomically."""
    tmp = folder / ".tmp-model"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        with write_failures(f"the model in {folder}", folder):
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
    except BaseException:  # a full disk: no half-written model beside the run's files
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    share_files(tmp)
    for file in tmp.iterdir():
        os.replace(file, folder / file.name)
    tmp.rmdir()


def remove_checkpoints(out: Path) -> None:
    """Delete what only resuming needs, once a run has finished: its checkpoints, and the weights its
    earlier phases kept. The run folder and each phase folder keep their records: ``phase.json``,
    the training log and its TensorBoard event files (``tensorboard/``)."""
    shutil.rmtree(out / "checkpoints", ignore_errors=True)
    for phase in (p.parent for p in out.glob(f"*/{PHASE_DONE}")):
        for path in phase.iterdir():
            if path.name not in (PHASE_DONE, LOG_FILE, EVENTS_DIR):
                shutil.rmtree(path) if path.is_dir() else path.unlink()
