"""Distillation and augmentation speed against the peers, side by side (issue 14): every figure in one run.

Run from the repository root (about an hour on two shared cores):

    OMP_NUM_THREADS=1 python -m benchmarks.distill_speed --teacher /work/main/runs/glue/teacher-sst2

Writes ``benchmarks/results/distill_speed.json`` and renders ``docs/speed.md`` from it
(``--render`` re-renders the page from the JSON alone). Needs ``pip install --no-deps
textbrewer==0.2.1.post1 tensorboard absl-py`` (the ``bench`` extra).

Setting: SST-2 (the first ``--examples`` training examples, dev split for accuracy), the fine-tuned
MiniLM-L6 teacher, the ``tiny`` student (same initial weights everywhere), uniform layer map,
batch 32, length 64, AdamW at 3e-4 with 10% linear warmup then linear decay, seed 42. Systems:

- ``toolkit``: ``distill task`` (``api.task_distill``) of this tree: intermediate phase (embedding,
  hidden and attention losses, live teacher) then prediction phase (soft cross-entropy on teacher
  logits computed once before the loop);
- ``toolkit before``: the same command on ``BEFORE_REVISION`` (the branch point, exported with
  ``git archive``): padded teacher forward under ``no_grad`` and the for-loop AdamW;
- ``toolkit + store``: ``teacher_cache`` set, the store already built (a later seed or student
  reading it); the one-off build is timed separately;
- ``textbrewer``: TextBrewer 0.2.1 configured as the toolkit's phases through its documented
  adaptors and ``intermediate_matches`` (``GeneralDistiller``), then ``BasicDistiller`` with
  ``is_caching_logits`` for the prediction phase (its own speed feature); see ``TEXTBREWER_NOTES``;
- ``parts``: the sum-of-parts limit: teacher forward alone, and student forward + backward alone
  (and its optimizer step), on the same batches; and the teacher's forward in ONNX Runtime.

Each measurement runs in a process of its own (a clean thread count, and another source tree for
``before``); rounds interleave the systems, reversing the order every round, and the figures are
medians over rounds, quoted as ratios; the load average is recorded beside each. Loop
throughput is the training loop's own clock (the toolkit's meter; for TextBrewer, the time between
the first and the last step, taken by its documented ``batch_postprocessor`` hook); phase
throughput adds the teacher pass made before the loop. Augmentation: ``distill augment`` against
``reference_augment`` below, a re-implementation of the loop of TinyBERT's reference
``data_augmentation.py``, on the same 1,000 sentences with the same candidate source and settings.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script in a cell process: `benchmarks` from the tree on PYTHONPATH
    sys.path.append(str(ROOT))

from benchmarks.shared_data import GLUE_TSV, RESULTS, RUNS  # noqa: E402

RESULT = RESULTS / "distill_speed.json"
PAGE = ROOT / "docs" / "speed.md"
WORK = ROOT / "benchmarks" / "work" / "distill_speed"
BEFORE_REVISION = "a13ec11"  # main where issue 14's branch started
BATCH, LENGTH, LR, SEED = 32, 64, 3e-4, 42
INTERMEDIATE = {"embedding": 1.0, "hidden": 1.0, "attention": 1.0}
TEXTBREWER_NOTES = [
    "Teacher and student run with the toolkit's `distill_scores` attention (pre-softmax scores as "
    "`output_attentions`), set on the models before they are handed to TextBrewer.",
    "Attention: the adaptors return scores averaged over heads (12 teacher heads, 2 student heads), "
    "matched with `attention_mse` and the input mask: the toolkit's `head_mean` mode, same value. "
    "TextBrewer's own head reduction, `attention_mse_sum`, sums heads, which compares a 2-head sum "
    "with a 12-head sum.",
    "Hidden and embedding losses: `hidden_mse` with the input mask equals the toolkit's loss. Projections: "
    "TextBrewer learns one `linear` projection per match (3), the toolkit one for the embeddings and one "
    "shared by the hidden layers (TinyBERT); TextBrewer's start from the toolkit's initial projections.",
    "Prediction phase: `kd_loss_type='ce'`, temperature 1: TextBrewer's soft cross-entropy has the same "
    "gradients as the toolkit's KL form (they differ by the teacher's entropy, a constant).",
    "Optimizer: the same parameter groups, fused AdamW and schedule function as the toolkit; "
    "TextBrewer adds its projections as extra groups (weight decay on their biases too) and clips "
    "the student's gradients only, the toolkit the projections' as well.",
    "Data: the toolkit's batches, in its order. With `is_caching_logits` TextBrewer shuffles the "
    "cached batches (the same batches, in another order); it refuses caching with `num_steps`, so "
    "that phase runs whole epochs.",
    "The teacher runs under `torch.no_grad` on the padded batch (TextBrewer's `get_outputs_from_batch`); "
    "nothing in TextBrewer was patched. It imports and runs with torch 2.13 / transformers 5 "
    "(`absl-py` had to be added for its tensorboard import).",
]


# --------------------------------------------------------------------------------------------- cells
# A cell is one measurement in a process of its own: ``--cell JSON`` prints one JSON line.


def _threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _epochs(steps: int, examples: int) -> float:
    return steps / (examples // BATCH)


def toolkit_cell(spec: dict) -> dict:
    """``api.task_distill`` with the benchmark's settings; works on this tree and on ``BEFORE_REVISION``."""
    from distill import api
    from distill.config import load_recipe
    from eval.core.console import quiet_third_party_logs

    quiet_third_party_logs()
    out = Path(spec["work"])
    shutil.rmtree(out, ignore_errors=True)
    phases = [f"{{name: intermediate, losses: {{embedding: 1, hidden: 1, attention: 1}}, "
              f"epochs: {_epochs(spec['intermediate_steps'], spec['examples'])}}}"]
    if spec["prediction_steps"]:
        phases.append(f"{{name: prediction, losses: {{logits: 1}}, temperature: 1, "
                      f"epochs: {_epochs(spec['prediction_steps'], spec['examples'])}}}")
    overrides = [f"phases=[{', '.join(phases)}]", f"train.batch_size={BATCH}", f"train.max_seq_length={LENGTH}",
                 f"train.lr={LR}", f"train.seed={spec.get('seed', SEED)}", f"train.train_limit={spec['examples']}",
                 "train.device=cpu", "train.save_every=100000", "train.log_every=10", "train.eval_batch_size=64",
                 "train.eval_every=100000"]  # dev accuracy once, after the last step (no best-of selection)
    if spec.get("cache"):
        overrides.append(f"teacher_cache={spec['cache']}")
    cfg = load_recipe("task", flags={"task": "sst2", "teacher": spec["teacher"], "student": "tiny",
                                     "data_dir": spec["data_dir"], "output_dir": str(out)}, overrides=overrides)
    load = _load()
    api.task_distill(cfg)
    metrics = json.loads((out / "metrics.json").read_text())
    phases_out = {}
    for name, summary in metrics["phases"].items():
        loop = summary["throughput"]
        before_loop = summary.get("teacher_outputs_seconds") or 0.0
        phases_out[name] = {"steps": summary["steps"], "examples": loop["examples"],
                            "loop_seconds": loop["seconds"], "teacher_outputs_seconds": before_loop,
                            "loop_examples_per_second": loop["examples_per_second"],
                            "phase_examples_per_second": loop["examples"] / (loop["seconds"] + before_loop)}
    dev = metrics.get("dev") or {}
    result = {"phases": phases_out, "dev_accuracy": dev.get("accuracy"), "load_before": load, "load_after": _load()}
    if spec.get("predictions"):
        from eval.predictors import TorchPredictor, load_tokenizer

        result["dev"] = _dev_predictions(TorchPredictor(str(out), "cpu"), load_tokenizer(out), spec["data_dir"])
    shutil.rmtree(out, ignore_errors=True)
    return result


def _dev_predictions(predictor, tokenizer, data_dir: str) -> dict:
    """SST-2 dev predictions and labels through the GLUE harness, for the paired test between systems."""
    from eval.harness import EvalSettings, evaluate_task
    from eval.tasks import get_task

    settings = EvalSettings(split="dev", batch_size=64, max_seq_length=LENGTH, data_dir=data_dir, device="cpu")
    scored = evaluate_task(predictor, tokenizer, get_task("sst2"), settings, progress=False)
    return {"accuracy": scored["metrics"]["accuracy"], "predictions": scored["predictions"],
            "labels": scored["labels"]}


def _setup(spec: dict):
    """Teacher, student, tokenizer, batches and the toolkit's loss, built exactly as ``distill task`` builds them."""
    from distill.builders import frozen, glue_batches, new_student, train_data
    from distill.config import TrainSettings
    from distill.features import expose_attention_scores
    from distill.loop import Distributed
    from distill.objectives import build_distill_loss
    from distill.teachers import load_model, load_tokenizer
    from eval.core.console import quiet_third_party_logs
    from eval.tasks import get_task

    quiet_third_party_logs()
    task, dist = get_task("sst2"), Distributed()
    seed = spec.get("seed", SEED)
    settings = TrainSettings(batch_size=BATCH, max_seq_length=LENGTH, lr=LR, seed=seed, train_limit=spec["examples"],
                             eval_batch_size=64, device="cpu")
    teacher = frozen(load_model(spec["teacher"], "classifier", task, require_head=True), dist)
    tokenizer = load_tokenizer(spec["teacher"])
    student = new_student("tiny", teacher.config, task, seed)
    for model in (teacher, student):
        expose_attention_scores(model)
    batches = glue_batches(task, train_data(task, spec["data_dir"], None, settings), tokenizer, settings, dist)
    # Right after the student, as in `distill task`: the same initial projections.
    loss = build_distill_loss(INTERMEDIATE, "uniform", "auto", teacher, student)
    return task, settings, teacher, student, tokenizer, batches, loss


def _stream(batches, steps: int) -> list[dict]:
    """The toolkit's first ``steps`` batches (epochs reshuffled as it does), model inputs only."""
    out, epoch = [], 0
    while len(out) < steps:
        for batch in batches.iterate(epoch):
            out.append({k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")})
            if len(out) == steps:
                break
        epoch += 1
    return out


def textbrewer_cell(spec: dict) -> dict:
    """TextBrewer 0.2.1 configured as the toolkit's two phases (see ``TEXTBREWER_NOTES``)."""
    import torch
    import textbrewer
    from textbrewer import BasicDistiller, DistillationConfig, GeneralDistiller, TrainingConfig

    from distill.builders import dev_evaluator
    from distill.loop import Distributed, parameter_groups, seed_everything, warmup_then_decay

    task, settings, teacher, student, tokenizer, batches, loss = _setup(spec)
    work = Path(spec["work"])
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)

    def intermediate_adaptor(batch, outputs):
        return {"hidden": outputs.hidden_states, "inputs_mask": batch["attention_mask"],
                "attention": [scores.mean(dim=1, keepdim=True) for scores in outputs.attentions]}

    def prediction_adaptor(batch, outputs):
        return {"logits": outputs.logits}

    def optimizer_and_schedule(steps: int):
        optimizer = torch.optim.AdamW(parameter_groups(student, settings.weight_decay), lr=LR,
                                      weight_decay=settings.weight_decay, fused=True)
        schedule = warmup_then_decay(int(settings.warmup * steps), steps)
        return optimizer, (lambda optimizer: torch.optim.lr_scheduler.LambdaLR(optimizer, schedule))

    width_s, width_t = student.config.hidden_size, teacher.config.hidden_size
    matches = [{"layer_T": t, "layer_S": s, "feature": "hidden", "loss": "hidden_mse", "weight": 1.0,
                "proj": ["linear", width_s, width_t, {}]} for t, s in loss.layer_map]
    matches += [{"layer_T": t - 1, "layer_S": s - 1, "feature": "attention", "loss": "attention_mse", "weight": 1.0}
                for t, s in loss.layer_map if s > 0]
    distiller = GeneralDistiller(TrainingConfig(output_dir=str(work / "intermediate"), device="cpu",
                                                ckpt_steps=spec["intermediate_steps"]),
                                 DistillationConfig(intermediate_matches=matches), teacher, student,
                                 intermediate_adaptor, intermediate_adaptor)
    with torch.no_grad():  # start from the toolkit's initial projections
        for projection, (_, s) in zip(distiller.projs, loss.layer_map):
            projection.load_state_dict(loss.projections["embedding" if s == 0 else "hidden"].state_dict())
    stamps: list[float] = []

    def stamp(batch):  # TextBrewer calls it at the start of every step
        stamps.append(time.perf_counter())
        return batch

    steps = spec["intermediate_steps"]
    optimizer, scheduler_class = optimizer_and_schedule(steps)
    seed_everything(settings.seed)
    load = _load()
    started = time.perf_counter()
    distiller.train(optimizer, _stream(batches, steps), num_steps=steps, scheduler_class=scheduler_class,
                    scheduler_args={}, max_grad_norm=settings.max_grad_norm, batch_postprocessor=stamp,
                    output_hidden_states=True, output_attentions=True)
    wall = time.perf_counter() - started
    phases = {"intermediate": {"steps": steps, "examples": steps * BATCH, "wall_seconds": wall,
                               "loop_examples_per_second": (len(stamps) - 1) * BATCH / (stamps[-1] - stamps[0]),
                               "phase_examples_per_second": steps * BATCH / wall}}
    if spec["prediction_steps"]:
        epoch = _stream(batches, batches.batches_per_epoch)
        epochs = spec["prediction_steps"] // len(epoch)
        predictor = BasicDistiller(TrainingConfig(output_dir=str(work / "prediction"), device="cpu"),
                                   DistillationConfig(temperature=1, kd_loss_type="ce", is_caching_logits=True),
                                   teacher, student, prediction_adaptor, prediction_adaptor)
        optimizer, scheduler_class = optimizer_and_schedule(epochs * len(epoch))
        seed_everything(settings.seed)
        started = time.perf_counter()
        predictor.train(optimizer, epoch, num_epochs=epochs, scheduler_class=scheduler_class, scheduler_args={},
                        max_grad_norm=settings.max_grad_norm)
        wall = time.perf_counter() - started
        phases["prediction"] = {"steps": epochs * len(epoch), "examples": epochs * len(epoch) * BATCH,
                                "wall_seconds": wall, "phase_examples_per_second": epochs * len(epoch) * BATCH / wall}
    result = {"phases": phases, "load_before": load, "load_after": _load(), "textbrewer": textbrewer.__version__}
    if spec["prediction_steps"]:
        result["dev_accuracy"] = dev_evaluator(student, tokenizer, task, spec["data_dir"], settings, Distributed())()["score"]
    if spec.get("predictions"):
        from eval.predictors import TorchPredictor

        result["dev"] = _dev_predictions(TorchPredictor.from_module(student, "cpu"), tokenizer, spec["data_dir"])
    shutil.rmtree(work, ignore_errors=True)
    return result


def parts_cell(spec: dict) -> dict:
    """Teacher forward alone and student forward + backward alone, batch by batch, on the same batches.

    ``teacher_padded``: one ``no_grad`` forward over the padded batch (what TextBrewer and the
    toolkit before this change run); ``teacher_live``: the toolkit's ``LiveTeacher``;
    ``teacher_onnxruntime_grouped``: the same groups through ONNX Runtime (:func:`onnx_teacher`; a
    measurement only, the toolkit does not run it); ``student_forward_backward``: the student's
    forward, the loss against the live teacher's outputs (computed beforehand) and the backward;
    ``optimizer``: clipping and the AdamW step.
    """
    import torch

    from distill.features import extract
    from distill.loop import build_optimizer
    from distill.objectives import DistillObjective
    from distill.teacher_outputs import LiveTeacher, length_groups

    task, settings, teacher, student, tokenizer, batches, loss = _setup(spec)
    stream = _stream(batches, spec["intermediate_steps"])
    objective = DistillObjective(student, loss).train()
    optimizer, scheduler = build_optimizer(objective, settings, LR, len(stream))
    live = LiveTeacher(teacher, loss.teacher_needs)
    onnx = onnx_teacher(teacher, loss.teacher_needs, Path(spec["work"]), spec["threads"])
    seconds = {"teacher_padded": 0.0, "teacher_live": 0.0, "teacher_onnxruntime_grouped": 0.0,
               "student_forward_backward": 0.0, "optimizer": 0.0}
    parity = 0.0
    load = _load()
    for batch in stream:
        clock = time.perf_counter()
        with torch.no_grad():
            extract(teacher, batch, hidden=True, attention=True)
        seconds["teacher_padded"] += time.perf_counter() - clock
        clock = time.perf_counter()
        targets = live(batch)
        seconds["teacher_live"] += time.perf_counter() - clock
        clock = time.perf_counter()
        groups = [(rows, width, onnx({k: v[rows, :width] for k, v in batch.items()}))
                  for rows, width in length_groups(batch["attention_mask"].sum(dim=1).tolist())]
        seconds["teacher_onnxruntime_grouped"] += time.perf_counter() - clock
        for rows, width, outputs in groups:  # ONNX Runtime's last hidden state against the live teacher's
            last = len(loss.teacher_needs.hidden) - 1
            real = batch["attention_mask"][rows, :width].bool()
            live_last = targets.hidden_states[loss.teacher_needs.hidden[last]][rows, :width]
            parity = max(parity, float((torch.from_numpy(outputs[last]) - live_last)[real].abs().max()))
        clock = time.perf_counter()
        objective(batch, targets)["loss"].backward()
        seconds["student_forward_backward"] += time.perf_counter() - clock
        clock = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(objective.parameters(), settings.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        seconds["optimizer"] += time.perf_counter() - clock
    examples = len(stream) * BATCH
    shutil.rmtree(spec["work"], ignore_errors=True)
    return {"examples": examples, "seconds": seconds, "load_before": load, "load_after": _load(),
            "onnxruntime_max_abs_difference_last_hidden": parity,
            "examples_per_second": {name: examples / s for name, s in seconds.items()}}


def onnx_teacher(teacher, needs, folder: Path, threads: int):
    """The teacher in ONNX Runtime, exported with exactly the outputs ``needs`` names (hidden states,
    then head-averaged attention scores): ``batch -> [numpy arrays]``. For the issue's question whether
    ONNX Runtime pays for the teacher's forward on CPU; the toolkit itself does not use it.
    """
    import warnings

    import onnxruntime
    import torch

    class Needed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = teacher

        def forward(self, input_ids, attention_mask, token_type_ids):
            out = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                             output_hidden_states=True, output_attentions=True)
            attention = [out.attentions[layer - 1] for layer in needs.attention]
            attention = [a.mean(dim=1, keepdim=True) for a in attention] if needs.head_mean else attention
            return (*[out.hidden_states[i] for i in needs.hidden], *attention)

    names = ["input_ids", "attention_mask", "token_type_ids"]
    outputs = [f"hidden_{i}" for i in needs.hidden] + [f"attention_{layer}" for layer in needs.attention]
    axes = {n: {0: "batch", 1: "sequence"} for n in names}
    axes |= {o: {0: "batch", 1: "sequence"} if o.startswith("hidden") else {0: "batch", 2: "sequence", 3: "keys"}
             for o in outputs}
    example = torch.ones(2, 8, dtype=torch.long)
    folder.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings
        torch.onnx.export(Needed().eval(), (example, example, example * 0), str(folder / "teacher.onnx"),
                          input_names=names, output_names=outputs, dynamic_axes=axes, opset_version=17, dynamo=False)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = onnxruntime.InferenceSession(str(folder / "teacher.onnx"), options, providers=["CPUExecutionProvider"])
    return lambda batch: session.run(None, {n: batch[n].numpy() for n in names})


def reference_augment(sentences: list[str], labels: list, augmenter, top_k: int, variants: int,
                      replace_prob: float, seed: int) -> list[tuple[str, object]]:
    """THE REFERENCE LOOP, re-implemented for this benchmark (not the toolkit's code, not copied).

    The structure of ``DataAugmentor.augment`` in TinyBERT's ``data_augmentation.py``
    (huawei-noah/Pretrained-Language-Model): one example at a time; for each of its words the
    sentence is tokenized again to find the word's pieces, and one candidate query is made for
    that word alone (a masked-LM forward for a single-piece word, else an embedding-neighbour
    search: a product with the whole normalised table and a full ``argsort``); then ``variants``
    new sentences, each word swapped with probability ``replace_prob`` for a random candidate,
    duplicates dropped. The packaged MiniLM has no masked-LM head, so, as ``distill augment``
    does for it, every word takes the neighbour search, over the same table (the model's input
    embeddings, a word's vector the mean of its pieces') and with the same word split, ``top_k``,
    ``variants`` and ``replace_prob``: only the loop differs.
    """
    import numpy as np

    table = augmenter.neighbours.matrix.numpy()
    index = {word: i for i, word in enumerate(augmenter.neighbours.words)}
    rng = random.Random(seed)

    def neighbours_of(word: str) -> list[str]:
        [vector] = augmenter.neighbours.vectors_of([word])
        if vector is None:
            return []
        similarity = table @ (vector.numpy() / max(float(np.linalg.norm(vector.numpy())), 1e-12))
        if word in index:
            similarity[index[word]] = -np.inf
        return [augmenter.neighbours.words[i] for i in np.argsort(-similarity)[:top_k]]

    rows = []
    for sentence, label in zip(sentences, labels):
        words = augmenter.words(sentence)
        candidates = {}
        for position, word in enumerate(words):
            if word.isalpha():
                augmenter.tokenizer.tokenize(sentence)  # the reference re-tokenizes per word
                candidates[position] = neighbours_of(word) or [word]
        seen, rows = {" ".join(words)}, rows + [(sentence, label)]
        for _ in range(variants):
            new = list(words)
            for position, options in candidates.items():
                choice = rng.choice(options)
                if rng.random() < replace_prob:
                    new[position] = choice
            text = " ".join(new)
            if text not in seen:
                seen.add(text)
                rows.append((text, label))
    return rows


def augment_cell(spec: dict) -> dict:
    """``distill augment`` (``toolkit``) or ``reference_augment`` on the same sentences.

    ``seconds`` is end to end after Python's imports: loading the model, building the embedding
    table, augmenting, writing. ``setup_seconds`` is that shared loading and building alone (the
    same for both systems and for any data size), so ``seconds - setup_seconds`` is the loop.
    """
    from transformers import BertModel  # noqa: F401  (the slow import, paid before the clock by both)

    from distill import api
    from distill.config import load_recipe
    from eval.core.console import quiet_third_party_logs
    from eval.data import load_split
    from eval.tasks import get_task

    quiet_third_party_logs()
    out = Path(spec["work"])
    shutil.rmtree(out, ignore_errors=True)
    settings = {"limit": spec["sentences"], "candidates": "embedding", "top_k": 15, "variants": 20,
                "replace_prob": 0.4, "max_seq_length": LENGTH, "seed": SEED, "device": "cpu"}
    cfg = load_recipe("augment", flags={"task": "sst2", "model": "minilm-l6", "data_dir": spec["data_dir"],
                                        "output_dir": str(out)},
                      overrides=[f"{k}={v}" for k, v in settings.items()])
    load = _load()
    started = time.perf_counter()
    if spec["system"] == "toolkit":
        api.augment(cfg)
        produced = json.loads((out / "augment.json").read_text())["examples"]
    else:
        augmenter = _augmenter(cfg)
        data = load_split(get_task("sst2"), "train", spec["data_dir"]).select(spec["sentences"])
        rows = reference_augment([t[0] for t in data.texts], data.labels, augmenter, cfg.top_k, cfg.variants,
                                 cfg.replace_prob, cfg.seed)
        out.mkdir(parents=True, exist_ok=True)
        (out / "train.tsv").write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows))
        produced = len(rows)
    seconds = time.perf_counter() - started
    clock = time.perf_counter()
    augmenter = _augmenter(cfg)
    setup = time.perf_counter() - clock
    data = load_split(get_task("sst2"), "train", spec["data_dir"]).select(spec["sentences"])
    words = sum(len(augmenter.words(t[0])) for t in data.texts)
    queries = sum(w.isalpha() for t in data.texts for w in augmenter.words(t[0]))
    shutil.rmtree(out, ignore_errors=True)
    loop = seconds - setup
    return {"seconds": seconds, "setup_seconds": setup, "loop_seconds": loop, "sentences": len(data.texts),
            "words": words, "candidate_queries": queries, "examples_written": produced,
            "words_per_second": words / seconds, "examples_per_second": len(data.texts) / seconds,
            "loop_words_per_second": words / loop, "loop_examples_per_second": len(data.texts) / loop,
            "load_before": load, "load_after": _load(), "settings": settings}


def _augmenter(cfg):
    from distill.augment import Augmenter, EmbeddingNeighbours
    from distill.teachers import load_model, load_tokenizer

    tokenizer = load_tokenizer(cfg.model)
    neighbours = EmbeddingNeighbours.from_model(load_model(cfg.model, "base"), tokenizer)
    return Augmenter(tokenizer, None, neighbours, cfg.top_k, cfg.max_seq_length, cfg.batch_size, "cpu")


CELLS = {"toolkit": toolkit_cell, "textbrewer": textbrewer_cell, "parts": parts_cell, "augment": augment_cell}


def run_cell(spec: dict) -> dict:
    _threads(spec["threads"])
    return CELLS[spec["kind"]](spec)


# ------------------------------------------------------------------------------------- orchestration


def export_before(folder: Path) -> Path:
    """The toolkit at ``BEFORE_REVISION``, exported (read-only use) for the ``before`` cells."""
    if not (folder / "distill").is_dir():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", BEFORE_REVISION], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def spawn(spec: dict, tree: Path) -> dict:
    """Run one cell in a fresh process with ``spec['threads']`` threads and ``tree`` first on the path."""
    env = {**os.environ, "OMP_NUM_THREADS": str(spec["threads"]), "MKL_NUM_THREADS": str(spec["threads"]),
           "PYTHONPATH": str(tree), "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--cell", json.dumps(spec)], env=env,
                          capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"cell {spec['kind']} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"  {spec['label']:18s} threads={spec['threads']} {json.dumps(_brief(result))}", flush=True)
    return result


def _brief(result: dict) -> dict:
    brief = {name: round(p.get("loop_examples_per_second") or p["phase_examples_per_second"], 1)
             for name, p in result.get("phases", {}).items()}
    for key in ("dev_accuracy", "words_per_second", "loop_words_per_second"):
        if result.get(key) is not None:
            brief[key] = round(result[key], 4)
    if "examples_per_second" in result and isinstance(result["examples_per_second"], dict):
        brief.update({k: round(v, 1) for k, v in result["examples_per_second"].items()})
    brief["load"] = result.get("load_before")
    return brief


def measure(args) -> dict:
    WORK.mkdir(parents=True, exist_ok=True)
    before = export_before(WORK / "before-tree")
    base = {"teacher": str(Path(args.teacher).resolve()), "examples": args.examples, "data_dir": str(GLUE_TSV),
            "intermediate_steps": args.intermediate_steps, "prediction_steps": args.prediction_steps}
    store = WORK / "store"
    shutil.rmtree(store, ignore_errors=True)
    systems = {
        "toolkit": ({"kind": "toolkit"}, ROOT),
        "toolkit before": ({"kind": "toolkit"}, before),
        "toolkit + store": ({"kind": "toolkit", "cache": str(store)}, ROOT),
        "textbrewer": ({"kind": "textbrewer"}, ROOT),
        "parts": ({"kind": "parts"}, ROOT),
    }
    print("building the teacher-output store once (1 thread)", flush=True)
    build = spawn({**base, "kind": "toolkit", "cache": str(store), "threads": 1, "label": "store build",
                   "work": str(WORK / "cell")}, ROOT)
    rounds: dict[str, dict[str, list]] = {str(t): {name: [] for name in systems} for t in args.threads}
    for threads in args.threads:
        # Where the cores are oversubscribed, more threads can be far slower: such thread counts
        # measure a short intermediate phase only.
        steps = ({"intermediate_steps": args.quick_steps, "prediction_steps": 0} if threads in args.quick_threads
                 else {})
        for number in range(args.rounds):
            order = list(systems) if number % 2 == 0 else list(systems)[::-1]
            print(f"threads {threads}, round {number + 1}: {', '.join(order)}", flush=True)
            for name in order:
                extra, tree = systems[name]
                spec = {**base, **steps, **extra, "threads": threads, "label": name, "work": str(WORK / "cell")}
                rounds[str(threads)][name].append(spawn(spec, tree))
    accuracy = measure_accuracy(args, base)
    augmentation = {"toolkit": [], "reference": []}
    for number in range(args.augment_rounds):
        order = ["toolkit", "reference"] if number % 2 == 0 else ["reference", "toolkit"]
        for system in order:
            spec = {"kind": "augment", "system": system, "sentences": args.sentences, "threads": 1,
                    "data_dir": str(GLUE_TSV),
                    "label": f"augment {system}", "work": str(WORK / "augment")}
            augmentation[system].append(spawn(spec, ROOT))
    shutil.rmtree(store, ignore_errors=True)
    return {"examples": args.examples, "store_build": build, "rounds": rounds, "accuracy": accuracy,
            "augmentation": augmentation}


def measure_accuracy(args, base: dict) -> dict[str, list[dict]]:
    """Both pipelines, longer, once per seed, each with its dev predictions (for the paired test)."""
    accuracy: dict[str, list[dict]] = {"toolkit": [], "textbrewer": []}
    if not args.accuracy_examples:
        return accuracy
    longer = {**base, "examples": args.accuracy_examples, "intermediate_steps": args.accuracy_intermediate_steps,
              "prediction_steps": args.accuracy_prediction_steps, "threads": 1, "predictions": True}
    print(f"accuracy: {json.dumps({k: v for k, v in longer.items() if k.endswith(('examples', 'steps'))})}, "
          f"seeds {args.accuracy_seeds}", flush=True)
    for seed in args.accuracy_seeds:
        for name in accuracy:
            spec = {**longer, "kind": name, "seed": seed, "label": f"accuracy {name} s{seed}", "work": str(WORK / "cell")}
            accuracy[name].append({"seed": seed, **spawn(spec, ROOT)})
    return accuracy


def compare_accuracy(runs: dict[str, list[dict]]) -> dict:
    """Dev accuracy per seed, mean ± std, and the paired bootstrap of toolkit against TextBrewer."""
    from eval.stats import mean_std, paired_bootstrap

    out: dict = {}
    for name, results in runs.items():
        mean, std = mean_std([r["dev_accuracy"] for r in results])
        out[name] = {"seeds": [r["seed"] for r in results], "dev_accuracy": [r["dev_accuracy"] for r in results],
                     "mean": mean, "std": std,
                     "intermediate ex/s": statistics.median(r["phases"]["intermediate"]["loop_examples_per_second"]
                                                            for r in results),
                     "prediction ex/s": statistics.median(r["phases"]["prediction"]["phase_examples_per_second"]
                                                          for r in results)}
    toolkit, textbrewer = runs["toolkit"], runs["textbrewer"]
    if all("dev" in r for r in toolkit + textbrewer):
        test = paired_bootstrap("accuracy", [r["dev"]["predictions"] for r in toolkit],
                                [r["dev"]["predictions"] for r in textbrewer], toolkit[0]["dev"]["labels"])
        out["paired_bootstrap"] = {**test, "a": "toolkit", "b": "textbrewer",
                                   "test": "paired bootstrap over the 872 dev examples, accuracy averaged over seeds"}
    return out


def summarise(raw: dict) -> dict:
    """Medians over rounds, the ratios the issue asks for, and each target met or missed."""
    median = statistics.median
    summary: dict = {"by_threads": {}}
    for threads, systems in raw["rounds"].items():
        def rate(name, phase, key="loop_examples_per_second"):
            values = [r["phases"].get(phase, {}).get(key) for r in systems[name]]
            return median(values) if values and None not in values else None

        def ratio(a, b):
            return a / b if a is not None and b is not None else None

        parts = {k: median(r["seconds"][k] / r["examples"] for r in systems["parts"])
                 for k in systems["parts"][0]["seconds"]}  # seconds per example
        limit = 1 / (parts["teacher_padded"] + parts["student_forward_backward"])
        limit_with_optimizer = 1 / (parts["teacher_padded"] + parts["student_forward_backward"] + parts["optimizer"])
        own_parts = 1 / (parts["teacher_live"] + parts["student_forward_backward"] + parts["optimizer"])
        with_onnx = 1 / (parts["teacher_onnxruntime_grouped"] + parts["student_forward_backward"] + parts["optimizer"])
        table = {name: {phase: {"loop": rate(name, phase), "phase": rate(name, phase, "phase_examples_per_second")}
                        for phase in ("intermediate", "prediction")}
                 for name in systems if name != "parts"}
        toolkit, textbrewer = table["toolkit"]["intermediate"]["loop"], table["textbrewer"]["intermediate"]["loop"]
        summary["by_threads"][threads] = {
            "examples_per_second": table,
            "parts_examples_per_second": {k: 1 / v for k, v in parts.items()},
            "sum_of_parts_limit": {"teacher_padded+student_forward_backward": limit,
                                   "teacher_padded+student_forward_backward+optimizer": limit_with_optimizer,
                                   "teacher_live+student_forward_backward+optimizer": own_parts,
                                   "teacher_onnxruntime_grouped+student_forward_backward+optimizer": with_onnx},
            "onnxruntime_teacher_speedup_over_live": parts["teacher_live"] / parts["teacher_onnxruntime_grouped"],
            "onnxruntime_max_abs_difference": max(r["onnxruntime_max_abs_difference_last_hidden"]
                                                  for r in systems["parts"]),
            "ratios": {
                "toolkit/textbrewer intermediate": toolkit / textbrewer,
                "toolkit/textbrewer prediction (phase)": ratio(table["toolkit"]["prediction"]["phase"],
                                                               table["textbrewer"]["prediction"]["phase"]),
                "toolkit/toolkit before intermediate": toolkit / table["toolkit before"]["intermediate"]["loop"],
                "toolkit + store/textbrewer intermediate": table["toolkit + store"]["intermediate"]["loop"] / textbrewer,
                "toolkit/limit (teacher padded + student f+b)": toolkit / limit,
                "toolkit/limit (+ optimizer)": toolkit / limit_with_optimizer,
                "toolkit/own parts (live teacher + student f+b + optimizer)": toolkit / own_parts,
            },
            "load_average_1m": sorted(r["load_before"][0] for rs in systems.values() for r in rs),
        }
    build = raw["store_build"]["phases"]["intermediate"]
    summary["store_build_seconds_per_example"] = build["teacher_outputs_seconds"] / raw["examples"]
    runs = raw["augmentation"]
    figures = {key: {k: median(r[key] for r in v) for k, v in runs.items()}
               for key in ("words_per_second", "examples_per_second", "loop_words_per_second",
                           "loop_examples_per_second", "setup_seconds")}
    summary["augmentation"] = {**figures,
                               "ratio_loop": figures["loop_words_per_second"]["toolkit"]
                               / figures["loop_words_per_second"]["reference"],
                               "ratio_end_to_end": figures["words_per_second"]["toolkit"]
                               / figures["words_per_second"]["reference"]}
    accuracy = compare_accuracy(raw["accuracy"]) if raw["accuracy"].get("toolkit") else {}
    summary["accuracy_run"] = accuracy
    one = summary["by_threads"].get("1") or next(iter(summary["by_threads"].values()))
    ratio = one["ratios"]["toolkit/textbrewer intermediate"]
    fraction = one["ratios"]["toolkit/limit (teacher padded + student f+b)"]
    test = accuracy.get("paired_bootstrap")
    # Equal or better: toolkit's mean at least TextBrewer's, or a difference the paired test calls a tie.
    as_good = test is not None and (test["difference"] >= 0 or test["p_value"] >= 0.05)
    summary["targets"] = {
        "intermediate >= 1.3x TextBrewer at equal or better dev accuracy": {
            "value": ratio, "met": ratio >= 1.3 and as_good, "accuracy_test": test},
        "intermediate >= 0.9 of the sum-of-parts limit": {"value": fraction, "met": fraction >= 0.9},
        "augmentation >= 10x the reference loop (loop words/s)": {
            "value": summary["augmentation"]["ratio_loop"], "met": summary["augmentation"]["ratio_loop"] >= 10,
            "end_to_end": summary["augmentation"]["ratio_end_to_end"]},
    }
    return summary


# ------------------------------------------------------------------------------------------- report


def render(document: dict) -> str:
    """``docs/speed.md`` from the results JSON (never edited by hand)."""
    s = document["summary"]
    lines = ["# Distillation and augmentation speed", "",
             f"Rendered from `benchmarks/results/distill_speed.json` ({document['date']}, revision "
             f"`{document['git_revision']}`) by `python -m benchmarks.distill_speed --render`. Produced by:", "",
             f"    {document['command']}", "",
             f"SST-2, first {document['settings']['examples']} training examples; fine-tuned MiniLM-L6 teacher "
             f"(`{document['settings']['teacher']}`); `tiny` student; batch {BATCH}, length {LENGTH}; "
             f"{document['settings']['intermediate_steps']} intermediate steps then "
             f"{document['settings']['prediction_steps']} prediction steps; {document['settings']['rounds']} "
             f"interleaved rounds per thread count, medians{_quick(document['settings'])}. "
             f"{_sentence('Teacher: ' + document['settings']['teacher_note'] if document['settings']['teacher_note'] else '')}"
             f"{document['machine']}. Absolute speeds on this "
             "shared machine are noisy: read the ratios. Loop examples/s is the training loop's own clock; "
             "phase examples/s adds the teacher pass made before the loop (prediction phase).", ""]
    lines += ["## Targets", "", "| target | value | met |", "| --- | --- | --- |"]
    for name, target in s["targets"].items():
        test = target.get("accuracy_test")
        extra = (f" (dev accuracy toolkit − TextBrewer {100 * test['difference']:+.2f} points, p = {test['p_value']:.3f})"
                 if test else " (no accuracy run)" if "accuracy_test" in target else "")
        extra += f" ({target['end_to_end']:.2f} end to end)" if "end_to_end" in target else ""
        lines.append(f"| {name} | {target['value']:.2f}{extra} | {'yes' if target['met'] else 'no'} |")
    for threads, block in s["by_threads"].items():
        lines += ["", f"## {threads} thread{'s' if threads != '1' else ''}", "",
                  f"Load average (1 min) at the cells' start: {min(block['load_average_1m']):.1f} to "
                  f"{max(block['load_average_1m']):.1f}.", "",
                  "| system | intermediate loop ex/s | prediction phase ex/s |", "| --- | --- | --- |"]
        for name, phases in block["examples_per_second"].items():
            lines.append(f"| {name} | {_number(phases['intermediate']['loop'])} | "
                         f"{_number(phases['prediction']['phase'])} |")
        lines += ["", "| part (alone, same batches) | ex/s |", "| --- | --- |"]
        lines += [f"| {k} | {v:.1f} |" for k, v in block["parts_examples_per_second"].items()]
        lines += [f"| limit: {k} | {v:.1f} |" for k, v in block["sum_of_parts_limit"].items()]
        lines += ["", f"ONNX Runtime teacher forward (same groups) vs the live torch teacher: "
                      f"{block['onnxruntime_teacher_speedup_over_live']:.2f}x; largest difference on real tokens' last "
                      f"hidden state {block['onnxruntime_max_abs_difference']:.1e}."]
        lines += ["", "| ratio | value |", "| --- | --- |"]
        lines += [f"| {k} | {_number(v, 2)} |" for k, v in block["ratios"].items()]
        if threads == "1":
            lines += ["", f"Building the teacher-output store (one teacher pass over the {document['settings']['examples']} "
                          f"examples, 1 thread): {1000 * s['store_build_seconds_per_example']:.1f} ms per example."]
    if s.get("accuracy_run"):
        settings, runs = document["settings"], s["accuracy_run"]
        lines += ["", "## Dev accuracy after the same steps", "",
                  f"Both pipelines once more, longer: first {settings['accuracy_examples']} SST-2 training examples, "
                  f"{settings['accuracy_intermediate_steps']} intermediate then {settings['accuracy_prediction_steps']} "
                  f"prediction steps, seeds {', '.join(map(str, runs['toolkit']['seeds']))} (the student's "
                  f"initialisation, dropout and data order), 1 thread; SST-2 dev (872 examples)"
                  + (f", by `{document['accuracy_command']}`" if document.get("accuracy_command") else "") + ".", "",
                  "| system | dev accuracy per seed | mean ± std | intermediate loop ex/s | prediction phase ex/s |",
                  "| --- | --- | --- | --- | --- |"]
        for name in ("toolkit", "textbrewer"):
            r = runs[name]
            spread = f" ± {100 * r['std']:.2f}" if r["std"] is not None else ""
            lines.append(f"| {name} | {', '.join(f'{100 * a:.2f}' for a in r['dev_accuracy'])} | "
                         f"{100 * r['mean']:.2f}{spread} | {_number(r['intermediate ex/s'])} | "
                         f"{_number(r['prediction ex/s'])} |")
        test = runs.get("paired_bootstrap")
        if test:
            low, high = test["ci95"]
            verdict = ("a tie" if test["p_value"] >= 0.05 else
                       "toolkit better" if test["difference"] > 0 else "TextBrewer better")
            lines += ["", f"Paired bootstrap over the dev examples (accuracy averaged over seeds): toolkit − "
                          f"TextBrewer {100 * test['difference']:+.2f} points, 95% interval [{100 * low:+.2f}, "
                          f"{100 * high:+.2f}], p = {test['p_value']:.3f}: {verdict}."]
    a = s["augmentation"]
    lines += ["", "## Augmentation", "",
              f"`distill augment` against the reference loop (`reference_augment` in the benchmark), same "
              f"{document['settings']['sentences']} SST-2 sentences, embedding neighbours from the packaged MiniLM, "
              f"top 15, 20 variants, p = 0.4; 1 thread. End to end counts from loading the model to the written "
              f"file (imports excluded); the loop excludes the shared setup (loading the model and building the "
              f"embedding table, the same for both and for any data size).", "",
              "| system | loop words/s | loop examples/s | end-to-end words/s | end-to-end examples/s | setup s |",
              "| --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {k} | {a['loop_words_per_second'][k]:.1f} | {a['loop_examples_per_second'][k]:.1f} | "
              f"{a['words_per_second'][k]:.1f} | {a['examples_per_second'][k]:.1f} | {a['setup_seconds'][k]:.1f} |"
              for k in a["words_per_second"]]
    lines += ["", f"Ratio: {a['ratio_loop']:.1f}x on the loop, {a['ratio_end_to_end']:.1f}x end to end.", "",
              "## TextBrewer configuration", ""]
    lines += [f"- {note}" for note in document["textbrewer_notes"]]
    lines += ["", "## Notes", ""] + [f"- {note}" for note in document["notes"]]
    return "\n".join(lines) + "\n"


def _quick(settings: dict) -> str:
    if not settings["quick_threads"]:
        return ""
    return f" (at {', '.join(map(str, settings['quick_threads']))} threads: {settings['quick_steps']} intermediate steps only)"


def _sentence(text: str) -> str:
    text = text.strip()
    return f"{text}{'' if text.endswith('.') else '.'} " if text else ""


def _number(value, digits: int = 1) -> str:
    return "not run" if value is None else f"{value:.{digits}f}"


NOTES = [
    "`toolkit before` is the same `distill task` command on the branch point (padded teacher forward under "
    "`no_grad`, for-loop AdamW); `toolkit` adds the length-grouped inference-mode teacher and fused AdamW. "
    "Both give the same targets and updates up to float rounding (tests/distill/test_teacher_outputs.py, "
    "tests/distill/test_distill_optimizer.py).",
    "The sum-of-parts limit follows the issue: teacher forward alone (one padded `no_grad` forward, what "
    "TextBrewer runs) plus student forward + backward alone. The toolkit's teacher no longer pays for padding, "
    "so it can pass that limit; `own parts` is the limit of its own pieces (live teacher, student forward + "
    "backward, optimizer step), which measures the loop's overhead.",
    "`toolkit + store` reads teacher outputs built once (`teacher_cache`), as every later seed, student size or "
    "epoch does; building it costs one teacher pass over the examples (its time is under the 1-thread tables).",
    "A truncated teacher (computing only up to the last mapped layer) is not implemented: with the uniform map "
    "the last student layer always maps to the teacher's last layer, so it would save nothing here.",
    "ONNX Runtime for the teacher's forward is measured (`teacher_onnxruntime_grouped`, the same length "
    "groups through an export with exactly the needed outputs) but not used by the toolkit yet: it would need an "
    "export of every teacher kept beside the run and a recipe switch, for the gain the `limit` rows bound (the "
    "phase's limit with the ONNX teacher against the one with the live teacher). The teacher-output store "
    "(`toolkit + store`) removes the teacher's forward altogether for every run after the first.",
    "Student forward + backward still runs on the padded batch: splitting it into length groups as well would "
    "change the dropout masks, so results would no longer match the padded run up to float rounding.",
]


def update_accuracy(args) -> None:
    """Run the accuracy comparison again and put it into the results JSON, the speed rounds kept."""
    document = json.loads(RESULT.read_text())
    settings = document["settings"]
    base = {"teacher": settings["teacher"], "data_dir": str(GLUE_TSV)}
    document["raw"]["accuracy"] = measure_accuracy(args, base)
    settings.update(accuracy_examples=args.accuracy_examples, accuracy_seeds=args.accuracy_seeds,
                    accuracy_intermediate_steps=args.accuracy_intermediate_steps,
                    accuracy_prediction_steps=args.accuracy_prediction_steps)
    document["accuracy_command"] = "OMP_NUM_THREADS=1 python -m benchmarks.distill_speed " + shlex.join(sys.argv[1:])
    document["summary"] = summarise(document["raw"])
    RESULT.write_text(json.dumps(document, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher", default=str(RUNS / "glue" / "teacher-sst2"), help="fine-tuned SST-2 teacher")
    parser.add_argument("--examples", type=int, default=1600, help="training examples (a multiple of 32)")
    parser.add_argument("--intermediate-steps", type=int, default=50)
    parser.add_argument("--prediction-steps", type=int, default=50, help="a multiple of examples / 32")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--quick-threads", type=int, nargs="*", default=[2],
                        help="thread counts measured on a short intermediate phase only")
    parser.add_argument("--quick-steps", type=int, default=10, help="intermediate steps at --quick-threads")
    parser.add_argument("--teacher-note", default="", help="where the teacher comes from, for the report")
    parser.add_argument("--accuracy-examples", type=int, default=6400, help="the accuracy run's examples (0: none)")
    parser.add_argument("--accuracy-intermediate-steps", type=int, default=200)
    parser.add_argument("--accuracy-prediction-steps", type=int, default=400, help="a multiple of examples / 32")
    parser.add_argument("--accuracy-seeds", type=int, nargs="+", default=[42, 43, 44])
    parser.add_argument("--accuracy-only", action="store_true",
                        help="re-run only the accuracy runs (with --accuracy-* settings) into the existing JSON")
    parser.add_argument("--sentences", type=int, default=1000, help="augmentation: SST-2 sentences")
    parser.add_argument("--augment-rounds", type=int, default=1)
    parser.add_argument("--render", action="store_true", help="only re-render docs/speed.md from the JSON")
    parser.add_argument("--cell", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.cell:
        print(json.dumps(run_cell(json.loads(args.cell))))
        return 0
    if args.accuracy_only:
        update_accuracy(args)
    elif not args.render:
        for examples, steps in ((args.examples, args.prediction_steps),
                                (args.accuracy_examples, args.accuracy_prediction_steps)):
            if examples and (examples % BATCH or steps % (examples // BATCH)):
                parser.error("example counts must be multiples of 32, prediction steps multiples of examples / 32")
        from eval.core.artifacts import provenance

        started = time.time()
        raw = measure(args)
        document = {"schema": "bert-compression-toolkit/distill-speed", "schema_version": 1,
                    "command": "OMP_NUM_THREADS=1 python -m benchmarks.distill_speed " + shlex.join(sys.argv[1:]),
                    "settings": {"teacher": args.teacher, "examples": args.examples,
                                 "intermediate_steps": args.intermediate_steps,
                                 "prediction_steps": args.prediction_steps, "threads": args.threads,
                                 "rounds": args.rounds, "quick_threads": args.quick_threads,
                                 "quick_steps": args.quick_steps, "teacher_note": args.teacher_note,
                                 "accuracy_examples": args.accuracy_examples,
                                 "accuracy_intermediate_steps": args.accuracy_intermediate_steps,
                                 "accuracy_prediction_steps": args.accuracy_prediction_steps,
                                 "accuracy_seeds": args.accuracy_seeds,
                                 "sentences": args.sentences, "batch_size": BATCH,
                                 "max_seq_length": LENGTH, "lr": LR, "seed": SEED,
                                 "before_revision": BEFORE_REVISION},
                    "machine": f"{os.cpu_count()} CPU cores, shared with other jobs",
                    "minutes": round((time.time() - started) / 60, 1),
                    "summary": summarise(raw), "textbrewer_notes": TEXTBREWER_NOTES, "notes": NOTES,
                    "raw": raw, **provenance()}
        RESULT.parent.mkdir(parents=True, exist_ok=True)
        RESULT.write_text(json.dumps(document, indent=2) + "\n")
    document = json.loads(RESULT.read_text())
    PAGE.write_text(render(document))
    print(f"wrote {RESULT} and {PAGE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
