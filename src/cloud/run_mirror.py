"""Keeping train_url a copy of a local run folder.

`RunMirror` (a daemon thread of rank 0 while a ModelArts job runs) copies the files of
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
    an earlier run that a new run with --overwrite_run true replaces, as in a local folder.
    Nothing else in train_url is ever deleted.
"""
import os
import posixpath
import stat
import sys
import threading
from pathlib import Path

from ..core.run_folder import CONFIG, METRICS

__all__ = ["RunMirror"]


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
