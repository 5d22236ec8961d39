"""-h and --help of every entry script and of every scripts/run_*.sh: exit 0, a usage line,
and (entry scripts) the keys that script reads, by group, not every key of the config."""
import dataclasses
import os
import re
import subprocess

import pytest

from conftest import ROOT, run_script

SCRIPTS = ["train.py", "eval.py", "export.py", "predict.py", "app.py", "pretrain.py",
           "preprocess.py", "postprocess.py"]
SHELL_SCRIPTS = sorted(path.name for path in (ROOT / "scripts").glob("run_*.sh"))

# script: (keys its --help lists, keys it must not list: those of other scripts)
READS = {
    "train.py": (["num_epochs", "aclimdb_path", "embedding", "num_hiddens", "encoder_checkpoint",
                  "device_target", "run_distribute"],
                 ["serve_port", "input_file", "result_dir", "pretrain_epochs", "file_format"]),
    "eval.py": (["checkpoint_file", "aclimdb_path", "num_hiddens", "device_target"],
                ["num_epochs", "serve_port", "file_format", "input_file", "pretrain_epochs"]),
    "export.py": (["checkpoint_file", "file_name", "file_format", "device_target"],
                  ["num_epochs", "serve_port", "input_file", "pretrain_epochs", "valid_split"]),
    "predict.py": (["run_dir", "checkpoint_file", "mindir_path", "input_file", "output_format",
                    "backend", "explain", "text_column"],
                   ["num_epochs", "serve_port", "file_format", "pretrain_epochs", "result_dir"]),
    "app.py": (["run_dir", "checkpoint_file", "serve_host", "serve_port", "max_review_chars",
                "backend", "explain_method"],
               ["num_epochs", "input_file", "output_format", "pretrain_epochs", "result_dir"]),
    "pretrain.py": (["pretrain_dir", "pretrain_epochs", "unlabelled_path", "aclimdb_path",
                     "device_target"],
                    ["num_epochs", "serve_port", "input_file", "file_format",
                     "encoder_lr_scale"]),
    "preprocess.py": (["result_path", "aclimdb_path", "batch_size", "max_len"],
                      ["num_epochs", "serve_port", "input_file", "result_dir", "file_format"]),
    "postprocess.py": (["result_path", "result_dir"],
                       ["num_epochs", "aclimdb_path", "serve_port", "input_file", "num_hiddens"]),
}


def _listed(text):
    """The keys a --help text lists, one `  --KEY DEFAULT` line each."""
    return set(re.findall(r"^  --(\w+) ", text, re.MULTILINE))


@pytest.mark.parametrize("flag", ["-h", "--help"])
@pytest.mark.parametrize("script", SCRIPTS)
def test_every_entry_script_answers_help_with_its_own_keys(script, flag):
    done = run_script(script, flag, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.startswith(f"usage: {script} ")
    listed = _listed(done.stdout)
    reads, others = READS[script]
    assert set(reads) <= listed, sorted(set(reads) - listed)
    assert not set(others) & listed, sorted(set(others) & listed)
    assert "config_path" not in listed  # the usage line names it


@pytest.mark.parametrize("script, words", [
    ("train.py", ["--num_epochs", "3", "--help"]),
    ("eval.py", ["--run_dir", "model", "-h"]),
    ("app.py", ["--run_dir", "model", "--serve_port=7861", "--help"]),
    ("predict.py", ["Great film.", "--backend", "onnxruntime", "-h"]),
])
def test_help_after_other_words_still_answers(script, words):
    done = run_script(script, *words, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"usage: {script} ") and "  --run_dir " in done.stdout


def test_help_is_grouped_with_defaults_and_help_text():
    done = run_script("train.py", "--help", timeout=120)
    assert "training:\n  --batch_size 64" in done.stdout
    assert "peak learning rate" in done.stdout and "[adam | momentum]" in done.stdout
    # a group starts at the first key the script reads, even when its first key is not one
    app = run_script("app.py", "--help", timeout=120).stdout
    assert "\ninference:\n  --mindir_path " in app and "\nmodel:\n  --num_classes " in app
    assert "\npretraining:" not in app and "\ntraining:\n  --batch_size " in app


@pytest.mark.parametrize("script", ["predict.py", "app.py"])
def test_the_usage_line_says_model_is_the_default(script):
    done = run_script(script, "--help", timeout=120)
    first = done.stdout.splitlines()[0]
    assert first.startswith(f"usage: {script} ") and "default: model/" in first


def test_every_key_is_listed_by_some_script_and_every_group_has_readers():
    from src.core.config import Config, format_help
    from src.core.config_text import READERS
    listed = set().union(*(_listed(format_help(script)) for script in SCRIPTS))
    keys = {f.name for f in dataclasses.fields(Config)} - {"config_path"}
    assert keys - listed == set()
    groups = {f.metadata["group"] for f in dataclasses.fields(Config) if f.name != "config_path"}
    assert len(groups) == 9 and groups <= set(READERS)
    # a name that is not an entry script (python -m, a test) sees every key
    assert _listed(format_help("something.py")) == keys


@pytest.mark.parametrize("flag", ["-h", "--help"])
@pytest.mark.parametrize("script", SHELL_SCRIPTS)
def test_every_run_script_answers_help_without_running_anything(script, flag, tmp_path):
    ran = tmp_path / "ran"
    python = tmp_path / "python"
    python.write_text(f"#!/bin/sh\ntouch {ran}\n")
    python.chmod(0o755)
    done = subprocess.run(["bash", f"scripts/{script}", flag], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={**os.environ, "PYTHON": str(python),
                                                      "RUN_DIR": str(tmp_path / "run")})
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.startswith(f"Usage: bash scripts/{script} ")
    assert "#" not in done.stdout.splitlines()[0]
    assert not ran.exists() and not (tmp_path / "run").exists()
