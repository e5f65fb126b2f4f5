"""Accuracy guard: keep the most sensitive layers in FP32 until INT8 is within ``max_drop``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Mapping

Build = Callable[[tuple[str, ...]], object]  # excluded node names -> an INT8 model (path, module)
Score = Callable[[object], float]  # model -> the task's main metric, as a fraction
Probe = Callable[[object], float]  # model -> closeness to FP32 on a few dev examples (higher is closer)


@dataclass(frozen=True)
class GuardResult:
    """What the guard tried and what it kept.

    ``model`` is the last INT8 model built: the one that fits, or (when nothing fits) the one
    with every candidate layer in FP32. Metrics are fractions; drops are in points (x100).
    """

    model: object
    fp32_metric: float
    int8_metric: float
    excluded_layers: tuple[str, ...]
    excluded_nodes: tuple[str, ...]
    fits: bool
    sensitivity: dict[str, float] = field(default_factory=dict)  # group -> probe (or metric) with it FP32
    steps: list[dict] = field(default_factory=list)

    @property
    def drop_points(self) -> float:
        return drop_points(self.fp32_metric, self.int8_metric)

    def record(self, max_drop: float | None, task) -> dict:
        """The guard's part of ``quantization.json``: exclusions, every attempt, FP32 vs INT8 on dev."""
        return {
            "excluded_nodes": list(self.excluded_nodes),
            "excluded_layers": list(self.excluded_layers),
            "guard": {"max_drop": max_drop, "fits": self.fits, "sensitivity": self.sensitivity,
                      "steps": self.steps},
            "dev": {"task": task.name, "split": "dev", "metric": task.main_metric,
                    "fp32": self.fp32_metric, "int8": self.int8_metric, "drop_points": self.drop_points},
        }


def layer_of(node_name: str) -> str:
    """The transformer block a node belongs to (``layer.3``), or its top-level module."""
    match = re.search(r"layer\.(\d+)", node_name)
    if match:
        return f"layer.{match.group(1)}"
    parts = [p for p in re.split(r"[/.]", node_name) if p and p not in ("bert", "roberta", "distilbert")]
    return parts[0] if parts else node_name


def guard_groups(names: list[str], excluded: tuple[str, ...], granularity: str) -> dict[str, list[str]]:
    """What the guard may keep in FP32, in model order: single ops, or whole layers."""
    groups: dict[str, list[str]] = {}
    for name in names:
        if name not in excluded:
            groups.setdefault(name if granularity == "op" else layer_of(name), []).append(name)
    return groups


def drop_points(fp32_metric: float, int8_metric: float) -> float:
    return 100.0 * (fp32_metric - int8_metric)


def run_guard(groups: Mapping[str, list[str]], build: Build, score: Score, fp32_metric: float,
              max_drop: float | None, base: tuple[str, ...] = (), probe: Probe | None = None) -> GuardResult:
    """Quantize everything; if the drop exceeds ``max_drop``, fall back group by group.

    Sensitivity of a group (a layer, or one op) = how close to FP32 the model gets when only that
    group stays FP32: ``probe`` (e.g. logit SNR on a few dev examples) when given, else the full
    dev metric. Groups are then kept in FP32 in order of decreasing sensitivity, one more at a
    time, each step scored on the full dev split, until the drop fits. At most
    ``2 * len(groups) + 1`` builds, each cheap when calibration is cached.

    Args:
        groups: group name -> the node (or module) names it owns, in model order.
        build: builds an INT8 model with the given names kept in FP32.
        score: the task's main metric of a model on its dev split.
        fp32_metric: the FP32 model's metric.
        max_drop: allowed loss in points; ``None`` quantizes everything and only scores it.
        base: names the user already excluded; always kept in FP32.
        probe: a cheaper closeness measure used only to rank groups.
    """
    model = build(base)
    metric = score(model)
    steps = [{"excluded_layers": [], "metric": metric}]
    if max_drop is None or drop_points(fp32_metric, metric) <= max_drop:
        return GuardResult(model, fp32_metric, metric, (), base, True, steps=steps)
    rank_by = probe or score
    sensitivity = {layer: rank_by(build(base + tuple(names))) for layer, names in groups.items()}
    ranked = sorted(sensitivity, key=lambda layer: -sensitivity[layer])  # stable: model order on ties
    excluded: list[str] = []
    nodes = base
    for layer in ranked:
        excluded.append(layer)
        nodes = base + tuple(n for name in excluded for n in groups[name])
        model = build(nodes)
        metric = score(model)
        steps.append({"excluded_layers": list(excluded), "metric": metric})
        if drop_points(fp32_metric, metric) <= max_drop:
            return GuardResult(model, fp32_metric, metric, tuple(excluded), nodes, True, sensitivity, steps)
    return GuardResult(model, fp32_metric, metric, tuple(excluded), nodes, False, sensitivity, steps)
