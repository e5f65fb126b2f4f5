"""`glue eval` inference throughput against plain Hugging Face evaluation, side by side in one run.

Three ways to score the same model on the same dev set, interleaved over repeats:

* ``harness``: the toolkit's path (length-sorted batches, dynamic padding);
* ``fixed_padding``: the classic loop that pads every example to ``max_seq_length``, in file order;
* ``trainer``: ``transformers.Trainer.evaluate`` with ``DataCollatorWithPadding`` (dynamic padding,
  file order), when ``accelerate`` is installed.

All three must give identical predictions and metrics; the JSON records the ratios.

Run:
    python -m benchmarks.eval_throughput --model runs/glue/teacher-sst2 --task sst2
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.shared_data import GLUE_TSV, RESULTS
from eval.core.artifacts import provenance, write_json
from eval.batching import encode, pad
from eval.core.console import quiet_third_party_logs
from eval.data import load_split
from eval.harness import predict
from eval.metrics import compute_metrics, predictions_from_logits
from eval.predictors import TorchPredictor, load_tokenizer
from eval.tasks import get_task


def fixed_padding_logits(model, encoded, batch_size: int, max_seq_length: int) -> tuple[np.ndarray, float]:
    import torch

    out, seconds = [], 0.0
    for start in range(0, len(encoded), batch_size):
        rows = list(range(start, min(start + batch_size, len(encoded))))
        batch = pad(encoded, rows)
        width = batch["input_ids"].shape[1]
        inputs = {k: torch.from_numpy(np.pad(v, ((0, 0), (0, max_seq_length - width)),
                                              constant_values=encoded.pad_token_id if k == "input_ids" else 0))
                  for k, v in batch.items()}
        begin = time.perf_counter()
        with torch.inference_mode():
            out.append(model(**inputs).logits.float().numpy())
        seconds += time.perf_counter() - begin
    return np.concatenate(out), seconds


def trainer_logits(model, tokenizer, encoded, batch_size: int) -> tuple[np.ndarray, float] | None:
    try:
        import accelerate  # noqa: F401  (Trainer needs it)
    except ImportError:
        return None
    from datasets import Dataset
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    dataset = Dataset.from_dict({"input_ids": encoded.input_ids, "token_type_ids": encoded.token_type_ids,
                                 "attention_mask": [[1] * len(ids) for ids in encoded.input_ids]})
    with tempfile.TemporaryDirectory() as folder:
        args = TrainingArguments(output_dir=folder, per_device_eval_batch_size=batch_size, report_to=[],
                                 use_cpu=True, disable_tqdm=True, dataloader_num_workers=0)
        trainer = Trainer(model=model, args=args, data_collator=DataCollatorWithPadding(tokenizer))
        begin = time.perf_counter()
        output = trainer.predict(dataset)
        seconds = time.perf_counter() - begin
    return np.asarray(output.predictions, dtype=np.float32), seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a fine-tuned sequence-classifier folder")
    parser.add_argument("--task", default="sst2")
    parser.add_argument("--data-dir", default=str(GLUE_TSV))
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path, default=RESULTS / "eval_throughput.json")
    args = parser.parse_args(argv)
    quiet_third_party_logs()

    import torch

    torch.set_num_threads(args.threads)
    task = get_task(args.task)
    data = load_split(task, "dev", args.data_dir)
    tokenizer = load_tokenizer(args.model)
    predictor = TorchPredictor(args.model, device="cpu")
    predictor.check_task(task)
    encoded = encode(tokenizer, data, args.max_seq_length)
    tokens = int(encoded.lengths.sum())

    runners = {
        "harness": lambda: (lambda p: (p.logits, p.seconds))(
            predict(predictor, tokenizer, data, args.batch_size, args.max_seq_length, progress=False)),
        "fixed_padding": lambda: fixed_padding_logits(predictor.model, encoded, args.batch_size, args.max_seq_length),
        "trainer": lambda: trainer_logits(predictor.model, tokenizer, encoded, args.batch_size),
    }
    seconds: dict[str, list[float]] = {name: [] for name in runners}
    logits: dict[str, np.ndarray] = {}
    for name, run in runners.items():  # warm-up, and drop a runner whose library is missing
        if run() is None:
            seconds.pop(name)
    for _ in range(args.repeats):  # interleaved, so machine noise hits every method alike
        for name in seconds:
            logits[name], elapsed = runners[name]()
            seconds[name].append(elapsed)

    methods = {}
    for name, times in seconds.items():
        best = min(times)
        predictions = predictions_from_logits(task, logits[name])
        methods[name] = {
            "seconds_best": best, "seconds_all": times,
            "examples_per_second": len(data) / best, "tokens_per_second": tokens / best,
            "metrics": compute_metrics(task, predictions, data.labels),
            "max_abs_logit_diff_vs_harness": float(np.abs(logits[name] - logits["harness"]).max()),
            "same_predictions_as_harness": bool(
                np.array_equal(predictions, predictions_from_logits(task, logits["harness"]))),
        }
    harness = methods["harness"]
    result = {
        "benchmark": "eval_throughput",
        "command": "python -m benchmarks.eval_throughput " + " ".join(argv if argv is not None else sys.argv[1:]),
        "model": args.model, "task": task.name, "split": "dev", "num_examples": len(data), "real_tokens": tokens,
        "batch_size": args.batch_size, "max_seq_length": args.max_seq_length, "threads": args.threads,
        "repeats": args.repeats, "methods": methods,
        "speedup_vs": {name: m["seconds_best"] / harness["seconds_best"] for name, m in methods.items()
                       if name != "harness"},
        "metrics_identical": all(m["metrics"] == harness["metrics"] for m in methods.values()),
        **provenance(),
    }
    write_json(args.output, result)
    for name, m in methods.items():
        print(f"{name:14} {m['examples_per_second']:8.1f} ex/s  {m['tokens_per_second']:9.0f} tok/s  "
              f"metrics {json.dumps(m['metrics'])}")
    print("speedup of the harness:", {k: round(v, 2) for k, v in result["speedup_vs"].items()},
          "| metrics identical:", result["metrics_identical"])
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
