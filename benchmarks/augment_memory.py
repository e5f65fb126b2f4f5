"""Peak memory of `distill augment` on very long rows (issue 15: it grew with the square of their length).

    python benchmarks/augment_memory.py            # 4 rows of 100,000 characters, the packaged MiniLM-L6

Writes a 4-row SST-2-layout folder of real Wikipedia text, runs the real command in a child
process and records its peak resident memory (``ru_maxrss``) and wall time in
``benchmarks/results/augment_memory.json``.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.shared_data import CORPUS_TEXT, RESULTS

from eval.core.artifacts import provenance, write_json


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=4)
    parser.add_argument("--chars", type=int, default=100_000)
    parser.add_argument("--model", default="minilm-l6")
    args = parser.parse_args(argv)
    text = " ".join(CORPUS_TEXT.read_text(encoding="utf-8").split())
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "glue" / "SST-2"
        root.mkdir(parents=True)
        rows = [text[i * args.chars:(i + 1) * args.chars].replace("\t", " ") for i in range(args.rows)]
        body = "".join(f"{row}\t{i % 2}\n" for i, row in enumerate(rows))
        (root / "train.tsv").write_text("sentence\tlabel\n" + body)
        (root / "dev.tsv").write_text("sentence\tlabel\n" + body)
        command = [sys.executable, "-m", "distill.cli", "augment", "--task", "sst2", "--model", args.model,
                   "--data-dir", str(root.parent), "--output-dir", str(Path(tmp) / "out"), "--set", "variants=4"]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        seconds = time.perf_counter() - started
    if done.returncode != 0:
        print(done.stderr[-2000:], file=sys.stderr)
        return done.returncode
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    record = {"schema": "bert-compression-toolkit/augment-memory", "rows": args.rows, "chars_per_row": args.chars,
              "model": args.model, "command": " ".join(["distill", *command[3:]]), "peak_rss_mb": round(peak_mb, 1),
              "seconds": round(seconds, 1), **provenance()}
    write_json(RESULTS / "augment_memory.json", record)
    print(f"{args.rows} rows x {args.chars:,} characters: peak RSS {peak_mb:,.0f} MB, {seconds:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
