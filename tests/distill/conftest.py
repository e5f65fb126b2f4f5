"""Fixtures for the distill tests: tiny teachers on the shared WordPiece vocabulary, a text corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import WORDS, save_tiny_classifier, tiny_bert_config

# Keep every training run in these tests at a handful of steps on tiny inputs.
FAST = ["--set", "train.batch_size=4", "--set", "train.max_seq_length=32", "--set", "train.log_every=1",
        "--set", "train.eval_batch_size=8", "--device", "cpu"]


@pytest.fixture(scope="session")
def tiny_teacher(tmp_path_factory, tokenizer) -> Path:
    """A 4-layer, 4-head, width-32 'fine-tuned' sst2 teacher (random weights, named labels)."""
    folder = save_tiny_classifier(tmp_path_factory.mktemp("teachers") / "sst2", tokenizer, layers=4, seed=1)
    _name_labels(folder, ("negative", "positive"))
    return folder


@pytest.fixture(scope="session")
def tiny_mlm(tmp_path_factory, tokenizer) -> Path:
    """A pre-trained-style teacher: encoder plus masked-LM head (random weights)."""
    import torch
    from transformers import BertForMaskedLM

    torch.manual_seed(2)
    folder = tmp_path_factory.mktemp("teachers") / "mlm"
    BertForMaskedLM(tiny_bert_config(layers=4)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Path:
    import random

    rng = random.Random(0)
    folder = tmp_path_factory.mktemp("corpus")
    for name in ("a.txt", "b.txt"):
        lines = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 30))) + " ." for _ in range(40)]
        (folder / name).write_text("\n\n".join(lines) + "\n")
    return folder


def _name_labels(folder: Path, names: tuple[str, ...]) -> None:
    import json

    config_file = folder / "config.json"
    config = json.loads(config_file.read_text())
    config["id2label"] = {str(i): n for i, n in enumerate(names)}
    config["label2id"] = {n: i for i, n in enumerate(names)}
    config_file.write_text(json.dumps(config))
