"""Shared fixtures: tiny random BERTs, a WordPiece tokenizer, and small GLUE folders in both layouts.

Nothing here touches the network. Every GLUE fixture file is shaped like the real one (header or
not, column names, label spellings, BOM for MRPC dev), so the loaders meet the real quirks.
"""

from __future__ import annotations

import logging
import random
import re
from pathlib import Path

import pytest

logging.getLogger("torchao").setLevel(logging.ERROR)
logging.getLogger("torch.utils._pytree").setLevel(logging.ERROR)

WORDS = ("the a movie film is was good bad great awful fun dull plot actor story man woman dog cat "
         "runs sat on mat said it not very really quite ran house car red blue question answer what "
         "who where when why how did does do and or but with of to in by for from at").split()
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
VOCAB = SPECIAL + WORDS + [f"##{s}" for s in ("s", "ed", "ing", "ly")] + [".", ",", "?", "'", '"']

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _sentence(rng: random.Random, n: int | None = None) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n or rng.randint(3, 12))) + " ."


@pytest.fixture(scope="session")
def vocab_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    path.write_text("\n".join(VOCAB) + "\n")
    return path


@pytest.fixture(scope="session")
def tokenizer(vocab_file):
    """A WordPiece tokenizer over VOCAB. Loaded from the folder: with transformers 5,
    ``BertTokenizerFast(vocab_file=...)`` keeps only the special tokens (every word -> [UNK])."""
    from transformers import BertTokenizer

    loaded = BertTokenizer.from_pretrained(str(vocab_file.parent), do_lower_case=True)
    assert loaded.convert_tokens_to_ids("movie") != loaded.unk_token_id
    return loaded


def tiny_bert_config(layers: int = 2, hidden: int = 32, heads: int = 4, num_labels: int = 2, **extra):
    from transformers import BertConfig

    return BertConfig(vocab_size=len(VOCAB), hidden_size=hidden, num_hidden_layers=layers,
                      num_attention_heads=heads, intermediate_size=hidden * 2, max_position_embeddings=64,
                      num_labels=num_labels, **extra)


def save_tiny_classifier(folder: Path, tokenizer, num_labels: int = 2, layers: int = 2, seed: int = 0,
                         hidden: int = 32, heads: int = 4) -> Path:
    """A random BertForSequenceClassification with its tokenizer, saved as a model folder."""
    import torch
    from transformers import BertForSequenceClassification

    torch.manual_seed(seed)
    model = BertForSequenceClassification(tiny_bert_config(layers, hidden, heads, num_labels))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_classifier(tmp_path_factory, tokenizer) -> Path:
    """A 2-label tiny classifier folder (fits SST-2, MRPC, CoLA, QNLI, RTE, WNLI, QQP)."""
    return save_tiny_classifier(tmp_path_factory.mktemp("models") / "tiny-2", tokenizer)


@pytest.fixture(scope="session")
def tiny_regressor(tmp_path_factory, tokenizer) -> Path:
    return save_tiny_classifier(tmp_path_factory.mktemp("models") / "tiny-1", tokenizer, num_labels=1)


def _write_tsv(path: Path, header: list[str] | None, rows: list[list[str]], bom: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ([header] if header else []) + rows
    text = "\n".join("\t".join(line) for line in lines)  # no trailing newline, like CoLA's dev.tsv
    path.write_text(text, encoding="utf-8-sig" if bom else "utf-8")


def _labels(task, rng: random.Random, n: int) -> list:
    if task.is_regression:
        return [round(rng.uniform(0, 5), 3) for _ in range(n)]
    return [i % task.num_labels for i in range(n)]  # every class appears


def write_glue_tsv(root: Path, rows_per_split: int = 16, seed: int = 0) -> dict:
    """A classic glue_data/ tree for every task; returns {(task, split): (texts, labels)}."""
    from eval.tasks import TASKS

    rng = random.Random(seed)
    truth, written = {}, {}
    for task in TASKS.values():
        for split_name, split in task.splits.items():
            path = root / task.tsv_dir / split.tsv_file
            if path in written:  # MNLI-m and MNLI-mm share train.tsv
                truth[(task.name, split_name)] = written[path]
                continue
            fmt = task.tsv_format(split_name)
            n = rows_per_split
            texts = [tuple(_sentence(rng) for _ in task.text_columns) for _ in range(n)]
            # a quote character inside a sentence: quoting must be off, as in the real files
            texts[0] = (texts[0][0].replace(" ", ' " ', 1),) + texts[0][1:]
            labels = _labels(task, rng, n) if split.labeled else None
            if fmt.header:
                columns = _named_columns(task, fmt, split.labeled)
                header = list(columns)
            else:  # CoLA: source, label, original label, sentence
                columns, header = {0: None, 1: None, 2: None, 3: None}, None
            rows = []
            for i in range(n):
                values = {c: "x" for c in columns}
                for col, text in zip(fmt.texts, texts[i]):
                    values[col] = text
                if fmt.index is not None:
                    values[fmt.index] = str(i)
                if labels is not None and fmt.label is not None:
                    values[fmt.label] = (f"{labels[i]:.3f}" if task.is_regression
                                         else task.tsv_labels[labels[i]])
                if header is None:
                    values[0], values[2] = "src", ""
                rows.append([values[c] for c in columns])
            _write_tsv(path, header, rows, bom=task.name == "mrpc" and split_name == "dev")
            truth[(task.name, split_name)] = written[path] = (texts, labels)
    return truth


def _named_columns(task, fmt, labeled: bool) -> dict:
    """Header names in the real files' order, with filler columns the real files also have."""
    names = [fmt.index, "genre", *fmt.texts] if fmt.index is not None else [*fmt.texts]
    if task.name == "mrpc":
        names = (["Quality"] if labeled else ["index"]) + ["#1 ID", "#2 ID", *fmt.texts]
    elif fmt.label is not None:
        names.append(fmt.label)
    return {n: None for n in dict.fromkeys(names)}


def write_glue_parquet(root: Path, truth: dict) -> None:
    """The same examples as Hub-layout parquet files (<config>/<split>-00000-of-00001.parquet)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from eval.tasks import TASKS

    for (name, split_name), (texts, labels) in truth.items():
        task = TASKS[name]
        split = task.split(split_name)
        columns = {c: [t[i] for t in texts] for i, c in enumerate(task.text_columns)}
        if labels is None:
            columns["label"] = [-1.0 if task.is_regression else -1] * len(texts)
        else:
            columns["label"] = labels
        columns["idx"] = list(range(len(texts)))
        table = pa.table(columns)
        if task.is_regression:
            table = table.set_column(table.schema.get_field_index("label"), "label",
                                     table.column("label").cast(pa.float32()))
        folder = root / task.hub_config
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, folder / f"{split.hub_split}-00000-of-00001.parquet")


@pytest.fixture(scope="session")
def glue_fixture(tmp_path_factory):
    """(tsv_root, parquet_root, truth) with 16 rows per split of every task."""
    base = tmp_path_factory.mktemp("glue")
    truth = write_glue_tsv(base / "glue_data")
    write_glue_parquet(base / "glue_parquet", truth)
    return base / "glue_data", base / "glue_parquet", truth


@pytest.fixture(scope="session")
def glue_tsv(glue_fixture) -> Path:
    return glue_fixture[0]


@pytest.fixture(scope="session")
def glue_parquet(glue_fixture) -> Path:
    return glue_fixture[1]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "glue_data").is_dir():
        pytest.skip("../shared/data is not beside this checkout")
    return SHARED_DATA


def assert_user_error(main, argv: list[str], capsys, *fragments: str, nothing_written: Path | None = None) -> str:
    """Run a command's ``main(argv)`` in-process and check it failed the way bad input must.

    Exit code 2, a last stderr line ``error: ...`` holding every fragment, no traceback and, when
    ``nothing_written`` is given, that path still absent. Returns the error line.
    """
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse exits instead of returning
        code = exit_.code
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2, f"exit {code}, stderr: {captured.err[-2000:]}"
    assert lines and lines[-1].startswith("error: "), captured.err[-2000:]
    assert "Traceback" not in captured.err
    for fragment in fragments:
        assert fragment in lines[-1], f"{fragment!r} not in {lines[-1]!r}"
    if nothing_written is not None:
        assert not Path(nothing_written).exists(), f"{nothing_written} was written"
    return lines[-1]


# Hub card conventions (issue 28): the licenses and base_model_relation values the Hub knows, and a Hub id.
HUB_RELATIONS = ("adapter", "merge", "quantized", "finetune")
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?")


def assert_hub_card(folder: Path, base_model: str | None, relation: str | None = None,
                    license: str | None = None, datasets: list[str] | None = None, not_named: tuple = ()):
    """A model folder's card loads as a Hub card (``model-index`` parsed strictly) and follows the
    Hub's conventions: ``license`` set, ``base_model`` a Hub id (never a local path) with a Hub
    ``base_model_relation``, ``datasets`` Hub ids only; ``not_named`` paths appear nowhere in it."""
    from huggingface_hub import ModelCard

    card = ModelCard.load(Path(folder) / "README.md", ignore_metadata_errors=False)
    data = card.data
    assert data.license and data.license == (license or data.license)
    assert data.base_model == base_model and data.get("base_model_relation") == relation
    if base_model is not None:
        assert HUB_ID.fullmatch(base_model) and not Path(base_model).exists()
    assert relation is None or relation in HUB_RELATIONS
    assert data.datasets == datasets
    text = (Path(folder) / "README.md").read_text()
    for path in not_named:
        assert str(path) not in text, f"{path} named in the card of {folder}"
    return card


# ------------------------------------------------------------------ task specs (your own data)

SPEC_FORMATS = ("csv", "tsv", "json", "jsonl", "parquet")


def write_records(path: Path, records: list[dict], fmt: str) -> Path:
    """Rows as a data file of one format: CSV, TSV (no quoting), JSON (a list), JSONL or parquet."""
    import csv
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    columns = list(dict.fromkeys(k for r in records for k in r))
    if fmt in ("csv", "tsv"):
        with path.open("w", newline="", encoding="utf-8") as handle:
            options = {"delimiter": "\t", "quoting": csv.QUOTE_NONE} if fmt == "tsv" else {}
            writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n", **options)
            writer.writeheader()
            writer.writerows(records)
    elif fmt == "json":
        path.write_text(json.dumps(records))
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table({c: [r.get(c) for r in records] for c in columns}), path)
    return path


def spec_records(n: int, labels: list | None, pair: bool = False, seed: int = 0, ids: bool = False) -> list[dict]:
    """``n`` rows of random sentences (``text`` or ``premise``/``hypothesis``) with ``labels`` cycled."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        row = {"premise": _sentence(rng), "hypothesis": _sentence(rng)} if pair else {"text": _sentence(rng)}
        if labels is not None:
            row["label"] = labels[i % len(labels)]
        if ids:
            row["id"] = f"doc-{i}"
        rows.append(row)
    return rows


def write_task(folder: Path, fmt: str = "csv", spec: dict | None = None, labels: list | None = None,
               pair: bool = False, rows: int = 16, test_labels: bool = False) -> Path:
    """A task spec folder: train/validation/test files of one format and ``task.yaml``; returns the spec.

    Defaults: a two-class single-text task with string labels ``neg``/``pos``; ``spec`` keys
    override or add to the YAML (e.g. ``{"regression": True, "label_names": None}``).
    """
    import yaml

    labels = labels if labels is not None else ["neg", "pos"]
    files = {}
    for seed, key in enumerate(("train", "validation", "test")):
        records = spec_records(rows, labels if key != "test" or test_labels else None, pair=pair, seed=seed)
        files[key] = write_records(folder / f"{key}.{fmt}", records, fmt).name
    content = {"name": "custom", "data_files": files,
               "text_columns": ["premise", "hypothesis"] if pair else ["text"],
               "label_column": "label", "label_names": ["neg", "pos"], "metrics": ["accuracy", "f1"]}
    content.update(spec or {})
    path = folder / "task.yaml"
    path.write_text(yaml.safe_dump({k: v for k, v in content.items() if v is not None}, sort_keys=False))
    return path


@pytest.fixture(scope="session", autouse=True)
def datasets_cache(tmp_path_factory):
    """Task specs load their files through `datasets`, which caches everything it reads: keep that in tmp."""
    import datasets

    home = datasets.config.HF_DATASETS_CACHE
    datasets.config.HF_DATASETS_CACHE = tmp_path_factory.mktemp("datasets-cache")
    yield
    datasets.config.HF_DATASETS_CACHE = home


@pytest.fixture(scope="session")
def custom_task(tmp_path_factory) -> Path:
    """A two-class single-text task spec (CSV, string labels, unlabeled test file)."""
    return write_task(tmp_path_factory.mktemp("custom") / "sentiment")


@pytest.fixture(scope="session")
def custom_pair_task(tmp_path_factory) -> Path:
    """A two-class sentence-pair task spec (JSONL, integer class ids in the files)."""
    return write_task(tmp_path_factory.mktemp("custom") / "pairs", fmt="jsonl", pair=True, labels=[0, 1],
                      spec={"name": "pairs", "label_names": ["different", "same"]})


@pytest.fixture(scope="session")
def custom_regression_task(tmp_path_factory) -> Path:
    """A regression task spec (parquet, float scores)."""
    return write_task(tmp_path_factory.mktemp("custom") / "scores", fmt="parquet", labels=[0.5, 3.25, 1.0, 4.75],
                      spec={"name": "scores", "regression": True, "label_names": None, "metrics": None})
