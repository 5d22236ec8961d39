"""ModelArts-style runs: copy data_url in to a local cache, run the job, copy outputs to train_url.

With `--enable_modelarts True`, run_main hands the job to `run_synced`:
  data_url        -> modelarts_cache/data      (aclimdb_path, or data_path, points there)
  checkpoint_url  -> modelarts_cache/train/pretrained/NAME.ckpt (init_checkpoint, checkpoint_file),
                     or, with --resume, a run prefix copied into modelarts_cache/train
  train_url       -> modelarts_cache/train     with --resume and no checkpoint_url: the run a
                     killed job left there, so train.py (or pretrain.py) continues from its
                     newest checkpoint; an empty train_url is refused
  modelarts_cache/train (run_dir and pretrain_dir: checkpoints, metrics, run.log,
                     SCRIPT.log) -> train_url, while the job runs and once more at its end

While the job runs, `RunMirror` (src/cloud/run_mirror.py) copies the run to train_url, so a job the
platform kills leaves its checkpoints, metrics.jsonl and logs behind. A new job (neither --resume
nor --overwrite_run) refuses a train_url that holds a run.

The copies use Huawei's `moxing` when it is importable (as on ModelArts), otherwise boto3
(src/cloud/object_store.py: endpoint and credentials from S3_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...).
"""
import dataclasses
import functools
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path

from ..core.errors import UserError
from ..core.files import write_json
from ..core.distribute import worker_env
from ..core.run_folder import holds_a_run, run_files
from .object_store import open_store, parse_url
from .run_mirror import RunMirror

__all__ = ["modelarts_synced", "run_synced", "RunMirror"]

SYNC_SECONDS = 5.0  # default pause between two background copies to train_url


class _Tee:
    """Writes to a stream and to a log file at once."""

    def __init__(self, stream, log_file):
        self.stream, self.log_file = stream, log_file

    def write(self, text):
        self.log_file.write(text)
        if "\n" in text:  # whole lines reach the disk, and so train_url, as they are written
            self.log_file.flush()
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


def _refuse_a_run_in(store, url):
    """A new job never writes over the run a train_url holds."""
    found = run_files(store.names(url), checkpoints=("*.ckpt",))  # train.py's or pretrain.py's
    if found:
        raise holds_a_run(f"train_url {url}", found, "--train_url")


def _copy_in(config, store, cache, new_run):
    """Download data (and checkpoint, or the run to resume) into cache; returns the config keys
    that change."""
    outputs = cache / "train"
    outputs.mkdir(parents=True, exist_ok=True)
    if new_run and not (config.resume or config.overwrite_run):  # as with a local folder
        _refuse_a_run_in(store, config.train_url)
    if config.resume and not config.checkpoint_url:  # first: an empty train_url fails at once
        store.download(config.train_url, outputs, missing=(
            f"--resume: train_url {config.train_url} holds no run to continue; start the "
            f"first job without --resume, or pass the train_url of the run to continue"))
    data = cache / "data"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    local_data = str(_dataset_root(store.download(config.data_url, data)))
    changes = {"run_dir": str(outputs), "pretrain_dir": str(outputs),
               "preprocess_path": str(cache / "preprocess"),
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
        changes.update(init_checkpoint=local, checkpoint_file=local)
    return changes


def _sync_seconds():
    """MODELARTS_SYNC_SECONDS: the pause between background copies (0: only at the end)."""
    text = os.environ.get("MODELARTS_SYNC_SECONDS", "").strip()
    if not text:
        return SYNC_SECONDS
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not (math.isfinite(seconds) and seconds >= 0):
        raise UserError(f"MODELARTS_SYNC_SECONDS '{text}' is not a number of seconds; set it "
                        f"to e.g. {SYNC_SECONDS:g}, or 0 to copy to train_url only at the end")
    return seconds


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


def modelarts_synced(main=None, *, new_run=False):
    """main(config, ...) between a copy-in and a copy-out on ModelArts (the zoo's moxing_wrapper).
    new_run: main trains a run into train_url (train.py, pretrain.py), so a train_url that
    holds one is refused unless --resume or --overwrite_run says what to do with it."""
    if main is None:
        return functools.partial(modelarts_synced, new_run=new_run)

    @functools.wraps(main)
    def synced(config, *args, **kwargs):
        if not config.enable_modelarts:
            return main(config, *args, **kwargs)
        return run_synced(lambda local: main(local, *args, **kwargs), config, new_run)
    synced.modelarts_synced = True
    return synced


def run_synced(job, config, new_run=False):
    """Copy in, run job on the local copy while RunMirror copies its outputs to train_url, and
    copy the rest at the end (also after a failure).

    Args:
        job: train, evaluate or export_model: a function taking the Config.
        config: a Config with enable_modelarts set.
        new_run: job trains into train_url (see modelarts_synced).

    In a data-parallel job, rank 0 copies in and out; the other ranks wait for its copy.
    """
    _check_urls(config)
    seconds = _sync_seconds()
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
        changes = _copy_in(config, store, cache, new_run)
        write_json(marker, changes, what="--modelarts_cache")
    else:
        _wait_for_copy(marker)
        changes = json.loads(marker.read_text(encoding="utf-8"))
    local = dataclasses.replace(config, **changes)
    log_dir = Path(local.run_dir) / ("" if main else f"rank_{worker_env()}")
    log_dir.mkdir(parents=True, exist_ok=True)
    mirror = None
    if main:
        mirror = RunMirror(store, local.run_dir, config.train_url, seconds).start(
            pulled=config.resume and not config.checkpoint_url)
    try:
        result = _run_logged(job, local, log_dir / f"{Path(sys.argv[0]).stem}.log")
    except BaseException:
        if mirror:
            _upload_after_failure(mirror)
        raise
    if mirror:
        mirror.finish()
        marker.unlink(missing_ok=True)
    return result


def _upload_after_failure(mirror):
    """Copy a failed job's logs out too; the job's own error is the one to report."""
    try:
        mirror.finish()
    except UserError as err:
        print(f"warning: could not copy the outputs to {mirror.url}: {err}", file=sys.stderr)
