"""Read a general-distillation corpus as a stream of documents, after checking that it is text.

A corpus source is one of:

- a text file (``.txt``, ``.raw``, ``.tokens`` or no suffix): every non-blank line is a document;
- JSON Lines (``.jsonl``, or ``.json`` holding JSON Lines or one list of records): each record's
  text field is a document;
- a folder: every such file below it (hidden files skipped), in sorted order;
- ``hub:<dataset>[:<config>]``: the text column of the dataset's ``train`` split, streamed;
- ``task:<name or spec>[@<data_dir>]``: every text of a task's ``train`` split (each text of a pair
  on its own), from that GLUE folder (default: the config's ``data_dir``, else the Hub) — the
  in-domain sentences a student will meet, without their labels.

A corpus may list several sources; :func:`iter_corpus` reads them in order and, by default, drops
a document whose text (lower-cased, whitespace collapsed) came earlier, so no text is read twice in
a pass: GLUE tasks share sentences, and repeated text teaches a student less than new text.

The text field of records and Hub rows is ``text_field`` when given; otherwise ``text``, or a
record's only string field. :func:`corpus_files` checks every file before training starts (UTF-8
text, not binary, not UTF-16; see :mod:`eval.core.text_files`), so random bytes or a spreadsheet export
are one clear error instead of a model trained on replacement characters.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from eval.core.errors import UserError, first_line
from eval.core.text_files import check_text_file, decode_error

HUB_PREFIX = "hub:"
TASK_PREFIX = "task:"
DEFAULT_TEXT_FIELD = "text"
TEXT_SUFFIXES = (".txt", ".raw", ".tokens", "")
RECORD_SUFFIXES = (".jsonl", ".json")


def iter_corpus(sources: str | Sequence[str], text_field: str | None = None, data_dir: str | None = None,
                deduplicate: bool = True) -> Iterator[str]:
    """Every document of every source in order; with ``deduplicate``, each distinct text once."""
    seen: set[bytes] = set()
    for source in [sources] if isinstance(sources, str) else sources:
        for document in iter_documents(source, text_field, data_dir):
            if deduplicate:
                key = hashlib.blake2b(" ".join(document.lower().split()).encode(), digest_size=12).digest()
                if key in seen:
                    continue
                seen.add(key)
            yield document


def iter_documents(source: str, text_field: str | None = None, data_dir: str | None = None) -> Iterator[str]:
    """Every document of a corpus, stripped, blank ones skipped (one pass; call again to restart).

    Raises:
        UserError: a missing or non-text corpus, a record without the text field or with a
            non-text value, a line that is not JSON, an unreachable Hub dataset.
    """
    if source.startswith(TASK_PREFIX):
        yield from _task_documents(source, data_dir)
        return
    files = corpus_files(source)
    if files is None:
        yield from _hub_documents(source, text_field)
        return
    for path in files:
        lines = _lines(path)
        if path.suffix.lower() in RECORD_SUFFIXES:
            yield from _record_texts(_records(lines, path), text_field, f"corpus file {path}")
        else:
            yield from (line.strip() for line in lines if line.strip())


def corpus_files(source: str) -> list[Path] | None:
    """The files of a corpus path, each checked to be text (``None`` for a Hub dataset).

    Raises:
        UserError: missing path, a folder without corpus files, only empty files, or a file that
            is not UTF-8 text.
    """
    if source.startswith((HUB_PREFIX, TASK_PREFIX)):
        return None
    path = Path(source).expanduser()
    suffixes = TEXT_SUFFIXES + RECORD_SUFFIXES
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")
                       and p.suffix.lower() in suffixes)
    else:
        raise UserError(f"corpus {source} does not exist; pass a text file, a folder of .txt files, a .jsonl "
                        f"file, hub:<dataset>[:<config>] or task:<task>")
    files = [f for f in files if f.stat().st_size > 0]
    if not files:
        raise UserError(f"corpus {source} has no non-empty text files ({', '.join(s for s in suffixes if s)})")
    for file in files:
        check_text_file(file, "corpus file")
    return files


def _lines(path: Path) -> Iterator[str]:
    """The file's lines, decoded strictly: invalid UTF-8 past the checked start is an error too."""
    try:
        with path.open(encoding="utf-8-sig") as handle:
            yield from handle
    except UnicodeDecodeError as err:
        raise decode_error(path, "corpus file", err) from None


def _records(lines: Iterable[str], path: Path) -> Iterator[tuple[int, Any]]:
    """``(line number, record)`` from JSON Lines, or from one JSON list when the file starts with ``[``."""
    lines = iter(lines)
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if line.lstrip().startswith("["):  # a single JSON document holding a list of records
            records = _parse("".join([line, *lines]), path, number)
            if not isinstance(records, list):
                raise UserError(f"corpus file {path} is neither JSON Lines nor a JSON list of records")
            yield from ((index, record) for index, record in enumerate(records, 1))
            return
        yield number, _parse(line, path, number)


def _parse(text: str, path: Path, number: int) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise UserError(f"line {number} of corpus file {path} is not JSON ({err.msg}); pass JSON Lines, one "
                        f"record per line") from None


def _record_texts(records: Iterable[tuple[int, Any]], text_field: str | None, where: str) -> Iterator[str]:
    """The text field of each record; the field is fixed by the first record when not given."""
    field = text_field
    for number, record in records:
        if not isinstance(record, dict):
            raise UserError(f"record {number} of {where} is {type(record).__name__}, not an object with a "
                            f"{field or DEFAULT_TEXT_FIELD!r} field")
        field = field or _text_field(record, where)
        if field not in record:
            raise UserError(f"record {number} of {where} has no field {field!r} (its fields: "
                            f"{', '.join(map(str, record)) or 'none'}); every record needs the text field")
        value = record[field]
        if value is None:
            continue
        if not isinstance(value, str):
            raise UserError(f"field {field!r} of record {number} of {where} is {type(value).__name__}, not text")
        if value.strip():
            yield value.strip()


def _text_field(record: dict, where: str) -> str:
    if DEFAULT_TEXT_FIELD in record:
        return DEFAULT_TEXT_FIELD
    strings = [k for k, v in record.items() if isinstance(v, str)]
    if len(strings) == 1:
        return strings[0]
    raise UserError(f"{where} has no {DEFAULT_TEXT_FIELD!r} field and no single text field to use instead "
                    f"(fields: {', '.join(map(str, record)) or 'none'}); name the text field 'text'")


def _hub_documents(source: str, text_field: str | None) -> Iterator[str]:
    import datasets

    name, _, config = source[len(HUB_PREFIX):].partition(":")
    try:
        stream = datasets.load_dataset(name, config or None, split="train", streaming=True)
    except Exception as err:
        raise UserError(f"cannot stream corpus {source} from the Hub: {first_line(err)}; pass a local text file "
                        f"or folder") from None
    yield from _record_texts(enumerate(stream, 1), text_field, f"corpus {source}")


def _task_documents(source: str, data_dir: str | None) -> Iterator[str]:
    from eval.data import load_split
    from eval.tasks import get_task

    name, _, own_data_dir = source[len(TASK_PREFIX):].partition("@")
    task = get_task(name)
    for texts in load_split(task, "train", own_data_dir or data_dir).texts:
        yield from (text.strip() for text in texts if text.strip())
