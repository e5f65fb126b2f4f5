"""The held-out probes that chose study v2's defaults: one table from their run folders.

    python -m benchmarks.probe_figures        # after the commands in benchmarks/probes/README.md

Reads each finished model's record (``metrics.json``: the best score on the held-out slice of train
it was selected on) and each general-distilled student's transfer probe (``probe.json``), and writes
``benchmarks/results/probes/heldout.json``. One seed each: exploratory, for choosing defaults; the
study (``recipes/glue/leaderboard.yaml``) reports dev over three seeds.
"""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.shared_data import RESULTS, ROOT
from eval.artifacts import write_json

RUNS = {"stsb": ROOT / "runs" / "probe-stsb", "wiki-topics": ROOT / "runs" / "probe-wiki"}
GENERAL = {"general-tiny-v2": ROOT / "runs" / "probe-general" / "general-tiny-v2"}
OUT = RESULTS / "probes" / "heldout.json"


def main() -> int:
    record = json.loads(OUT.read_text()) if OUT.is_file() else {"tasks": {}, "general": {}}
    for task, folder in RUNS.items():
        for run in sorted(folder.glob("*/metrics.json")):
            data = json.loads(run.read_text())
            if data.get("dev"):
                record["tasks"].setdefault(task, {})[run.parent.name] = {
                    "heldout": {k: round(100 * v, 2) for k, v in data["dev"].items()}, "best_step": data["best_step"],
                    "steps": data.get("steps"), "config": data["config"]}
    for name, folder in GENERAL.items():
        if (folder / "probe.json").is_file():
            record["general"][name] = json.loads((folder / "probe.json").read_text())
    write_json(OUT, record)
    for task, rows in record["tasks"].items():
        print(task)
        for name, row in rows.items():
            print(f"  {name:24} {'  '.join(f'{k} {v:.1f}' for k, v in row['heldout'].items())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
