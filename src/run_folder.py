"""The run folder (config.ckpt_path): where a run's files are, and one writer at a time."""
import fcntl
import os
import time
from pathlib import Path

from src.config import UserError

__all__ = ["FolderLock", "run_folder"]

LOCK_NAME = ".lock"


def _holder(path, wait=1.0):
    """The PID written in the lock file (the holder writes it right after locking)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            text = Path(path).read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            text = ""
        if text.isdigit() or time.monotonic() > deadline:
            return text or "unknown"
        time.sleep(0.05)


class FolderLock:
    """An exclusive flock on folder/.lock, held until release() or the process ends.

    The kernel drops a flock when its process dies, however it dies, so a lock left by a
    killed run never blocks the next one. A second process asking for the folder gets one
    UserError line naming the PID that holds it.
    """

    def __init__(self, folder, what="ckpt_path"):
        self.folder, self.what, self.fd = Path(folder), what, None

    def acquire(self):
        path = self.folder / LOCK_NAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise UserError(f"{self.what} {self.folder} is in use by another training run "
                            f"(PID {_holder(path)}); wait for it to finish or pass another "
                            f"--{self.what}") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        self.fd = fd
        return self

    def release(self):
        if self.fd is not None:
            os.close(self.fd)  # closing the only descriptor drops the flock
            self.fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def run_folder(config):
    """The training run folder that holds vocab.json (config.ckpt_path, or the checkpoint's)."""
    folder = Path(config.ckpt_path)
    if config.checkpoint_path and not (folder / "vocab.json").exists():
        folder = Path(config.checkpoint_path).parent
    return folder
