"""Nothing a user runs destroys a run: train.py never trains into model/, refuses a folder that
holds a run unless --resume continues it or --overwrite_run replaces it, and --resume takes the
run's own settings and checks them before it reads data or writes a file."""
import hashlib
import shutil
from pathlib import Path

import pytest

from conftest import ROOT, SAMPLE, run_in_process, tiny_args
from src.core.config import load_config
from test_bad_inputs import assert_one_clean_error, with_values


def _copy_of(run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    return copy


def _snapshot(folder):
    return {p.relative_to(folder): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in Path(folder).rglob("*") if p.is_file() and p.name != ".lock"}


def test_resume_takes_the_runs_own_settings_and_leaves_the_run_usable(trained_run, tmp_path,
                                                                        capfd):
    run = _copy_of(trained_run, tmp_path)
    resumed = run_in_process("train.py", "--aclimdb_path", SAMPLE, "--run_dir", run,
                             "--resume", "true", "--num_epochs", "2", capfd=capfd)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert list(run.glob("lstm-2_*.ckpt")), sorted(p.name for p in run.iterdir())
    config = load_config(["--config_path", str(run / "config.yaml")])
    assert (config.num_hiddens, config.max_len, config.embedding, config.num_epochs) == \
        (16, 64, "random", 2)
    assert (run / "vocab.json").read_bytes() == (trained_run / "vocab.json").read_bytes()
    predicted = run_in_process("predict.py", "--run_dir", run, "great", capfd=capfd)
    assert predicted.returncode == 0, predicted.stderr[-3000:]


def test_resume_with_settings_its_checkpoints_cannot_take_is_refused_before_any_work(
        trained_run, tmp_path, capfd):
    run = _copy_of(trained_run, tmp_path)
    before = _snapshot(run)
    refused = run_in_process("train.py", "--run_dir", run, "--resume", "true",
                             "--num_hiddens", "32", "--preprocess_path", tmp_path / "cache",
                             capfd=capfd)
    assert refused.returncode == 2
    assert_one_clean_error(refused, ["num_hiddens 32 (the run's: 16)", "--run_dir"])
    assert _snapshot(run) == before
    assert not (tmp_path / "cache").exists(), "it preprocessed before refusing"


def test_resume_of_a_folder_without_checkpoints_is_refused_before_any_work(tmp_path, capfd):
    empty = tmp_path / "empty"
    empty.mkdir()
    refused = run_in_process("train.py", *with_values(tiny_args(tmp_path), run_dir=empty,
                                                resume="true"), capfd=capfd)
    assert refused.returncode == 2
    assert_one_clean_error(refused, ["--resume: no lstm-EPOCH_STEP.ckpt", "without --resume"])
    assert list(empty.iterdir()) == [] and not (tmp_path / "preprocess").exists()


def test_a_new_run_refuses_a_folder_holding_a_run_unless_told_to_replace_it(
        trained_run, prepared, tmp_path, capfd):
    run = _copy_of(trained_run, tmp_path)
    before = _snapshot(run)
    args = with_values(tiny_args(tmp_path), run_dir=run,
                 preprocess_path=prepared.folder.parent)  # the session's cache
    refused = run_in_process("train.py", *args, capfd=capfd)
    assert refused.returncode == 2
    assert_one_clean_error(refused, ["holds a run", "--resume true", "--overwrite_run true"])
    assert _snapshot(run) == before
    replaced = run_in_process("train.py", *args, "--overwrite_run", "true", capfd=capfd)
    assert replaced.returncode == 0, replaced.stderr[-3000:]
    assert "training done" in replaced.stdout
    assert (run / "lstm-best.ckpt").stat().st_mtime_ns > (trained_run / "lstm-best.ckpt").stat().st_mtime_ns


@pytest.mark.parametrize("more", [[], ["--overwrite_run", "true"], ["--resume", "true"]])
def test_the_shipped_model_is_never_a_training_target(more, tmp_path, capfd):
    before = _snapshot(ROOT / "model")
    refused = run_in_process("train.py", *with_values(tiny_args(tmp_path), run_dir="model"),
                             *more, capfd=capfd)
    assert refused.returncode == 2
    assert_one_clean_error(refused, ["shipped model", "--run_dir"])
    assert _snapshot(ROOT / "model") == before


def test_the_shipped_encoder_folder_is_never_a_pretraining_target(tmp_path, capfd):
    before = _snapshot(ROOT / "model")
    refused = run_in_process("pretrain.py", *with_values(tiny_args(tmp_path), overwrite_run="true",
                                                   pretrain_dir="model/encoder"), capfd=capfd)
    assert refused.returncode == 2
    assert_one_clean_error(refused, ["--pretrain_dir", "shipped model"])
    assert _snapshot(ROOT / "model") == before


@pytest.mark.parametrize("script", ["eval.py", "predict.py"])
def test_a_folder_for_a_checkpoint_file_or_a_file_for_a_folder_is_named_as_such(
        script, trained_run, capfd):
    text = ["great"] if script == "predict.py" else []
    as_file = run_in_process(script, "--run_dir", trained_run,
                             "--checkpoint_file", trained_run, *text, capfd=capfd)
    assert as_file.returncode == 2
    assert_one_clean_error(as_file, ["--checkpoint_file", "is a folder", ".ckpt"])
    as_folder = run_in_process(script, "--run_dir", trained_run / "lstm-best.ckpt", *text,
                               capfd=capfd)
    assert as_folder.returncode == 2
    assert_one_clean_error(as_folder, ["--run_dir", "is a file", "--checkpoint_file"])
