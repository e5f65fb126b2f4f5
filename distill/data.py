"""Training batches: shuffled GLUE examples, or a streamed, packed text corpus.

Both sources are replayable: ``iterate(epoch, skip)`` yields the same batches for the same
epoch every time, so a resumed run skips what it had seen and continues exactly where it was.
Under ``torchrun`` each process takes its own slice of every global batch.
"""

from __future__ import annotations

import collections
import itertools
import math
from typing import Iterator, Sequence

import numpy as np
import torch

from distill.config import Segments
from distill.corpus import corpus_files, iter_corpus
from eval.batching import Encoded, pad
from eval.core.errors import UserError

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


Packed = tuple[list[int], list[int]]  # input ids and token type ids of one packed sequence

# A random second segment is drawn from the last OTHER_TEXT_POOL pieces, never from the
# OTHER_TEXT_SKIP just before A (most likely the same document).
OTHER_TEXT_POOL, OTHER_TEXT_SKIP = 512, 8


class CorpusBatches:
    """Unlabeled text, tokenized on the fly and packed into full ``max_seq_length`` sequences.

    Documents are read lazily (a file, a folder of files, or ``hub:<dataset>[:<config>]``
    streamed), joined with ``[SEP]``, cut into pieces of ``max_seq_length`` tokens and shuffled
    through a small seeded buffer. The stream restarts when the corpus ends, so a run lasts
    ``max_steps``. Memory use is one buffer of sequences, whatever the corpus size.

    ``segments="single"`` (the default) packs one segment per sequence, ``[CLS] ... [SEP]``.
    ``"pair"`` cuts each piece as BERT's pre-training data is cut, and as TinyBERT's general
    distillation reads it: ``[CLS] A [SEP] B [SEP]`` with token type 1 on B, A's length drawn
    between a quarter and three quarters of the piece, and B half the time the text that follows
    A, half the time text from elsewhere in the corpus, so the student meets the second segment,
    and unrelated sentence pairs, before a pair task.
    """

    batches_per_epoch = None  # a stream: the loop counts steps, not epochs

    def __init__(self, source: str | Sequence[str], tokenizer, max_seq_length: int, batch_size: int, seed: int,
                 rank: int = 0, world_size: int = 1, shuffle_buffer: int = 2048, text_field: str | None = None,
                 segments: Segments = "single", data_dir: str | None = None, deduplicate: bool = True):
        self.source, self.tokenizer = source, tokenizer
        self.max_seq_length, self.batch_size, self.seed = max_seq_length, batch_size, seed
        self.rank, self.world_size, self.shuffle_buffer = rank, world_size, shuffle_buffer
        self.text_field = text_field  # JSONL records / Hub rows: the field holding the text
        self.segments = segments
        self.data_dir, self.deduplicate = data_dir, deduplicate  # task: sources read their train split there
        for one in [source] if isinstance(source, str) else source:
            corpus_files(one)  # every file checked to be text before training starts

    def iterate(self, epoch: int = 0, skip: int = 0) -> Iterator[Batch]:
        batch: list[Packed] = []
        position = 0
        for sequence_number, sequence in enumerate(self._shuffled(self._sequences())):
            if sequence_number % self.world_size != self.rank:
                continue
            batch.append(sequence)
            if len(batch) == self.batch_size:
                if position >= skip:
                    yield self._collate(batch)
                position += 1
                batch = []

    def _sequences(self) -> Iterator[Packed]:
        """Packed sequences, pass after pass over the corpus (each pass cut at other places)."""
        for number in itertools.count():
            produced = False
            for sequence in self.one_pass(number):
                produced = True
                yield sequence
            if not produced:
                raise UserError(f"corpus {self.source} holds less than one {self.max_seq_length}-token sequence "
                                f"of text; point --corpus at real text")

    def one_pass(self, number: int = 0) -> Iterator[Packed]:
        """The corpus once, as sequences of exactly ``max_seq_length`` tokens (pass ``number`` seeds the cuts)."""
        cls, sep = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        pair = self.segments == "pair"
        body = self.max_seq_length - (3 if pair else 2)
        rng = np.random.default_rng([self.seed, number])
        buffer: list[int] = []
        earlier: collections.deque[list[int]] = collections.deque(maxlen=OTHER_TEXT_POOL)
        for ids in self._documents_tokenized():
            buffer.extend(ids)
            buffer.append(sep)
            while len(buffer) >= body:
                piece, buffer = buffer[:body], buffer[body:]
                if not pair:
                    yield [cls, *piece, sep], [0] * self.max_seq_length
                    continue
                cut = int(rng.integers(body // 4, body - body // 4 + 1))
                second = piece[cut:]
                if len(earlier) > OTHER_TEXT_SKIP and rng.random() < 0.5:  # B from a piece further back
                    second = earlier[int(rng.integers(len(earlier) - OTHER_TEXT_SKIP))][:body - cut]
                earlier.append(piece)
                yield [cls, *piece[:cut], sep, *second, sep], [0] * (cut + 2) + [1] * (body - cut + 1)

    def materialize(self, limit: int) -> Encoded:
        """The whole corpus as packed sequences in memory (one pass), for a finite corpus.

        Raises:
            UserError: the corpus is empty or holds more than ``limit`` sequences.
        """
        sequences = []
        for sequence in self.one_pass():
            sequences.append(sequence)
            if len(sequences) > limit:
                raise UserError(f"corpus {self.source} holds more than {limit:,} sequences of "
                                f"{self.max_seq_length} tokens, too many to store the teacher's outputs; "
                                f"drop teacher_cache to stream it")
        if not sequences:
            raise UserError(f"corpus {self.source} holds less than one {self.max_seq_length}-token sequence "
                            f"of text; point --corpus at real text")
        return Encoded([ids for ids, _ in sequences], [types for _, types in sequences], self.tokenizer.pad_token_id or 0)

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
        yield from iter_corpus(self.source, self.text_field, self.data_dir, self.deduplicate)

    def _shuffled(self, sequences: Iterator[Packed]) -> Iterator[Packed]:
        rng = np.random.default_rng(self.seed)
        buffer: list[Packed] = []
        for sequence in sequences:
            buffer.append(sequence)
            if len(buffer) >= self.shuffle_buffer:
                index = int(rng.integers(len(buffer)))
                buffer[index], buffer[-1] = buffer[-1], buffer[index]
                yield buffer.pop()

    @staticmethod
    def _collate(sequences: list[Packed]) -> Batch:
        input_ids = torch.tensor([ids for ids, _ in sequences], dtype=torch.long)
        return {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids),
                "token_type_ids": torch.tensor([types for _, types in sequences], dtype=torch.long)}
