"""Data parallelism: the same command under `torchrun` with 2 CPU processes (gloo backend)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.distill.conftest import FAST

pytestmark = pytest.mark.integration


def test_two_process_gloo_task_distillation(tmp_path, tiny_teacher, glue_tsv):
    out = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "distill.cli", "task", "--task", "sst2", "--teacher", str(tiny_teacher), "--student", "tiny",
               "--data-dir", str(glue_tsv), "--output-dir", str(out), "--max-steps", "2", *FAST,
               "--set", "train.save_every=1", "--keep-checkpoints"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["completed"] and "accuracy" in metrics["dev"]
    # each process saved its own random state into the shared checkpoint
    assert {p.name for p in (out / "checkpoints" / "step_2").glob("rng_rank*.pt")} == {"rng_rank0.pt", "rng_rank1.pt"}
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "loss" in r] == [1, 2]
    from transformers import AutoModelForSequenceClassification

    assert AutoModelForSequenceClassification.from_pretrained(out).config.num_hidden_layers == 2
