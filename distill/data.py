"""Training batches: shuffled GLUE examples, or a streamed, packed text corpus.

Both sources are replayable: ``iterate(epoch, skip)`` yields the same batches for the same
epoch every time, so a resumed run skips what it had seen and continues exactly where it was.
Under ``torchrun`` each process takes its own slice of every global batch.
"""

from __future__ import annotations

import math
from typing import Iterator

import numpy as np
import torch

from distill.corpus import corpus_files, iter_documents
from eval.batching import Encoded, pad
from eval.errors import UserError

Batch = dict[str, torch.Tensor]


class GlueBatches:
    """Batches of a tokenized GLUE split, reshuffled every epoch with ``seed + epoch``.

    Each batch holds ``input_ids``, ``attention_mask``, ``token_type_ids`` (``[batch, seq]``,
    padded to the longest example), ``labels`` (``[batch]``) and ``rows`` (``[batch]``, example
    positions, used to cache teacher logits).
    """

    def __init__(self, encoded: Encoded, labels: list | None, batch_size: int, seed: int, shuffle: bool = True,
                 rank: int = 0, world_size: int = 1, regression: bool = False):
        self.encoded, self.batch_size, self.seed, self.shuffle = encoded, batch_size, seed, shuffle
        self.rank, self.world_size = rank, world_size
        dtype = torch.float32 if regression else torch.long
        self.labels = torch.tensor(labels, dtype=dtype) if labels is not None else None
        global_batch = batch_size * world_size
        # With several processes every one must see the same number of batches: drop the tail.
        self.batches_per_epoch = (math.ceil(len(encoded) / batch_size) if world_size == 1
                                  else len(encoded) // global_batch)
        if self.batches_per_epoch == 0:
            raise UserError(f"{len(encoded)} training examples are fewer than one global batch of {global_batch}")

    def iterate(self, epoch: int, skip: int = 0) -> Iterator[Batch]:
        count = len(self.encoded)
        order = (np.random.default_rng(self.seed + epoch).permutation(count) if self.shuffle
                 else np.arange(count))
        global_batch = self.batch_size * self.world_size
        for index in range(skip, self.batches_per_epoch):
            rows = order[index * global_batch:(index + 1) * global_batch]
            rows = rows[self.rank * self.batch_size:(self.rank + 1) * self.batch_size]
            batch = {k: torch.from_numpy(v) for k, v in pad(self.encoded, rows).items()}
            batch["rows"] = torch.from_numpy(rows.astype(np.int64))
            if self.labels is not None:
                batch["labels"] = self.labels[batch["rows"]]
            yield batch


class CorpusBatches:
    """Unlabeled text, tokenized on the fly and packed into full ``max_seq_length`` sequences.

    Documents are read lazily (a file, a folder of files, or ``hub:<dataset>[:<config>]``
    streamed), joined with ``[SEP]``, cut into ``[CLS] ... [SEP]`` pieces and shuffled through a
    small seeded buffer. The stream restarts when the corpus ends, so a run lasts ``max_steps``.
    Memory use is one buffer of sequences, whatever the corpus size.
    """

    batches_per_epoch = None  # a stream: the loop counts steps, not epochs

    def __init__(self, source: str, tokenizer, max_seq_length: int, batch_size: int, seed: int,
                 rank: int = 0, world_size: int = 1, shuffle_buffer: int = 2048, text_field: str | None = None):
        self.source, self.tokenizer = source, tokenizer
        self.max_seq_length, self.batch_size, self.seed = max_seq_length, batch_size, seed
        self.rank, self.world_size, self.shuffle_buffer = rank, world_size, shuffle_buffer
        self.text_field = text_field  # JSONL records / Hub rows: the field holding the text
        self.files = corpus_files(source)

    def iterate(self, epoch: int = 0, skip: int = 0) -> Iterator[Batch]:
        batch: list[list[int]] = []
        position = 0
        for sequence_number, ids in enumerate(self._shuffled(self._sequences())):
            if sequence_number % self.world_size != self.rank:
                continue
            batch.append(ids)
            if len(batch) == self.batch_size:
                if position >= skip:
                    yield self._collate(batch)
                position += 1
                batch = []

    def _sequences(self) -> Iterator[list[int]]:
        """Packed sequences, pass after pass over the corpus."""
        while True:
            produced = False
            for ids in self.one_pass():
                produced = True
                yield ids
            if not produced:
                raise UserError(f"corpus {self.source} holds less than one {self.max_seq_length}-token sequence "
                                f"of text; point --corpus at real text")

    def one_pass(self) -> Iterator[list[int]]:
        """The corpus once, as ``[CLS] ... [SEP]`` sequences of exactly ``max_seq_length`` tokens."""
        body = self.max_seq_length - 2
        cls, sep = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        buffer: list[int] = []
        for ids in self._documents_tokenized():
            buffer.extend(ids)
            buffer.append(sep)
            while len(buffer) >= body:
                yield [cls, *buffer[:body], sep]
                buffer = buffer[body:]

    def materialize(self, limit: int) -> Encoded:
        """The whole corpus as packed sequences in memory (one pass), for a finite corpus.

        Raises:
            UserError: the corpus is empty or holds more than ``limit`` sequences.
        """
        sequences = []
        for ids in self.one_pass():
            sequences.append(ids)
            if len(sequences) > limit:
                raise UserError(f"corpus {self.source} holds more than {limit:,} sequences of "
                                f"{self.max_seq_length} tokens, too many to store the teacher's outputs; "
                                f"drop teacher_cache to stream it")
        if not sequences:
            raise UserError(f"corpus {self.source} holds less than one {self.max_seq_length}-token sequence "
                            f"of text; point --corpus at real text")
        return Encoded(sequences, [[0] * len(ids) for ids in sequences], self.tokenizer.pad_token_id or 0)

    def _documents_tokenized(self) -> Iterator[list[int]]:
        chunk: list[str] = []
        for document in self._documents():
            chunk.append(document)
            if len(chunk) == 256:  # the fast tokenizer is much quicker on lists
                yield from self.tokenizer(chunk, add_special_tokens=False)["input_ids"]
                chunk = []
        if chunk:
            yield from self.tokenizer(chunk, add_special_tokens=False)["input_ids"]

    def _documents(self) -> Iterator[str]:
        yield from iter_documents(self.source, self.text_field)

    def _shuffled(self, sequences: Iterator[list[int]]) -> Iterator[list[int]]:
        rng = np.random.default_rng(self.seed)
        buffer: list[list[int]] = []
        for ids in sequences:
            buffer.append(ids)
            if len(buffer) >= self.shuffle_buffer:
                index = int(rng.integers(len(buffer)))
                buffer[index], buffer[-1] = buffer[-1], buffer[index]
                yield buffer.pop()

    @staticmethod
    def _collate(sequences: list[list[int]]) -> Batch:
        input_ids = torch.tensor(sequences, dtype=torch.long)
        return {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids),
                "token_type_ids": torch.zeros_like(input_ids)}
