"""ModelArts-style sync against a real S3 server (moto's server mode) on 127.0.0.1.

The server enforces credentials: it lets three unauthenticated IAM calls create a user with
an access key, then checks every request's signature like S3 does.
"""
import json
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import ROOT, SAMPLE, tiny_args
from src.cli import run_main

if os.environ.get("CI"):  # make installs the cloud extras: in CI a missing boto3 is a failure
    import boto3
else:
    boto3 = pytest.importorskip("boto3", reason="pip install -r requirements-cloud.txt")

BUCKET = "lstm-data"
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


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """A moto S3 server with one user, one bucket holding the bundled sample under aclImdb/."""
    port = _free_port()
    server = Path(sys.executable).parent / "moto_server"
    log = open(tmp_path_factory.mktemp("moto") / "server.log", "w")
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
        files = [path for path in sorted(SAMPLE.rglob("*")) if path.is_file()]
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda path: client.upload_file(
                str(path), BUCKET, f"aclImdb/{path.relative_to(SAMPLE).as_posix()}"), files))
        yield client, env
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def _run(script, args, env):
    return subprocess.run([sys.executable, str(ROOT / script), *map(str, args)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600)


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
def test_train_then_eval_round_trip_through_the_bucket(s3, tmp_path):
    client, env = s3
    result = _run("train.py", _modelarts_args(
        tmp_path, data_url=f"s3://{BUCKET}/aclImdb", train_url=f"s3://{BUCKET}/runs/one"), env)
    assert result.returncode == 0, result.stderr[-2000:]
    uploaded = _keys(client, "runs/one/")
    assert {"lstm-best.ckpt", "metrics.jsonl", "config.yaml", "vocab.json",
            "train.log"} <= uploaded
    assert any(name.startswith("lstm-1_") for name in uploaded)
    log = client.get_object(Bucket=BUCKET, Key="runs/one/train.log")["Body"].read().decode()
    assert "training done" in log

    result = _run("eval.py", _modelarts_args(
        tmp_path / "eval", data_url=f"s3://{BUCKET}/aclImdb",
        train_url=f"s3://{BUCKET}/runs/eval",
        checkpoint_url=f"s3://{BUCKET}/runs/one/lstm-best.ckpt"), env)
    assert result.returncode == 0, result.stderr[-2000:]
    body = client.get_object(Bucket=BUCKET, Key="runs/eval/pretrained/eval.json")["Body"]
    report = json.loads(body.read())
    assert report["reviews"] == 500 and 0.0 <= report["accuracy"] <= 1.0


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
