"""Training batches replay exactly (resume), shard across processes, and pack a corpus into full sequences."""

from __future__ import annotations

import torch

from distill.data import CorpusBatches, GlueBatches
from eval.batching import encode
from eval.data import load_split
from eval.tasks import get_task


def _glue(tokenizer, glue_tsv, **kwargs):
    data = load_split(get_task("sst2"), "train", glue_tsv)
    return GlueBatches(encode(tokenizer, data, 32), data.labels, batch_size=3, seed=0, **kwargs)


def test_glue_batches_replay_and_reshuffle(tokenizer, glue_tsv):
    batches = _glue(tokenizer, glue_tsv)
    assert batches.batches_per_epoch == 6  # 16 examples, last batch short
    epoch0 = [b["rows"].tolist() for b in batches.iterate(0)]
    assert sorted(r for rows in epoch0 for r in rows) == list(range(16))
    assert [b["rows"].tolist() for b in batches.iterate(0, skip=4)] == epoch0[4:]
    assert [b["rows"].tolist() for b in batches.iterate(1)] != epoch0
    first = next(batches.iterate(0))
    assert first["input_ids"].shape == first["attention_mask"].shape and first["labels"].dtype == torch.long


def test_glue_batches_shard_across_processes(tokenizer, glue_tsv):
    ranks = [_glue(tokenizer, glue_tsv, rank=r, world_size=2) for r in range(2)]
    assert ranks[0].batches_per_epoch == ranks[1].batches_per_epoch == 2  # 16 // 6, tail dropped
    rows = [[b["rows"].tolist() for b in r.iterate(0)] for r in ranks]
    single = [b["rows"].tolist() for b in _glue(tokenizer, glue_tsv).iterate(0)]
    assert rows[0][0] + rows[1][0] == single[0] + single[1]


def test_corpus_packing(tokenizer, corpus):
    stream = CorpusBatches(str(corpus), tokenizer, max_seq_length=16, batch_size=2, seed=0, shuffle_buffer=4)
    batches = stream.iterate()
    first = next(batches)
    assert first["input_ids"].shape == (2, 16) and bool(first["attention_mask"].all())
    assert (first["input_ids"][:, 0] == tokenizer.cls_token_id).all()
    assert (first["input_ids"][:, -1] == tokenizer.sep_token_id).all()
    assert tokenizer.unk_token_id not in first["input_ids"]
    again = [b["input_ids"] for _, b in zip(range(3), stream.iterate())]
    skipped = next(stream.iterate(skip=2))["input_ids"]
    assert torch.equal(again[2], skipped)
