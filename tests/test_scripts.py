"""The per-device shell scripts against the original zoo's: argument order, device selection,
and bash 4.2 (CentOS 7) safety. DRY_RUN=1 makes a script print the device environment and
the command it would run, so the GPU and Ascend scripts are checked on a CPU machine."""
import os
import re
import shutil
import subprocess

import pytest

from conftest import ROOT, SAMPLE

SCRIPTS = ROOT / "scripts"


def dry_run(script, *args, **env):
    clean = {key: value for key, value in os.environ.items()
             if key not in ("CUDA_VISIBLE_DEVICES", "DEVICE_ID", "RANK_ID")}
    done = subprocess.run(["bash", str(SCRIPTS / script), *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60,
                          env={**clean, "DRY_RUN": "1", **env})
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def _command(lines):
    return next(line for line in lines if line.startswith("run: ")).split()


def _value(command, flag):
    return command[command.index(flag) + 1]


def test_gpu_scripts_show_the_process_only_its_gpu_as_the_original():
    lines = dry_run("run_train_gpu.sh", 3, SAMPLE)
    assert "env: CUDA_VISIBLE_DEVICES=3" in lines
    command = _command(lines)
    assert _value(command, "--device_target") == "GPU" and _value(command, "--device_id") == "0"


def test_gpu_scripts_keep_the_gpus_a_scheduler_chose():
    lines = dry_run("run_train_gpu.sh", 1, SAMPLE, CUDA_VISIBLE_DEVICES="5,6")
    assert "env: CUDA_VISIBLE_DEVICES=5,6" in lines
    assert _value(_command(lines), "--device_id") == "1"


def test_ascend_scripts_export_device_id_as_the_original():
    lines = dry_run("run_train_ascend.sh", 2, SAMPLE)
    assert "env: DEVICE_ID=2" in lines
    command = _command(lines)
    assert _value(command, "--device_id") == "2"
    assert _value(command, "--config_path").endswith("config_ascend.yaml")


def test_eval_ascend_takes_device_preprocess_dir_and_checkpoint_as_the_original(
        trained_run, prepared):
    checkpoint = trained_run / "lstm-best.ckpt"
    command = _command(dry_run("run_eval_ascend.sh", 0, prepared.folder, checkpoint))
    assert _value(command, "--preprocess_path") == str(prepared.folder)
    assert _value(command, "--checkpoint_file") == str(checkpoint)
    assert _value(command, "--config_path") == str(trained_run / "config.yaml")
    assert "--aclimdb_path" not in command


@pytest.mark.slow
def test_eval_from_the_preprocessed_folder_gives_evals_accuracy(trained_run, prepared,
                                                                  tiny_eval, tmp_path):
    import json
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    done = subprocess.run(["bash", str(SCRIPTS / "run_eval_cpu.sh"), str(prepared.folder),
                           str(run / "lstm-best.ckpt")], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads((run / "eval.json").read_text())
    assert result["reviews"] == 500 and result["accuracy"] == tiny_eval["accuracy"]


# Arrays that always hold at least one word may be expanded plainly.
NEVER_EMPTY = {"common", "main", "source", "DEVICES"}


def test_scripts_never_expand_a_possibly_empty_array_under_set_u():
    """bash before 4.4 (CentOS 7 has 4.2) treats "${EMPTY[@]}" as unbound under set -u and
    aborts; an array that may be empty must be written ${A[@]+"${A[@]}"}."""
    bad = []
    for path in sorted(SCRIPTS.glob("*.sh")) + sorted((ROOT / "ascend310_infer").glob("*.sh")):
        text = path.read_text()
        safe = set(re.findall(r'\$\{(\w+)\[@\]\+"\$\{\1\[@\]\}"\}', text))
        for name in re.findall(r'(?<!\+)"\$\{(\w+)\[@\]\}"', text):
            if name not in safe | NEVER_EMPTY:
                bad.append(f"{path.name}: ${{{name}[@]}}")
    assert not bad, bad
