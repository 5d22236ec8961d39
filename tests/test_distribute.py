"""Data-parallel training for real: 2 CPU worker processes under msrun on the bundled sample."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, SAMPLE, tiny_args
from src.config import load_config, run_main

WORKERS = 2
BATCH = 16


def _script_env():
    return dict(os.environ, PYTHON=sys.executable)


@pytest.fixture(scope="module")
def distributed_run(tmp_path_factory):
    """scripts/run_distribute_train_cpu.sh with 2 workers, length buckets on (uneven shards)."""
    workdir = tmp_path_factory.mktemp("distribute")
    args = tiny_args(workdir) + ["--num_epochs", "2", "--batch_size", str(BATCH),
                                 "--bucket_width", "32", "--learning_rate", "0.01"]
    result = subprocess.run(["bash", str(ROOT / "scripts" / "run_distribute_train_cpu.sh"),
                             str(WORKERS), str(SAMPLE), *args], cwd=ROOT, capture_output=True,
                            text=True, timeout=900,
                            env=dict(_script_env(), RUN_DIR=str(workdir / "run")))
    return workdir, args, result


def _log(workdir, rank):
    return (workdir / "run" / "logs" / f"worker_{rank}.log").read_text(errors="replace")


@pytest.mark.slow
def test_both_ranks_train_in_step_and_only_rank_0_writes_checkpoints(distributed_run):
    workdir, _, result = distributed_run
    assert result.returncode == 0, result.stderr + result.stdout[-3000:]
    digests = set()
    for rank in range(WORKERS):
        log = _log(workdir, rank)
        assert "training done" in log
        digests |= set(re.findall(r"weights digest (\w+)", log))
    assert len(digests) == 1, f"ranks ended with different weights: {digests}"

    run = workdir / "run"
    assert (run / "lstm-best.ckpt").exists() and list(run.glob("lstm-2_*.ckpt"))
    assert not list(run.glob("rank_*/*.ckpt"))
    assert not list((run / "logs").glob("*.ckpt"))
    rank_1 = [json.loads(line) for line in (run / "rank_1" / "metrics.jsonl").open()]
    rank_0 = [json.loads(line) for line in (run / "metrics.jsonl").open()]
    assert [r["valid_acc"] for r in rank_0 if "valid_acc" in r] == \
        [r["valid_acc"] for r in rank_1 if "valid_acc" in r]
    steps_0 = [r["step"] for r in rank_0 if "loss" in r]
    steps_1 = [r["step"] for r in rank_1 if "loss" in r]
    assert steps_0 == steps_1 and steps_0
    # each worker reads half the data: about half the steps of one worker with the same batch
    train_rows = json.loads(next((workdir / "preprocess").glob("*/meta.json")).read_text())
    assert len(steps_0) <= 2 * train_rows["counts"]["train"] // (WORKERS * BATCH)


@pytest.mark.slow
def test_rank_0_checkpoint_loads_and_evaluates(distributed_run):
    from src.eval import evaluate
    workdir, args, result = distributed_run
    assert result.returncode == 0, result.stderr
    config = load_config(args + ["--checkpoint_path", str(workdir / "run" / "lstm-best.ckpt")])
    report = evaluate(config, log=lambda *_: None)
    assert report["reviews"] == 500 and 0.0 <= report["accuracy"] <= 1.0


def test_run_distribute_without_a_launcher_is_refused(tmp_path, monkeypatch, capsys):
    from src.train import train
    for name in ("MS_ROLE", "RANK_TABLE_FILE", "OMPI_COMM_WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SystemExit) as stop:
        run_main(train, tiny_args(tmp_path) + ["--run_distribute", "True"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: run_distribute is true but no launcher") and err.count("\n") == 1
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("args, message", [
    (["0", str(SAMPLE)], "WORKER_NUM must be a positive number"),
    (["2", "/no/such/aclImdb"], "does not exist"),
])
def test_distribute_script_bad_arguments(args, message):
    result = subprocess.run(["bash", str(ROOT / "scripts" / "run_distribute_train_cpu.sh"),
                             *args], capture_output=True, text=True, env=_script_env(),
                            timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and message in result.stderr


@pytest.mark.slow
def test_two_processes_preparing_the_same_cache_at_once(tmp_path):
    """prepare() builds under a temporary name and renames: concurrent builders both succeed."""
    code = ("import sys, mindspore.dataset as ds; from src.config import load_config; "
            "from src.data import prepare; "
            "folder = prepare(load_config(sys.argv[1:]), log=lambda *_: None).folder; "
            "rows = ds.MindDataset(str(folder / 'train.mindrecord')).get_dataset_size(); "
            "print(folder) if rows else sys.exit('no rows')")
    args = tiny_args(tmp_path)
    procs = [subprocess.Popen([sys.executable, "-c", code, *args], cwd=ROOT, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(2)]
    outputs = [proc.communicate(timeout=300) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outputs
    folders = {Path(out.strip()) for out, _ in outputs}
    assert len(folders) == 1
    folder = folders.pop()
    assert (folder / "meta.json").exists() and (folder / "train.mindrecord").exists()
    assert not list((tmp_path / "preprocess").glob("*.building-*"))
