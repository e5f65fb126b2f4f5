"""Each command end to end on tiny random BERTs and 16-row GLUE folders, in-process through the CLI."""

from __future__ import annotations

import json

import pytest
import torch

from distill import cli
from tests.distill.conftest import FAST

pytestmark = pytest.mark.integration


def _load(folder, classifier: bool = True):
    from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

    cls = AutoModelForSequenceClassification if classifier else AutoModel
    return cls.from_pretrained(folder), AutoTokenizer.from_pretrained(folder)


def test_finetune_writes_a_loadable_classifier(tmp_path, tiny_teacher, glue_tsv):
    out = tmp_path / "ft"
    code = cli.main(["finetune", "--model", str(tiny_teacher), "--task", "sst2", "--data-dir", str(glue_tsv),
                     "--output-dir", str(out), "--max-steps", "3", *FAST])
    assert code == 0
    model, tokenizer = _load(out)
    assert model.config.id2label == {0: "negative", 1: "positive"}
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["completed"] and 0 <= metrics["dev"]["accuracy"] <= 1
    assert metrics["throughput"]["examples_per_second"] > 0
    assert (out / "run_config.yaml").is_file() and not (out / "checkpoints").exists()  # removed once done
    lines = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines if "step" in line and "loss" in line] == [1, 2, 3]
    assert {oct(p.stat().st_mode & 0o777) for p in out.iterdir() if p.is_file()} == {"0o644"}
    from huggingface_hub import ModelCard

    card = ModelCard.load(out / "README.md")
    [result] = card.data.eval_results
    assert (result.dataset_type, result.dataset_config, result.metric_type) == ("nyu-mll/glue", "sst2", "accuracy")
    assert result.metric_value == round(metrics["dev"]["accuracy"], 6)
    assert f"distill finetune --recipe {out / 'run_config.yaml'}" in card.text


def test_keep_checkpoints_keeps_them_after_the_run(tmp_path, tiny_teacher, glue_tsv):
    out = tmp_path / "ft"
    assert cli.main(["finetune", "--model", str(tiny_teacher), "--task", "sst2", "--data-dir", str(glue_tsv),
                     "--output-dir", str(out), "--max-steps", "2", "--keep-checkpoints", *FAST]) == 0
    assert (out / "checkpoints" / "step_2").is_dir()


def test_same_seed_gives_identical_weights_head_included(tmp_path, tiny_mlm, glue_tsv):
    """A pre-trained encoder without a classifier head: the new head must come from --seed too."""
    from safetensors.torch import load_file

    def run(name: str, seed: int):
        out = tmp_path / name
        assert cli.main(["finetune", "--model", str(tiny_mlm), "--task", "sst2", "--data-dir", str(glue_tsv),
                         "--output-dir", str(out), "--max-steps", "2", "--seed", str(seed), *FAST]) == 0
        return load_file(out / "model.safetensors")

    first, again, other = run("a", 7), run("b", 7), run("c", 8)
    assert first.keys() == again.keys()
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not torch.equal(first["classifier.weight"], other["classifier.weight"])


def test_finetune_preset_is_the_label_only_baseline(tmp_path, tiny_teacher, glue_parquet):
    out = tmp_path / "baseline"
    code = cli.main(["finetune", "--model", "tiny", "--tokenizer", str(tiny_teacher), "--task", "mrpc",
                     "--data-dir", str(glue_parquet), "--output-dir", str(out), "--max-steps", "2", *FAST])
    assert code == 0
    model, _ = _load(out)
    assert (model.config.num_hidden_layers, model.config.hidden_size) == (2, 128)
    assert model.config.label2id == {"not_equivalent": 0, "equivalent": 1}


def test_general_then_task_distillation(tmp_path, tiny_mlm, tiny_teacher, corpus, glue_tsv):
    general = tmp_path / "general"
    assert cli.main(["general", "--teacher", str(tiny_mlm), "--student", "tiny", "--corpus", str(corpus),
                     "--output-dir", str(general), "--max-steps", "2", *FAST]) == 0
    base, _ = _load(general, classifier=False)
    assert base.config.num_hidden_layers == 2
    metrics = json.loads((general / "metrics.json").read_text())
    assert set(metrics["last_log"]) >= {"attention", "hidden", "embedding", "loss"}

    task = tmp_path / "task"
    assert cli.main(["task", "--task", "sst2", "--teacher", str(tiny_teacher), "--student", str(general),
                     "--data-dir", str(glue_tsv), "--output-dir", str(task), "--max-steps", "2", *FAST]) == 0
    model, _ = _load(task)
    assert model.config.id2label == {0: "negative", 1: "positive"}
    assert (task / "intermediate" / "phase.json").is_file() and (task / "phase.json").is_file()
    metrics = json.loads((task / "metrics.json").read_text())
    assert set(metrics["phases"]) == {"intermediate", "prediction"}
    assert "accuracy" in metrics["dev"]


def test_augment_then_task_distill_on_augmented_data(tmp_path, tiny_mlm, tiny_teacher, glue_parquet):
    aug = tmp_path / "aug"
    assert cli.main(["augment", "--task", "mrpc", "--model", str(tiny_mlm), "--data-dir", str(glue_parquet),
                     "--output-dir", str(aug), "--set", "variants=3", "--set", "chunk_size=8",
                     "--device", "cpu"]) == 0
    meta = json.loads((aug / "augment.json").read_text())
    assert meta["candidates"] == "mlm+embedding"
    assert meta["source_examples"] < meta["examples"] <= 4 * meta["source_examples"]
    out = tmp_path / "task"
    code = cli.main(["task", "--task", "mrpc", "--teacher", str(tiny_teacher), "--student", "tiny",
                     "--augmented", str(aug), "--data-dir", str(glue_parquet), "--output-dir", str(out),
                     "--max-steps", "1", *FAST])
    assert code == 0


def test_list_shows_presets_and_recipes(capsys):
    assert cli.main(["list"]) == 0
    text = capsys.readouterr().out
    assert "tinybert4" in text and "minilm-l6" in text and "recipes/task/" in text


def test_task_distillation_learns_from_unlabeled_text_too(tmp_path, tiny_teacher, glue_tsv):
    from tests.conftest import WORDS

    unlabeled = tmp_path / "unlabeled.txt"
    unlabeled.write_text("".join(f"{' '.join(WORDS[i:i + 5])} .\n" for i in range(0, 40, 2)))
    out = tmp_path / "student"
    assert cli.main(["task", "--task", "sst2", "--teacher", str(tiny_teacher), "--student", "tiny",
                     "--unlabeled", str(unlabeled), "--data-dir", str(glue_tsv), "--output-dir", str(out),
                     "--set", "phases=[{name: prediction, losses: {logits: 1}, epochs: 1}]", *FAST]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["throughput"]["examples"] == 16 + 20  # the 16 labeled rows and the 20 unlabeled lines
    assert "unlabeled in-domain text" in (out / "README.md").read_text()


def test_general_distillation_starts_from_the_teachers_embeddings_when_asked(tmp_path, tiny_mlm, corpus):
    from transformers import AutoModel, BertModel

    from distill.student_init import embeddings_from_teacher

    out = tmp_path / "general"
    student = "{layers: 1, hidden: 16, heads: 2, intermediate: 32}"
    assert cli.main(["general", "--teacher", str(tiny_mlm), "--corpus", str(corpus), "--output-dir", str(out),
                     "--max-steps", "1", "--set", f"student={student}", "--set", "student_init=teacher_embeddings",
                     "--set", "train.lr=1e-12", *FAST]) == 0  # the saved student: its first weights
    saved = AutoModel.from_pretrained(out)
    expected = BertModel(saved.config, add_pooling_layer=False)
    embeddings_from_teacher(expected, AutoModel.from_pretrained(tiny_mlm))
    assert torch.allclose(saved.embeddings.word_embeddings.weight, expected.embeddings.word_embeddings.weight,
                          atol=1e-6)


def test_task_distillation_can_keep_the_students_word_embeddings(tmp_path, tiny_teacher, glue_tsv):
    """Both phases train everything but the word-embedding table, which leaves as it came."""
    from safetensors.torch import load_file

    start = tmp_path / "start"
    assert cli.main(["finetune", "--model", "tiny", "--tokenizer", str(tiny_teacher), "--task", "sst2",
                     "--data-dir", str(glue_tsv), "--output-dir", str(start), "--max-steps", "1", *FAST]) == 0
    out = tmp_path / "task"
    assert cli.main(["task", "--task", "sst2", "--teacher", str(tiny_teacher), "--student", str(start),
                     "--data-dir", str(glue_tsv), "--output-dir", str(out), "--max-steps", "2",
                     "--set", "train.freeze_word_embeddings=true", "--set", "train.lr=1e-2", *FAST]) == 0
    before, after = load_file(start / "model.safetensors"), load_file(out / "model.safetensors")
    table = "bert.embeddings.word_embeddings.weight"
    assert torch.equal(before[table], after[table])
    changed = [k for k in before if k != table and not torch.equal(before[k], after[k])]
    assert "bert.embeddings.position_embeddings.weight" in changed and "classifier.weight" in changed


def test_general_distillation_reads_a_jsonl_corpus_field(tmp_path, tiny_mlm):
    from tests.conftest import WORDS

    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"id": i, "body": " ".join(WORDS[i % 40:] + WORDS) + " ."}) + "\n"
                              for i in range(30)))
    out = tmp_path / "general"
    assert cli.main(["general", "--teacher", str(tiny_mlm), "--student", "tiny", "--corpus", str(corpus),
                     "--output-dir", str(out), "--max-steps", "2", "--set", "corpus_text_field=body", *FAST]) == 0
    assert json.loads((out / "metrics.json").read_text())["steps"] == 2


def test_a_finished_folder_from_an_older_toolkit_is_made_ready_to_ship(tmp_path, tiny_teacher, glue_tsv):
    import os

    out = tmp_path / "ft"
    args = ["finetune", "--model", str(tiny_teacher), "--task", "sst2", "--data-dir", str(glue_tsv),
            "--output-dir", str(out), "--max-steps", "2", *FAST]
    assert cli.main([*args, "--keep-checkpoints"]) == 0
    (out / "README.md").unlink()  # as an older version left it: no card, checkpoints kept, private weights
    os.chmod(out / "model.safetensors", 0o600)
    assert cli.main(args) == 0  # the same run: returns at once, and tidies the folder
    assert (out / "README.md").is_file() and not (out / "checkpoints").exists()
    assert (out / "model.safetensors").stat().st_mode & 0o777 == 0o644


def test_a_finished_task_run_keeps_only_its_model_and_records(tmp_path, tiny_teacher, glue_tsv):
    out = tmp_path / "student"
    assert cli.main(["task", "--task", "sst2", "--teacher", str(tiny_teacher), "--student", "tiny", "--data-dir",
                     str(glue_tsv), "--output-dir", str(out), "--max-steps", "2", *FAST]) == 0
    assert sorted(p.name for p in (out / "intermediate").iterdir()) == ["phase.json", "tensorboard", "train_log.jsonl"]
    assert not (out / "checkpoints").exists() and (out / "model.safetensors").is_file()
