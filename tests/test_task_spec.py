"""Task specs: your own data as a task, in every file format, for single texts, pairs and regression."""

from pathlib import Path

import pytest
import yaml

from eval.data import load_split
from eval.core.errors import UserError
from eval.harness import EvalSettings, evaluate_model
from eval.tasks import get_task, parse_tasks, task_metadata
from tests.conftest import SPEC_FORMATS, spec_records, write_records, write_task

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("fmt", SPEC_FORMATS)
def test_every_file_format_loads_the_same_examples(tmp_path, fmt):
    task = get_task(write_task(tmp_path / fmt, fmt=fmt, pair=True, test_labels=True))
    expected = spec_records(16, ["neg", "pos"], pair=True, seed=1)
    dev = load_split(task, "dev")
    assert dev.texts == [(r["premise"], r["hypothesis"]) for r in expected]
    assert dev.labels == [0, 1] * 8
    assert dev.indices == list(range(1, 17))  # no id_column: row numbers from 1
    assert dev.source.endswith(f"validation.{fmt}")
    assert load_split(task, "test").labels == [0, 1] * 8  # a test file may carry labels


def test_task_object_offers_the_glue_interface(custom_task):
    task = get_task(str(custom_task))
    assert (task.name, task.display_name, task.text_columns) == ("custom", "custom", ("text",))
    assert (task.label_names, task.num_labels, task.is_regression) == (("neg", "pos"), 2, False)
    assert (task.metrics, task.main_metric, task.score_group, task.is_glue) == (("accuracy", "f1"), "accuracy",
                                                                                None, False)
    assert list(task.splits) == ["train", "dev", "test"]
    assert task.split("dev").key == "validation" and not task.split("test").labeled
    assert load_split(task, "test").labels is None
    assert [t.name for t in parse_tasks(f"sst2,{custom_task}")] == ["sst2", "custom"]
    assert task_metadata(task) == {"name": "custom", "display_name": "custom", "is_glue": False,
                                   "score_group": None, "metrics": ["accuracy", "f1"], "main_metric": "accuracy",
                                   "is_regression": False, "label_names": ["neg", "pos"], "spec": str(custom_task)}
    assert task_metadata(get_task("mrpc"))["is_glue"] and task_metadata(get_task("mrpc"))["spec"] is None


def test_regression_and_integer_labels(custom_regression_task, custom_pair_task, tmp_path):
    scores = get_task(custom_regression_task)
    assert scores.is_regression and scores.num_labels == 1 and scores.metrics == ("pearson", "spearmanr")
    assert load_split(scores, "train").labels[:4] == [0.5, 3.25, 1.0, 4.75]
    assert load_split(get_task(custom_pair_task), "dev").labels[:2] == [0, 1]  # class ids in the file
    # integer label names are matched as names, never as class ids
    stars = write_task(tmp_path, fmt="jsonl", labels=[1, 2, 3],
                       spec={"label_names": [1, 2, 3], "metrics": ["accuracy", "f1_macro"]})
    assert load_split(get_task(stars), "dev").labels[:3] == [0, 1, 2]
    # a CSV column of true/false is read as booleans; they match names spelled either way
    flags = write_task(tmp_path / "flags", labels=["true", "false"], spec={"label_names": ["false", "true"]})
    assert load_split(get_task(flags), "dev").labels[:2] == [1, 0]


@pytest.mark.parametrize("fmt, sep", [("csv", ","), ("tsv", "\t")])
def test_words_pandas_takes_for_missing_are_text_and_labels(tmp_path, fmt, sep):
    rows = [("N/A", "None"), ("null", "NA"), ("nan", "None"), ("good", "NA")]
    (tmp_path / f"dev.{fmt}").write_text("\n".join(sep.join(row) for row in [("text", "label"), *rows]) + "\n")
    (tmp_path / "spec.yaml").write_text(f"name: t\ndata_files: {{validation: dev.{fmt}}}\ntext_columns: [text]\n"
                                        "label_names: ['None', 'NA']\n")
    dev = load_split(get_task(str(tmp_path / "spec.yaml")), "dev")
    assert dev.texts == [("N/A",), ("null",), ("nan",), ("good",)] and dev.labels == [0, 1, 0, 1]
    (tmp_path / f"dev.{fmt}").write_text(f"text{sep}label\nfine{sep}\n")  # an empty cell is still missing
    with pytest.raises(UserError, match="row 1 .* has no label"):
        load_split(get_task(str(tmp_path / "spec.yaml")), "dev")


def test_id_column_and_paths_relative_to_the_spec(tmp_path, monkeypatch):
    folder = tmp_path / "data"
    write_records(folder / "dev.jsonl", spec_records(4, ["a", "b"], ids=True), "jsonl")
    (tmp_path / "spec.yaml").write_text("name: t\ndata_files: {validation: data/dev.jsonl}\ntext_columns: [text]\n"
                                        "label_names: [a, b]\nid_column: id\n")
    monkeypatch.chdir(tmp_path / "data")  # the spec's folder counts, not the working directory
    dev = load_split(get_task("../spec.yaml"), "dev")
    assert dev.indices == ["doc-0", "doc-1", "doc-2", "doc-3"]


def test_same_data_as_csv_jsonl_and_parquet_scores_identically(tmp_path, tiny_classifier, tiny_regressor):
    for model, extra in ((tiny_classifier, {}), (tiny_regressor, {"regression": True, "label_names": None,
                                                                    "metrics": None})):
        labels = [0.5, 2.0, 4.5] if extra else None
        results = []
        for fmt in ("csv", "jsonl", "parquet"):
            spec = write_task(tmp_path / f"{model.name}-{fmt}", fmt=fmt, labels=labels, spec=extra)
            document = evaluate_model(model, [get_task(spec)], EvalSettings(), progress=False)
            results.append(document["results"]["custom"]["metrics"])
        assert results[0] == results[1] == results[2]


def test_results_carry_the_task_metadata(custom_task, tiny_classifier):
    result = evaluate_model(tiny_classifier, [get_task(custom_task)], EvalSettings(limit=5),
                            progress=False)["results"]["custom"]
    assert result["task_info"]["display_name"] == "custom" and result["task_info"]["is_glue"] is False
    assert result["num_examples"] == 5 and set(result["metrics"]) == {"accuracy", "f1"}


@pytest.mark.parametrize("change, fragment", [
    ({"lable_column": "label"}, "unknown key 'lable_column' (did you mean 'label_column'?)"),
    ({"regression": True}, "exactly one of them"),
    ({"label_names": None}, "give label_names"),
    ({"metrics": ["acc"]}, "unknown metric 'acc'; choose from accuracy, f1, f1_macro"),
    ({"metrics": ["pearson"]}, "metric pearson is for regression, but this task is classification"),
    ({"label_names": ["a", "b", "c"], "metrics": ["f1"]}, "use f1_macro for 3"),
    ({"label_names": ["a", "A"]}, "must be distinct"),
    ({"label_names": ["only"]}, "at least two classes"),
    ({"main_metric": "f1_macro"}, "main_metric 'f1_macro' is not one of the metrics"),
    ({"name": "sst2"}, "is a GLUE task; choose another name"),
    ({"name": "my task/1"}, "must be letters, digits"),
    ({"text_columns": ["a", "b", "c"]}, "one column (single text) or two"),
    ({"text_columns": ["label"]}, "must be distinct"),
    ({"data_files": {"dev": "dev.csv"}}, "split 'dev' is not one of train, validation, test"),
    ({"data_files": {"validation": "dev.xlsx"}}, "unknown format '.xlsx'"),
    ({"dataset": {"path": "org/data"}}, "not both or neither"),
    ({"data_files": None}, "not both or neither"),
])
def test_spec_mistakes_are_named(tmp_path, change, fragment):
    spec = write_task(tmp_path, spec=change)
    with pytest.raises(UserError) as err:
        get_task(spec)
    assert fragment in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("change, fragment", [
    ({"regression": True, "label_names": None, "metrics": None, "label_range": [5, 1]},
     "label_range must be [lowest, highest]"),
    ({"label_range": [1, 5]}, "label_range is for regression tasks"),
    ({"label_ids_start": 2}, "label_ids_start must be 0 or 1"),
    ({"label_names": [1, 2], "label_ids_start": 1}, "label_ids_start does not apply"),
])
def test_new_label_keys_are_checked(tmp_path, change, fragment):
    with pytest.raises(UserError) as err:
        get_task(write_task(tmp_path, spec=change))
    assert fragment in str(err.value) and "\n" not in str(err.value)


def _spec_text(folder: Path, labels: list, fmt: str, lines: str, pair: bool = False) -> Path:
    """A task spec written by hand (as a user types it, YAML 1.1 booleans and all) over generated files."""
    write_task(folder, fmt=fmt, labels=labels, pair=pair)
    spec = folder / "task.yaml"
    files = f"{{train: train.{fmt}, validation: validation.{fmt}}}"
    columns = "[premise, hypothesis]" if pair else "[text]"
    spec.write_text(f"name: mine\ndata_files: {files}\ntext_columns: {columns}\n{lines}")
    return spec


def test_yes_no_label_names_are_read_as_the_words_written(tmp_path):
    spec = _spec_text(tmp_path, ["no", "yes"], "csv", "label_names: [no, yes]\n")
    task = get_task(spec)
    assert task.label_names == ("no", "yes")
    assert load_split(task, "dev").labels[:2] == [0, 1]


def test_empty_news_bodies_are_refused_with_the_fix_or_allowed_and_counted(tmp_path, capsys):
    from eval import cli

    rows = spec_records(8, ["world", "sports", "business", "tech"], pair=True)
    rows[2]["hypothesis"] = rows[5]["hypothesis"] = ""  # a headline with no body
    spec = _spec_text(tmp_path, None, "csv", "label_names: [world, sports, business, tech]\n"
                      "metrics: [accuracy, f1_macro]\n", pair=True)
    for split in ("train", "validation"):
        write_records(tmp_path / f"{split}.csv", rows, "csv")
    with pytest.raises(UserError) as err:
        load_split(get_task(spec), "dev")
    assert "empty in 2 of 8 rows" in str(err.value) and f"set allow_empty_text: true in {spec}" in str(err.value)
    spec.write_text(spec.read_text() + "allow_empty_text: true\n")
    dev = load_split(get_task(spec), "dev")
    assert dev.texts[2][1] == "" and dev.texts[5][1] == "" and len(dev) == 8
    assert cli.main(["tasks", str(spec)]) == 0
    assert "2 with an empty text" in capsys.readouterr().out


def test_regression_scores_outside_label_range_are_named(tmp_path):
    spec = _spec_text(tmp_path, [1.0, 2.5, 7.5, 5.0], "jsonl", "regression: true\nlabel_range: [1, 5]\n")
    with pytest.raises(UserError) as err:
        load_split(get_task(spec), "dev")
    message = str(err.value)
    assert "label 7.5 at row 3 of" in message and "is outside [1, 5] (label_range in" in message
    assert "fix or drop those rows" in message and "\n" not in message
    spec.write_text(spec.read_text().replace("[1, 5]", "[0, 10]"))
    assert load_split(get_task(spec), "dev").labels[:4] == [1.0, 2.5, 7.5, 5.0]


def test_one_based_class_ids_are_never_guessed(tmp_path, capsys):
    from eval import cli
    from tests.conftest import assert_user_error

    spec = _spec_text(tmp_path, [1, 2], "tsv", "label_names: [negative, neutral, positive]\n"
                      "metrics: [accuracy, f1_macro]\n")
    message = assert_user_error(cli.main, ["tasks", str(spec)], capsys, "class ids 1, 2 with no 0")
    assert "label_ids_start: 1 in" in message and "if 1 is 'negative'" in message and "0 if it is 'neutral'" in message
    spec.write_text(spec.read_text() + "label_ids_start: 1\n")
    assert load_split(get_task(spec), "dev").labels[:4] == [0, 1, 0, 1]
    spec.write_text(spec.read_text().replace("label_ids_start: 1", "label_ids_start: 0"))
    assert load_split(get_task(spec), "dev").labels[:4] == [1, 2, 1, 2]


def test_names_that_are_not_tasks(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        get_task(tmp_path / "missing.yaml")
    with pytest.raises(UserError, match="data.csv is a data file: write a task spec"):
        get_task("data.csv")
    with pytest.raises(UserError, match="unknown GLUE task 'sst3'.* or pass a task spec file"):
        get_task("sst3")
    with pytest.raises(UserError, match="given twice"):
        parse_tasks("sst2,SST-2")


def test_hub_dataset_splits_are_asked_for_by_name(tmp_path, monkeypatch):
    import datasets

    calls = []

    class FakeDataset:
        def to_dict(self):
            return {"review": ["a fine film ."], "stars": [2], "other": [0]}

    def fake_load(path, name, split):
        calls.append((path, name, split))
        return FakeDataset()

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    spec = tmp_path / "hub.yaml"
    spec.write_text("name: reviews\ndataset: {path: org/reviews, name: en, splits: {validation: valid}}\n"
                    "text_columns: [review]\nlabel_column: stars\nlabel_names: [bad, ok, good]\n")
    task = get_task(spec)
    assert list(task.splits) == ["dev"]
    data = load_split(task, "dev")
    assert calls == [("org/reviews", "en", "valid")] and data.labels == [2] and data.texts == [("a fine film .",)]
    assert data.source == "hub:org/reviews/en (valid)"


def test_unreachable_hub_dataset_is_one_line(tmp_path, monkeypatch):
    import datasets

    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'org/reviews' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    spec = tmp_path / "hub.yaml"
    spec.write_text("name: reviews\ndataset: {path: org/reviews}\ntext_columns: [review]\nlabel_names: [a, b]\n")
    with pytest.raises(UserError, match="cannot load org/reviews \\(validation\\) .* Couldn't reach"):
        load_split(get_task(spec), "dev")


@pytest.mark.parametrize("spec", sorted(ROOT.glob("recipes/data/*/task.yaml")),
                         ids=lambda p: p.parent.name)
def test_shipped_task_specs_load(spec):
    task = get_task(spec)
    header = spec.read_text().splitlines()
    assert header[0].startswith("# ") and any(line.startswith("# Run: ") for line in header[:6])
    for split in task.splits:
        data = load_split(task, split)
        assert len(data) > 0 and data.labels is not None
    assert yaml.safe_load(spec.read_text())["name"] == task.name
