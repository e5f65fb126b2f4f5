"""Bad input: a one-line `error:` message, exit code 2, and no work lost."""

from __future__ import annotations

import pytest

from distill import cli
from tests.distill.conftest import FAST

pytestmark = pytest.mark.integration


def _fails(capsys, argv: list[str], *fragments: str) -> str:
    assert cli.main(argv) == 2
    full = capsys.readouterr().err
    err = full.strip().splitlines()[-1]  # after any progress bar output
    assert err.startswith("error: ") and "Traceback" not in full
    for fragment in fragments:
        assert fragment in err
    return err


def test_unknown_preset_and_task(capsys, tmp_path, tiny_teacher, glue_tsv):
    _fails(capsys, ["task", "--task", "sst2", "--teacher", str(tiny_teacher), "--student", "tini",
                    "--data-dir", str(glue_tsv), "--output-dir", str(tmp_path / "a"), *FAST], "unknown student 'tini'")
    _fails(capsys, ["finetune", "--task", "sst3", "--model", str(tiny_teacher), "--data-dir", str(glue_tsv),
                    "--output-dir", str(tmp_path / "b"), *FAST], "unknown GLUE task 'sst3'")


def test_teacher_without_head(capsys, tmp_path, tiny_mlm, tiny_teacher, glue_tsv):
    _fails(capsys, ["task", "--task", "sst2", "--teacher", str(tiny_mlm), "--student", "tiny",
                    "--data-dir", str(glue_tsv), "--output-dir", str(tmp_path / "a"), *FAST],
           "classifier head", "distill finetune")
    _fails(capsys, ["augment", "--task", "sst2", "--model", str(tiny_teacher), "--data-dir", str(glue_tsv),
                    "--output-dir", str(tmp_path / "b"), "--candidates", "mlm"], "masked-LM head")


def test_tokenizer_mismatch(capsys, tmp_path, tiny_teacher, glue_tsv):
    from transformers import BertTokenizer

    from tests.conftest import VOCAB, save_tiny_classifier

    (tmp_path / "vocab").mkdir()
    (tmp_path / "vocab" / "vocab.txt").write_text("\n".join(VOCAB[:-3] + ["x", "y", "z"]) + "\n")
    other = save_tiny_classifier(tmp_path / "student", BertTokenizer.from_pretrained(str(tmp_path / "vocab")))
    _fails(capsys, ["task", "--task", "sst2", "--teacher", str(tiny_teacher), "--student", str(other),
                    "--data-dir", str(glue_tsv), "--output-dir", str(tmp_path / "a"), *FAST], "different vocabularies")


def test_empty_or_missing_corpus(capsys, tmp_path, tiny_mlm):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "a.txt").write_text("")
    (tmp_path / "short.txt").write_text("the cat sat .\n")
    common = ["general", "--teacher", str(tiny_mlm), "--student", "tiny", "--max-steps", "1", *FAST]
    _fails(capsys, [*common, "--corpus", str(tmp_path / "nope"), "--output-dir", str(tmp_path / "a")], "does not exist")
    _fails(capsys, [*common, "--corpus", str(tmp_path / "empty"), "--output-dir", str(tmp_path / "b")], "no non-empty")
    _fails(capsys, [*common, "--corpus", str(tmp_path / "short.txt"), "--output-dir", str(tmp_path / "c"),
                    "--set", "train.max_seq_length=64"], "less than one")


def test_output_folder_of_another_run_is_refused_untouched(capsys, tmp_path, tiny_teacher, glue_tsv):
    out = tmp_path / "run"
    args = ["finetune", "--model", str(tiny_teacher), "--task", "sst2", "--data-dir", str(glue_tsv),
            "--output-dir", str(out), "--max-steps", "2", *FAST]
    assert cli.main(args) == 0
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    _fails(capsys, [*args[:-len(FAST)], *FAST, "--seed", "7"], "holds a different run", "seed")
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before
    assert cli.main(args) == 0  # the same run again: already complete, nothing redone
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    _fails(capsys, [*args[:-len(FAST) - 2], "--output-dir", str(tmp_path / "other"), *FAST], "not empty")


def test_unreadable_checkpoint(capsys, tmp_path, tiny_teacher, glue_tsv):
    out = tmp_path / "run"
    args = ["finetune", "--model", str(tiny_teacher), "--task", "sst2", "--data-dir", str(glue_tsv),
            "--output-dir", str(out), "--max-steps", "4", "--set", "train.save_every=2", *FAST]
    from distill.checkpoint import prepare_output_dir
    from distill.config import load_recipe

    cfg = load_recipe("finetune", flags={"model": str(tiny_teacher), "task": "sst2", "data_dir": str(glue_tsv),
                                         "output_dir": str(out), "train.max_steps": 4, "train.device": "cpu"},
                      overrides=[a for a in args if "=" in a])
    prepare_output_dir(out, cfg)
    (out / "checkpoints" / "step_2").mkdir(parents=True)
    (out / "checkpoints" / "step_2" / "model.safetensors").write_bytes(b"not a checkpoint")
    _fails(capsys, args, "cannot read checkpoint", "step_2")


def test_a_failed_start_does_not_block_the_corrected_command(capsys, tmp_path, tiny_teacher, glue_tsv):
    out = tmp_path / "run"
    args = ["finetune", "--task", "sst2", "--data-dir", str(glue_tsv), "--output-dir", str(out), "--max-steps", "1",
            *FAST]
    _fails(capsys, [*args, "--model", str(tmp_path / "typo")], "does not exist")
    assert cli.main([*args, "--model", str(tiny_teacher)]) == 0


def test_a_failed_start_leaves_no_folder_behind(capsys, tmp_path, tiny_teacher, glue_tsv):
    from tests.conftest import assert_user_error

    out = tmp_path / "never"
    assert_user_error(cli.main, ["task", "--task", "sst2", "--teacher", str(tmp_path / "missing"), "--student", "tiny",
                                 "--data-dir", str(glue_tsv), "--output-dir", str(out), *FAST], capsys,
                      "does not exist", nothing_written=out)
    bad_corpus = tmp_path / "bytes.txt"
    bad_corpus.write_bytes(bytes(range(256)) * 50)
    assert_user_error(cli.main, ["general", "--teacher", str(tiny_teacher), "--student", "tiny", "--corpus",
                                 str(bad_corpus), "--output-dir", str(out), "--max-steps", "1", *FAST], capsys,
                      "not", nothing_written=out)


def test_unlabeled_text_must_fit_the_task(capsys, tmp_path, tiny_teacher, glue_tsv):
    from tests.conftest import assert_user_error

    pairs = tmp_path / "pairs.txt"
    pairs.write_text("a good movie\tthe plot\nonly one text here\n")
    out = tmp_path / "mrpc"
    assert_user_error(cli.main, ["task", "--task", "mrpc", "--teacher", str(tiny_teacher), "--student", "tiny",
                                 "--unlabeled", str(pairs), "--data-dir", str(glue_tsv), "--output-dir", str(out),
                                 *FAST], capsys, "1 of 2 examples", "tab-separated", nothing_written=out)
    assert_user_error(cli.main, ["task", "--task", "sst2", "--teacher", str(tiny_teacher), "--student", "tiny",
                                 "--unlabeled", str(pairs), "--data-dir", str(glue_tsv), "--output-dir", str(out),
                                 "--set", "phases=[{name: p, losses: {labels: 1}}]", *FAST], capsys,
                      "'labels' loss", nothing_written=out)
