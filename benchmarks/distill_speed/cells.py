"""The measurement cells that run the toolkit's commands, each in a process of its own (``--cell JSON``).

They use the packages' public API only: ``distill.api`` and ``distill.config`` (the command behind
``distill task`` / ``distill augment``), the harness, and ``distill.augment``'s augmenter for the
reference loop. TextBrewer and the sum-of-parts cells are in :mod:`benchmarks.distill_speed.peers`.
"""

from __future__ import annotations

import json
import random
import shutil
import time
from pathlib import Path

from benchmarks.distill_speed.peers import parts_cell, textbrewer_cell
from benchmarks.distill_speed.settings import BATCH, LENGTH, LR, SEED, dev_predictions, epochs, load_average, set_threads


def toolkit_cell(spec: dict) -> dict:
    """``api.task_distill`` (the command behind ``distill task``) with the benchmark's settings."""
    from distill import api
    from distill.config import load_recipe
    from eval.core.console import quiet_third_party_logs

    quiet_third_party_logs()
    out = Path(spec["work"])
    shutil.rmtree(out, ignore_errors=True)
    phases = [f"{{name: intermediate, losses: {{embedding: 1, hidden: 1, attention: 1}}, "
              f"epochs: {epochs(spec['intermediate_steps'], spec['examples'])}}}"]
    if spec["prediction_steps"]:
        phases.append(f"{{name: prediction, losses: {{logits: 1}}, temperature: 1, "
                      f"epochs: {epochs(spec['prediction_steps'], spec['examples'])}}}")
    overrides = [f"phases=[{', '.join(phases)}]", f"train.batch_size={BATCH}", f"train.max_seq_length={LENGTH}",
                 f"train.lr={LR}", f"train.seed={spec.get('seed', SEED)}", f"train.train_limit={spec['examples']}",
                 "train.device=cpu", "train.save_every=100000", "train.log_every=10", "train.eval_batch_size=64",
                 "train.eval_every=100000"]  # dev accuracy once, after the last step (no best-of selection)
    if spec.get("cache"):
        overrides.append(f"teacher_cache={spec['cache']}")
    cfg = load_recipe("task", flags={"task": "sst2", "teacher": spec["teacher"], "student": "tiny",
                                     "data_dir": spec["data_dir"], "output_dir": str(out)}, overrides=overrides)
    load = load_average()
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
    result = {"phases": phases_out, "dev_accuracy": dev.get("accuracy"), "load_before": load, "load_after": load_average()}
    if spec.get("predictions"):
        from eval.predictors import TorchPredictor, load_tokenizer

        result["dev"] = dev_predictions(TorchPredictor(str(out), "cpu"), load_tokenizer(out), spec["data_dir"])
    shutil.rmtree(out, ignore_errors=True)
    return result


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
    load = load_average()
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
            "load_before": load, "load_after": load_average(), "settings": settings}


def _augmenter(cfg):
    from distill.augment import Augmenter, EmbeddingNeighbours
    from distill.teachers import load_model, load_tokenizer

    tokenizer = load_tokenizer(cfg.model)
    neighbours = EmbeddingNeighbours.from_model(load_model(cfg.model, "base"), tokenizer)
    return Augmenter(tokenizer, None, neighbours, cfg.top_k, cfg.max_seq_length, cfg.batch_size, "cpu")


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


CELLS = {"toolkit": toolkit_cell, "textbrewer": textbrewer_cell, "parts": parts_cell, "augment": augment_cell}


def run_cell(spec: dict) -> dict:
    set_threads(spec["threads"])
    return CELLS[spec["kind"]](spec)
