"""ModelArts-style runs: copy data_url in to a local cache, run the job, copy outputs to train_url.

With `--enable_modelarts True`, run_main hands the job to `run_synced`:
  data_url        -> modelarts_cache/data      (aclimdb_path, or data_path, points there)
  checkpoint_url  -> modelarts_cache/train/pretrained/NAME.ckpt (pre_trained, checkpoint_path),
                     or, with --resume, a run prefix copied into modelarts_cache/train
  modelarts_cache/train (ckpt_path: checkpoints, metrics, SCRIPT.log) -> train_url
The copies use Huawei's `moxing` when it is importable (as on ModelArts), otherwise boto3 for
s3:// and obs:// URLs: endpoint from S3_ENDPOINT_URL (or AWS_ENDPOINT_URL, OBS_ENDPOINT_URL for
obs://), credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or OBS_ACCESS_KEY_ID /
OBS_SECRET_ACCESS_KEY) or any other source boto3 reads.
"""
import dataclasses
import json
import os
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from src.errors import UserError
from src.files import write_json
from src.distribute import worker_env

__all__ = ["run_synced", "open_store", "parse_url", "BotoStore", "MoxStore"]

SCHEMES = ("s3", "obs")
THREADS = 8  # concurrent object transfers: aclImdb is 100k small files


def parse_url(url, key):
    """(scheme, bucket, prefix) of s3://bucket/prefix or obs://bucket/prefix; UserError if not."""
    scheme, sep, rest = url.partition("://")
    bucket, _, prefix = rest.partition("/")
    if not sep or scheme not in SCHEMES or not bucket:
        raise UserError(f"{key} '{url}' is not an object-store URL; use s3://BUCKET/PREFIX or "
                        f"obs://BUCKET/PREFIX")
    return scheme, bucket, prefix.strip("/")


def _env(*names):
    return next((os.environ[name] for name in names if os.environ.get(name)), None)


class BotoStore:
    """Copies between local folders and s3:// / obs:// URLs with boto3."""

    def __init__(self, scheme):
        try:
            import boto3
            import botocore.config
        except ImportError:
            raise UserError("enable_modelarts needs moxing or boto3 to reach the object store; "
                            "pip install -r requirements-cloud.txt") from None
        names = ("S3_ENDPOINT_URL", "AWS_ENDPOINT_URL")
        if scheme == "obs":
            names = ("OBS_ENDPOINT_URL",) + names
        self.endpoint = _env(*names)
        self.client = boto3.client(
            "s3", endpoint_url=self.endpoint,
            aws_access_key_id=_env("AWS_ACCESS_KEY_ID", "OBS_ACCESS_KEY_ID"),
            aws_secret_access_key=_env("AWS_SECRET_ACCESS_KEY", "OBS_SECRET_ACCESS_KEY"),
            region_name=_env("AWS_REGION", "AWS_DEFAULT_REGION") or "us-east-1",
            config=botocore.config.Config(retries={"max_attempts": 2}, connect_timeout=10))

    def _call(self, url, action, *args, **kwargs):
        """Run one boto3 call; any failure becomes one UserError naming the URL and the fix."""
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
        try:
            return action(*args, **kwargs)
        except NoCredentialsError:
            raise UserError(f"no credentials for {url}; set AWS_ACCESS_KEY_ID and "
                            f"AWS_SECRET_ACCESS_KEY") from None
        except ClientError as err:
            raise _client_error(err, url, self.endpoint) from None
        except (BotoCoreError, OSError) as err:
            raise UserError(f"cannot reach the object store for {url} ({err}); check "
                            f"S3_ENDPOINT_URL and the network") from None

    def _keys(self, url):
        _, bucket, prefix = parse_url(url, "url")
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=bucket,
                                                                     Prefix=prefix)
        keys = [item["Key"] for page in self._call(url, list, pages)
                for item in page.get("Contents", [])]
        return bucket, prefix, keys

    def check(self, url):
        """Fail now, not after hours of training, if the bucket of url cannot be listed."""
        _, bucket, prefix = parse_url(url, "url")
        self._call(url, self.client.list_objects_v2, Bucket=bucket, Prefix=prefix, MaxKeys=1)

    def download(self, url, local):
        """Copy the object url, or every object under the prefix url, into the folder local.

        Returns the local path of the object, or local itself for a prefix.
        """
        bucket, prefix, keys = self._keys(url)
        if prefix in keys:
            target = Path(local) / Path(prefix).name
            self._call(url, self.client.download_file, bucket, prefix, str(target))
            return target
        inside = [key for key in keys if key.startswith(f"{prefix}/" if prefix else "")]
        if not inside:
            raise UserError(f"nothing found at {url}; upload the data there or fix the URL")
        targets = [Path(local) / key[len(prefix):].lstrip("/") for key in inside]
        for folder in {target.parent for target in targets}:
            folder.mkdir(parents=True, exist_ok=True)
        self._each(url, self.client.download_file,
                   [(bucket, key, str(target)) for key, target in zip(inside, targets)])
        return Path(local)

    def upload(self, local, url):
        """Copy every file under the folder local to the prefix url."""
        _, bucket, prefix = parse_url(url, "train_url")
        files = [path for path in sorted(Path(local).rglob("*")) if path.is_file()]
        keys = ["/".join(filter(None, (prefix, path.relative_to(local).as_posix())))
                for path in files]
        self._each(url, self.client.upload_file,
                   [(str(path), bucket, key) for path, key in zip(files, keys)])

    def _each(self, url, action, calls):
        """action(*args) for every args in calls, THREADS at a time; the first error wins."""
        with ThreadPoolExecutor(THREADS) as pool:
            for _ in pool.map(lambda args: self._call(url, action, *args), calls):
                pass


def _client_error(err, url, endpoint):
    code = err.response.get("Error", {}).get("Code", "")
    bucket = parse_url(url, "url")[1]
    where = f" at {endpoint}" if endpoint else ""
    if code == "NoSuchBucket":
        return UserError(f"bucket '{bucket}' does not exist{where}; create it or fix the URL "
                         f"{url}")
    if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied",
                "InvalidToken", "ExpiredToken", "403"):
        return UserError(f"the object store refused the credentials for {url} ({code}); set "
                         f"AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY to a key with access "
                         f"to bucket '{bucket}'")
    return UserError(f"object store error for {url} ({code or err}); check the URL and "
                     f"S3_ENDPOINT_URL")


class MoxStore:
    """Copies with Huawei's moxing (present on ModelArts machines)."""

    def __init__(self, mox):
        self.mox = mox

    def check(self, url):
        """moxing reports problems itself when it copies."""

    def download(self, url, local):
        if self.mox.file.is_directory(url):
            self.mox.file.copy_parallel(url, str(local))
            return Path(local)
        target = Path(local) / url.rstrip("/").rsplit("/", 1)[-1]
        self.mox.file.copy(url, str(target))
        return target

    def upload(self, local, url):
        self.mox.file.copy_parallel(str(local), url)


def open_store(url):
    """MoxStore when moxing imports, else BotoStore for the URL's scheme."""
    try:
        import moxing
    except ImportError:
        return BotoStore(parse_url(url, "url")[0])
    return MoxStore(moxing)


class _Tee:
    """Writes to a stream and to a log file at once."""

    def __init__(self, stream, log_file):
        self.stream, self.log_file = stream, log_file

    def write(self, text):
        self.log_file.write(text)
        return self.stream.write(text)

    def flush(self):
        self.log_file.flush()
        self.stream.flush()

    def __getattr__(self, name):
        return getattr(self.stream, name)


def _dataset_root(folder):
    """The copied folder, or the one aclImdb-like folder inside it (data_url = its parent)."""
    if (folder / "train").is_dir() or not folder.is_dir():
        return folder
    inner = [child for child in folder.iterdir() if (child / "train").is_dir()]
    return inner[0] if len(inner) == 1 else folder


def _copy_in(config, store, cache):
    """Download data (and checkpoint) into cache; returns the config keys that change."""
    data = cache / "data"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    local_data = str(_dataset_root(store.download(config.data_url, data)))
    outputs = cache / "train"
    outputs.mkdir(parents=True, exist_ok=True)
    changes = {"ckpt_path": str(outputs), "preprocess_path": str(cache / "preprocess"),
               "file_name": str(outputs / Path(config.file_name).name),
               "aclimdb_path": local_data}
    if config.dataset != "aclimdb":
        changes["data_path"] = local_data
    if config.checkpoint_url and config.resume:
        store.download(config.checkpoint_url, outputs)
    elif config.checkpoint_url:
        pretrained = outputs / "pretrained"
        pretrained.mkdir(exist_ok=True)
        local = str(store.download(config.checkpoint_url, pretrained))
        changes.update(pre_trained=local, checkpoint_path=local)
    return changes


def _check_urls(config):
    for key in ("data_url", "train_url"):
        if not getattr(config, key):
            raise UserError(f"enable_modelarts needs --{key} (s3://BUCKET/PREFIX or "
                            f"obs://BUCKET/PREFIX)")
    for key in ("data_url", "train_url", "checkpoint_url"):
        if getattr(config, key):
            parse_url(getattr(config, key), key)


def _job_token():
    """Same value in every worker of one launch, to name the 'data is copied in' marker."""
    return os.environ.get("MS_SCHED_PORT") or str(os.getppid())


def _wait_for_copy(marker, timeout=7200.0):
    started = time.monotonic()
    while not marker.exists():
        if time.monotonic() - started > timeout:
            raise UserError(f"rank 0 did not copy the data in within {timeout:.0f} s; see its log")
        time.sleep(0.5)


def _run_logged(job, config, log_path):
    """Run job(config) with stdout/stderr also written to log_path (errors included)."""
    with open(log_path, "a", encoding="utf-8") as log_file:
        streams = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = _Tee(sys.stdout, log_file), _Tee(sys.stderr, log_file)
        try:
            return job(config)
        except UserError as err:
            log_file.write(f"error: {err}\n")
            raise
        finally:
            sys.stdout, sys.stderr = streams


def run_synced(job, config):
    """Copy in, run job on the local copy, copy the outputs to train_url (also after a failure).

    Args:
        job: train, evaluate or export_model: a function taking the Config.
        config: a Config with enable_modelarts set.

    In a data-parallel job, rank 0 copies in and out; the other ranks wait for its copy.
    """
    _check_urls(config)
    cache = Path(config.modelarts_cache).resolve()
    marker = cache / f".copied-in-{_job_token()}"
    main = worker_env() == 0
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"cannot create modelarts_cache {cache} ({err.strerror}); pass "
                        f"--modelarts_cache to a writable folder") from None
    store = open_store(config.data_url)
    if main:
        store.check(config.train_url)
        changes = _copy_in(config, store, cache)
        write_json(marker, changes, what="--modelarts_cache")
    else:
        _wait_for_copy(marker)
        changes = json.loads(marker.read_text(encoding="utf-8"))
    local = dataclasses.replace(config, **changes)
    log_dir = Path(local.ckpt_path) / ("" if main else f"rank_{worker_env()}")
    log_dir.mkdir(parents=True, exist_ok=True)
    try:
        result = _run_logged(job, local, log_dir / f"{Path(sys.argv[0]).stem}.log")
    except BaseException:
        if main:
            _upload_after_failure(store, local.ckpt_path, config.train_url)
        raise
    if main:
        store.upload(local.ckpt_path, config.train_url)
        marker.unlink(missing_ok=True)
    return result


def _upload_after_failure(store, folder, url):
    """Copy a failed job's logs out too; the job's own error is the one to report."""
    try:
        store.upload(folder, url)
    except UserError as err:
        print(f"warning: could not copy the outputs to {url}: {err}", file=sys.stderr)
