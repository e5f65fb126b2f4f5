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


def _stream_tokens(stream: CorpusBatches) -> list[int]:
    """The corpus as one token stream, documents joined by [SEP] (what the pieces are cut from)."""
    tokens = []
    for ids in stream._documents_tokenized():
        tokens += [*ids, stream.tokenizer.sep_token_id]
    return tokens


def _contains(tokens: list[int], part: list[int]) -> bool:
    return any(tokens[i:i + len(part)] == part for i in range(len(tokens) - len(part) + 1))


def test_corpus_pairs_are_bert_segments_b_half_the_time_from_elsewhere(tokenizer, corpus):
    length = 24
    stream = CorpusBatches(str(corpus), tokenizer, max_seq_length=length, batch_size=2, seed=0, segments="pair")
    encoded = stream.materialize(limit=10_000)
    tokens, body = _stream_tokens(stream), length - 3
    following = 0
    for ids, types in zip(encoded.input_ids, encoded.token_type_ids):
        cut = types.index(1) - 2  # [CLS] A [SEP] | B [SEP]
        assert len(ids) == len(types) == length and types == [0] * (cut + 2) + [1] * (body - cut + 1)
        assert body // 4 <= cut <= body - body // 4
        assert ids[0] == tokenizer.cls_token_id and ids[cut + 1] == ids[-1] == tokenizer.sep_token_id
        first, second = ids[1:cut + 1], ids[cut + 2:-1]
        assert _contains(tokens, first) and _contains(tokens, second)
        following += _contains(tokens, first + second)
    assert 0.3 < following / len(encoded) < 0.75  # B follows A about half the time (a few random Bs do too)
    assert encoded.input_ids == stream.materialize(limit=10_000).input_ids  # the same cuts every time
    assert [s for _, s in zip(range(20), stream.one_pass(1))] != [s for _, s in zip(range(20), stream.one_pass(0))]
    batch = next(stream.iterate())
    assert batch["token_type_ids"].shape == (2, length) and bool(batch["token_type_ids"].any())


def test_corpus_single_segments_pack_the_stream_without_type_ids(tokenizer, corpus):
    stream = CorpusBatches(str(corpus), tokenizer, max_seq_length=16, batch_size=2, seed=0)  # the default
    encoded = stream.materialize(limit=10_000)
    tokens = _stream_tokens(stream)
    assert [token for ids in encoded.input_ids for token in ids[1:-1]] == tokens[:14 * len(encoded)]
    assert not any(any(types) for types in encoded.token_type_ids)
    assert not next(stream.iterate())["token_type_ids"].any()
