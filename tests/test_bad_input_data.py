"""Bad input to the `glue` commands, and bad data for every loader: one line, exit 2, nothing written.

Each case builds its own input in ``tmp_path`` (a GLUE folder, a task spec and its files, or
arguments) and runs ``glue eval`` or ``glue predict`` in-process through
:func:`tests.conftest.assert_user_error`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import pytest

from eval.cli import main
from tests.conftest import assert_user_error, spec_records, write_records, write_task

pytestmark = pytest.mark.integration

Build = Callable[[Path], list[str]]  # writes the input under tmp_path, returns the --task/--data-dir args


def glue_file(folder: str, name: str, body: bytes | str, task: str) -> Build:
    def build(root: Path) -> list[str]:
        path = root / "glue" / folder / name
        path.parent.mkdir(parents=True)
        path.write_bytes(body if isinstance(body, bytes) else body.encode())
        return ["--task", task, "--data-dir", str(root / "glue")]
    return build


def sst2_parquet(labels: list) -> Build:
    def build(root: Path) -> list[str]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        (root / "glue" / "sst2").mkdir(parents=True)
        pq.write_table(pa.table({"sentence": [f"the movie {i} ." for i in range(len(labels))], "label": labels}),
                       root / "glue" / "sst2" / "validation-00000-of-00001.parquet")
        return ["--task", "sst2", "--data-dir", str(root / "glue")]
    return build


def spec(dev: list[dict] | bytes | None = None, fmt: str = "csv", **keys) -> Build:
    """A task spec whose validation file holds ``dev`` (records or raw bytes); ``keys`` change the YAML."""
    def build(root: Path) -> list[str]:
        path = write_task(root / "task", fmt=fmt, spec=keys or None)
        if dev is not None:
            target = root / "task" / f"validation.{fmt}"
            target.write_bytes(dev) if isinstance(dev, bytes) else write_records(target, dev, fmt)
        return ["--task", str(path)]
    return build


def on_regressor(build: Build) -> Build:
    """The same input, scored by the one-output tiny model (argparse keeps the last --model)."""
    return lambda root: [*build(root), "--model", "{regressor}"]


def stsb(body: str) -> Build:
    return on_regressor(glue_file("STS-B", "dev.tsv", body, "stsb"))


def scores(dev: list[dict], fmt: str = "csv") -> Build:
    return on_regressor(spec(dev, fmt=fmt, regression=True, label_names=None, metrics=None))


def args(*extra: str) -> Build:
    return lambda root: ["--task", "sst2", "--data-dir", "{glue}", *extra]


def rows(*labels, text: str = "a good film .", column: str = "text") -> list[dict]:
    return [{column: text, "label": label} for label in labels]


SST2_HEADER = "sentence\tlabel\n"
STSB_HEADER = "index\tsentence1\tsentence2\tscore\n"

EVAL_CASES = {
    # argument ranges, checked before anything is loaded
    "batch size 0": (args("--batch-size", "0"), ["batch size 0 is out of range", "--batch-size"]),
    "batch size -1": (args("--batch-size", "-1"), ["batch size -1 is out of range"]),
    "max seq length 0": (args("--max-seq-length", "0"), ["max seq length 0", "at least 8"]),
    "max seq length 7": (args("--max-seq-length", "7"), ["max seq length 7", "at least 8"]),
    "limit -5": (args("--limit", "-5"), ["limit -5 is out of range"]),
    "limit 0": (args("--limit", "0"), ["limit 0 is out of range"]),
    "threads -1": (args("--threads", "-1"), ["threads -1 is out of range"]),
    "threads 0": (args("--threads", "0"), ["threads 0 is out of range"]),
    "device banana": (args("--device", "banana"), ["unknown device 'banana'", "auto, cpu, cuda or cuda:N"]),
    "device cuda:x": (args("--device", "cuda:x"), ["unknown device 'cuda:x'"]),
    "device gpu": (args("--device", "gpu"), ["unknown device 'gpu'"]),
    # task names
    "unknown task": (lambda root: ["--task", "sst3"], ["unknown GLUE task 'sst3'"]),
    "data file as task": (lambda root: ["--task", "reviews.csv"], ["reviews.csv is a data file"]),
    "missing spec": (lambda root: ["--task", str(root / "none.yaml")], ["task spec", "does not exist"]),
    "task twice": (lambda root: ["--task", "sst2,SST-2", "--data-dir", "{glue}"], ["given twice"]),
    "unlabeled glue split": (args("--split", "test"), ["no labels to score", "glue predict"]),
    # GLUE files
    "sst2 label 7 (tsv)": (glue_file("SST-2", "dev.tsv", SST2_HEADER + "fine .\t1\nbad .\t7\n", "sst2"),
                           ["label '7' at row 2", "not one of the SST-2 labels 0, 1"]),
    "sst2 label 7 (parquet)": (sst2_parquet([0, 1, 7]), ["label 7 at row 3", "class ids 0-1"]),
    "string labels in parquet": (sst2_parquet(["negative", "positive"]), ["label 'negative' at row 1",
                                                                           "(2 rows have bad labels)"]),
    "nan label in parquet": (sst2_parquet([0.0, float("nan")]), ["row 2 of", "has no label"]),
    "stsb score five": (stsb(STSB_HEADER + "0\ta .\tb .\t3.5\n1\ta .\tb .\tfive\n"),
                        ["label 'five' at row 2", "is text, not a number"]),
    "stsb score nan": (stsb(STSB_HEADER + "0\ta .\tb .\tnan\n"), ["label 'nan' at row 1", "not a finite number"]),
    "utf-16 tsv": (glue_file("SST-2", "dev.tsv", (SST2_HEADER + "fine .\t1\n").encode("utf-16"), "sst2"),
                   ["is UTF-16 text", "save it as UTF-8"]),
    "binary tsv": (glue_file("SST-2", "dev.tsv", bytes(range(256)) * 64, "sst2"), ["is binary", "NUL bytes"]),
    "latin-1 tsv": (glue_file("SST-2", "dev.tsv", (SST2_HEADER + "café .\t1\n").encode("latin-1"), "sst2"),
                    ["is not UTF-8 text"]),
    "tsv without label column": (glue_file("SST-2", "dev.tsv", "sentence\tscore\nfine .\t1\n", "sst2"),
                                 ["lacks columns ['label']", "found ['sentence', 'score']"]),
    "tsv bad index": (stsb(STSB_HEADER + "zero\ta .\tb .\t3.5\n"), ["index 'zero' at row 1", "is not an integer"]),
    # task specs and their files
    "missing text column": (spec(rows("pos"), text_columns=["review"]),
                            ["has no column 'review'", "its columns are text, label"]),
    "missing label column": (spec([{"text": "a film ."}]), ["has no column 'label'", "its columns are text"]),
    "missing id column": (spec(id_column="doc"), ["has no column 'doc'"]),
    "duplicate ids": (spec([{"doc": "a", **r} for r in rows("pos", "neg")], id_column="doc"),
                      ["id 'a' is in rows 1 and 2", "must be unique"]),
    "empty ids": (spec([{"doc": d, **r} for d, r in zip(("a", None), rows("pos", "neg"))], fmt="jsonl",
                       id_column="doc"), ["id column 'doc' is empty in 1 of 2 rows", "first: row 2"]),
    "label outside names": (spec(rows("pos", "neg", "positive")), ["label 'positive' at row 3",
                                                                  "label_names of custom (neg, pos)"]),
    "class id out of range": (spec(rows(0, 1, 2), fmt="jsonl"), ["label 2 at row 3", "class id 0-1"]),
    "missing labels": (spec(rows("pos", None, None), fmt="jsonl"), ["row 2 of", "has no label",
                                                                   "(2 rows have bad labels)"]),
    "empty split": (spec(b"text,label\n"), ["has no rows", "validation split of task custom is empty"]),
    "zero-byte file": (spec(b""), ["is empty", "validation split"]),
    "unknown format": (spec(data_files={"validation": "dev.xlsx"}), ["unknown format '.xlsx'",
                                                                     "use .csv, .tsv, .json, .jsonl, .parquet"]),
    "text in a regression label": (scores(rows(1.5, "high")), ["label 'high' at row 2", "is text, not a number"]),
    "nan regression label": (scores(rows(1.5, None), fmt="jsonl"), ["row 2 of", "has no label"]),
    "infinite regression label": (scores(rows(1.5, "inf")), ["label inf at row 2", "not a finite number"]),
    "empty texts": (spec([*rows("pos"), *rows("neg", "pos", text="")]),
                    ["text column 'text' is empty in 2 of 3 rows", "first: row 2"]),
    "blank texts (jsonl)": (spec(rows("pos", "neg", text="   "), fmt="jsonl"), ["is empty in 2 of 2 rows"]),
    "numbers as text": (spec([{"text": 3, "label": "pos"}], fmt="jsonl"), ["holds int values, not text"]),
    "missing data file": (spec(data_files={"validation": "nowhere.csv"}), ["nowhere.csv of task custom does not exist"]),
    "invalid json": (spec(b'{"text": "a", "label": "pos"}\n{"text": \n', fmt="jsonl"), ["cannot read", "as JSON"]),
    "corrupt parquet": (spec(b"PAR1 not really parquet PAR1", fmt="parquet"), ["cannot read", "as PARQUET"]),
    "utf-16 csv": (spec("text,label\na film,pos\n".encode("utf-16")), ["is UTF-16 text"]),
    "spec unknown key": (spec(lable_column="label"), ["unknown key 'lable_column'", "did you mean 'label_column'"]),
    "spec names a glue task": (spec(name="mrpc"), ["name 'mrpc' is a GLUE task"]),
    "spec without dev split": (spec(data_files={"train": "train.csv"}), ["has no split 'dev'", "it has train"]),
    "unlabeled spec test split": (lambda root: [*spec()(root), "--split", "test"], ["no labels to score"]),
    "three classes for a two-label model": (spec(rows("a", "b", "c"), label_names=["a", "b", "c"],
                                                 metrics=["f1_macro"]), ["has 2 output labels", "needs 3"]),
}


def _run(argv: list[str], capsys, out: Path, *fragments: str, **formats: str) -> str:
    argv = [a.format(**formats) for a in argv]
    return assert_user_error(main, argv, capsys, *fragments, nothing_written=out)


@pytest.mark.parametrize("case", EVAL_CASES)
def test_glue_eval_bad_input(case, tmp_path, tiny_classifier, tiny_regressor, glue_tsv, capsys):
    build, fragments = EVAL_CASES[case]
    out = tmp_path / "results" / "out.json"
    _run(["eval", "--model", str(tiny_classifier), *build(tmp_path), "--output", str(out)], capsys, out,
         *fragments, glue=str(glue_tsv), regressor=str(tiny_regressor))


def test_the_bad_input_suite_is_large():
    assert len(EVAL_CASES) + len(PREDICT_CASES) + len(OUTPUT_CASES) >= 40


OUTPUT_CASES = {
    "output is a folder": ("eval", lambda root: root / "folder", ["is a folder; pass a file path"]),
    "output parent is a file": ("eval", lambda root: root / "file" / "out.json", ["is a file, not a folder"]),
    "output dir is a file": ("predict", lambda root: root / "file", ["--output-dir", "is a file; pass a folder"]),
    "output dir parent is a file": ("predict", lambda root: root / "file" / "preds", ["is a file, not a folder"]),
}


@pytest.mark.parametrize("case", OUTPUT_CASES)
def test_unusable_output_paths(case, tmp_path, tiny_classifier, glue_tsv, capsys):
    command, path, fragments = OUTPUT_CASES[case]
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("not a folder")
    flag = "--output" if command == "eval" else "--output-dir"
    task = "--task" if command == "eval" else "--tasks"
    before = sorted(p.name for p in tmp_path.rglob("*"))
    assert_user_error(main, [command, "--model", str(tiny_classifier), task, "sst2", "--data-dir", str(glue_tsv),
                             flag, str(path(tmp_path))], capsys, *fragments)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


PREDICT_CASES = {
    "unknown format": (["--format", "xml"], None, ["unknown prediction format 'xml'", "csv or jsonl"]),
    "batch size 0": (["--batch-size", "0"], None, ["batch size 0 is out of range"]),
    "device banana": (["--device", "banana"], None, ["unknown device 'banana'"]),
    "spec without test split": ([], spec(data_files={"validation": "validation.csv"}), ["has no split 'test'"]),
    "bad label in a labeled test file": ([], lambda root: _labeled_test(root, "maybe"),
                                         ["label 'maybe' at row 1", "test.csv"]),
    "one bad task after a good one": ([], lambda root: _labeled_test(root, "pos", "bad", before="sst2,"),
                                      ["label 'bad' at row 2"]),
}


def _labeled_test(root: Path, *labels: str, before: str = "") -> list[str]:
    path = write_task(root / "task", test_labels=True)
    write_records(root / "task" / "test.csv", rows(*labels), "csv")
    return ["--tasks", before + str(path)]


@pytest.mark.parametrize("case", PREDICT_CASES)
def test_glue_predict_bad_input_writes_nothing(case, tmp_path, tiny_classifier, glue_tsv, capsys):
    extra, build, fragments = PREDICT_CASES[case]
    task = build(tmp_path) if build else ["--tasks", "sst2"]
    task = ["--tasks", task[1]] if task[0] == "--task" else task
    out = tmp_path / "predictions"
    _run(["predict", "--model", str(tiny_classifier), *task, "--data-dir", str(glue_tsv), "--output-dir", str(out),
          *extra], capsys, out, *fragments)


@pytest.fixture(scope="module")
def broken_classifier(tmp_path_factory, tokenizer) -> Path:
    """A tiny classifier whose head weights are NaN (what a diverged run saves)."""
    import torch
    from transformers import BertForSequenceClassification

    from tests.conftest import save_tiny_classifier

    folder = save_tiny_classifier(tmp_path_factory.mktemp("models") / "nan", tokenizer)
    model = BertForSequenceClassification.from_pretrained(folder)
    with torch.no_grad():
        model.classifier.weight.fill_(float("nan"))
    model.save_pretrained(folder)
    return folder


def test_nan_outputs_are_refused_not_scored(broken_classifier, glue_tsv, tmp_path, capsys):
    out = tmp_path / "out.json"
    _run(["eval", "--model", str(broken_classifier), "--task", "sst2", "--data-dir", str(glue_tsv), "--output",
          str(out)], capsys, out, "NaN or infinite outputs for 16 of 16 sst2 examples")


def test_constant_predictions_write_valid_json(tiny_regressor, tmp_path, capsys):
    """A correlation over constant labels is undefined: reported as 0.0, named, and the JSON stays valid."""
    path = write_task(tmp_path / "task", labels=[2.5], spec={"regression": True, "label_names": None,
                                                             "metrics": None})
    out = tmp_path / "out.json"
    assert main(["eval", "--model", str(tiny_regressor), "--task", str(path), "--output", str(out)]) == 0
    result = json.loads(out.read_text(), parse_constant=lambda c: pytest.fail(f"{c} in JSON"))["results"]["custom"]
    assert result["metrics"] == {"pearson": 0.0, "spearmanr": 0.0}
    assert result["undefined_metrics"] == ["pearson", "spearmanr"]


def test_spec_records_helper_cycles_labels():
    assert [r["label"] for r in spec_records(3, ["a", "b"])] == ["a", "b", "a"]


def test_sequences_longer_than_the_model_are_refused(tiny_classifier, tmp_path, capsys):
    """The tiny models have 64 positions; with --max-seq-length 100000 nothing is truncated."""
    long_text = [{"text": " ".join(["the movie"] * 60), "label": "pos"}]
    args = spec(long_text)(tmp_path)
    out = tmp_path / "out.json"
    _run(["eval", "--model", str(tiny_classifier), *args, "--max-seq-length", "100000", "--output", str(out)],
         capsys, out, "has examples of 122 tokens but the model takes at most 64 positions", "--max-seq-length 64")
    assert main(["eval", "--model", str(tiny_classifier), *args, "--max-seq-length", "64", "--output", str(out)]) == 0
