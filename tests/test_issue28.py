"""Issue 28, a new user's week: training logs a tracker reads, the best dev line, and --help's train keys."""

from __future__ import annotations

import json

import pytest

from distill import cli
from tests.distill.conftest import FAST

pytestmark = pytest.mark.integration


def _finetune(out, model, glue_tsv, *extra: str) -> int:
    return cli.main(["finetune", "--model", str(model), "--task", "sst2", "--data-dir", str(glue_tsv),
                     "--output-dir", str(out), "--max-steps", "3", "--set", "train.eval_every=1", *FAST, *extra])


def _scalars(folder) -> dict[str, list[tuple[int, float]]]:
    """Every scalar series of the TensorBoard event files in ``folder``: tag -> [(step, value)]."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_training_writes_tensorboard_events_with_loss_and_dev_series(tmp_path, tiny_classifier, glue_tsv, capsys):
    out = tmp_path / "ft"
    assert _finetune(out, tiny_classifier, glue_tsv) == 0
    series = _scalars(out / "tensorboard")
    assert [step for step, _ in series["train/loss"]] == [1, 2, 3]
    assert [step for step, _ in series["dev/accuracy"]] == [1, 2, 3]
    assert {"train/lr", "dev/score", "throughput/examples_per_second"} <= set(series)
    metrics = json.loads((out / "metrics.json").read_text())
    best = {step: value for step, value in series["dev/accuracy"]}[metrics["best_step"]]
    assert best == pytest.approx(metrics["dev"]["accuracy"])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last == f"best dev sst2: accuracy {100 * best:.2f} at step {metrics['best_step']} of 3"


def test_report_to_none_writes_the_jsonl_log_only(tmp_path, tiny_classifier, glue_tsv):
    out = tmp_path / "ft"
    assert _finetune(out, tiny_classifier, glue_tsv, "--report-to", "none") == 0
    assert (out / "train_log.jsonl").is_file() and not (out / "tensorboard").exists()


def test_report_to_refuses_an_unknown_tracker(tmp_path, tiny_classifier, glue_tsv, capsys):
    from tests.conftest import assert_user_error

    assert_user_error(cli.main, ["finetune", "--model", str(tiny_classifier), "--task", "sst2", "--output-dir",
                                 str(tmp_path / "x"), "--report-to", "wandb"], capsys, "--report-to", "tensorboard")
    assert_user_error(cli.main, ["finetune", "--model", str(tiny_classifier), "--task", "sst2", "--output-dir",
                                 str(tmp_path / "x"), "--set", "train.report_to=mlflow"], capsys, "report_to")


def test_a_resumed_run_hides_the_steps_it_trains_again(tmp_path, tiny_classifier, glue_tsv):
    """A kill after step 3's log line but before its checkpoint: TensorBoard shows each step once."""
    import shutil

    out = tmp_path / "ft"
    assert _finetune(out, tiny_classifier, glue_tsv, "--set", "train.save_every=2", "--keep-checkpoints") == 0
    shutil.rmtree(out / "checkpoints" / "step_3")
    (out / "metrics.json").unlink()  # as a kill before the end leaves it
    assert _finetune(out, tiny_classifier, glue_tsv, "--set", "train.save_every=2", "--keep-checkpoints") == 0
    assert [step for step, _ in _scalars(out / "tensorboard")["train/loss"]] == [1, 2, 3]


def test_task_distillation_prints_its_best_dev_line_and_logs_each_phase(tmp_path, tiny_classifier, glue_tsv,
                                                                         capsys):
    out = tmp_path / "student"
    assert cli.main(["task", "--task", "sst2", "--teacher", str(tiny_classifier), "--student", "tiny",
                     "--data-dir", str(glue_tsv), "--output-dir", str(out), "--max-steps", "2", *FAST]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("best dev sst2: accuracy ")
    assert "train/loss" in _scalars(out / "intermediate" / "tensorboard")
    assert "dev/accuracy" in _scalars(out / "tensorboard")


def test_general_distillation_says_it_has_no_dev_score(tmp_path, tiny_classifier, capsys):
    from tests.conftest import WORDS

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(" ".join(WORDS[i:i + 12]) + " .\n\n" for i in range(30)))
    out = tmp_path / "general"
    assert cli.main(["general", "--teacher", str(tiny_classifier), "--student", "tiny", "--corpus", str(corpus),
                     "--output-dir", str(out), "--max-steps", "2", "--set", "probe.enabled=false", *FAST]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("no dev score")


def test_training_help_lists_every_train_setting(capsys):
    import dataclasses

    from distill.config import TrainSettings

    with pytest.raises(SystemExit):
        cli.main(["task", "--help"])
    text = capsys.readouterr().out
    assert all(f"train.{f.name} " in text for f in dataclasses.fields(TrainSettings))
    assert "train.report_to                tensorboard|none   [tensorboard]" in text


# ------------------------------------------------------------------ model cards that pass as Hub cards

HUB_BASE = "google-bert/bert-base-uncased"


@pytest.fixture
def hub_based_model(tmp_path, tiny_classifier):
    """A local copy of the tiny classifier whose card says it came from a Hub model (as a downloaded,
    or toolkit-made, model folder does)."""
    import shutil

    folder = tmp_path / "downloaded"
    shutil.copytree(tiny_classifier, folder)
    (folder / "README.md").write_text(f"---\nbase_model: {HUB_BASE}\nlicense: apache-2.0\n---\n\n# a model\n")
    return folder


def test_teacher_and_student_cards_name_the_hub_model_never_a_local_path(tmp_path, hub_based_model, glue_tsv):
    from tests.conftest import assert_hub_card

    teacher = tmp_path / "teacher"
    assert _finetune(teacher, hub_based_model, glue_tsv) == 0
    card = assert_hub_card(teacher, HUB_BASE, "finetune", "apache-2.0", ["nyu-mll/glue"], not_named=(hub_based_model,))
    assert "`downloaded` (a local model from google-bert/bert-base-uncased) fine-tuned" in card.text
    assert "It was trained on 16 of the 67,349 SST-2 training examples." in card.text

    student = tmp_path / "student"
    assert cli.main(["task", "--task", "sst2", "--teacher", str(teacher), "--student", "tiny", "--data-dir",
                     str(glue_tsv), "--output-dir", str(student), "--max-steps", "1", *FAST]) == 0
    card = assert_hub_card(student, HUB_BASE, "finetune", "apache-2.0", ["nyu-mll/glue"], not_named=(teacher,))
    assert "no `distillation` relation" in card.text and "task-distilled from `teacher`" in card.text


def test_a_model_of_unknown_origin_gets_license_other_and_no_base_model(tmp_path, tiny_classifier, custom_task):
    from tests.conftest import assert_hub_card

    out = tmp_path / "ft"
    assert cli.main(["finetune", "--model", str(tiny_classifier), "--task", str(custom_task), "--output-dir",
                     str(out), "--max-steps", "1", *FAST]) == 0
    card = assert_hub_card(out, None, None, "other", None, not_named=(tiny_classifier,))
    [result] = [r for r in card.data.eval_results if r.metric_type == "accuracy"]
    assert result.dataset_type == "custom"  # results name the custom task; `datasets:` lists Hub datasets only
    assert "set `license`" in card.text


# What quantize_int8 records about a run, as int8_card reads it.
INT8_RECORD = {"dev": {"task": "sst2", "metric": "accuracy", "fp32": 0.5, "int8": 0.5}, "backend": "onnxruntime",
               "mode": "static", "method": "minmax", "quantized_nodes": 3, "quantizable_nodes": 4,
               "calibration": {"task": "sst2", "split": "train", "size": 8, "seed": 0, "max_seq_length": 64},
               "excluded_layers": [], "size_bytes": {"ratio": 3.5}, "latency": {"speedup": 1.5}}


def test_int8_card_is_a_quantized_copy_with_its_settings_as_text(tmp_path, hub_based_model, glue_tsv):
    from quantize.driver import int8_card
    from tests.quantize.conftest import tiny_int8_config

    cfg = tiny_int8_config(hub_based_model, tmp_path / "int8", glue_tsv)
    from eval.core.model_card import write_model_card
    from tests.conftest import assert_hub_card

    write_model_card(tmp_path, int8_card("int8", cfg, INT8_RECORD))
    card = assert_hub_card(tmp_path, HUB_BASE, "quantized", "apache-2.0", ["nyu-mll/glue"],
                           not_named=(hub_based_model,))
    assert "| calibration | 8 sst2 train examples (seed 0, max sequence length 64) |" in card.text
    assert "None" not in card.text and "{" not in card.text


# ------------------------------------------------------------------ rough edges: typos and slow --help

@pytest.mark.parametrize("command", [
    ["finetune", "--task", "sst2", "--model", "runs/teacherr", "--output-dir", "out"],
    ["task", "--task", "sst2", "--teacher", "runs/teacherr", "--student", "tiny", "--output-dir", "out"],
])
def test_a_typo_of_a_local_folder_fails_at_once_naming_the_near_match(tmp_path, monkeypatch, capsys,
                                                                       tiny_classifier, command):
    import shutil

    import transformers

    from tests.conftest import assert_user_error

    monkeypatch.chdir(tmp_path)
    shutil.copytree(tiny_classifier, tmp_path / "runs" / "teacher")

    def no_hub(*args, **kwargs):
        raise AssertionError("the Hub was asked for a mistyped local path")

    for auto in (transformers.AutoConfig, transformers.AutoTokenizer):
        monkeypatch.setattr(auto, "from_pretrained", no_hub)
    assert_user_error(cli.main, command, capsys, "runs/teacherr does not exist",
                      "did you mean runs/teacher?", nothing_written=tmp_path / "out")


def test_glue_eval_names_the_near_match_too(tmp_path, monkeypatch, capsys, tiny_classifier):
    import shutil

    from eval import cli as glue
    from tests.conftest import assert_user_error

    monkeypatch.chdir(tmp_path)
    shutil.copytree(tiny_classifier, tmp_path / "runs" / "teacher")
    assert_user_error(glue.main, ["eval", "--model", "runs/teacher-x", "--task", "sst2", "--output", "r.json"],
                      capsys, "did you mean runs/teacher?")


def test_hub_ids_and_existing_folders_pass_the_typo_check(tmp_path, monkeypatch):
    from eval.model_paths import check_local_path

    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "teacher").mkdir(parents=True)
    for name in ("runs/teacher", "google-bert/bert-base-uncased", "bert-base-uncased", str(tmp_path / "runs")):
        check_local_path(name)


def test_quantize_help_imports_no_heavy_library():
    import subprocess
    import sys

    code = ("import sys\nfrom quantize import cli\ntry:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('transformers', 'torch', 'onnxruntime') if m in sys.modules]\n"
            "sys.stderr.write(repr(heavy))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stderr.strip().splitlines()[-1] == "[]" and "int8" in done.stdout


# ------------------------------------------------------------------ consistent interfaces

@pytest.mark.parametrize("module", ["distill.cli", "quantize.cli", "eval.cli", "pipeline.cli"])
def test_every_command_has_version(module, capsys):
    import importlib

    with pytest.raises(SystemExit) as exit_:
        importlib.import_module(module).main(["--version"])
    assert exit_.value.code == 0 and "(bert-compression-toolkit) " in capsys.readouterr().out


@pytest.mark.parametrize("command", ["eval", "predict", "floors"])
@pytest.mark.parametrize("flag", ["--task", "--tasks"])
def test_glue_commands_take_task_and_tasks(command, flag):
    from eval.cli import build_parser

    extra = {"eval": ["--model", "m", "--output", "o.json"], "predict": ["--model", "m", "--output-dir", "o"],
             "floors": ["--output-dir", "o"]}[command]
    args = build_parser().parse_args([command, flag, "sst2,mrpc", *extra])
    assert getattr(args, "tasks" if command == "predict" else "task") == "sst2,mrpc"


def test_pipeline_check_validates_set_as_run_does(capsys):
    from pathlib import Path

    from pipeline import cli as pipeline
    from tests.conftest import assert_user_error

    recipe = str(Path(__file__).resolve().parents[1] / "recipes" / "quickstart.yaml")
    assert_user_error(pipeline.main, ["check", recipe, "--set", "student=huge"], capsys,
                      "unknown student 'huge'; choose one of tiny")
    assert pipeline.main(["check", recipe, "--set", "student=mini"]) == 0


# ------------------------------------------------------------------ --license on every command that writes a card

def test_license_flag_names_the_card_license_and_a_changed_one_resumes(tmp_path, tiny_classifier, glue_tsv):
    from tests.conftest import assert_hub_card

    out = tmp_path / "ft"
    assert _finetune(out, tiny_classifier, glue_tsv, "--license", "mit") == 0
    card = assert_hub_card(out, None, None, "mit", ["nyu-mll/glue"], not_named=(tiny_classifier,))
    assert "set `license`" not in card.text
    # the license only changes the card: the same run, rerun with another, is that run (its card rewritten)
    assert _finetune(out, tiny_classifier, glue_tsv, "--license", "apache-2.0") == 0
    assert_hub_card(out, None, None, "apache-2.0", ["nyu-mll/glue"])


def test_license_is_not_a_difference_between_a_run_and_its_resumption(tmp_path):
    from distill.checkpoint import prepare_output_dir
    from distill.config import load_recipe

    out = tmp_path / "run"
    flags = {"task": "sst2", "model": "m", "output_dir": str(out)}
    assert prepare_output_dir(out, load_recipe("finetune", flags={**flags, "license": "mit"})) is False
    (out / "checkpoints" / "step_1").mkdir(parents=True)
    (out / "checkpoints" / "step_1" / "model.safetensors").write_bytes(b"")
    assert prepare_output_dir(out, load_recipe("finetune", flags={**flags, "license": "cc-by-4.0"})) is True


def test_int8_card_takes_the_configured_license(tmp_path, hub_based_model, glue_tsv):
    from eval.core.model_card import write_model_card
    from quantize.driver import int8_card
    from tests.conftest import assert_hub_card
    from tests.quantize.conftest import tiny_int8_config

    cfg = tiny_int8_config(hub_based_model, tmp_path / "int8", glue_tsv, license="mit")
    write_model_card(tmp_path, int8_card("int8", cfg, INT8_RECORD))
    assert_hub_card(tmp_path, HUB_BASE, "quantized", "mit", ["nyu-mll/glue"])  # the user's, not the base model's


@pytest.mark.parametrize("main, argv", [
    ("distill", ["cut", "--model", "m", "--layers", "1", "--license", "MIT License"]),
    ("distill", ["task", "--task", "sst2", "--teacher", "t", "--student", "tiny", "--license", "MIT License"]),
    ("quantize", ["int8", "--model", "m", "--license", "MIT License"]),
    ("quantize", ["export", "--model", "m", "--license", "MIT License"]),
])
def test_a_license_that_is_no_hub_id_is_one_line(tmp_path, capsys, main, argv):
    from quantize import cli as quantize_cli
    from tests.conftest import assert_user_error

    out = tmp_path / "out"
    run = {"distill": cli.main, "quantize": quantize_cli.main}[main]
    assert_user_error(run, [*argv, "--output-dir", str(out)], capsys, "license 'MIT License' is not a Hub license id",
                      "apache-2.0, mit", nothing_written=out)


# ------------------------------------------------------------------ a Hub id fails fast when the Hub is unreachable

@pytest.fixture
def no_hub(monkeypatch):
    """A machine with no network: nothing cached, every connection refused; a Hub download is a test failure."""
    import socket

    import huggingface_hub
    import transformers

    attempts = []

    def refused(address, *args, **kwargs):
        attempts.append(address)
        raise OSError("Network is unreachable")

    def downloads(*args, **kwargs):
        raise AssertionError("from_pretrained was asked for a Hub id the Hub cannot serve")

    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(socket, "create_connection", refused)
    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache", lambda *args, **kwargs: None)
    for auto in (transformers.AutoConfig, transformers.AutoTokenizer, transformers.AutoModel,
                 transformers.AutoModelForSequenceClassification):
        monkeypatch.setattr(auto, "from_pretrained", downloads)
    return attempts


@pytest.mark.parametrize("command", ["finetune", "glue eval"])
def test_an_unreachable_hub_fails_at_once_in_one_line(tmp_path, capsys, glue_tsv, no_hub, command):
    import time

    from eval import cli as glue_cli
    from tests.conftest import assert_user_error

    out = tmp_path / "out"
    main, argv = {
        "finetune": (cli.main, ["finetune", "--model", "someone/a-model", "--task", "sst2", "--data-dir", str(glue_tsv),
                                "--output-dir", str(out), *FAST]),
        "glue eval": (glue_cli.main, ["eval", "--model", "someone/a-model", "--task", "sst2", "--data-dir",
                                      str(glue_tsv), "--output", str(out)]),
    }[command]
    started = time.perf_counter()
    assert_user_error(main, argv, capsys, "cannot reach the Hugging Face Hub (huggingface.co) to fetch someone/a-model",
                      "pass a local model folder", nothing_written=out)
    assert time.perf_counter() - started < 3
    assert [port for _, port in no_hub] == [443]  # one quick check, not the Hub's retries


def test_hf_hub_offline_names_the_missing_cache_entry_without_a_connection(tmp_path, capsys, glue_tsv, no_hub,
                                                                          monkeypatch):
    from tests.conftest import assert_user_error

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert_user_error(cli.main, ["cut", "--model", "someone/a-model", "--layers", "1", "--output-dir",
                                 str(tmp_path / "out")], capsys,
                      "someone/a-model is not in the local Hugging Face cache and HF_HUB_OFFLINE is set")
    assert no_hub == []


def test_a_cached_hub_id_loads_from_the_cache_with_no_network_call(no_hub, monkeypatch):
    import huggingface_hub

    from eval.hub import from_hub_or_cache

    asked = []
    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache",
                        lambda repo_id, filename, **kwargs: asked.append((repo_id, filename)) or "/cache/config.json")
    options = []
    assert from_hub_or_cache(lambda **given: options.append(given) or "model", "someone/a-model") == "model"
    assert asked == [("someone/a-model", "config.json")] and options == [{"local_files_only": True}] and no_hub == []


def test_an_incomplete_cache_entry_is_fetched_only_when_the_hub_answers(no_hub, monkeypatch):
    import socket

    import huggingface_hub

    from eval.core.errors import UserError
    from eval.hub import from_hub_or_cache

    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache", lambda *args, **kwargs: "/cache/config.json")

    def load(**options):  # the config is cached, the weights are not (a download cut short)
        if options.get("local_files_only"):
            raise OSError("couldn't find them in the cached files")
        return "fetched"

    with pytest.raises(UserError, match="cannot reach the Hugging Face Hub"):
        from_hub_or_cache(load, "someone/a-model")

    class Connection:
        def close(self):
            pass

    monkeypatch.setattr(socket, "create_connection", lambda *args, **kwargs: Connection())
    assert from_hub_or_cache(load, "someone/a-model") == "fetched"
