"""ModelArts-style sync against a real S3 server (moto's server mode) on 127.0.0.1.

The server enforces credentials: it lets three unauthenticated IAM calls create a user with
an access key, then checks every request's signature like S3 does. A job SIGKILLed mid-epoch
(preempted) must have left its checkpoints in train_url, and a new job with --resume true must
continue from there to the losses and weights of an uninterrupted run.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import ROOT, SAMPLE, run_script, tiny_args
from src.core.cli import run_main
from src.cloud.modelarts import RunMirror
from src.cloud.object_store import BotoStore

if os.environ.get("CI"):  # make installs the cloud extras: in CI a missing boto3 is a failure
    import boto3
else:
    boto3 = pytest.importorskip("boto3", reason="pip install -r requirements-cloud.txt")

BUCKET = "lstm-data"
# the sample's labelled reviews as one object: the data of the jobs that are not about copying
# a folder in (a folder is 1,500 requests to the server, this one)
ARCHIVE = f"s3://{BUCKET}/aclImdb_v1.tar.gz"
POLICY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_listening(port, process, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("moto_server exited at start")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("moto_server did not start listening")


def _labelled_files():
    """The sample's labelled reviews (train/unsup is never read without --unlabelled_path)."""
    return [path for path in sorted(SAMPLE.rglob("*"))
            if path.is_file() and "unsup" not in path.parts]


def _archive(path):
    """The labelled reviews as aclImdb_v1.tar.gz holds them (aclImdb/train/pos/...)."""
    with tarfile.open(path, "w:gz") as tar:
        for file in _labelled_files():
            tar.add(file, arcname=f"aclImdb/{file.relative_to(SAMPLE).as_posix()}")
    return path


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """A moto S3 server with one user, one bucket holding the bundled sample's labelled
    reviews under aclImdb/, and at ARCHIVE."""
    port = _free_port()
    server = Path(sys.executable).parent / "moto_server"
    scratch = tmp_path_factory.mktemp("moto")
    log = open(scratch / "server.log", "w")
    process = subprocess.Popen([str(server), "-H", "127.0.0.1", "-p", str(port)],
                               env=dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="3"),
                               stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_listening(port, process)
        endpoint = f"http://127.0.0.1:{port}"
        iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1",
                           aws_access_key_id="setup", aws_secret_access_key="setup")
        iam.create_user(UserName="trainer")
        iam.put_user_policy(UserName="trainer", PolicyName="s3", PolicyDocument=POLICY)
        key = iam.create_access_key(UserName="trainer")["AccessKey"]
        env = dict(os.environ, S3_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID=key["AccessKeyId"],
                   AWS_SECRET_ACCESS_KEY=key["SecretAccessKey"], AWS_DEFAULT_REGION="us-east-1")
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                              aws_access_key_id=key["AccessKeyId"],
                              aws_secret_access_key=key["SecretAccessKey"])
        client.create_bucket(Bucket=BUCKET)
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda path: client.upload_file(
                str(path), BUCKET, f"aclImdb/{path.relative_to(SAMPLE).as_posix()}"),
                _labelled_files()))
        client.upload_file(str(_archive(scratch / "aclImdb_v1.tar.gz")), BUCKET,
                           ARCHIVE.split("/", 3)[3])
        yield client, env
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def _run(script, args, env):
    return subprocess.run([sys.executable, str(ROOT / script), *map(str, args)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600)


def _run_here(script, args, env, monkeypatch, capfd):
    """_run's result, the script run in this process (conftest.run_in_process) with env's
    object-store and ModelArts variables set: for jobs whose process is not what is tested."""
    for key, value in env.items():
        if key.startswith(("AWS_", "S3_", "MODELARTS_")):
            monkeypatch.setenv(key, value)
    return run_script(script, *args, capfd=capfd)


def _keys(client, prefix):
    listing = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return {item["Key"][len(prefix):] for item in listing.get("Contents", [])}


def _modelarts_args(workdir, **urls):
    args = tiny_args(workdir) + ["--enable_modelarts", "True",
                                 "--modelarts_cache", str(Path(workdir) / "cache")]
    for key, url in urls.items():
        args += [f"--{key}", url]
    return args


@pytest.mark.slow
def test_train_then_eval_round_trip_through_the_bucket(s3, tmp_path, monkeypatch, capfd):
    client, env = s3
    result = _run_here("train.py", _modelarts_args(
        tmp_path, data_url=f"s3://{BUCKET}/aclImdb", train_url=f"s3://{BUCKET}/runs/one"), env,
        monkeypatch, capfd)
    assert result.returncode == 0, result.stderr[-2000:]
    uploaded = _keys(client, "runs/one/")
    assert {"lstm-best.ckpt", "metrics.jsonl", "config.yaml", "vocab.json",
            "train.log"} <= uploaded
    assert any(name.startswith("lstm-1_") for name in uploaded)
    log = client.get_object(Bucket=BUCKET, Key="runs/one/train.log")["Body"].read().decode()
    assert "training done" in log

    result = _run_here("eval.py", _modelarts_args(
        tmp_path / "eval", data_url=ARCHIVE,
        train_url=f"s3://{BUCKET}/runs/eval",
        checkpoint_url=f"s3://{BUCKET}/runs/one/lstm-best.ckpt"), env, monkeypatch, capfd)
    assert result.returncode == 0, result.stderr[-2000:]
    body = client.get_object(Bucket=BUCKET, Key="runs/eval/pretrained/eval.json")["Body"]
    report = json.loads(body.read())
    # the job's figures are those of the uploaded checkpoint on the sample's test reviews:
    # eval.py's in this process, and the predictor's labels (a path that shares no scoring code)
    from src.core.config import load_config
    from src.data.readers.aclimdb import read_aclimdb
    from src.inference.predictor import load_predictor
    from src.training.evaluate import evaluate
    copy = _download(client, "runs/one/", ["lstm-best.ckpt", "vocab.json"], tmp_path / "copy")
    config = load_config(tiny_args(tmp_path / "local") +
                         ["--checkpoint_file", str(copy / "lstm-best.ckpt")])
    local = evaluate(config, log=lambda *_: None)
    figures = ("reviews", "accuracy", "loss", "confusion_matrix")
    assert {key: report[key] for key in figures} == {key: local[key] for key in figures}
    reviews = read_aclimdb(SAMPLE)["test"]
    predictor = load_predictor(config)
    predicted = predictor.logits(predictor.encode([r.text for r in reviews])).argmax(axis=1)
    confusion = [[int(sum(1 for r, p in zip(reviews, predicted) if r.label == truth and p == label))
                  for label in (0, 1)] for truth in (0, 1)]
    assert report["reviews"] == 500 and report["confusion_matrix"] == confusion
    assert report["accuracy"] == pytest.approx((confusion[0][0] + confusion[1][1]) / 500)


def _main_exit(args, env, monkeypatch, capsys):
    """Run train.py's main in this process with env; returns (exit code, stderr)."""
    from train import main as train
    for key, value in env.items():
        if key.startswith(("AWS_", "S3_")):
            monkeypatch.setenv(key, value)
    with pytest.raises(SystemExit) as stop:
        run_main(train, [str(arg) for arg in args])
    return stop.value.code, capsys.readouterr().err


@pytest.mark.parametrize("change, message", [
    ({"data_url": "s3://no-such-bucket/aclImdb"}, "bucket 'no-such-bucket' does not exist"),
    ({"train_url": "s3://missing-output/run"}, "bucket 'missing-output' does not exist"),
    ({"data_url": f"s3://{BUCKET}/not-uploaded"}, "nothing found at"),
    ({"data_url": "/local/aclImdb"}, "not an object-store URL"),
    ({"AWS_SECRET_ACCESS_KEY": "wrong-secret"}, "refused the credentials"),
    ({"AWS_ACCESS_KEY_ID": "AKIAUNKNOWN000000000"}, "refused the credentials"),
])
def test_bad_bucket_url_or_credentials_is_one_line_and_exit_2(s3, tmp_path, change, message,
                                                             monkeypatch, capsys):
    _, env = s3
    urls = {"data_url": f"s3://{BUCKET}/aclImdb", "train_url": f"s3://{BUCKET}/runs/bad"}
    urls.update({key: value for key, value in change.items() if key.endswith("_url")})
    env = dict(env, **{key: value for key, value in change.items() if key.startswith("AWS")})
    code, stderr = _main_exit(_modelarts_args(tmp_path, **urls), env, monkeypatch, capsys)
    assert code == 2
    assert stderr.count("\n") == 1 and stderr.startswith("error: ")
    assert message in stderr
    assert not _keys(s3[0], "runs/bad/")


def test_bad_credentials_from_the_entry_script(s3, tmp_path):
    _, env = s3
    result = _run("train.py", _modelarts_args(
        tmp_path, data_url=f"s3://{BUCKET}/aclImdb", train_url=f"s3://{BUCKET}/runs/bad"),
        dict(env, AWS_SECRET_ACCESS_KEY="wrong-secret"))
    assert result.returncode == 2
    assert result.stderr.startswith("error: the object store refused the credentials")
    assert result.stderr.count("\n") == 1


def test_enable_modelarts_without_train_url_is_refused(tmp_path, monkeypatch, capsys):
    code, stderr = _main_exit(_modelarts_args(tmp_path, data_url=f"s3://{BUCKET}/x"), {},
                              monkeypatch, capsys)
    assert code == 2
    assert stderr.startswith("error: enable_modelarts needs --train_url")


def test_resume_with_an_empty_train_url_is_refused_before_any_download(s3, tmp_path,
                                                                      monkeypatch, capsys):
    _, env = s3
    code, stderr = _main_exit(_modelarts_args(
        tmp_path, data_url=f"s3://{BUCKET}/aclImdb", train_url=f"s3://{BUCKET}/runs/never")
        + ["--resume", "true"], env, monkeypatch, capsys)
    assert code == 2 and stderr.count("\n") == 1
    assert stderr.startswith(f"error: --resume: train_url s3://{BUCKET}/runs/never holds no "
                             f"run to continue; start the first job without --resume")
    assert not (tmp_path / "cache" / "data").exists()


def test_a_bad_sync_interval_is_one_line_and_exit_2(s3, tmp_path, monkeypatch, capsys):
    _, env = s3
    monkeypatch.setenv("MODELARTS_SYNC_SECONDS", "often")
    code, stderr = _main_exit(_modelarts_args(
        tmp_path, data_url=f"s3://{BUCKET}/aclImdb", train_url=f"s3://{BUCKET}/runs/bad"),
        env, monkeypatch, capsys)
    assert code == 2 and stderr.count("\n") == 1
    assert stderr.startswith("error: MODELARTS_SYNC_SECONDS 'often' is not a number of seconds")


def _touch(path, text, seconds):
    """Write path with its modification time `seconds` after the epoch."""
    path.write_text(text)
    os.utime(path, ns=(seconds * 10 ** 9, seconds * 10 ** 9))


def test_the_mirror_copies_finished_files_never_temp_ones_and_checkpoints_after_metrics(
        s3, tmp_path, monkeypatch):
    """What the background copy sends, in which order and what it deletes, one pass at a time."""
    client, env = s3
    for key, value in env.items():
        if key.startswith(("AWS_", "S3_")):
            monkeypatch.setenv(key, value)
    url = f"s3://{BUCKET}/runs/mirror"
    for stale in ("lstm-9_90.ckpt", "pretrained/eval.json"):  # an earlier run's files
        client.put_object(Bucket=BUCKET, Key=f"runs/mirror/{stale}", Body=b"old")
    run = tmp_path / "run"
    run.mkdir()
    _touch(run / "config.yaml", "seed: 1\n", 100)
    _touch(run / "metrics.jsonl", '{"step": 5}\n', 200)
    _touch(run / "lstm-1_5.ckpt", "weights at step 5", 150)     # saved before its metrics line
    _touch(run / "lstm-1_10.ckpt", "weights at step 10", 300)   # its metrics line not written yet
    _touch(run / ".lstm-1_15.ckpt.tmp-4242.ckpt", "half a checkpoint", 310)
    _touch(run / ".lock", "4242\n", 100)
    mirror = RunMirror(BotoStore("s3"), run, url, seconds=0).start()

    mirror.sync()
    assert _keys(client, "runs/mirror/") == {"config.yaml", "metrics.jsonl", "lstm-1_5.ckpt",
                                             "pretrained/eval.json"}

    _touch(run / "metrics.jsonl", '{"step": 5}\n{"step": 10}\n', 400)
    (run / "lstm-1_5.ckpt").unlink()                                # the ring moved on
    mirror.sync()
    assert _keys(client, "runs/mirror/") == {"config.yaml", "metrics.jsonl", "lstm-1_10.ckpt",
                                             "pretrained/eval.json"}
    body = client.get_object(Bucket=BUCKET, Key="runs/mirror/metrics.jsonl")["Body"].read()
    assert body.count(b"\n") == 2

    _touch(run / "lstm-best.ckpt", "best weights", 500)  # newer than metrics: at the end only
    mirror.sync()
    assert "lstm-best.ckpt" not in _keys(client, "runs/mirror/")
    mirror.finish()
    assert "lstm-best.ckpt" in _keys(client, "runs/mirror/")
    assert not [name for name in _keys(client, "runs/mirror/") if "/." in f"/{name}"]


# uninterrupted_run's training (conftest.uninterrupted_args), with tiny_args' ring of 3
# checkpoints, so that train_url sees old ones deleted
KILL_ARGS = ["--num_epochs", "2", "--dropout", "0", "--save_checkpoint_steps", "5"]
STEPS, EPOCH_STEPS = 56, 28  # 2 epochs of 28 batches of 32 from the sample's 900 reviews


def _records(path):
    """The complete JSON lines of a metrics.jsonl (a line being written is left out)."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            pass
    return records


def _losses(path):
    return [(record["step"], record["loss"]) for record in _records(path) if "loss" in record]


def _download(client, prefix, names, folder):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        client.download_file(BUCKET, prefix + name, str(folder / name))
    return folder


def _ring(names):
    from src.model.checkpoint import checkpoint_step
    return sorted((name for name in names if checkpoint_step(name)), key=checkpoint_step)


def _stop(job):
    """SIGSTOP job and wait until the kernel reports it stopped: every thread (training and
    the background copy alike) halted, so nothing it does can land between a look at its
    files and a kill. False if it ended instead."""
    os.kill(job.pid, signal.SIGSTOP)
    _, status = os.waitpid(job.pid, os.WUNTRACED)
    if os.WIFSTOPPED(status):
        return True
    job.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait
    return False


def _preempt(job, client, prefix, local, timeout=300):
    """SIGKILL job as the platform would, at a moment it is mid-epoch (its newest metrics line
    is a step that ends no epoch) and train_url holds one of its checkpoints; returns that
    step. Each look is taken with the job stopped, so the step is the last one it trained."""
    deadline = time.monotonic() + timeout
    while True:
        assert _stop(job), f"the job ended before it was killed: {job.stderr.read()}"
        last = _records(local / "metrics.jsonl")[-1:]
        step = last[0].get("step", 0) if last else 0
        if step % EPOCH_STEPS and _ring(_keys(client, prefix)):
            os.kill(job.pid, signal.SIGKILL)
            job.communicate()
            return step
        os.kill(job.pid, signal.SIGCONT)
        assert time.monotonic() < deadline, "the job never uploaded a checkpoint"
        time.sleep(0.05)  # how often to look, not a wait for anything


@pytest.mark.slow
def test_a_job_killed_mid_epoch_resumes_from_train_url_like_an_uninterrupted_run(
        s3, tmp_path, uninterrupted_run, monkeypatch, capfd):
    from src.model.checkpoint import load_params
    client, env = s3
    prefix = "runs/preempted/"
    urls = {"data_url": ARCHIVE, "train_url": f"s3://{BUCKET}/runs/preempted"}
    env = dict(env, MODELARTS_SYNC_SECONDS="0.2")
    first = tmp_path / "first"  # one ModelArts container, preempted mid-epoch
    job = subprocess.Popen(
        [sys.executable, str(ROOT / "train.py"), *_modelarts_args(first, **urls), *KILL_ARGS],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        killed_at = _preempt(job, client, prefix, first / "cache" / "train")
        uploaded = _keys(client, prefix)
        assert {"metrics.jsonl", "run.log", "train.log", "config.yaml", "vocab.json"} <= uploaded
        assert not [name for name in uploaded if "/." in f"/{name}"], "hidden files went up"
        newest = _ring(uploaded)[-1]
        copy = _download(client, prefix, [newest, "metrics.jsonl"], tmp_path / "uploaded")
        saved_at = int(load_params(copy / newest)["steps_done"].asnumpy())
        # a checkpoint goes up only after a metrics line of its step: none of a later step
        assert saved_at <= killed_at, (newest, killed_at)
        assert max(step for step, _ in _losses(copy / "metrics.jsonl")) >= saved_at
    finally:
        if job.poll() is None:
            job.kill()
            job.communicate()

    second = tmp_path / "second"  # a new container: nothing local, --resume true
    result = _run_here("train.py", [*_modelarts_args(second, **urls), *KILL_ARGS,
                                    "--resume", "true"], env, monkeypatch, capfd)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"resuming from {second / 'cache' / 'train' / newest}" in result.stdout
    final, reference = f"lstm-2_{EPOCH_STEPS}.ckpt", uninterrupted_run
    done = _download(client, prefix, [final, "metrics.jsonl"], tmp_path / "done")
    ours = _losses(done / "metrics.jsonl")
    assert [step for step, _ in ours] == list(range(1, STEPS + 1))
    assert ours == _losses(reference / "metrics.jsonl")
    mine, theirs = load_params(done / final), load_params(reference / final)
    for name in ("embedding.embedding_table", "decoder.weight", "global_step"):
        assert (mine[name].asnumpy() == theirs[name].asnumpy()).all(), name
    kept = {path.name for path in (second / "cache" / "train").glob("lstm-*.ckpt")}
    assert {name for name in _keys(client, prefix) if name.endswith(".ckpt")} == kept


def test_a_new_job_refuses_a_train_url_that_holds_a_run(s3, tmp_path, monkeypatch, capsys):
    """As train.py with a local folder: a job with neither --resume nor --overwrite_run never
    writes over the run a train_url holds, and refuses before downloading anything."""
    client, env = s3
    client.put_object(Bucket=BUCKET, Key="runs/done/lstm-best.ckpt", Body=b"the run's weights")
    code, stderr = _main_exit(_modelarts_args(
        tmp_path, data_url=f"s3://{BUCKET}/aclImdb", train_url=f"s3://{BUCKET}/runs/done"),
        env, monkeypatch, capsys)
    assert code == 2 and stderr.count("\n") == 1, stderr
    assert stderr.startswith(f"error: train_url s3://{BUCKET}/runs/done holds a run "
                             f"(lstm-best.ckpt); pass --resume true to continue it, "
                             f"--overwrite_run true to replace it")
    assert not (tmp_path / "cache" / "data").exists()
    kept = client.get_object(Bucket=BUCKET, Key="runs/done/lstm-best.ckpt")["Body"].read()
    assert kept == b"the run's weights"
