"""Where the benchmarks find the real data: the one place that knows the shared-data layout.

``../shared/data`` beside the repository (see its SOURCES.md) holds GLUE in both layouts and an
English Wikipedia corpus. It is there for development and CI, not for users; nothing the README's
main job needs comes from here.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
GLUE_TSV = DATA / "glue_data"
GLUE_PARQUET = DATA / "glue_parquet"
CORPUS_TEXT = DATA / "corpus" / "wikipedia-vital-articles-en" / "summaries_en-us.txt"
RESULTS = ROOT / "benchmarks" / "results"
RUNS = ROOT / "runs"


def glue_dir(task: str) -> Path:
    """The local GLUE copy that has a task's train split (SST-2 train is only TSV, MRPC train only parquet)."""
    return GLUE_PARQUET if task == "mrpc" else GLUE_TSV
