"""Writing files so that a kill at any moment leaves the old file or the new one, never half.

Everything is written under a temporary name beside its target, `.NAME.tmp-PID`, then
renamed over the target. A killed writer leaves at most such a temp file (or folder), which
`remove_temp_files` deletes once its PID is gone; no reader ever opens one.
"""
import contextlib
import json
import os
import shutil
from pathlib import Path

from .errors import UserError

__all__ = ["temp_path", "atomic_path", "build_folder", "write_text", "write_json",
           "remove_temp_files", "left_by_dead_process"]

TEMP_MARK = ".tmp-"


def temp_path(path, suffix=""):
    """The temporary name this process writes path under: .NAME.tmp-PID[suffix]."""
    path = Path(path)
    return path.with_name(f".{path.name}{TEMP_MARK}{os.getpid()}{suffix}")


@contextlib.contextmanager
def atomic_path(path, suffix="", what="--run_dir", kind=""):
    """Yield a temporary path to write path's content to; on success it is renamed to path
    (its folder is created first).

    suffix keeps a file extension for writers that insist on one (MindSpore's .ckpt, numpy's
    .npy). On failure the temp file (or folder) is removed; an OSError becomes one UserError
    naming the target (a `kind` such as "checkpoint") and `what` to change.
    """
    path = Path(path)
    tmp = temp_path(path, suffix)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        tmp.replace(path)
    except OSError as err:
        raise UserError(f"cannot write {kind + ' ' if kind else ''}{path} ({err.strerror}); "
                        f"free disk space or pass {what} to a writable folder") from None
    finally:
        _remove(tmp)
        _remove(tmp.with_suffix(".tmp"))  # MindSpore's own temp name for a checkpoint


def build_folder(folder, build, failure, setup_failure=None, finished=None):
    """Build a folder under a temporary name beside it, then rename it into place, so that no
    reader ever sees a half-built one: returns (build(temporary folder)'s result, placed).

    First the parent is created and the temporary folders of killed writers in it removed.
    After build, a folder standing at folder is replaced, unless finished(folder) says it is a
    complete one: another process that built the same folder renamed its own into place
    first, and that one is kept (placed is then False). The temporary folder never outlives
    the call. An OSError becomes one UserError: setup_failure(err) while the temporary folder
    is being made (default: failure), failure(err) after.
    """
    folder = Path(folder)
    building = temp_path(folder)
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        remove_temp_files(folder.parent)
        _remove(building)
        building.mkdir()
    except OSError as err:
        raise UserError((setup_failure or failure)(err)) from None
    try:
        result = build(building)
        kept = lambda: finished is not None and finished(folder)
        if not kept():
            shutil.rmtree(folder, ignore_errors=True)  # a file there stays, and fails the rename
        try:
            building.rename(folder)
        except OSError:
            if not kept():
                raise
            return result, False
        return result, True
    except OSError as err:
        raise UserError(failure(err)) from None
    finally:
        _remove(building)


def _remove(path):
    with contextlib.suppress(OSError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


def write_text(path, text, what="--run_dir"):
    """Write text (UTF-8) to path atomically; returns path."""
    with atomic_path(path, what=what) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path, content, what="--run_dir", indent=None):
    """Write content as strict JSON (NaN and infinity refused) to path atomically."""
    return write_text(path, json.dumps(content, indent=indent, ensure_ascii=False,
                                       allow_nan=False), what)


def left_by_dead_process(path):
    """True if path's name ends in -PID (maybe followed by .ext) and PID is not alive."""
    tail = Path(path).name.rsplit("-", 1)[-1].split(".")[0]
    if not tail.isdigit():
        return False
    try:
        os.kill(int(tail), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def remove_temp_files(folder):
    """Delete the temp files and folders that killed writers left in folder."""
    for stale in Path(folder).glob(f".*{TEMP_MARK}*"):
        if left_by_dead_process(stale):
            _remove(stale)
