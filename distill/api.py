"""Library entry points, one per command: ``finetune``, ``general_distill``, ``task_distill``, ``augment``, ``cut``,
``pick``.

Each takes a validated config (:mod:`distill.config`), writes one output folder (loadable with
``from_pretrained``, plus ``run_config.yaml``, ``metrics.json`` and a model card) and returns its
path. Rerunning the same config resumes from the last checkpoint; a finished run returns at once.
"""

from __future__ import annotations

from pathlib import Path

from distill import augment as _augment
from distill.config import AugmentConfig, CutConfig, PickConfig
from distill.cut import write_cut
from distill.finetuning import finetune
from distill.general_distill import general_distill
from distill.best_run import pick as _pick
from distill.task_distill import task_distill

__all__ = ["augment", "cut", "finetune", "general_distill", "pick", "task_distill"]


def augment(cfg: AugmentConfig) -> Path:
    """TinyBERT data augmentation of a task's training split (cached in parts, resumable)."""
    return _augment.run(cfg)


def cut(cfg: CutConfig) -> Path:
    """A student cut from a model: its embeddings, head and ``cfg.layers`` of its layers."""
    return write_cut(cfg.model, cfg.layers, cfg.output_dir, license=cfg.license)


def pick(cfg: PickConfig) -> Path:
    """The best of ``cfg.candidates`` (finished runs of one task) by dev score, copied to ``cfg.output_dir``."""
    return _pick(cfg.candidates, cfg.output_dir)
