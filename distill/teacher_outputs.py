"""What a loss needs from the teacher, and where it comes from: a live forward pass or a stored one.

:class:`TeacherNeeds` names the teacher outputs a loss reads (hidden-state indices, attention
layers, logits). A stage asks its loss once, and the answer decides the source:

- logits alone: the teacher runs once over the training examples before the loop, and its
  logits stay in memory (the prediction phase then trains at the student's speed);
- hidden states or attention with ``teacher_cache`` set: the teacher runs once over the examples
  and every output is written to a memory-mapped store on disk, which later runs with other
  seeds, other student sizes or more epochs read instead of running the teacher again;
- otherwise the teacher runs on every batch (:class:`LiveTeacher`), as TinyBERT does, but in
  inference mode and on groups of similar-length examples, so it spends no work on padding.

A store built for hidden states or attention also keeps the logits (free in the same forward
pass), so the prediction phase that follows reads them instead of running the teacher again.
The store is keyed by the teacher's weights and the exact token ids, so a changed teacher or
other data never reads stale outputs. Hidden states and attention scores are stored in float16
(half the disk; targets differ from the live ones by float16 rounding only), logits in float32.
Building resumes after an interruption, and a lock lets two runs share one store safely.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from distill.features import Features, extract, model_inputs
from eval.core.artifacts import folder_lock, read_array, write_json
from eval.batching import Encoded, length_sorted_batches
from eval.core.errors import UserError

TeacherSource = Callable[[dict[str, torch.Tensor]], Features]
SELF_ATTENTION = ("query", "key", "value")  # token-shaped outputs, stored like hidden states
STORE_VERSION = 1
_MANIFEST = "manifest.json"
_PROGRESS = "progress.json"
_FLUSH_EVERY = 50  # batches between progress records while building
# The fixed cost of one more teacher forward call, in padded tokens, when a batch is split into
# groups of similar length. Measured on CPU with MiniLM-L6 (benchmarks/distill_speed/); the
# split is rarely sensitive to it, since a few groups already remove most of the padding.
GROUP_OVERHEAD_TOKENS = 64


@dataclass(frozen=True)
class TeacherNeeds:
    """The teacher outputs a loss reads.

    Attributes:
        hidden: hidden-state indices (0 is the embedding output).
        attention: layer numbers (1-based) whose pre-softmax scores are compared.
        head_mean: attention is compared averaged over heads, so only the mean is kept.
        logits: the prediction layer's output.
        self_attention: layer numbers (1-based) whose queries, keys and values are compared (relations).
    """

    hidden: tuple[int, ...] = ()
    attention: tuple[int, ...] = ()
    head_mean: bool = False
    logits: bool = False
    self_attention: tuple[int, ...] = ()

    @property
    def intermediate(self) -> bool:
        return bool(self.hidden or self.attention or self.self_attention)

    def outputs(self) -> list[str]:
        """Names of the stored arrays these needs read."""
        heads = "mean" if self.head_mean else "all"
        return ([f"hidden-{i}" for i in self.hidden] + [f"attention-{i}-{heads}" for i in self.attention]
                + [f"{part}-{i}" for i in self.self_attention for part in SELF_ATTENTION]
                + (["logits"] if self.logits else []))


class LiveTeacher:
    """The teacher's forward pass on every batch, returning only what the loss reads.

    Two things make it cheaper than one forward over the padded batch, without changing a target
    beyond float rounding:

    - inference mode (the outputs are targets, never differentiated; the losses only read them,
      so autograd never needs to save them);
    - the batch is split into groups of similar length (:func:`length_groups`), each padded only
      to its own longest example. A shuffled GLUE batch is mostly padding (SST-2, batches of 32:
      a third of the padded tokens are real), and the teacher's cost grows with padded tokens.
      Real tokens see the same keys either way (padding is masked out of attention), so their
      outputs agree up to float rounding; padded positions come back as zeros, which the losses
      ignore (they average over real tokens only).

    Returned features are sparse like a store's: ``hidden_states[i]`` is set only for the needed
    indices, attention scores only for the needed layers (averaged over heads, ``[batch, 1, seq,
    seq]``, when ``needs.head_mean``), logits only when needed.
    """

    def __init__(self, teacher: nn.Module, needs: TeacherNeeds, group_overhead: int = GROUP_OVERHEAD_TOKENS):
        self.teacher, self.needs, self.group_overhead = teacher, needs, group_overhead

    def __call__(self, batch: dict[str, torch.Tensor]) -> Features:
        mask = batch["attention_mask"]
        lengths = mask.sum(dim=1).tolist()
        with torch.inference_mode():
            parts = [(rows, self._forward({k: v[rows, :width] for k, v in model_inputs(batch).items()}))
                     for rows, width in length_groups(lengths, self.group_overhead)]
            return _merge(parts, mask, self.needs)

    def _forward(self, batch: dict[str, torch.Tensor]) -> dict[str, dict[int, torch.Tensor]]:
        """The needed outputs of one group: ``{"hidden": {index: ...}, "attention": {layer: ...}, "logits": ...}``."""
        needs = self.needs
        features = extract(self.teacher, batch, hidden=bool(needs.hidden), attention=bool(needs.attention),
                           self_attention=needs.self_attention)
        attention = {layer: features.attention_scores[layer - 1] for layer in needs.attention}
        if needs.head_mean:
            attention = {layer: scores.mean(dim=1, keepdim=True) for layer, scores in attention.items()}
        vectors = {part: {layer: features.self_attention[layer][n] for layer in needs.self_attention}
                   for n, part in enumerate(SELF_ATTENTION)}
        return {"hidden": {i: features.hidden_states[i] for i in needs.hidden}, "attention": attention,
                "logits": {0: features.logits} if needs.logits else {}, **vectors}


def length_groups(lengths: list[int], overhead: int = GROUP_OVERHEAD_TOKENS) -> list[tuple[torch.Tensor, int]]:
    """Split a batch into groups of similar length: ``(rows, width)`` pairs that cover every row once.

    Minimises the padded tokens of all groups plus ``overhead`` tokens per group (the fixed cost
    of one more forward call), exactly, by dynamic programming over the rows sorted by length
    (the best groups of a sorted list are contiguous runs of it).

    Args:
        lengths: real tokens of each row of the batch.
        overhead: the cost of a forward call, in tokens; larger values give fewer, wider groups.

    Returns:
        Groups, longest first; ``rows`` index the batch, ``width`` is the group's longest length.
    """
    order = sorted(range(len(lengths)), key=lambda r: -lengths[r])
    widths = [max(1, lengths[r]) for r in order]
    best = [0.0] + [float("inf")] * len(order)  # best[j]: cost of grouping the j longest rows
    cut = [0] * (len(order) + 1)
    for end in range(1, len(order) + 1):
        for start in range(end):
            cost = best[start] + (end - start) * widths[start] + overhead
            if cost < best[end]:
                best[end], cut[end] = cost, start
    groups, end = [], len(order)
    while end:
        groups.append((torch.tensor(order[cut[end]:end], dtype=torch.long), widths[cut[end]]))
        end = cut[end]
    return groups[::-1]


def _merge(parts: list[tuple[torch.Tensor, dict]], mask: torch.Tensor, needs: TeacherNeeds) -> Features:
    """The groups' outputs put back in batch order, zero-padded to the batch's width."""
    count, width = mask.shape

    def gather(kind: str, index: int) -> torch.Tensor:
        first = parts[0][1][kind][index]
        shape = {"attention": (count, first.shape[1], width, width),
                 "logits": (count, first.shape[-1])}.get(kind, (count, width, first.shape[-1]))  # token-shaped
        out = first.new_zeros(shape)
        for rows, outputs in parts:
            value = outputs[kind][index]  # a group is narrower than the batch: it fills the leading positions
            out[(rows, *(slice(0, size) for size in value.shape[1:]))] = value
        return out

    return Features(
        attention_mask=mask,
        hidden_states=tuple(_sparse({i: gather("hidden", i) for i in needs.hidden})) if needs.hidden else None,
        attention_scores=tuple(_sparse({layer - 1: gather("attention", layer) for layer in needs.attention}))
        if needs.attention else None,
        logits=gather("logits", 0) if needs.logits else None,
        self_attention={layer: tuple(gather(part, layer) for part in SELF_ATTENTION) for layer in needs.self_attention}
        if needs.self_attention else None,
    )


def _sparse(by_index: dict[int, torch.Tensor]) -> list[torch.Tensor | None]:
    """A list indexable like ``hidden_states``: the given entries, ``None`` elsewhere."""
    out: list[torch.Tensor | None] = [None] * (max(by_index) + 1 if by_index else 0)
    for index, value in by_index.items():
        out[index] = value
    return out


def teacher_source(teacher: nn.Module, needs: TeacherNeeds, encoded: Encoded, cache_dir: str | None,
                   batch_size: int, device: str) -> tuple[TeacherSource, float | None]:
    """The cheapest correct source of ``needs`` for training on ``encoded``.

    Returns:
        The source (``batch -> Features``; batches carry ``rows``, their example positions) and
        the seconds spent running the teacher ahead of training (``None`` for a live teacher).
    """
    if cache_dir is None and needs.intermediate:
        return LiveTeacher(teacher, needs), None
    started = time.perf_counter()
    if cache_dir is None:
        store: OutputStore = MemoryStore(teacher, needs, encoded, batch_size, device)
    else:
        store = DiskStore.open(Path(cache_dir), teacher, needs, encoded, batch_size, device)
    return store.features, time.perf_counter() - started


class OutputStore:
    """Teacher outputs for every example of a fixed set, read back as padded batches."""

    needs: TeacherNeeds
    lengths: np.ndarray
    arrays: dict[str, np.ndarray]

    def features(self, batch: dict[str, torch.Tensor]) -> Features:
        rows = batch["rows"].cpu().numpy()
        width = batch["input_ids"].shape[1]
        device = batch["input_ids"].device
        hidden = _sparse({i: self._tokens(f"hidden-{i}", rows, width) for i in self.needs.hidden})
        heads = "mean" if self.needs.head_mean else "all"
        attention = {i: self._squares(f"attention-{i}-{heads}", rows, width) for i in self.needs.attention}
        to = lambda t: None if t is None else t.to(device)  # noqa: E731
        return Features(
            attention_mask=batch["attention_mask"],
            hidden_states=tuple(map(to, hidden)) if self.needs.hidden else None,
            attention_scores=tuple(map(to, _sparse({i - 1: a for i, a in attention.items()})))
            if self.needs.attention else None,
            logits=to(torch.from_numpy(np.asarray(self.arrays["logits"][rows], dtype=np.float32)))
            if self.needs.logits else None,
            self_attention={layer: tuple(to(self._tokens(f"{part}-{layer}", rows, width)) for part in SELF_ATTENTION)
                            for layer in self.needs.self_attention} if self.needs.self_attention else None,
        )

    def _tokens(self, name: str, rows: np.ndarray, width: int) -> torch.Tensor:
        array, starts = self.arrays[name], self.token_offsets
        out = np.zeros((len(rows), width, array.shape[-1]), dtype=np.float32)
        for n, row in enumerate(rows):
            out[n, : self.lengths[row]] = array[starts[row]:starts[row + 1]]
        return torch.from_numpy(out)

    def _squares(self, name: str, rows: np.ndarray, width: int) -> torch.Tensor:
        array, starts, heads = self.arrays[name], self.square_offsets(name), self.heads(name)
        out = np.zeros((len(rows), heads, width, width), dtype=np.float32)
        for n, row in enumerate(rows):
            length = int(self.lengths[row])
            out[n, :, :length, :length] = array[starts[row]:starts[row + 1]].reshape(heads, length, length)
        return torch.from_numpy(out)

    @property
    def token_offsets(self) -> np.ndarray:
        return _offsets(self.lengths)

    def square_offsets(self, name: str) -> np.ndarray:
        return _offsets(self.heads(name) * self.lengths.astype(np.int64) ** 2)

    def heads(self, name: str) -> int:
        return 1 if name.endswith("-mean") else self.teacher_heads


class MemoryStore(OutputStore):
    """Logits of every example, computed once and kept in memory (no disk)."""

    def __init__(self, teacher: nn.Module, needs: TeacherNeeds, encoded: Encoded, batch_size: int, device: str):
        if needs.intermediate:
            raise ValueError("MemoryStore keeps logits only; use DiskStore for hidden states and attention")
        self.needs, self.lengths = needs, encoded.lengths
        self.arrays = {"logits": np.zeros((len(encoded), teacher.config.num_labels), dtype=np.float32)}
        batches = tqdm(_teacher_pass(teacher, needs, encoded, batch_size, device), desc="teacher logits",
                       unit="batch", total=-(-len(encoded) // batch_size))
        for rows, features in batches:
            self.arrays["logits"][rows] = features.logits.float().cpu().numpy()


class DiskStore(OutputStore):
    """Teacher outputs on disk under ``root/<key>/``, one ``.npy`` file per output, memory-mapped."""

    def __init__(self, folder: Path, needs: TeacherNeeds, lengths: np.ndarray, teacher_heads: int):
        self.folder, self.needs, self.lengths, self.teacher_heads = folder, needs, lengths, teacher_heads
        fix = f"delete {folder} and re-run (the store is rebuilt)"
        self.arrays = {name: read_array(folder / f"{name}.npy", fix) for name in needs.outputs()}

    @classmethod
    def open(cls, root: Path, teacher: nn.Module, needs: TeacherNeeds, encoded: Encoded, batch_size: int,
             device: str) -> "DiskStore":
        """Open the store of this teacher and these inputs, first computing any output it lacks."""
        folder = root / store_key(teacher, encoded)
        with folder_lock(folder, what="teacher-output build", wait=True):  # one run builds, the others wait
            manifest = _read_manifest(folder)
            wanted = needs.outputs()
            if needs.intermediate and hasattr(teacher, "classifier") and "logits" not in wanted:
                wanted.append("logits")  # free in the same forward pass; a later prediction phase reads them
            missing = [name for name in wanted if name not in manifest.get("outputs", [])]
            if missing:
                _build(folder, teacher, needs, encoded, missing, batch_size, device)
                manifest = {"version": STORE_VERSION, "examples": len(encoded),
                            "teacher_heads": teacher.config.num_attention_heads,
                            "outputs": sorted({*manifest.get("outputs", []), *missing})}
                np.save(folder / "lengths.npy", encoded.lengths)
                write_json(folder / _MANIFEST, manifest)
        return cls(folder, needs, encoded.lengths, int(manifest["teacher_heads"]))


def store_key(teacher: nn.Module, encoded: Encoded) -> str:
    """A digest of the teacher's weights and the exact inputs: a store is valid for both or neither."""
    digest = hashlib.sha256(f"v{STORE_VERSION}".encode())
    for name, tensor in sorted(teacher.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    for ids, types in zip(encoded.input_ids, encoded.token_type_ids):
        digest.update(np.asarray(ids, dtype=np.int64).tobytes() + b"|" + np.asarray(types, dtype=np.int8).tobytes())
    return digest.hexdigest()[:20]


def _read_manifest(folder: Path) -> dict:
    path = folder / _MANIFEST
    if not path.is_file():
        return {}
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        manifest = None
    if not isinstance(manifest, dict) or manifest.get("version") != STORE_VERSION:
        raise UserError(f"teacher-output store {folder} is corrupt or from another version; delete that "
                        f"folder and re-run (it is rebuilt)")
    return manifest


def _build(folder: Path, teacher: nn.Module, needs: TeacherNeeds, encoded: Encoded, names: list[str],
           batch_size: int, device: str) -> None:
    """One teacher pass writing ``names`` (resumes a pass that was interrupted)."""
    partial = folder / ".partial"
    progress = _read_progress(partial, names)
    if progress is None:
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        progress = {"outputs": names, "batches": 0}
        write_json(partial / _PROGRESS, progress)
    shapes = _shapes(teacher, encoded, names)
    _check_free_space(folder, partial, shapes)
    arrays = {name: np.lib.format.open_memmap(partial / f"{name}.npy", mode="r+" if progress["batches"] else "w+",
                                              dtype=dtype, shape=shape)
              for name, (shape, dtype) in shapes.items()}
    token_starts = _offsets(encoded.lengths)
    square_starts = {n: _offsets((teacher.config.num_attention_heads if n.endswith("-all") else 1)
                                 * encoded.lengths.astype(np.int64) ** 2) for n in names if n.startswith("attention")}
    pass_needs = _needs_of(names, needs.head_mean)
    done = progress["batches"]
    batches = _teacher_pass(teacher, pass_needs, encoded, batch_size, device, skip=done)
    for number, (rows, features) in enumerate(tqdm(batches, desc="teacher outputs", unit="batch",
                                                     total=-(-len(encoded) // batch_size), initial=done), done + 1):
        for name, array in arrays.items():
            _write(name, array, rows, features, encoded.lengths, token_starts, square_starts.get(name))
        if number % _FLUSH_EVERY == 0:
            _flush(arrays, partial, names, number)
    _flush(arrays, partial, names, -1)
    for name in names:
        (partial / f"{name}.npy").replace(folder / f"{name}.npy")
    shutil.rmtree(partial)


def _check_free_space(folder: Path, partial: Path, shapes: dict[str, tuple[tuple[int, ...], type]]) -> None:
    """Refuse a build the disk cannot hold, before writing anything.

    The arrays are memory-mapped: on a full disk a write into one would kill the process (SIGBUS)
    with no message and no progress record, so the space is checked up front. Blocks that an
    interrupted build already wrote count as used.
    """
    wanted = sum(int(np.prod(shape)) * np.dtype(dtype).itemsize for shape, dtype in shapes.values())
    written = sum(f.stat().st_blocks * 512 for f in partial.glob("*.npy"))
    needed, free = wanted - written, shutil.disk_usage(partial).free
    if needed > free:
        raise UserError(f"the teacher-output store needs {needed / 1e9:.1f} GB more in {folder}, and the disk has "
                        f"{free / 1e9:.1f} GB free; free space, point teacher_cache at a larger disk, or leave "
                        f"teacher_cache unset (the teacher then runs on every batch)")


def _read_progress(partial: Path, names: list[str]) -> dict | None:
    try:
        progress = json.loads((partial / _PROGRESS).read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    return progress if progress.get("outputs") == names and progress.get("batches", 0) >= 0 else None


def _flush(arrays: dict[str, np.ndarray], partial: Path, names: list[str], batches: int) -> None:
    for array in arrays.values():
        array.flush()
    write_json(partial / _PROGRESS, {"outputs": names, "batches": batches})


def _needs_of(names: list[str], head_mean: bool) -> TeacherNeeds:
    def layers(prefix: str) -> tuple[int, ...]:
        return tuple(sorted({int(n.split("-")[1]) for n in names if n.split("-")[0] in prefix}))

    return TeacherNeeds(layers(("hidden",)), layers(("attention",)), head_mean, "logits" in names,
                        layers(SELF_ATTENTION))


def _shapes(teacher: nn.Module, encoded: Encoded, names: list[str]) -> dict[str, tuple[tuple[int, ...], type]]:
    config = teacher.config
    tokens = int(encoded.lengths.sum())
    squares = int((encoded.lengths.astype(np.int64) ** 2).sum())
    shapes = {}
    for name in names:
        if name == "logits":
            shapes[name] = ((len(encoded), config.num_labels), np.float32)
        elif name.split("-")[0] in ("hidden", *SELF_ATTENTION):
            shapes[name] = ((tokens, config.hidden_size), np.float16)
        else:
            heads = config.num_attention_heads if name.endswith("-all") else 1
            shapes[name] = ((heads * squares,), np.float16)
    return shapes


def _write(name: str, array: np.ndarray, rows: np.ndarray, features: Features, lengths: np.ndarray,
           token_starts: np.ndarray, square_starts: np.ndarray | None) -> None:
    if name == "logits":
        array[rows] = features.logits.float().cpu().numpy()
        return
    kind, index = name.split("-")[0], int(name.split("-")[1])
    if kind in ("hidden", *SELF_ATTENTION):
        source = (features.hidden_states[index] if kind == "hidden"
                  else features.self_attention[index][SELF_ATTENTION.index(kind)])
        values = source.float().cpu().numpy()
        for n, row in enumerate(rows):
            array[token_starts[row]:token_starts[row + 1]] = values[n, : lengths[row]]
        return
    scores = features.attention_scores[index - 1].float()
    if name.endswith("-mean"):
        scores = scores.mean(dim=1, keepdim=True)
    scores = scores.cpu().numpy()
    for n, row in enumerate(rows):
        length = int(lengths[row])
        array[square_starts[row]:square_starts[row + 1]] = scores[n, :, :length, :length].reshape(-1)


def _teacher_pass(teacher: nn.Module, needs: TeacherNeeds, encoded: Encoded, batch_size: int, device: str,
                  skip: int = 0):
    """``(rows, Features)`` for every example, in length-sorted batches (little padding)."""
    live = LiveTeacher(teacher, needs)
    for number, (rows, padded) in enumerate(length_sorted_batches(encoded, batch_size)):
        if number < skip:
            continue
        inputs = {k: torch.from_numpy(v).to(device) for k, v in padded.items()}
        yield rows, live(inputs)


def _offsets(sizes: np.ndarray) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(np.asarray(sizes, dtype=np.int64))])
