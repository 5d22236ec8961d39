"""Copying between local folders and object stores (s3://, obs://) for ModelArts-style runs.

`open_store(url)` gives a MoxStore when Huawei's `moxing` imports (as on ModelArts machines),
otherwise a BotoStore (boto3): endpoint from S3_ENDPOINT_URL (or AWS_ENDPOINT_URL,
OBS_ENDPOINT_URL for obs://), credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or
OBS_ACCESS_KEY_ID / OBS_SECRET_ACCESS_KEY) or any other source boto3 reads. Both offer
check, download (a prefix or one object), names (what is under a prefix), put (one file) and
delete; every failure is one UserError naming the URL and the fix.
"""
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..core.errors import UserError
from ..core.files import temp_path

__all__ = ["open_store", "parse_url", "BotoStore", "MoxStore", "SCHEMES"]

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

    def download(self, url, local, missing=None):
        """Copy the object url, or every object under the prefix url, into the folder local.

        Returns the local path of the object, or local itself for a prefix. Nothing there is
        a UserError: `missing`, or a message about data.
        """
        bucket, prefix, keys = self._keys(url)
        if prefix in keys:
            target = Path(local) / Path(prefix).name
            self._call(url, self._get, bucket, prefix, target)
            return target
        inside = [key for key in keys if key.startswith(f"{prefix}/" if prefix else "")]
        if not inside:
            raise UserError(missing or f"nothing found at {url}; upload the data there or fix "
                                       f"the URL")
        targets = [Path(local) / key[len(prefix):].lstrip("/") for key in inside]
        for folder in {target.parent for target in targets}:
            folder.mkdir(parents=True, exist_ok=True)
        self._each(url, self._get,
                   [(bucket, key, target) for key, target in zip(inside, targets)])
        return Path(local)

    def _get(self, bucket, key, target):
        """One object into the file target, under a temp name until complete (one request;
        download_file asks twice, which doubles the time for aclImdb's 100k small files)."""
        body = self.client.get_object(Bucket=bucket, Key=key)["Body"]
        tmp = temp_path(target)
        try:
            with body, open(tmp, "wb") as stream:
                shutil.copyfileobj(body, stream, 1 << 20)
            tmp.replace(target)
        finally:
            tmp.unlink(missing_ok=True)

    def names(self, url):
        """The names (relative paths) of the objects under the prefix url."""
        _, prefix, keys = self._keys(url)
        start = f"{prefix}/" if prefix else ""
        return {key[len(start):] for key in keys if key.startswith(start) and key != start}

    def put(self, path, url, name):
        """Copy the file path to url/name; False if the file is gone (a ring deleted it)."""
        _, bucket, prefix = parse_url(url, "train_url")
        try:
            stream = open(path, "rb")  # open first: a rename or unlink later cannot hurt
        except FileNotFoundError:
            return False
        with stream:
            self._call(url, self.client.upload_fileobj, stream, bucket,
                       "/".join(filter(None, (prefix, name))))
        return True

    def delete(self, url, names):
        """Delete url/NAME for every NAME in names."""
        _, bucket, prefix = parse_url(url, "train_url")
        for name in names:
            self._call(url, self.client.delete_object, Bucket=bucket,
                       Key="/".join(filter(None, (prefix, name))))

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

    def download(self, url, local, missing=None):
        if missing and not self.names(url):
            raise UserError(missing)
        if self.mox.file.is_directory(url):
            self.mox.file.copy_parallel(url, str(local))
            return Path(local)
        target = Path(local) / url.rstrip("/").rsplit("/", 1)[-1]
        self.mox.file.copy(url, str(target))
        return target

    def names(self, url):
        if not self.mox.file.is_directory(url):
            return set()
        return set(self.mox.file.list_directory(url, recursive=True))

    def put(self, path, url, name):
        if not Path(path).is_file():
            return False
        self.mox.file.copy(str(path), f"{url.rstrip('/')}/{name}")
        return True

    def delete(self, url, names):
        for name in names:
            self.mox.file.remove(f"{url.rstrip('/')}/{name}", recursive=False)


def open_store(url):
    """MoxStore when moxing imports, else BotoStore for the URL's scheme."""
    try:
        import moxing
    except ImportError:
        return BotoStore(parse_url(url, "url")[0])
    return MoxStore(moxing)
