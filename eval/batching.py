"""Tokenize GLUE examples and group them into length-sorted, dynamically padded batches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from eval.data import GlueData

Batch = dict[str, np.ndarray]  # input_ids, attention_mask, token_type_ids: int64 [batch, seq]


@dataclass(frozen=True)
class Encoded:
    """Token ids of every example of a split, unpadded, in the split's order."""

    input_ids: list[list[int]]
    token_type_ids: list[list[int]]
    pad_token_id: int

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(ids) for ids in self.input_ids), dtype=np.int64, count=len(self))


def encode(tokenizer, data: GlueData, max_seq_length: int) -> Encoded:
    """Tokenize a split (one or two text columns) with truncation to ``max_seq_length``."""
    columns = list(zip(*data.texts))
    encoding = tokenizer(*columns, truncation=True, max_length=max_seq_length)
    type_ids = encoding.get("token_type_ids") or [[0] * len(ids) for ids in encoding["input_ids"]]
    return Encoded(encoding["input_ids"], type_ids, tokenizer.pad_token_id or 0)


def pad(encoded: Encoded, rows: np.ndarray | list[int]) -> Batch:
    """Pad the given examples to the longest among them."""
    width = max(len(encoded.input_ids[r]) for r in rows)
    input_ids = np.full((len(rows), width), encoded.pad_token_id, dtype=np.int64)
    token_type_ids = np.zeros((len(rows), width), dtype=np.int64)
    attention_mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, r in enumerate(rows):
        ids = encoded.input_ids[r]
        input_ids[i, : len(ids)] = ids
        token_type_ids[i, : len(ids)] = encoded.token_type_ids[r]
        attention_mask[i, : len(ids)] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}


def length_sorted_batches(encoded: Encoded, batch_size: int) -> Iterator[tuple[np.ndarray, Batch]]:
    """Yield ``(rows, batch)`` with examples sorted by length, longest first.

    Sorting keeps padding (wasted compute) to a minimum, and longest-first surfaces an
    out-of-memory error on the first batch rather than the last. ``rows`` are the examples'
    positions in the split, so callers can put predictions back in order.
    """
    order = np.argsort(-encoded.lengths, kind="stable")
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        yield rows, pad(encoded, rows)
