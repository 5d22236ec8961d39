"""SIGTERM (what `kill`, a scheduler or a container stop sends) ends a training run cleanly:
exit code 130, one line, the checkpoints written so far intact, and --resume continues."""
import json
import signal
import subprocess
import sys
import time

from conftest import ROOT, tiny_args
from src.model.checkpoint import latest_checkpoint, load_params

INTERRUPTED = ("error: interrupted (Ctrl-C or SIGTERM); finished files are kept, half-written "
               "ones were never renamed into place; rerun (train.py: add --resume True) to "
               "continue")


def _steps(run):
    records = [json.loads(line) for line in (run / "metrics.jsonl").open()]
    return [record["step"] for record in records if "loss" in record]


def _logged_steps(run):
    """Step lines in metrics.jsonl so far (read while the run writes it)."""
    path = run / "metrics.jsonl"
    return path.read_text().count('"loss"') if path.exists() else 0


def test_sigterm_after_a_checkpoint_ends_with_130_and_one_line_and_resume_finishes(
        tmp_path, tiny_config):
    from src.core.config import load_config
    from train import main as train
    args = tiny_args(tmp_path) + ["--save_checkpoint_steps", "5", "--preprocess_path",
                                  tiny_config.preprocess_path]  # the session's cache, if built
    run = tmp_path / "run"
    process = subprocess.Popen([sys.executable, str(ROOT / "train.py"), *args], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    # after step 5's checkpoint and two more steps, which the resumed run must redo once
    while not ((run / "lstm-1_5.ckpt").exists() and _logged_steps(run) >= 7):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.005)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err[-2000:]
    assert err.strip().splitlines() == [INTERRUPTED]
    # stopped mid-epoch: no epoch-end checkpoint, no best one; what was saved loads
    assert not (run / "lstm-best.ckpt").exists() and not list(run.glob(".*.tmp-*"))
    newest = latest_checkpoint(run, "lstm")
    saved = int(load_params(newest)["steps_done"].asnumpy())
    assert 5 <= saved < 28 and _logged_steps(run) >= 7, newest

    lines = []  # --resume true, in this process (no second start-up)
    train(load_config(args + ["--resume", "true"]), log=lines.append)
    assert f"resuming from {newest}: epoch 1, step {saved}" in lines, lines
    assert _steps(run) == list(range(1, 29))  # 28 batches of 32: each step once, in order
    assert (run / "lstm-best.ckpt").exists() and lines[-1].startswith("training done")
