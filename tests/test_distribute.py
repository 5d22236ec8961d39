"""Data-parallel training for real: CPU worker processes under msrun on the bundled sample.

The runs read reviews in length buckets (6 shapes), so the workers meet new shapes, and
compile new graphs, at different steps; their weights must stay equal all the same.
"""
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, SAMPLE, learning_args, tiny_args
from src.core.cli import run_main
from src.core.config import load_config

WORKERS = 2
BATCH = 8  # per worker: a global batch of 16, as the one-worker run
SCRIPT = ROOT / "scripts" / "run_distribute_train_cpu.sh"


def _script_env(**more):
    return {**os.environ, "PYTHON": sys.executable, **more}


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _launch(workers, args, env, **popen):
    return subprocess.Popen(["bash", str(SCRIPT), str(workers), str(SAMPLE), *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            **popen)


def _records(folder):
    lines = (Path(folder) / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def _digests(log_folder):
    return [match for log in sorted(Path(log_folder).rglob("worker_*.log"))
            for match in re.findall(r"weights digest (\w+)", log.read_text(errors="replace"))]


def _best_valid(records):
    return max(r["valid_acc"] for r in records if "valid_acc" in r)


def _finish(process):
    out, err = process.communicate(timeout=900)
    return subprocess.CompletedProcess([], process.returncode, out, err)


@pytest.fixture(scope="module")
def launches(tmp_path_factory):
    """Two jobs started together (each spends much of its time waiting on start-up): one
    msrun of 2 workers of batch 8 (scripts/run_distribute_train_cpu.sh), and the same job as
    two 'nodes' on this host, two msrun processes of one worker each."""
    one, two = (tmp_path_factory.mktemp(name) for name in ("one_msrun", "two_nodes"))
    one_args, two_args = learning_args(one, BATCH), learning_args(two, BATCH)
    single = _launch(WORKERS, one_args, _script_env(RUN_DIR=str(one / "run"),
                                                    MASTER_PORT=str(_free_port())))
    env = _script_env(RUN_DIR=str(two / "run"), NODE_NUM="2", MASTER_PORT=str(_free_port()),
                      MASTER_ADDR="127.0.0.1")
    nodes = [_launch(1, two_args, dict(env, NODE_RANK=str(rank))) for rank in (1, 0)]
    return (one, one_args, _finish(single)), (two, [_finish(node) for node in nodes])


@pytest.fixture(scope="module")
def one_msrun(launches):
    return launches[0]


@pytest.fixture(scope="module")
def two_nodes(launches):
    return launches[1]


@pytest.mark.slow
def test_workers_meet_bucket_shapes_in_different_orders_and_keep_equal_weights(one_msrun):
    workdir, _, result = one_msrun
    assert result.returncode == 0, result.stderr + result.stdout[-3000:]
    run = workdir / "run"
    shapes = {rank: [r["tokens"] for r in _records(run if rank == 0 else run / f"rank_{rank}")
                     if "loss" in r] for rank in range(WORKERS)}
    assert all(len(set(seen)) >= 3 for seen in shapes.values()), shapes
    assert shapes[0] != shapes[1] and len(shapes[0]) == len(shapes[1])
    digests = _digests(run / "logs")
    assert len(digests) == WORKERS and len(set(digests)) == 1, digests
    assert (run / "lstm-best.ckpt").exists() and not list(run.glob("rank_*/*.ckpt"))


@pytest.mark.slow
def test_two_workers_learn_as_one_worker_at_the_same_global_batch(one_msrun, learned_run):
    workdir, _, result = one_msrun
    assert result.returncode == 0, result.stderr
    # learned_run: one worker with learning_args' batch of 16 = 2 workers x BATCH
    together, alone = _best_valid(_records(workdir / "run")), _best_valid(
        _records(learned_run[0]))
    # 100 validation reviews: a standard error of ~4.5 points for each run
    assert together >= 0.65 and alone >= 0.65, (together, alone)
    assert abs(together - alone) <= 0.1, (together, alone)


@pytest.mark.slow
def test_rank_0_checkpoint_loads_and_evaluates(one_msrun):
    from src.training.evaluate import evaluate
    workdir, args, result = one_msrun
    assert result.returncode == 0, result.stderr
    config = load_config(args + ["--checkpoint_file", str(workdir / "run" / "lstm-best.ckpt")])
    report = evaluate(config, log=lambda *_: None)
    assert report["reviews"] == 500 and report["accuracy"] >= 0.6


@pytest.mark.slow
def test_two_nodes_train_exactly_as_one_msrun_with_two_workers(two_nodes, one_msrun):
    workdir, results = two_nodes
    for result in results:
        assert result.returncode == 0, result.stderr + result.stdout[-2000:]
    digests = _digests(workdir / "run" / "logs")
    assert len(digests) == WORKERS and len(set(digests)) == 1, digests
    assert digests[0] == _digests(one_msrun[0] / "run" / "logs")[0]
    assert (workdir / "run" / "logs" / "node_0" / "worker_0.log").exists()
    assert (workdir / "run" / "logs" / "node_1" / "worker_1.log").exists()


@pytest.mark.parametrize("env, message", [
    ({"NODE_NUM": "2", "NODE_RANK": "2", "MASTER_PORT": "1234"}, "NODE_RANK must be 0 .. 1"),
    ({"NODE_NUM": "2", "NODE_RANK": "1"}, "MASTER_PORT is unset"),
    ({"NODE_NUM": "two"}, "NODE_NUM must be a positive number"),
])
def test_bad_node_settings_are_one_line(env, message):
    result = subprocess.run(["bash", str(SCRIPT), "1", str(SAMPLE)], capture_output=True,
                            text=True, env=_script_env(**env), timeout=60)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: ") and message in result.stderr


def _fake_python(folder, failing_rank, failure):
    """A `python` for the launchers that fails as rank failing_rank would: it prints
    `failure` (a shell snippet) and exits 1; every other process runs the real interpreter.
    A rank that is not failing records its PID, so a test can see whether it was stopped."""
    folder.mkdir()
    fake = folder / "python"
    fake.write_text(f"""#!/bin/bash
if [ "${{MS_ROLE:-MS_WORKER}}" = MS_WORKER ] && [ "${{RANK_ID:-}}" = {failing_rank} ]; then
  {failure}
  exit 1
fi
echo $$ >> {folder}/alive_pids
exec {sys.executable} "$@"
""")
    fake.chmod(0o755)
    (folder / "msrun").symlink_to(Path(sys.executable).parent / "msrun")
    return fake


# what train.py prints when it dies of an error it does not catch: its pid line, a traceback
TRACEBACK = ("echo \"worker pid $$\"; echo 'Traceback (most recent call last):' >&2; "
             "echo '  File \"train.py\"' >&2; echo 'MemoryError: cannot allocate 2.0 GiB' >&2")


@pytest.mark.slow
def test_a_worker_dying_with_a_traceback_is_named_in_one_line(tmp_path):
    fake = _fake_python(tmp_path / "bin", 1, TRACEBACK)
    run = tmp_path / "run"
    process = _launch(WORKERS, tiny_args(tmp_path), _script_env(
        RUN_DIR=str(run), CLUSTER_TIME_OUT="10", PYTHON=str(fake)))
    _, err = process.communicate(timeout=300)
    assert process.returncode == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    log = run / "logs" / "worker_1.log"
    assert err == f"error: worker 1 failed: MemoryError: cannot allocate 2.0 GiB; see {log}\n"


def _rank_table_run(tmp_path, failure):
    """The rank-table launcher with 2 ranks: rank 1 fails as `failure` says, rank 0 stands
    for one blocked in HCCL (it would wait forever). Returns (result, rank 1's log)."""
    table = tmp_path / "hccl_2p.json"
    table.write_text("{}")
    fake = _fake_python(tmp_path / "bin", 1, failure)
    (tmp_path / "bin" / "python").write_text(fake.read_text().replace(
        f'exec {sys.executable} "$@"', "exec sleep 600"))
    run = tmp_path / "run"
    result = subprocess.run(["bash", str(ROOT / "scripts" / "run_distribute_train_ascend.sh"),
                             str(table), "2", str(SAMPLE)], capture_output=True, text=True,
                            env=_script_env(RUN_DIR=str(run), PYTHON=str(fake)), timeout=120)
    return result, run / "logs" / "train_rank_1.log"


@pytest.mark.slow
def test_rank_table_launcher_stops_the_other_ranks_when_one_fails(tmp_path):
    result, log = _rank_table_run(tmp_path, TRACEBACK)
    assert result.returncode == 2, result.stderr
    assert result.stderr == (f"error: rank 1 failed: MemoryError: cannot allocate 2.0 GiB; "
                             f"see {log}\n")
    for pid in (tmp_path / "bin" / "alive_pids").read_text().split():
        assert not Path(f"/proc/{pid}").exists(), f"rank 0 (pid {pid}) was left running"


@pytest.mark.slow
def test_a_rank_killed_without_a_word_is_named_with_its_exit_code(tmp_path):
    """A rank the kernel kills (out of memory, SIGKILL) writes no error line at all."""
    result, log = _rank_table_run(tmp_path, 'echo "worker pid $$"; kill -KILL $$')
    assert result.returncode == 2, result.stderr
    assert result.stderr == (f"error: rank 1 failed: it wrote no error line (exit code 137); "
                             f"killed, or out of memory?; see {log}\n")


def _listening(port):
    """Whether a local IPv4 socket listens on port (/proc/net/tcp, state 0A = LISTEN)."""
    rows = [line.split() for line in open("/proc/net/tcp").read().splitlines()[1:]]
    return any(int(row[1].split(":")[1], 16) == port and row[3] == "0A" for row in rows)


def test_msrun_scheduler_never_acts_as_rank_0(tmp_path):
    """msrun runs train.py once more as its scheduler, with RANK_ID=0; with ModelArts on it
    must not copy data in (rank 0's job), only serve the cluster: it listens on
    MS_SCHED_PORT, and with no worker ever joining ends when the topology times out."""
    args = tiny_args(tmp_path) + ["--enable_modelarts", "True", "--run_distribute", "True",
                                  "--data_url", "s3://bucket/aclImdb", "--train_url",
                                  "s3://bucket/out", "--modelarts_cache",
                                  str(tmp_path / "cache")]
    port = _free_port()
    env = dict(os.environ, MS_ROLE="MS_SCHED", RANK_ID="0", MS_SCHED_HOST="127.0.0.1",
               MS_SCHED_PORT=str(port), MS_WORKER_NUM="1", MS_TOPO_TIMEOUT="3",
               S3_ENDPOINT_URL="http://127.0.0.1:9")
    process = subprocess.Popen([sys.executable, str(ROOT / "train.py"), *args], cwd=ROOT,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    served = False
    while process.poll() is None and not served:
        served = _listening(port)
        time.sleep(0.02)
    _, err = process.communicate(timeout=120)
    assert served, f"the scheduler never listened on MS_SCHED_PORT: {err[-2000:]}"
    assert not (tmp_path / "cache").exists(), err[-2000:]
    assert "object store" not in err and "bucket" not in err
    # MindSpore's own error when no worker joins: exit 1, not a ModelArts or data error
    assert process.returncode == 1 and "Failed to initialize distributed job cluster" in err, \
        (process.returncode, err[-2000:])


def test_run_distribute_without_a_launcher_is_refused(tmp_path, monkeypatch, capsys):
    from train import main as train
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
    result = subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True,
                            env=_script_env(), timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and message in result.stderr


# prepare() with each build held at its start until the test lets it go: both processes are
# then past the check for a finished folder and building before either can rename its own
BUILD_WHEN_TOLD = """
import sys
import mindspore.dataset as ds
from src.core.config import load_config
from src.data import mindrecord
build = mindrecord._build
def build_when_told(*args, **kwargs):
    print("building", flush=True)
    assert sys.stdin.readline() == "go\\n"
    return build(*args, **kwargs)
mindrecord._build = build_when_told
folder = mindrecord.prepare(load_config(sys.argv[1:]), log=print).folder
rows = ds.MindDataset(str(folder / "train.mindrecord")).get_dataset_size()
print(folder) if rows else sys.exit("no rows")
"""


@pytest.mark.slow
def test_two_processes_preparing_the_same_cache_at_once(tmp_path):
    """Both processes build the same folder at once (each holds at the start of its build
    until both are there): one renames its folder into place first and the other then uses
    that one, whichever finishes first."""
    procs = [subprocess.Popen([sys.executable, "-c", BUILD_WHEN_TOLD, *tiny_args(tmp_path)],
                              cwd=ROOT, text=True, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(2)]
    for proc in procs:  # blocks until each is inside its build
        assert "building\n" in iter(proc.stdout.readline, ""), proc.communicate()
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    outputs = [proc.communicate(timeout=300) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outputs
    assert sum("another process prepared" in out for out, _ in outputs) == 1, outputs
    folders = {Path(out.strip().splitlines()[-1]) for out, _ in outputs}
    assert len(folders) == 1
    folder = folders.pop()
    assert (folder / "meta.json").exists() and (folder / "train.mindrecord").exists()
    assert not list((tmp_path / "preprocess").glob(".*.tmp-*"))
