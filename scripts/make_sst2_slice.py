"""Write the SST-2 slice the quickstart ships: N labeled training rows, M more phrases without labels, the dev set.

Run (from the repository root, with a full glue_data/ copy):
    python scripts/make_sst2_slice.py ../shared/data/glue_data recipes/data/sst2-slice --train-rows 4000 \\
        --unlabeled-rows 16000
"""

import argparse
import random
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="root of a glue_data/ copy")
    parser.add_argument("target", type=Path)
    parser.add_argument("--train-rows", type=int, default=4000)
    parser.add_argument("--unlabeled-rows", type=int, default=16000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    out = args.target / "SST-2"
    out.mkdir(parents=True, exist_ok=True)
    header, *rows = (args.source / "SST-2" / "train.tsv").read_text(encoding="utf-8").splitlines(keepends=True)
    picked = sorted(random.Random(args.seed).sample(range(len(rows)), args.train_rows))
    (out / "train.tsv").write_text(header + "".join(rows[i] for i in picked), encoding="utf-8")
    (out / "dev.tsv").write_bytes((args.source / "SST-2" / "dev.tsv").read_bytes())
    # Phrases the labeled rows do not hold, labels dropped: in-domain text for the teacher to label.
    taken = set(picked)
    rest = [i for i in range(len(rows)) if i not in taken]
    extra = sorted(random.Random(args.seed + 1).sample(rest, args.unlabeled_rows))
    phrases = [rows[i].split("\t")[0].strip() for i in extra]
    (args.target / "unlabeled.txt").write_text("".join(p + "\n" for p in phrases), encoding="utf-8")


if __name__ == "__main__":
    main()
