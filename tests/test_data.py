"""Loading GLUE splits from both local layouts (fixtures shaped like the real files, and the real files)."""

import pytest

from eval.data import detect_layout, load_split
from eval.core.errors import UserError
from eval.tasks import TASKS, get_task, parse_tasks

ALL_SPLITS = [(t.name, s) for t in TASKS.values() for s in t.splits]


@pytest.mark.parametrize("task_name,split", ALL_SPLITS)
def test_every_task_split_loads_identically_from_tsv_and_parquet(glue_fixture, task_name, split):
    tsv_root, parquet_root, truth = glue_fixture
    task = TASKS[task_name]
    from_tsv = load_split(task, split, tsv_root)
    from_parquet = load_split(task, split, parquet_root)
    texts, labels = truth[(task_name, split)]
    assert from_tsv.texts == texts == from_parquet.texts
    assert len(from_tsv) == 16
    if labels is None:
        assert from_tsv.labels is None and from_parquet.labels is None
    else:
        assert from_tsv.labels == from_parquet.labels
        assert from_tsv.labels == pytest.approx(labels, abs=1e-3)


def test_layouts_are_detected(glue_tsv, glue_parquet):
    assert detect_layout(glue_tsv) == "tsv"
    assert detect_layout(glue_parquet) == "parquet"


def test_tsv_label_strings_map_to_hub_class_ids(glue_tsv):
    rte = load_split(TASKS["rte"], "dev", glue_tsv)
    # fixture rows alternate classes; the TSV says "entailment"/"not_entailment"
    assert rte.labels[:2] == [0, 1]
    assert TASKS["rte"].label_names[0] == "entailment"
    assert TASKS["mnli"].label_names == ("entailment", "neutral", "contradiction")
    assert TASKS["wnli"].label_names[1] == "entailment" and TASKS["wnli"].tsv_labels[1] == "1"


def test_missing_folder_file_and_unknown_task_are_user_errors(tmp_path, glue_tsv):
    with pytest.raises(UserError, match="does not exist"):
        load_split(TASKS["sst2"], "dev", tmp_path / "nope")
    with pytest.raises(UserError, match="not a GLUE data folder"):
        load_split(TASKS["sst2"], "dev", tmp_path)
    (tmp_path / "SST-2").mkdir()
    with pytest.raises(UserError, match="missing GLUE file"):
        load_split(TASKS["sst2"], "dev", tmp_path)
    with pytest.raises(UserError, match="unknown GLUE task 'sst3'; choose one of cola, sst2"):
        get_task("sst3")
    with pytest.raises(UserError, match="no split 'validation'"):
        load_split(TASKS["sst2"], "validation", glue_tsv)


def test_bad_label_is_a_user_error(tmp_path):
    folder = tmp_path / "SST-2"
    folder.mkdir()
    (folder / "dev.tsv").write_text("sentence\tlabel\nfine movie .\tpositive\n")
    with pytest.raises(UserError, match="label 'positive'"):
        load_split(TASKS["sst2"], "dev", tmp_path)


def test_task_names_and_aliases():
    assert get_task("SST-2").name == "sst2"
    assert get_task("MNLI-mm").name == "mnli-mm"
    assert [t.name for t in parse_tasks("sst2, mrpc")] == ["sst2", "mrpc"]
    assert "ax" not in [t.name for t in parse_tasks("all")]
    assert len(parse_tasks("all")) == 10


OFFICIAL_DEV_SIZES = {"cola": 1043, "sst2": 872, "mrpc": 408, "stsb": 1500, "qnli": 5463, "rte": 277, "wnli": 71}


@pytest.mark.parametrize("task_name,size", OFFICIAL_DEV_SIZES.items())
def test_real_glue_dev_sets_match_across_layouts(shared_data, task_name, size):
    task = TASKS[task_name]
    tsv = load_split(task, "dev", shared_data / "glue_data")
    parquet = load_split(task, "dev", shared_data / "glue_parquet")
    assert len(tsv) == len(parquet) == size
    assert tsv.texts == parquet.texts
    assert tsv.labels == parquet.labels


def test_real_parquet_label_order_matches_registry(shared_data):
    import json

    import pyarrow.parquet as pq

    for task in TASKS.values():
        files = sorted((shared_data / "glue_parquet" / task.hub_config).glob("*.parquet"))
        if not files or task.is_regression:
            continue
        meta = json.loads(pq.read_schema(files[0]).metadata[b"huggingface"])
        assert tuple(meta["info"]["features"]["label"]["names"]) == task.label_names


def test_hub_loading_asks_for_the_right_dataset_and_maps_columns(monkeypatch):
    import datasets

    calls = []

    class FakeDataset:
        def to_dict(self):
            return {"premise": ["a man sat ."], "hypothesis": ["a man ."], "label": [2], "idx": [5]}

    def fake_load(path, name, split):
        calls.append((path, name, split))
        return FakeDataset()

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    data = load_split(TASKS["mnli-mm"], "dev")
    assert calls == [("nyu-mll/glue", "mnli", "validation_mismatched")]
    assert data.texts == [("a man sat .", "a man .")] and data.labels == [2] and data.indices == [5]
    assert data.source == "hub:nyu-mll/glue"


def test_unreachable_hub_is_a_user_error(monkeypatch):
    import datasets

    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'nyu-mll/glue' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(UserError, match="cannot load nyu-mll/glue/sst2 .* pass --data-dir"):
        load_split(TASKS["sst2"], "dev")


def _sst2_dev(root, body: bytes | str):
    folder = root / "SST-2"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "dev.tsv"
    path.write_bytes(body if isinstance(body, bytes) else body.encode())
    return path


@pytest.mark.parametrize("body, fragment", [
    ("sentence\tlabel\nfine .\t1\nbad .\t7\n", "label '7' at row 2 of"),
    ("sentence\tlabel\nfine .\t1\nbad .\t\n", "row 2 of"),
    ("sentence\tlabel\nfine .\t1\nbad .\tpositive\nok .\tnegative\n", "(2 rows have bad labels)"),
    ("sentence\tlabel\nfine .\t1\n".encode("utf-16"), "is UTF-16 text; save it as UTF-8"),
    (b"sentence\tlabel\n\x00\x01\x02\x03" * 50, "is binary"),
    (b"sentence\tlabel\nfin\xe9 .\t1\n", "is not UTF-8 text"),
])
def test_bad_glue_tsv_is_named_with_its_row(tmp_path, body, fragment):
    _sst2_dev(tmp_path, body)
    with pytest.raises(UserError) as err:
        load_split(TASKS["sst2"], "dev", tmp_path)
    assert fragment in str(err.value)


@pytest.mark.parametrize("score, fragment", [("five", "label 'five' at row 2 of .* is text, not a number"),
                                             ("nan", "label 'nan' at row 2 of .* is not a finite number"),
                                             ("inf", "is not a finite number")])
def test_bad_stsb_score(tmp_path, score, fragment):
    folder = tmp_path / "STS-B"
    folder.mkdir()
    (folder / "dev.tsv").write_text(f"index\tsentence1\tsentence2\tscore\n0\ta .\tb .\t3.2\n1\ta .\tb .\t{score}\n")
    with pytest.raises(UserError, match=fragment):
        load_split(TASKS["stsb"], "dev", tmp_path)


@pytest.mark.parametrize("labels, fragment", [
    ([0, 7], "label 7 at row 2 of .* is not one of the SST-2 class ids 0-1 \\(negative, positive\\)"),
    (["negative", "positive"], "label 'negative' at row 1"),
    ([1.0, float("nan")], "row 2 of .* has no label"),
])
def test_bad_parquet_labels(tmp_path, labels, fragment):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "sst2").mkdir()
    pq.write_table(pa.table({"sentence": ["a .", "b ."], "label": labels, "idx": [0, 1]}),
                   tmp_path / "sst2" / "validation-00000-of-00001.parquet")
    with pytest.raises(UserError, match=fragment):
        load_split(TASKS["sst2"], "dev", tmp_path)


def test_every_task_owns_its_data_through_one_protocol(glue_tsv, tmp_path):
    """GLUE entries and task specs load through the same ``load(split, data_dir)``; ``load_split`` is just
    that call, so a new kind of task needs no branch in the loader."""
    from dataclasses import replace

    from eval.examples import GlueData

    spec = tmp_path / "task.yaml"
    (tmp_path / "dev.csv").write_text("text,label\ngood film,pos\nbad film,neg\n")
    spec.write_text("name: films\ndata_files: {validation: dev.csv}\ntext_columns: [text]\nlabel_names: [neg, pos]\n")
    for task, data_dir in ((TASKS["sst2"], glue_tsv), (get_task(str(spec)), None)):
        loaded = task.load("dev", data_dir)
        assert isinstance(loaded, GlueData) and loaded.task is task
        assert load_split(task, "dev", data_dir) == loaded
        with pytest.raises(UserError, match="no split 'nope'"):
            task.load("nope", data_dir)

    class Fixed:  # any object that meets the protocol loads, with no change to eval.data
        def load(self, split, data_dir=None):
            return replace(sst2_dev, split=split)

    sst2_dev = TASKS["sst2"].load("dev", glue_tsv)
    assert load_split(Fixed(), "train").split == "train"
