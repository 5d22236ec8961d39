"""kill -9 at the worst moments, for real: the next run must never read a broken file and
--resume must continue from the last saved step with the same data order and results.

An uninterrupted run is the reference (conftest's uninterrupted_run): a run killed (once or
several times) and resumed must log the same loss at every step and end with the same weights.
Dropout is 0 because dropout masks are random draws that a checkpoint does not hold. The
killed runs are processes of their own; the resumed ones run in the test's process (what they
do is the test, not how the process ends).
"""
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, run_script, uninterrupted_args
from src.model.checkpoint import latest_checkpoint, load_params

pytestmark = pytest.mark.slow

STEPS = 56  # 2 epochs of 28 batches of 32 from the sample's 900 training reviews


def fault_args(workdir, run_name, save_steps):
    """uninterrupted_run's settings, with a checkpoint every save_steps, in workdir/run_name."""
    return uninterrupted_args(workdir) + ["--save_checkpoint_steps", str(save_steps),
                                          "--run_dir", str(Path(workdir) / run_name)]


def start_train(args):
    return subprocess.Popen([sys.executable, str(ROOT / "train.py"), *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process, timeout=900):
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err[-3000:]
    return out


def resume(args, capfd):
    """train.py ARGS --resume true, run in this process; returns what it printed."""
    result = run_script("train.py", *args, "--resume", "true", capfd=capfd)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def kill_when(process, condition, poll=0.001, timeout=600):
    """SIGKILL process the moment condition() holds; returns what condition() returned."""
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            os.kill(process.pid, signal.SIGKILL)
            process.communicate()
            return found
        if process.poll() is not None:
            return None
        assert time.monotonic() < deadline, "the run never reached the moment to kill it"
        time.sleep(poll)


def losses(run_dir):
    records = [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").open()]
    return [(r["step"], r["loss"]) for r in records if "loss" in r]


def assert_every_checkpoint_loads(run_dir):
    for path in Path(run_dir).glob("lstm-*.ckpt"):
        assert load_params(path), path


def assert_same_training(resumed, reference):
    assert losses(resumed) == losses(reference)
    assert [step for step, _ in losses(resumed)] == list(range(1, STEPS + 1))
    final = f"lstm-2_{STEPS // 2}.ckpt"
    ours, theirs = load_params(Path(resumed) / final), load_params(Path(reference) / final)
    for name in ("embedding.embedding_table", "decoder.weight", "global_step"):
        np.testing.assert_array_equal(ours[name].asnumpy(), theirs[name].asnumpy())
    assert not list(Path(resumed).glob(".*.tmp-*")), "temp files of the killed run remain"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("faults")


@pytest.fixture(scope="module")
def reference(uninterrupted_run):
    """The uninterrupted 2-epoch run every killed run is compared with."""
    return uninterrupted_run


def test_kill_mid_epoch_then_resume_replays_the_same_steps(workdir, reference, capfd):
    run = Path(workdir) / "mid_epoch"
    args = fault_args(workdir, "mid_epoch", save_steps=10)
    process = start_train(args)
    # Killed at step 13 or later: steps 11.. were trained but never saved.
    killed = kill_when(process, lambda: (run / "lstm-1_10.ckpt").exists()
                       and len(losses(run)) >= 13, poll=0.01)
    assert killed, "the run ended before it could be killed"
    assert not (run / f"lstm-2_{STEPS // 2}.ckpt").exists()
    assert_every_checkpoint_loads(run)
    assert "resuming from" in resume(args, capfd)
    assert_same_training(run, reference)


def _temp_checkpoint(run):
    return [p for p in run.glob(".lstm-*.tmp-*")] if run.exists() else []


# train.py as `python train.py ARGS` runs it, except that MindSpore's checkpoint writer stops
# the process inside its SAVE-th call, half of the file written (as a kill mid-write leaves
# it): the test kills it there, at that moment, on every machine
STOPPED_IN_A_SAVE = """
import os, runpy, signal, sys
import mindspore as ms
save, calls = ms.save_checkpoint, []
def stopping_save(cell, path, *args, **kwargs):
    save(cell, path, *args, **kwargs)
    calls.append(path)
    if len(calls) == int(os.environ["STOP_IN_SAVE"]):
        with open(path, "r+b") as half:
            half.truncate(os.path.getsize(path) // 2)
        os.kill(os.getpid(), signal.SIGSTOP)
ms.save_checkpoint = stopping_save
sys.argv = ["train.py", *sys.argv[1:]]
runpy.run_path("train.py", run_name="__main__")
"""


def kill_where_it_stops(script, args, env=None):
    """Run script (one of the STOPPED_... above) with args, wait until it stops itself
    (SIGSTOP), then SIGKILL it there."""
    process = subprocess.Popen([sys.executable, "-c", script, *args], cwd=ROOT,
                               env=dict(os.environ, **(env or {})),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    guard = threading.Timer(600, process.kill)  # a run that never gets there fails the test
    guard.start()
    _, status = os.waitpid(process.pid, os.WUNTRACED)  # until it stops where it was told
    guard.cancel()
    assert os.WIFSTOPPED(status), process.stderr.read()[-3000:]
    os.kill(process.pid, signal.SIGKILL)
    process.communicate()


def test_kill_during_checkpoint_save_never_leaves_a_broken_checkpoint(workdir, reference,
                                                                       capfd):
    run = Path(workdir) / "during_save"
    args = fault_args(workdir, "during_save", save_steps=1)
    kill_where_it_stops(STOPPED_IN_A_SAVE, args, {"STOP_IN_SAVE": "3"})  # in the third save
    left = _temp_checkpoint(run)
    assert len(left) == 1, "the half-written checkpoint must be a temp file"
    assert sorted(p.name for p in run.glob("lstm-*_*.ckpt")) == ["lstm-1_1.ckpt", "lstm-1_2.ckpt"]
    assert_every_checkpoint_loads(run)
    out = resume(args, capfd)
    assert "resuming from" in out and "lstm-1_2.ckpt" in out
    assert_same_training(run, reference)


# train.py as `python train.py ARGS` runs it, except that preprocessing stops the process inside
# its second MindRecord file (the first split written whole), half of that file written
STOPPED_IN_PREPROCESSING = """
import os, runpy, signal, sys
from src.data import mindrecord
write, calls = mindrecord.write_mindrecord, []
def stopping_write(path, *args, **kwargs):
    write(path, *args, **kwargs)
    calls.append(path)
    if len(calls) == 2:
        with open(path, "r+b") as half:
            half.truncate(os.path.getsize(path) // 2)
        os.kill(os.getpid(), signal.SIGSTOP)
mindrecord.write_mindrecord = stopping_write
sys.argv = ["train.py", *sys.argv[1:]]
runpy.run_path("train.py", run_name="__main__")
"""


def test_kill_during_preprocessing_then_rerun_rebuilds_the_same_cache(workdir):
    from src.core.config import load_config
    from src.data.mindrecord import prepare
    cache = Path(workdir) / "killed_cache"  # a cache of its own: the module's may be built
    args = fault_args(workdir, "preprocess_kill", save_steps=10) + ["--preprocess_path",
                                                                    str(cache)]
    kill_where_it_stops(STOPPED_IN_PREPROCESSING, args)
    building = list(cache.glob(".*.tmp-*"))
    assert building, "preprocessing must build under a temporary name"
    assert not [p for p in cache.iterdir() if not p.name.startswith(".")], \
        "a cache appeared anyway"
    logs = []
    again = prepare(load_config(args), log=logs.append)
    assert logs[-1].startswith("preprocessed"), logs
    assert not list(cache.glob(".*.tmp-*")), "the killed run's folder was not cleared"
    clean = load_config(args + ["--preprocess_path", str(Path(workdir) / "clean")])
    fresh = prepare(clean, log=lambda *_: None)
    assert (again.folder / "vocab.json").read_bytes() == (fresh.folder / "vocab.json").read_bytes()
    for name in ("train.mindrecord", "valid.mindrecord", "test.mindrecord"):
        assert _rows(again.folder / name) == _rows(fresh.folder / name)


def _rows(path):
    import mindspore.dataset as ds
    rows = ds.MindDataset(str(path), columns_list=["ids", "label"], shuffle=False)
    return [(tuple(ids.tolist()), int(label))
            for ids, label in rows.create_tuple_iterator(output_numpy=True)]


def _strict_json_lines(path):
    """Every line of path parsed as strict JSON (NaN or Infinity would raise)."""
    def refuse(token):
        raise ValueError(f"{token} is not JSON")
    return [json.loads(line, parse_constant=refuse) for line in Path(path).open()]


def test_a_diverging_run_stops_with_one_line_and_keeps_its_finite_checkpoints(workdir,
                                                                             reference):
    run = Path(workdir) / "diverging"
    # from trained weights at a learning rate that overflows float32 weights within a step (the
    # loss itself is stable: at 1e30 it stays a finite ~1e30)
    args = fault_args(workdir, "diverging", save_steps=1) + [
        "--init_checkpoint", str(reference / "lstm-best.ckpt"), "--learning_rate", "1e38"]
    result = subprocess.run([sys.executable, str(ROOT / "train.py"), *args], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 2, result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert lines[0].startswith("error: training diverged at step ") and \
        "last finite loss" in lines[0] and "--learning_rate" in lines[0], lines[0]
    records = _strict_json_lines(run / "metrics.jsonl")
    stopped = next(r["diverged_at_step"] for r in records if "diverged_at_step" in r)
    assert [r["step"] for r in records if "loss" in r] == list(range(1, stopped))
    assert all(np.isfinite(r["loss"]) for r in records if "loss" in r)
    kept = sorted(run.glob("lstm-*.ckpt"))
    for path in kept:
        for name, param in load_params(path).items():
            if name != "vocab_digest":  # the one string beside the weights
                assert np.isfinite(param.asnumpy()).all(), f"{path.name}: {name} is not finite"
    newest = latest_checkpoint(run, "lstm")
    if newest is not None:
        assert f"{newest.name} holds the last finite weights" in lines[0], lines[0]


def test_a_second_run_in_the_same_folder_is_refused_and_a_killed_ones_lock_never_blocks(
        workdir, capfd):
    run = Path(workdir) / "one_writer"
    # --overwrite_run true: the folder holds the first run's files, and only its lock may stop
    # the second run and let the third
    args = fault_args(workdir, "one_writer", save_steps=10) + ["--overwrite_run", "true",
                                                               "--num_epochs", "50"]
    first = start_train(args)
    deadline = time.monotonic() + 300
    while not (run / "metrics.jsonl").exists():
        assert first.poll() is None and time.monotonic() < deadline, first.communicate()
        time.sleep(0.05)
    second = subprocess.run([sys.executable, str(ROOT / "train.py"), *args], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert second.returncode == 2, second.stderr[-3000:]
    assert second.stderr == (f"error: run_dir {run} is in use by another training run "
                             f"(PID {first.pid}); wait for it to finish or pass another "
                             f"--run_dir\n")
    assert first.poll() is None, "the first run must go on"
    os.kill(first.pid, signal.SIGKILL)
    first.communicate()
    # the killed run's lock is gone (in this process: its flock died with the first)
    third = run_script("train.py", *args[:-2], "--num_epochs", "1", capfd=capfd)
    assert third.returncode == 0, third.stderr[-3000:]
    steps = [r["step"] for r in _strict_json_lines(run / "metrics.jsonl") if "loss" in r]
    assert steps == list(range(1, STEPS // 2 + 1)), "lines of two runs were mixed"
