"""TinyBERT data augmentation: new training examples by swapping words for likely neighbours.

The procedure of Jiao et al. (2020), ``data_augmentation.py`` in the TinyBERT reference: for
each word of the first text column, candidates are the masked LM's top-K predictions at that
word when it is a single word piece, or its K nearest neighbours in an embedding space when it
is several pieces (GloVe from ``glove`` when given, else the model's input embeddings averaged
over the pieces). Each of ``variants`` new examples replaces every word, with probability
``replace_prob``, by a random candidate; duplicates are dropped; labels are copied.

Where this departs from the reference:

- Pair tasks (MRPC, RTE, ...): the reference edits the first text only; ``edit: both`` (the
  default) edits every text, so the second sentence varies too. A word both texts have
  (``shared_words``) is swapped for the same word in both (``tie``, the default), so the pair keeps
  its overlap; the reference swaps it in the first text only (``free`` with ``edit: first``), which
  turns many paraphrase pairs into non-paraphrases: on MRPC the fine-tuned teacher calls far fewer
  variants positive than their copied labels say (``benchmarks/augment_label_shift.py``); ``keep``
  never swaps it.
- Candidates: without a masked-LM head (the packaged sentence-embedding MiniLM has none) every word
  takes static input-embedding neighbours, which include antonyms (good/bad). ``filter_model``, a
  fine-tuned classifier of the task (the teacher), then judges every variant and drops those whose
  class it changes (regression: whose score moves by more than ``filter_tolerance``): the context
  the neighbours lack. ``augment.json`` records how many variants it dropped.
- ``variants: auto``: TinyBERT's 20 per example on training sets under 10,000 examples, fewer on
  larger ones (about 200,000 examples in all).

Unlike the reference, which runs the masked LM once per word of one example at a time, all the
masked copies of a chunk of examples go through the model in length-sorted batches. Output is
written in parts of ``chunk_size`` examples (``part-00000.tsv``, ...), each atomically, and a
rerun skips the finished parts, so an interrupted augmentation resumes. Each part draws its
random choices from ``(seed, part)``, so the result does not depend on where it was resumed.
When ``candidates`` is ``auto`` and the model has no masked-LM head (e.g. the packaged
sentence-embedding MiniLM), every word uses embedding neighbours; ``augment.json`` records it.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path
from typing import Iterable

import numpy as np
import torch

from distill.checkpoint import claimed_output_dir
from distill.teachers import load_model, load_tokenizer
from eval.core.artifacts import provenance, write_atomic, write_json
from eval.core.config import to_dict
from eval.data import GlueData, load_split
from eval.core.errors import UserError, first_line
from eval.predictors import resolve_device
from eval.tasks import GlueTask, get_task

META = "augment.json"
MINED = "mined.tsv"  # mined pairs, without labels
_QUERY_BLOCK = 1024  # words whose neighbours are looked up at once


def run(cfg) -> Path:
    """Augment ``cfg.task``'s training split into ``cfg.output_dir``; returns that folder."""
    task = get_task(cfg.task)
    out = Path(cfg.output_dir)
    with claimed_output_dir(out, cfg):
        return _run(cfg, task, out)


def _run(cfg, task: GlueTask, out: Path) -> Path:
    data = load_split(task, "train", cfg.data_dir)
    if cfg.limit:
        data = data.select(cfg.limit)
    if data.labels is None:
        raise UserError(f"{task.display_name} train split has no labels to copy")
    device = resolve_device(cfg.device)
    tokenizer = load_tokenizer(cfg.model)
    mlm, mode = _candidate_model(cfg, device)
    neighbours = EmbeddingNeighbours.from_glove(cfg.glove) if cfg.glove else EmbeddingNeighbours.from_model(
        mlm if mlm is not None else load_model(cfg.model, "base"), tokenizer)
    generator = Augmenter(tokenizer, mlm, neighbours, cfg.top_k, cfg.max_seq_length, cfg.batch_size, device)
    judge = MeaningFilter(cfg.filter_model, task, tokenizer, cfg, device) if cfg.filter_model else None
    variants = variants_for(cfg.variants, len(data))
    parts = range(0, len(data), cfg.chunk_size)
    for number, start in enumerate(parts):
        path = out / f"part-{number:05d}.tsv"
        if path.is_file():  # finished before an interruption
            continue
        rng = np.random.default_rng([cfg.seed, number])
        stop = start + cfg.chunk_size
        texts = data.texts[start:stop]
        rows = augment_examples(generator, texts, data.labels[start:stop], variants, cfg.replace_prob, rng,
                                cfg.shared_words, cfg.edit)
        counts = {"variants": len(rows) - len(texts)}
        if judge is not None:
            rows, counts = judge(rows)
        write_atomic(path.with_suffix(".json"), json.dumps(counts) + "\n")  # before the part: it marks it done
        write_atomic(path, _tsv(task, rows))
    per_text = pairs_for(cfg.pairs, data)
    mined = mine_pairs(data, load_model(cfg.model, "base") if mlm is None else mlm.base_model, tokenizer, cfg,
                       device, out / MINED, per_text) if per_text else 0
    total = sum(1 for _ in _read_parts(out, task))
    tallies = [json.loads(p.read_text()) for p in sorted(out.glob("part-*.json"))]
    made = sum(t["variants"] for t in tallies)
    record = {"task": task.name, "source_examples": len(data), "variants_per_example": variants,
              "examples": total, "mined_per_text": per_text, "mined_pairs": mined, "candidates": mode, "glove": cfg.glove, "parts": len(parts)}
    if judge is not None:
        flipped = sum(t["changed_meaning"] for t in tallies)
        record["filter"] = {"model": cfg.filter_model, "variants_made": made, "changed_meaning": flipped,
                            "changed_meaning_share": round(flipped / made, 4) if made else None}
    write_json(out / META, {**record, "config": to_dict(cfg), **provenance()})
    return out


def pairs_for(setting: int | str, data: GlueData) -> int:
    """Nearest texts to pair each training text with. ``auto``: 5 for a pair task below 10,000 training
    examples (where the labelled pairs are too few to learn comparing two texts from), else none."""
    if setting != "auto":
        return int(setting)
    return 5 if len(data.texts[0]) == 2 and len(data) < 10_000 else 0


def mine_pairs(data: GlueData, encoder, tokenizer, cfg, device: str, path: Path, per_text: int) -> int:
    """Write ``path``: each distinct training text paired with its ``per_text`` nearest other texts (cosine of
    mean-pooled states) and one random text, in a seeded order; returns the number of pairs.

    Pairs a task never had (a question with a question, say) still teach: the teacher scores them,
    and the student learns to compare two texts on far more pairs than the training set holds.
    """
    from distill.probe import sentence_vectors

    if len(data.texts[0]) != 2:
        raise UserError(f"pairs: mined pairs need a pair task; {data.task.display_name} has one text per example")
    if path.is_file():  # mined before an interruption
        return sum(1 for line in path.open(encoding="utf-8") if line.strip())
    pool = sorted({" ".join(t.split()) for texts in data.texts for t in texts if t.strip()})
    vectors = torch.nn.functional.normalize(torch.from_numpy(
        sentence_vectors(encoder.to(device), tokenizer, pool, cfg.max_seq_length, cfg.batch_size, device)), dim=-1)
    rng = np.random.default_rng([cfg.seed, 1 << 20])
    pairs: list[tuple[str, str]] = []
    for start in range(0, len(pool), _QUERY_BLOCK):  # [block, pool] similarities at a time: bounded memory
        similar = vectors[start:start + _QUERY_BLOCK] @ vectors.T
        rows = torch.arange(similar.shape[0])
        similar[rows, rows + start] = -2.0  # never a text with itself
        nearest = similar.topk(min(per_text, len(pool) - 1), dim=-1).indices.tolist()
        for offset, found in enumerate(nearest):
            text = pool[start + offset]
            pairs += [(text, pool[j]) for j in found] + [(text, pool[int(rng.integers(len(pool)))])]
    order = rng.permutation(len(pairs))
    write_atomic(path, "".join(f"{pairs[i][0]}\t{pairs[i][1]}\n" for i in order))
    return len(pairs)


def mined_texts(folder: str | Path) -> list[tuple[str, str]]:
    """The mined pairs of a `distill augment` folder (none when it mined none)."""
    path = Path(folder) / MINED
    if not path.is_file():
        return []
    return [tuple(line.rstrip("\n").split("\t")) for line in path.open(encoding="utf-8") if line.strip()]


def variants_for(setting: int | str, examples: int) -> int:
    """``auto``: TinyBERT's 20 variants per example below 10,000 examples, else about 200,000 examples in all."""
    if setting != "auto":
        return int(setting)
    return 20 if examples < 10_000 else max(1, round(200_000 / examples))


class MeaningFilter:
    """A fine-tuned classifier of the task that drops the variants whose meaning a swap changed.

    A variant is kept when the model gives it the class it gives the original (regression: a score
    within ``filter_tolerance`` of the original's). Judging against the model's own view of the
    original, not the gold label, measures what the swap did, not what the model gets wrong.
    """

    def __init__(self, model: str, task: GlueTask, tokenizer, cfg, device: str):
        from eval.predictors import TorchPredictor

        self.task, self.tokenizer, self.cfg = task, tokenizer, cfg
        self.predictor = TorchPredictor(str(model), device=device)
        self.predictor.check_task(task)

    def __call__(self, rows: list[tuple[tuple[str, ...], object, int]]) -> tuple[list, dict[str, int]]:
        from eval.harness import predict
        from eval.metrics import predictions_from_logits

        data = GlueData(self.task, "train", [r[0] for r in rows], None, list(range(len(rows))), "augmented")
        logits = predict(self.predictor, self.tokenizer, data, self.cfg.batch_size, self.cfg.max_seq_length,
                         progress=False).logits
        judged = predictions_from_logits(self.task, logits)
        first: dict[int, int] = {}  # origin -> its original's row (each original comes before its variants)
        kept, changed = [], 0
        for i, (_, _, origin) in enumerate(rows):
            reference = judged[first.setdefault(origin, i)]
            same = (abs(float(judged[i]) - float(reference)) <= self.cfg.filter_tolerance
                    if self.task.is_regression else judged[i] == reference)
            if same:
                kept.append(rows[i])
            else:
                changed += 1
        return kept, {"variants": len(rows) - len(first), "changed_meaning": changed}


def _candidate_model(cfg, device: str):
    """The masked LM, or ``None`` when every word uses embedding neighbours."""
    if cfg.candidates == "embedding":
        return None, "embedding"
    try:
        model = load_model(cfg.model, "mlm", require_head=True)
    except UserError:
        if cfg.candidates == "mlm":
            raise
        return None, "embedding (model has no masked-LM head)"
    return model.to(device).eval(), "mlm+embedding"


class EmbeddingNeighbours:
    """Nearest whole words by cosine similarity in an embedding table.

    Args:
        words: the candidate vocabulary (whole words only: no ``##`` pieces, no special tokens).
        vectors: ``[len(words), dim]``.
        vectors_of: words -> their vectors ``[dim]`` (``None`` for a word without an embedding), in
            one call for many words (one tokenizer call instead of one per word).
    """

    def __init__(self, words: list[str], vectors: torch.Tensor, vectors_of):
        self.words = words
        self.matrix = torch.nn.functional.normalize(vectors.float(), dim=-1)
        self.vectors_of = vectors_of
        self._found: dict[tuple[str, int], list[str]] = {}  # (word, k) -> neighbours, across parts

    @classmethod
    def from_model(cls, model, tokenizer) -> "EmbeddingNeighbours":
        table = model.get_input_embeddings().weight.detach().float().cpu()
        vocab = tokenizer.get_vocab()
        keep = sorted((i, w) for w, i in vocab.items() if w.isalpha() and w not in tokenizer.all_special_tokens)

        def vectors_of(words: list[str]) -> list[torch.Tensor | None]:
            pieces = tokenizer(words, add_special_tokens=False)["input_ids"] if words else []
            return [table[ids].mean(dim=0) if ids else None for ids in pieces]  # multi-piece words: mean of pieces

        return cls([w for _, w in keep], table[[i for i, _ in keep]], vectors_of)

    @classmethod
    def from_glove(cls, path: str) -> "EmbeddingNeighbours":
        file = Path(path).expanduser()
        if not file.is_file():
            raise UserError(f"GloVe file {file} does not exist; pass a glove.*.txt file or omit --glove")
        words, vectors = [], []
        with file.open(encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, 1):
                fields = line.rstrip().split(" ")
                if len(fields) > 2 and fields[0].isalpha():
                    try:
                        vector = [float(v) for v in fields[1:]]
                    except ValueError:
                        raise UserError(f"GloVe file {file}, line {number}: not 'word v1 v2 ...' numbers") from None
                    if vectors and len(vector) != len(vectors[0]):
                        raise UserError(f"GloVe file {file}, line {number}: {len(vector)} numbers where the first "
                                        f"line has {len(vectors[0])}; the file is truncated or mixed")
                    words.append(fields[0])
                    vectors.append(vector)
        if not words:
            raise UserError(f"GloVe file {file} holds no 'word v1 v2 ...' lines")
        table = torch.tensor(vectors)
        index = {w: i for i, w in enumerate(words)}
        return cls(words, table, lambda ws: [table[index[w]] if w in index else None for w in ws])

    def nearest(self, words: list[str], k: int) -> dict[str, list[str]]:
        """Up to ``k`` neighbours for each word (itself excluded); words without a vector get none.

        Answers are remembered: a word met again (in a later part of the data) is not looked up again.
        """
        new = [w for w in dict.fromkeys(words) if (w, k) not in self._found]
        vectors = self.vectors_of(new)
        known = [(w, v) for w, v in zip(new, vectors) if v is not None]
        self._found.update({(w, k): [] for w, v in zip(new, vectors) if v is None})
        if known:
            queries = torch.nn.functional.normalize(torch.stack([v for _, v in known]).float(), dim=-1)
            top: list[list[int]] = []
            for block in queries.split(_QUERY_BLOCK):  # [block, vocabulary] similarities at a time: bounded memory
                top += (block @ self.matrix.T).topk(min(k + 1, self.matrix.shape[0]), dim=-1).indices.tolist()
            self._found.update({(w, k): [self.words[i] for i in row if self.words[i] != w][:k]
                                for (w, _), row in zip(known, top)})
        return {w: list(self._found[(w, k)]) for w in words}


class Augmenter:
    """Candidate replacements for the words of many sentences at once."""

    def __init__(self, tokenizer, mlm, neighbours: EmbeddingNeighbours, top_k: int, max_seq_length: int,
                 batch_size: int, device: str):
        self.tokenizer, self.mlm, self.neighbours = tokenizer, mlm, neighbours
        self.top_k, self.max_seq_length, self.batch_size, self.device = top_k, max_seq_length, batch_size, device
        vocab = tokenizer.get_vocab()
        # The LM may only propose whole words: no ## pieces, punctuation or special tokens.
        self.allowed = torch.zeros(len(vocab), dtype=torch.bool)
        self.allowed[[i for w, i in vocab.items() if w.isalpha() and w not in tokenizer.all_special_tokens]] = True

    def words(self, text: str) -> list[str]:
        """The words of ``text`` up to the model's length limit (the rest would be truncated in training).

        Cutting first keeps the work per example bounded: the masked-LM step runs one copy of the
        sentence per word, which would grow with the square of an unbounded text's length.
        """
        offsets = self.tokenizer(text, add_special_tokens=False, truncation=True, max_length=self.max_seq_length,
                                 return_offsets_mapping=True)["offset_mapping"]
        text = text[: offsets[-1][1]] if offsets else ""
        backend = self.tokenizer.backend_tokenizer
        normalized = backend.normalizer.normalize_str(text) if backend.normalizer else text
        return [word for word, _ in backend.pre_tokenizer.pre_tokenize_str(normalized)]

    def candidates(self, sentences: list[list[str]]) -> list[list[list[str]]]:
        """For every word of every sentence, its replacement candidates (empty: keep the word)."""
        vocabulary = sorted({w for words in sentences for w in words if w.isalpha()})
        pieces = dict(zip(vocabulary, self.tokenizer(vocabulary, add_special_tokens=False)["input_ids"])) \
            if vocabulary else {}
        single = {w for w, ids in pieces.items() if len(ids) == 1} if self.mlm is not None else set()
        by_embedding = self.neighbours.nearest([w for w in vocabulary if w not in single], self.top_k)
        result = [[by_embedding.get(w, []) if w.isalpha() else [] for w in words] for words in sentences]
        masked = [(s, i) for s, words in enumerate(sentences) for i, w in enumerate(words) if w in single]
        for (s, i), options in zip(masked, self._masked_lm(sentences, masked)):
            result[s][i] = options
        return result

    def _masked_lm(self, sentences: list[list[str]], positions: list[tuple[int, int]]) -> list[list[str]]:
        """Top-K LM predictions for each ``(sentence, word)`` with that word masked, in batches."""
        if not positions:
            return []
        mask = self.tokenizer.mask_token
        texts = [" ".join(mask if j == i else w for j, w in enumerate(sentences[s])) for s, i in positions]
        encoded = self.tokenizer(texts, truncation=True, max_length=self.max_seq_length)["input_ids"]
        order = np.argsort([-len(ids) for ids in encoded], kind="stable")
        answers: list[list[str]] = [[] for _ in positions]
        for start in range(0, len(order), self.batch_size):
            rows = order[start:start + self.batch_size]
            width = max(len(encoded[r]) for r in rows)
            ids = torch.full((len(rows), width), self.tokenizer.pad_token_id or 0, dtype=torch.long)
            for n, r in enumerate(rows):
                ids[n, :len(encoded[r])] = torch.tensor(encoded[r])
            attention = (ids != (self.tokenizer.pad_token_id or 0)).long()
            with torch.inference_mode():
                logits = self.mlm(input_ids=ids.to(self.device), attention_mask=attention.to(self.device)).logits
            allowed = torch.zeros(logits.shape[-1], dtype=torch.bool)  # the LM may have spare rows
            allowed[:len(self.allowed)] = self.allowed[:logits.shape[-1]]
            logits = logits.float().cpu().masked_fill(~allowed, float("-inf"))
            where = ids == self.tokenizer.mask_token_id  # truncated examples may have lost their mask
            for n, r in enumerate(rows):
                hits = where[n].nonzero()
                if len(hits):
                    top = logits[n, int(hits[0])].topk(self.top_k).indices.tolist()
                    answers[r] = self.tokenizer.convert_ids_to_tokens(top)
        return answers


def augment_examples(augmenter: Augmenter, texts: list[tuple[str, ...]], labels: list, variants: int,
                     replace_prob: float, rng: np.random.Generator, shared_words: str = "tie",
                     edit: str = "first") -> list[tuple[tuple[str, ...], object, int]]:
    """Each original followed by up to ``variants`` distinct new versions of it, as ``(texts, label, origin)``
    with ``origin`` the original's position in ``texts`` (the original's own row included).

    ``edit="first"`` swaps words of the first text only (TinyBERT); ``"both"`` swaps words of every
    text. A word that both texts of a pair have is swapped the same way in both (``shared_words="tie"``,
    also in a text that is not edited otherwise), kept (``"keep"``), or swapped on its own in each
    edited text (``"free"``); see the module docstring.
    """
    edited = range(len(texts[0])) if edit == "both" and texts else range(1)
    sentences = [[augmenter.words(t[c]) for c in edited] for t in texts]
    flat = augmenter.candidates([words for columns in sentences for words in columns])
    options, start = [], 0
    for columns in sentences:
        options.append(flat[start:start + len(columns)])
        start += len(columns)

    def draw(word: str, candidates: list[str]) -> str:
        # The same draw as ``rng.choice(candidates)`` (numpy picks its index this way), without
        # turning the list into an array on every call: the swap loop runs once per word and variant.
        return candidates[int(rng.integers(len(candidates)))] if candidates and rng.random() < replace_prob else word

    rows = []
    for origin, (text, label, columns, choices) in enumerate(zip(texts, labels, sentences, options)):
        rows.append((text, label, origin))
        all_words = [augmenter.words(t) if c >= len(columns) else columns[c] for c, t in enumerate(text)] \
            if len(text) > 1 and shared_words != "free" else [columns[0]]
        counts = Counter(w for words in all_words for w in set(words))
        shared = {w for w, n in counts.items() if n > 1}
        seen = {tuple(text)}
        for _ in range(variants):
            swap: dict[str, str] = {}  # shared word -> its replacement in this variant
            new = list(text)
            for c, (words, candidates_of) in enumerate(zip(columns, choices)):
                out = []
                for word, candidates in zip(words, candidates_of):
                    if word not in shared:
                        out.append(draw(word, candidates))
                    elif shared_words == "keep":
                        out.append(word)
                    else:  # tie: one replacement per shared word, used in every text
                        if word not in swap:
                            swap[word] = draw(word, candidates)
                        out.append(swap[word])
                new[c] = " ".join(out)
            for c in range(len(columns), len(text)):  # texts not edited: only tied swaps reach them
                if any(w != r for w, r in swap.items()) and c < len(all_words):
                    new[c] = " ".join(swap.get(w, w) for w in all_words[c])
            key = tuple(new)
            if key not in seen:
                seen.add(key)
                rows.append((key, label, origin))
    return rows


def _tsv(task: GlueTask, rows: Iterable[tuple[tuple[str, ...], object, int]]) -> str:
    lines = ["\t".join([*task.text_columns, "label"])]
    # Fields never hold tabs or newlines (whitespace is collapsed), so no quoting is needed; quote
    # characters stay as they are, as in the GLUE TSVs.
    lines += ["\t".join([" ".join(t.split()) for t in texts] + [str(label)]) for texts, label, _ in rows]
    return "\n".join(lines) + "\n"


def _read_parts(folder: Path, task: GlueTask):
    cast = float if task.is_regression else int
    columns = len(task.text_columns) + 1
    for part in sorted(folder.glob("part-*.tsv")):
        try:
            with part.open(encoding="utf-8", newline="") as handle:
                reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
                next(reader, None)
                for line, row in enumerate(reader, 2):
                    if len(row) != columns:
                        raise ValueError(f"line {line} has {len(row)} fields, not {columns}")
                    yield tuple(row[:-1]), cast(row[-1])
        except (ValueError, UnicodeDecodeError) as err:
            raise UserError(f"augmented part {part} is corrupt ({first_line(err)}); delete it and re-run "
                            f"`distill augment` with the same settings to rebuild it") from None


def load_augmented(path: str | Path, task: GlueTask) -> GlueData:
    """Read a ``distill augment`` folder back as the task's training data.

    Raises:
        UserError: not an augmentation folder, unfinished, or made for another task.
    """
    folder = Path(path)
    meta_file = folder / META
    if not meta_file.is_file():
        raise UserError(f"{folder} is not a finished `distill augment` folder (no {META}); run or finish "
                        f"`distill augment --task {task.spec or task.name} --output-dir {folder}`")
    try:
        meta = json.loads(meta_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        meta = None
    if not isinstance(meta, dict):
        raise UserError(f"{meta_file} is corrupt; delete it and re-run `distill augment` with the same settings "
                        f"(finished parts are kept)")
    if meta.get("task") != task.name:
        raise UserError(f"augmented data in {folder} is for {meta.get('task')}, not {task.name}")
    rows = list(_read_parts(folder, task))
    if not rows:
        raise UserError(f"augmented data in {folder} has no examples")
    texts = [r[0] for r in rows]
    return GlueData(task, "train", texts, [r[1] for r in rows], list(range(len(rows))), str(folder))
