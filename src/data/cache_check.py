"""The preprocessing cache's integrity: a digest of every file, recorded in meta.json when
prepare() builds a folder and checked before it reads one (a folder that fails is rebuilt,
never read), and one line for a cache deleted while a run reads it."""
import errno
import hashlib
import json
import os
import time
from pathlib import Path

import mindspore.dataset as ds

from ..core.errors import UserError

__all__ = ["ABSENT", "NO_DIGESTS", "file_digest", "folder_digests", "check_folder",
           "names_itself", "wait_for", "vanished", "require_split", "dataset_files"]

ABSENT = "no meta.json"           # never built, or a build killed before its end
NO_DIGESTS = "its meta.json records no digests (written by an older version)"
_BLOCK = 1 << 20
_ZERO_BLOCK = hashlib.sha256(bytes(_BLOCK)).digest()


def file_digest(path):
    """{"bytes": size, "sha256_blocks": digest} of a file: the SHA-256 of the SHA-256 of each
    of its 1 MiB blocks.

    A MindRecord file is mostly zero padding (50 MB for 900 reviews), which the file system
    stores as holes: a block inside a hole is known to be zeros and is not read, so checking
    a full aclImdb cache (181 MB, 52 MB of it data) costs ~0.05 s and the bundled sample's
    ~0.01 s. A block of zeros read from disk hashes as a hole does, so a copy that wrote the
    zeros out has the same digest.
    """
    outer = hashlib.sha256()
    with open(path, "rb") as stream:
        size = os.fstat(stream.fileno()).st_size
        for start in range(0, size, _BLOCK):
            length = min(_BLOCK, size - start)
            if _in_hole(stream.fileno(), start, length):
                outer.update(_ZERO_BLOCK if length == _BLOCK else
                             hashlib.sha256(bytes(length)).digest())
            else:
                stream.seek(start)
                outer.update(hashlib.sha256(stream.read(length)).digest())
    return {"bytes": size, "sha256_blocks": outer.hexdigest()}


def _in_hole(fd, start, length):
    """Whether the bytes start..start+length of the open file fd all lie in a hole."""
    if not hasattr(os, "SEEK_DATA"):
        return False
    try:
        return os.lseek(fd, start, os.SEEK_DATA) >= start + length
    except OSError as err:  # ENXIO: no data after start; others: holes not supported here
        return err.errno == errno.ENXIO


def folder_digests(folder):
    """{file name: file_digest} of every file in folder, for its meta.json."""
    return {path.name: file_digest(path) for path in sorted(Path(folder).iterdir())
            if path.is_file()}


def check_folder(folder, required):
    """None if folder is a complete cache whose files all match the digests its meta.json
    (written last) records; else why not, for a log line: ABSENT, NO_DIGESTS, or a damage.

    required(counts): the names of the files a cache of these review counts must hold. Sizes
    are compared first, then the digest of every file: a flipped byte, a truncated file, a
    file rewritten with other content (labels flipped in a still-valid MindRecord file) and a
    file gone all show. Files added to the folder later (embedding tables, unlabelled
    tokens) are not listed.
    """
    folder = Path(folder)
    try:
        text = (folder / "meta.json").read_text(encoding="utf-8")
    except FileNotFoundError:
        return ABSENT
    except OSError as err:
        return f"its meta.json cannot be read ({err.strerror})"
    try:
        meta = json.loads(text)
        counts, digests = dict(meta["counts"]), meta.get("digests")
    except (ValueError, KeyError, TypeError):
        return "its meta.json is not the JSON prepare() writes"
    if meta.get("key") != folder.name:
        return f"its meta.json names another key ({meta.get('key')})"
    if not isinstance(digests, dict):  # an older version's folder: complete if nothing is gone
        gone = [name for name in required(counts) if not (folder / name).is_file()]
        return f"{gone[0]} is missing" if gone else NO_DIGESTS
    unlisted = [name for name in required(counts) if name not in digests]
    if unlisted:
        return f"its meta.json records no digest of {unlisted[0]}"
    try:
        for name, recorded in digests.items():
            size = os.stat(folder / name).st_size
            if size != recorded["bytes"]:
                return f"{name} is {size:,} bytes, meta.json recorded {recorded['bytes']:,}"
        for name, recorded in digests.items():
            if file_digest(folder / name) != recorded:
                return f"{name} does not match the SHA-256 digest meta.json recorded"
    except FileNotFoundError as err:
        return f"{Path(err.filename).name} is missing"
    except OSError as err:
        return f"{Path(err.filename or '?').name} cannot be read ({err.strerror})"
    except (KeyError, TypeError):
        return "its meta.json is not the JSON prepare() writes"
    return None


def names_itself(root):
    """Whether root is a prepared folder itself: its meta.json names root's own key."""
    try:
        meta = json.loads((Path(root) / "meta.json").read_text(encoding="utf-8"))
        return meta.get("key") == Path(root).name
    except (OSError, ValueError, AttributeError):
        return False


def wait_for(folder, complete, log, timeout):
    """For ranks other than 0: wait until complete(folder), rank 0 having prepared it (each
    version of its meta.json checked once)."""
    log(f"waiting for rank 0 to write the preprocessed data ({folder})")
    started, checked = time.monotonic(), None
    while True:
        try:
            stat = os.stat(Path(folder) / "meta.json")
            version = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        except OSError:
            version = None
        if version is not None and version != checked:
            checked = version
            if complete(folder):
                return
        if time.monotonic() - started > timeout:
            raise UserError(f"rank 0 did not write {folder} within {timeout:.0f} s; see rank "
                            f"0's log (worker_0.log) for its error")
        time.sleep(0.5)


def vanished(path):
    """The one line for a cache file gone while a run reads it."""
    return (f"the preprocessed data file {path} is gone (deleted while this run was using "
            f"it?); run the command again: the cache is rebuilt (train.py: add --resume true "
            f"to continue from the last checkpoint)")


def require_split(path):
    """UserError if a MindRecord file (or its index, .db) is gone: its cache folder was deleted
    after prepare() checked it, while this run was using it."""
    for file in (Path(path), Path(f"{path}.db")):
        if not file.is_file():
            raise UserError(vanished(file))


def dataset_files(dataset):
    """The MindRecord files a dataset pipeline (of mindrecord.create_dataset) reads."""
    files, pending = [], [dataset]
    while pending:
        node = pending.pop()
        if isinstance(node, ds.MindDataset):
            given = node.dataset_files
            files += [given] if isinstance(given, str) else list(given)
        pending += list(getattr(node, "children", []))
    return files
