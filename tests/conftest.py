"""Shared fixtures: tiny, fast settings on the bundled real sample, trained once per session."""
import contextlib
import fcntl
import os
import pty
import runpy
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import termios
import time
import urllib.request
from pathlib import Path

import pytest

from src.core.config import load_config

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "aclImdb_sample"
GLOVE_SAMPLE = ROOT / "data" / "glove_sample.50d.txt.gz"
# predictor tests: short, long, markup, negative
REVIEWS = ["A wonderful film with a moving story.",
           "Dull. " * 40 + "I walked out of the cinema after an hour.",
           "<br />Not bad, not great!",
           "The worst acting I have ever seen; avoid it."]


# The files that take longest, first: pytest-xdist hands out whole files in collection order,
# so the files that start last are short ones and no worker is left running a long one alone.
# By their seconds in a full three-worker run (the sum of their tests' durations), longest first.
LONGEST_FIRST = ["test_pretrain.py", "test_distribute.py", "test_model_and_training.py",
                 "test_memory.py", "test_modelarts.py", "test_resume.py", "test_bad_inputs.py",
                 "test_infer.py", "test_explain.py", "test_integrity.py", "test_datasets.py",
                 "test_predict.py", "test_app.py", "test_wide.py", "test_faults.py",
                 "test_tracking.py", "test_report.py", "test_export.py", "test_onnx_backend.py",
                 "test_progress.py"]


def pytest_collection_modifyitems(items):
    rank = {name: place for place, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: files stay whole


def tiny_args(workdir):
    """Command-line words for a small, quick run on the sample (seconds, not minutes)."""
    workdir = Path(workdir)
    return ["--aclimdb_path", str(SAMPLE), "--preprocess_path", str(workdir / "preprocess"),
            "--run_dir", str(workdir / "run"), "--max_len", "64", "--bucket_width", "0",
            "--num_hiddens", "16", "--embed_size", "16", "--embedding", "random",
            "--num_epochs", "1", "--batch_size", "32", "--early_stop_patience", "0",
            "--save_checkpoint_steps", "10", "--keep_checkpoint_max", "3",
            # the network before the shipped encoder became the default: small and from scratch
            "--encoder_checkpoint", "none", "--wide", "false", "--num_layers", "2",
            "--truncate", "head_tail", "--learning_rate", "0.002", "--split_seed", "-1"]


def learning_args(workdir, batch_size=16):
    """A short run on the sample that learns: GloVe (the bundled sample of it), one BiLSTM
    layer, 2 epochs, reviews cut to 150 tokens in buckets of 25 (6 shapes); ~15 s. Dropout 0,
    so runs with the same data order are reproducible bit for bit."""
    args = tiny_args(workdir)
    overrides = {"--embedding": "glove", "--glove_path": str(GLOVE_SAMPLE),
                 "--num_hiddens": "32", "--num_layers": "1", "--max_len": "150",
                 "--bucket_width": "25", "--num_epochs": "2", "--batch_size": str(batch_size),
                 "--learning_rate": "0.005", "--dropout": "0"}
    for flag, value in overrides.items():
        if flag in args:
            args[args.index(flag) + 1] = value
        else:
            args += [flag, value]
    return args


def run_script(script, *args, timeout=600, capfd=None):
    """Run an entry script of the project with the test interpreter; returns CompletedProcess.
    With capfd, in this process (run_in_process): for tests of what a run does, not of the
    process around it (signals, exit at the interpreter's end, memory, time limits)."""
    if capfd is not None:
        return run_in_process(script, *args, capfd=capfd)
    return subprocess.run([sys.executable, str(ROOT / script), *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def run_in_process(script, *args, capfd):
    """run_script's result without a new interpreter (MindSpore's import alone costs ~2 s of
    CPU a run): the script runs as __main__ in this process, and what it writes is read at
    file descriptors 1 and 2 (capfd), MindSpore's own C++ lines included. An exception that
    escapes the script fails the test, as its traceback would."""
    saved = sys.argv, os.getcwd(), signal.getsignal(signal.SIGTERM)
    sys.argv = [str(ROOT / script), *map(str, args)]
    os.chdir(ROOT)
    code = 0
    try:
        runpy.run_path(sys.argv[0], run_name="__main__")
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else int(stop.code is not None)
    finally:
        sys.argv = saved[0]
        os.chdir(saved[1])
        signal.signal(signal.SIGTERM, saved[2])  # run_main's handler is the script's own
    out, err = capfd.readouterr()
    return subprocess.CompletedProcess(sys.argv, code, out, err)


def run_on_terminal(script, *args, timeout=600):
    """Run an entry script with a 120-column pseudo-terminal as stdin/stdout/stderr and CI
    unset, as a person at a terminal would; returns (exit code, everything it drew)."""
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    leader, follower = pty.openpty()
    # A new pty is 0 columns wide, and tqdm would draw an empty bar.
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    process = subprocess.Popen([sys.executable, str(ROOT / script), *map(str, args)], cwd=ROOT,
                               env=env, stdin=follower, stdout=follower, stderr=follower)
    os.close(follower)
    screen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        screen += chunk
    os.close(leader)
    return process.wait(timeout=timeout), screen.decode("utf-8", errors="replace")


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("session")


@pytest.fixture(scope="session")
def tiny_config(session_dir):
    return load_config(tiny_args(session_dir))


@pytest.fixture(scope="session")
def prepared(tiny_config):
    from src.data.mindrecord import prepare
    return prepare(tiny_config, log=lambda *_: None)


@pytest.fixture(scope="session")
def trained_run(tiny_config):
    """A tiny model trained for one epoch on the sample; returns its run folder."""
    from train import main as train
    return train(tiny_config, log=lambda *_: None)


@pytest.fixture(scope="session")
def tiny_eval(tiny_config, trained_run):
    """eval.py's result for the tiny run's best checkpoint (also writes run/eval.json)."""
    from src.training.evaluate import evaluate
    return evaluate(tiny_config, log=lambda *_: None)


@pytest.fixture(scope="session")
def exported_mindir(tiny_config, trained_run, session_dir):
    """The tiny run's best checkpoint exported to MINDIR; returns the file's path."""
    import dataclasses
    from src.inference.exporter import export_model
    config = dataclasses.replace(tiny_config, checkpoint_file=str(trained_run / "lstm-best.ckpt"),
                                 file_name=str(session_dir / "tiny_lstm"))
    return export_model(config, log=lambda *_: None)


@pytest.fixture(scope="session")
def run_config(tiny_config, trained_run):
    """The tiny config pointing at the tiny run's best checkpoint."""
    import dataclasses
    return dataclasses.replace(tiny_config, checkpoint_file=str(trained_run / "lstm-best.ckpt"))


@pytest.fixture(scope="session")
def checkpoint_predictor(run_config):
    from src.inference.predictor import load_predictor
    return load_predictor(run_config)


def _trained_once(tmp_path_factory, name, args_of):
    """train.py with args_of(workdir) in the session's folder `name`, run by the first
    pytest-xdist worker that asks (under a lock) and read by the rest; returns workdir."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent
    workdir = shared / name
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (workdir / "run" / "lstm-best.ckpt").exists():
            result = run_script("train.py", *args_of(workdir))
            assert result.returncode == 0, result.stderr[-3000:]
    return workdir


@pytest.fixture(scope="session")
def learned_run(tmp_path_factory):
    """A short run that learns (learning_args, ~15 s): (run folder, its args). Trained once
    for all pytest-xdist workers: the first to ask trains it under a lock, the rest read it."""
    workdir = _trained_once(tmp_path_factory, "learned", learning_args)
    return workdir / "run", learning_args(workdir)


def uninterrupted_args(workdir):
    """The tiny run for 2 epochs (56 steps) with dropout 0 (so a resumed run can match it bit
    for bit) and a checkpoint every 5 steps, all of them kept."""
    return tiny_args(workdir) + ["--num_epochs", "2", "--dropout", "0",
                                 "--save_checkpoint_steps", "5", "--keep_checkpoint_max", "100"]


@pytest.fixture(scope="session")
def uninterrupted_run(tmp_path_factory):
    """The run that runs killed and resumed (test_faults, test_modelarts) must reproduce loss
    for loss and weight for weight: uninterrupted_args in a process of its own, trained once
    for all pytest-xdist workers as learned_run is. Returns its run folder."""
    return _trained_once(tmp_path_factory, "uninterrupted", uninterrupted_args) / "run"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serving(command, seconds=240, **env):
    """A server started as `command` (its words after the interpreter, e.g. app.py and its
    flags) with --serve_port on a free loopback port and env added; yields (port, process)
    once it answers HTTP, and stops it afterwards."""
    port, log = free_port(), tempfile.TemporaryFile()
    server = subprocess.Popen([sys.executable, *command, "--serve_port", str(port)], cwd=ROOT,
                              stdout=log, stderr=subprocess.STDOUT,
                              env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", **env})
    try:
        deadline = time.monotonic() + seconds
        while True:
            assert server.poll() is None, \
                f"the server stopped: {(log.seek(0) or log.read()).decode(errors='replace')[-2000:]}"
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5)
                break
            except OSError:
                assert time.monotonic() < deadline, "the server did not start serving in time"
                time.sleep(0.3)
        yield port, server
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
