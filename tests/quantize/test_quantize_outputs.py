"""Atomic output folders: kill -9 at any point leaves the old complete folder or the new one."""

import hashlib
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from eval.core.artifacts import folder_lock, lock_file
from quantize import api
from quantize.cli import main
from tests.conftest import assert_user_error
from tests.quantize.conftest import tiny_int8_config

ROOT = Path(__file__).resolve().parents[2]


def complete_mode(folder: Path) -> str:
    """The mode of a complete INT8 folder: every file its record lists is there with that digest."""
    record = json.loads((folder / "quantization.json").read_text())
    for name, digest in record["files"].items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, f"{name} is not the recorded one"
    extra = {p.name for p in folder.iterdir()} - set(record["files"]) - {"quantization.json"}
    assert not extra, f"files from another run: {extra}"
    return record["mode"]


@pytest.mark.integration
def test_kill_9_at_random_points_leaves_old_or_new_complete(tmp_path, onnx_fp32, glue_tsv):
    out = tmp_path / "int8"
    api.int8(tiny_int8_config(onnx_fp32, out, glue_tsv, mode="dynamic"))  # the old complete folder
    argv = [sys.executable, "-m", "quantize.cli", "int8", "--model", str(onnx_fp32), "--output-dir", str(out),
            "--calib", "sst2", "--calib-size", "8", "--data-dir", str(glue_tsv), "--max-seq-length", "64"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    rng = random.Random(int(time.time()))
    seen = set()
    for _ in range(5):
        child = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(1.0, 9.0))
        child.kill()
        child.wait()
        seen.add(complete_mode(out))
        assert seen <= {"dynamic", "static"}
    finished = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert complete_mode(out) == "static"
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".int8.") and p != lock_file(out)]
    assert not leftovers, "leftovers were not cleaned"  # the lock file beside the folder stays, by design


def test_leftovers_of_a_killed_run_are_cleaned_on_the_next_run(tmp_path, onnx_fp32, glue_tsv):
    out = tmp_path / "int8"
    stale = tmp_path / ".int8.staging-dead0001"
    (stale / ".work").mkdir(parents=True)
    (stale / ".work" / "big.onnx").write_bytes(b"0" * 1000)
    api.int8(tiny_int8_config(onnx_fp32, out, glue_tsv, mode="dynamic"))
    assert not stale.exists() and complete_mode(out) == "dynamic"


def test_a_second_run_on_a_locked_folder_is_refused(tmp_path, onnx_fp32, glue_tsv, capsys):
    out = tmp_path / "int8"
    with folder_lock(out):
        assert_user_error(main, ["int8", "--model", str(onnx_fp32), "--output-dir", str(out), "--calib", "sst2",
                                 "--calib-size", "8", "--data-dir", str(glue_tsv)], capsys, "another quantize run")
    assert not list(out.iterdir())


def test_a_folder_of_other_files_is_never_replaced(tmp_path, onnx_fp32, glue_tsv, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert_user_error(main, ["export", "--model", str(onnx_fp32), "--output-dir", str(out)], capsys,
                      "is not empty and holds no quantization.json")
    assert (out / "notes.txt").read_text() == "keep me" and [p.name for p in out.iterdir()] == ["notes.txt"]


def test_rerun_replaces_the_whole_folder(tmp_path, onnx_fp32, tiny_classifier, glue_tsv):
    out = tmp_path / "int8"
    api.int8(tiny_int8_config(onnx_fp32, out, glue_tsv, mode="dynamic"))
    (out / "stray.txt").write_text("from an older version")
    api.export(tiny_classifier, out)
    assert not (out / "stray.txt").exists() and json.loads((out / "quantization.json").read_text())["precision"] == "fp32"


def test_every_file_of_an_int8_folder_is_shared(onnx_int8):
    """Model folders are copied and served: every file 0644, whatever the library wrote (safetensors: 0600)."""
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in onnx_int8.iterdir()}
    assert set(modes.values()) == {"0o644"}, modes
