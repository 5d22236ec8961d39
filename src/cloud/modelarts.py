"""ModelArts-style runs: copy data_url in to a local cache, run the job, copy outputs to train_url.

With `--enable_modelarts True`, run_main hands the job to `run_synced`:
  data_url        -> modelarts_cache/data      (aclimdb_path, or data_path, points there)
  checkpoint_url  -> modelarts_cache/train/pretrained/NAME.ckpt (pre_trained, checkpoint_path),
                     or, with --resume, a run prefix copied into modelarts_cache/train
  train_url       -> modelarts_cache/train     with --resume and no checkpoint_url: the run a
                     killed job left there, so train.py (or pretrain.py) continues from its
                     newest checkpoint; an empty train_url is refused
  modelarts_cache/train (ckpt_path and pretrain_path: checkpoints, metrics, run.log,
                     SCRIPT.log) -> train_url, while the job runs and once more at its end

While the job runs, `RunMirror` (a daemon thread of rank 0) copies the files of
modelarts_cache/train that are new or changed to train_url every MODELARTS_SYNC_SECONDS
seconds (default 5; 0: only at the end), so a job the platform kills (SIGKILL, preemption)
leaves its checkpoints, metrics.jsonl and logs behind. Training never waits for it: the steps
run in the main thread and only the thread copies. Its rules:
  - hidden files (.lock, the `.NAME.tmp-PID` files of atomic saves) are never copied;
  - a checkpoint goes up only after a metrics.jsonl written after it has gone up, so
    train_url's metrics.jsonl always holds the steps up to its newest checkpoint, as --resume
    needs;
  - checkpoints deleted locally are deleted in train_url too, once the folder is a run folder
    (it holds config.yaml): the ring's old lstm-EPOCH_STEP.ckpt files, and the checkpoints of
    an earlier run that a new run without --resume replaces, as it does in a local folder.
    Nothing else in train_url is ever deleted.

The copies use Huawei's `moxing` when it is importable (as on ModelArts), otherwise boto3
(src/cloud/object_store.py: endpoint and credentials from S3_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...).
"""
import dataclasses
import functools
import json
import math
import os
import posixpath
import shutil
import stat
import sys
import threading
import time
from pathlib import Path

from ..core.errors import UserError
from ..core.files import write_json
from ..core.distribute import worker_env
from .object_store import open_store, parse_url
from ..core.run_folder import CONFIG, METRICS

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


class RunMirror:
    """Keeps train_url a copy of the local folder: `start` a daemon thread that copies every
    `seconds`, `finish` stops it and copies what is left (see the module's docstring).

    Only the thread (or, after it stopped, `finish`) calls `sync`; a failed background copy
    prints one warning and is tried again at the next one.
    """

    def __init__(self, store, folder, url, seconds):
        self.store, self.folder, self.url, self.seconds = store, Path(folder), url, seconds
        self.sent = {}        # name -> (size, mtime_ns) of the local file last copied
        self.remote = set()   # the names in train_url, as listed at start and changed since
        self.stopping, self.thread, self.failing = threading.Event(), None, False

    def start(self, pulled=False):
        """List train_url, then copy in the background. pulled: the local folder was just
        copied from train_url, so what is in both need not go up again."""
        self.remote = self.store.names(self.url)
        if pulled:
            self.sent = {name: stamp for name, stamp in self._scan().items()
                         if name in self.remote}
        if self.seconds > 0:
            self.thread = threading.Thread(target=self._loop, name="train_url-copy",
                                           daemon=True)
            self.thread.start()
        return self

    def finish(self):
        """Stop the thread (after the copy it is in), then copy everything not yet copied."""
        self.stopping.set()
        if self.thread is not None:
            self.thread.join()
        self.sync(final=True)

    def _loop(self):
        while not self.stopping.wait(self.seconds):
            try:
                self.sync()
            except Exception as err:  # a network hiccup must never end the training
                if not self.failing:
                    print(f"warning: copying to {self.url} failed ({err}); trying again "
                          f"every {self.seconds:g} s", file=sys.stderr)
                self.failing = True
            else:
                self.failing = False

    def _scan(self):
        """name -> (size, mtime_ns) of every file under folder, hidden ones left out."""
        stamps = {}
        for root, folders, files in os.walk(self.folder):
            folders[:] = [name for name in folders if not name.startswith(".")]
            for name in files:
                if name.startswith("."):
                    continue
                path = Path(root) / name
                try:
                    info = path.stat()
                except FileNotFoundError:  # deleted since the listing
                    continue
                if stat.S_ISREG(info.st_mode):
                    stamps[path.relative_to(self.folder).as_posix()] = (info.st_size,
                                                                         info.st_mtime_ns)
        return stamps

    def sync(self, final=False):
        """Copy the files that are new or changed: the others first, then the checkpoints
        (each once its folder's metrics.jsonl has gone up with a newer write, unless final),
        then delete the checkpoints of train_url that are gone here."""
        stamps = self._scan()
        due = sorted(name for name, stamp in stamps.items() if self.sent.get(name) != stamp)
        checkpoints = [name for name in due if name.endswith(".ckpt")]
        for name in [name for name in due if not name.endswith(".ckpt")]:
            self._put(name, stamps[name])
        for name in checkpoints:
            if final or self._covered(name, stamps):
                self._put(name, stamps[name])
        self._delete_gone(stamps)

    def _put(self, name, stamp):
        # the stamp is from before the read: a file changed meanwhile goes up again next time
        if self.store.put(self.folder / name, self.url, name):
            self.sent[name] = stamp
            self.remote.add(name)

    def _covered(self, name, stamps):
        """Whether train_url's metrics.jsonl beside checkpoint name was written after it."""
        metrics = posixpath.join(posixpath.dirname(name), METRICS)
        if metrics not in stamps:
            return True
        sent = self.sent.get(metrics)
        return sent is not None and sent[1] > stamps[name][1]

    def _delete_gone(self, stamps):
        if CONFIG not in stamps:  # not a run folder: eval.py's outputs, for one
            return
        gone = sorted(name for name in self.remote
                      if "/" not in name and name.endswith(".ckpt") and name not in stamps)
        if gone:
            self.store.delete(self.url, gone)
            self.remote.difference_update(gone)
            for name in gone:
                self.sent.pop(name, None)


def _dataset_root(folder):
    """The copied folder, or the one aclImdb-like folder inside it (data_url = its parent)."""
    if (folder / "train").is_dir() or not folder.is_dir():
        return folder
    inner = [child for child in folder.iterdir() if (child / "train").is_dir()]
    return inner[0] if len(inner) == 1 else folder


def _copy_in(config, store, cache):
    """Download data (and checkpoint, or the run to resume) into cache; returns the config keys
    that change."""
    outputs = cache / "train"
    outputs.mkdir(parents=True, exist_ok=True)
    if config.resume and not config.checkpoint_url:  # first: an empty train_url fails at once
        store.download(config.train_url, outputs, missing=(
            f"--resume: train_url {config.train_url} holds no run to continue; start the "
            f"first job without --resume, or pass the train_url of the run to continue"))
    data = cache / "data"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    local_data = str(_dataset_root(store.download(config.data_url, data)))
    changes = {"ckpt_path": str(outputs), "pretrain_path": str(outputs),
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
        changes.update(pre_trained=local, checkpoint_path=local)
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


def modelarts_synced(main):
    """main(config, ...) between a copy-in and a copy-out on ModelArts (the zoo's moxing_wrapper)."""
    @functools.wraps(main)
    def synced(config, *args, **kwargs):
        if not config.enable_modelarts:
            return main(config, *args, **kwargs)
        return run_synced(lambda local: main(local, *args, **kwargs), config)
    synced.modelarts_synced = True
    return synced


def run_synced(job, config):
    """Copy in, run job on the local copy while RunMirror copies its outputs to train_url, and
    copy the rest at the end (also after a failure).

    Args:
        job: train, evaluate or export_model: a function taking the Config.
        config: a Config with enable_modelarts set.

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
        changes = _copy_in(config, store, cache)
        write_json(marker, changes, what="--modelarts_cache")
    else:
        _wait_for_copy(marker)
        changes = json.loads(marker.read_text(encoding="utf-8"))
    local = dataclasses.replace(config, **changes)
    log_dir = Path(local.ckpt_path) / ("" if main else f"rank_{worker_env()}")
    log_dir.mkdir(parents=True, exist_ok=True)
    mirror = None
    if main:
        mirror = RunMirror(store, local.ckpt_path, config.train_url, seconds).start(
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
