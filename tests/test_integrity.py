"""Files that prove their integrity (issue 39, items 3, 4 and 9).

- The preprocessing cache records a SHA-256 digest of every file in meta.json (over its 1 MiB
  blocks; the holes of sparse files are not read); a folder whose files no longer match is
  rebuilt (one log line saying why), or refused in one line when it cannot be (a prepared
  folder given as --preprocess_path). A cache deleted while a run uses it ends the run in
  one line.
- Every checkpoint ends in MindSpore's CRC32 trailer (save_checkpoint(crc_check=True)),
  checked at every load: a damaged one is one line and exit 2 in every entry script. Files
  written before (old runs) load as before; the shipped ones carry the trailer.
- Reviews are read only as far as they are kept: at most 4 x MAX_CHARS bytes of a review file
  or archive member, lines of tables and tree files up to MAX_LINE characters; a dataset path
  that is neither a folder nor a regular file is refused instead of read forever.
"""
import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, run_in_process, run_script, tiny_args
from src.core.errors import UserError
from src.data.text import MAX_CHARS


def one_error_line(result, *words):
    """Exit 2, and stderr is one `error: problem; fix` line holding every word."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "; " in lines[0], lines
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


# --- item 3: the preprocessing cache ------------------------------------------------------
def copy_cache(prepared, root):
    """A copy of the session's prepared folder under root (sparse, as MindRecord writes it):
    returns the copy's folder."""
    root.mkdir(parents=True)
    subprocess.run(["cp", "-r", "--sparse=always", str(prepared.folder), str(root)], check=True)
    return root / prepared.folder.name


def rows(path):
    from src.data.mindrecord import create_dataset
    dataset = create_dataset(path, 1000, 64)
    return [tuple(column.tolist() for column in batch)
            for batch in dataset.create_tuple_iterator(output_numpy=True)]


def data_offset(path):
    """The first byte of a MindRecord file's data pages (after the header's region)."""
    with open(path, "rb") as stream:
        return os.lseek(stream.fileno(), os.lseek(stream.fileno(), 0, os.SEEK_HOLE),
                        os.SEEK_DATA)


def overwrite(path, offset, data):
    with open(path, "r+b") as stream:
        stream.seek(offset)
        stream.write(data)


def flip(path, offset, count):
    with open(path, "r+b") as stream:
        stream.seek(offset)
        data = stream.read(count)
        stream.seek(offset)
        stream.write(bytes(b ^ 0xFF for b in data))


def flip_labels(folder):
    """test.mindrecord rewritten as a valid MindRecord file with every label flipped."""
    from mindspore.mindrecord import FileWriter
    from src.data.mindrecord import SCHEMA
    import mindspore.dataset as ds
    path = folder / "test.mindrecord"
    reviews = list(ds.MindDataset(str(path), shuffle=False).create_dict_iterator(output_numpy=True))
    writer = FileWriter(str(path), shard_num=1, overwrite=True)
    writer.add_schema(SCHEMA, "reviews")
    writer.write_raw_data([{"ids": r["ids"], "length": np.int32(r["length"]),
                            "label": np.int32(1 - r["label"]), "target": r["target"]}
                           for r in reviews])
    writer.commit()
    again = ds.MindDataset(str(path), shuffle=False).create_dict_iterator(output_numpy=True)
    assert [int(r["label"]) for r in again] == [1 - int(r["label"]) for r in reviews]


DAMAGE = {
    # 64 bytes of 0xff at the start of the data pages (read unchecked, such bytes ate all
    # memory or segfaulted)
    "data bytes": lambda f: overwrite(f / "train.mindrecord", data_offset(f / "train.mindrecord"),
                                      b"\xff" * 64),
    "header": lambda f: overwrite(f / "train.mindrecord", 20, b"#" * 16),
    "truncated file": lambda f: os.truncate(f / "train.mindrecord",
                                            os.path.getsize(f / "train.mindrecord") // 2),
    "index (.db)": lambda f: flip(f / "valid.mindrecord.db", 2000, 64),
    "flipped labels in a valid file": flip_labels,
    "vocab.json": lambda f: (f / "vocab.json").write_text(
        (f / "vocab.json").read_text().replace('"the"', '"teh"', 1)),
}


@pytest.mark.parametrize("damage", DAMAGE, ids=list(DAMAGE))
def test_a_damaged_cache_is_rebuilt_with_one_line_saying_why(damage, tiny_config, prepared,
                                                             tmp_path):
    from src.data.mindrecord import prepare
    folder = copy_cache(prepared, tmp_path / "pp")
    DAMAGE[damage](folder)
    config = dataclasses.replace(tiny_config, preprocess_path=str(tmp_path / "pp"))
    messages = []
    rebuilt = prepare(config, log=messages.append)
    assert rebuilt.folder == folder
    why = [m for m in messages if "rebuilding" in m]
    assert len(why) == 1 and "damaged" in why[0] and str(folder) in why[0], messages
    assert messages[-1].startswith("preprocessed"), messages
    for split in ("train", "valid", "test"):
        assert rows(folder / f"{split}.mindrecord") == rows(prepared.mindrecord(split)), split
    assert (folder / "vocab.json").read_bytes() == prepared.vocab_file.read_bytes()
    again = []
    prepare(config, log=again.append)
    assert again[0].startswith("reusing"), again       # the rebuilt folder checks out


def test_a_cache_written_before_digests_is_rebuilt(tiny_config, prepared, tmp_path):
    from src.data.mindrecord import prepare
    folder = copy_cache(prepared, tmp_path / "pp")
    meta = json.loads((folder / "meta.json").read_text())
    del meta["digests"]
    (folder / "meta.json").write_text(json.dumps(meta))
    messages = []
    prepare(dataclasses.replace(tiny_config, preprocess_path=str(tmp_path / "pp")),
            log=messages.append)
    assert len([m for m in messages if "rebuilding" in m and "no digests" in m]) == 1, messages


def test_meta_json_records_a_digest_of_every_file(prepared):
    meta = json.loads((prepared.folder / "meta.json").read_text())
    files = {p.name for p in prepared.folder.iterdir()
             if p.name != "meta.json" and not p.name.startswith(("embedding-", "unlabelled-"))}
    assert set(meta["digests"]) == files
    for name, digest in meta["digests"].items():
        path = prepared.folder / name
        assert digest == {"bytes": path.stat().st_size, "sha256_blocks": block_sha256(path)}, name


def block_sha256(path):
    """The SHA-256 of the SHA-256s of the file's 1 MiB blocks, every byte read."""
    data = Path(path).read_bytes()
    return hashlib.sha256(b"".join(hashlib.sha256(data[start:start + (1 << 20)]).digest()
                                   for start in range(0, len(data), 1 << 20))).hexdigest()


def test_the_digest_skips_the_holes_of_sparse_files_but_not_their_bytes(prepared, tmp_path):
    """MindRecord's zero padding is not read, yet a byte written into it, or a copy that
    wrote the zeros out, is told apart correctly."""
    from src.data.cache_check import file_digest
    path = prepared.mindrecord("valid")
    dense = tmp_path / "dense"
    subprocess.run(["cp", "--sparse=never", str(path), str(dense)], check=True)
    assert file_digest(path) == file_digest(dense)
    sparse = tmp_path / "sparse"
    subprocess.run(["cp", "--sparse=always", str(path), str(sparse)], check=True)
    overwrite(sparse, os.path.getsize(sparse) - 100_000, b"\1")   # into the padding
    assert file_digest(sparse) != file_digest(path)
    assert file_digest(sparse)["sha256_blocks"] == block_sha256(sparse)


def test_a_damaged_prepared_folder_given_itself_is_refused_in_one_line(tiny_config, prepared,
                                                                      tmp_path):
    from src.data.mindrecord import prepare
    folder = copy_cache(prepared, tmp_path / "pp")
    ok = prepare(dataclasses.replace(tiny_config, preprocess_path=str(folder)), log=print)
    assert ok.folder == folder
    DAMAGE["flipped labels in a valid file"](folder)
    with pytest.raises(UserError, match="is damaged") as caught:
        prepare(dataclasses.replace(tiny_config, preprocess_path=str(folder)), log=print)
    assert "test.mindrecord" in str(caught.value) and "\n" not in str(caught.value)


def test_a_prepared_folder_given_itself_from_before_digests_is_read_with_a_note(
        tiny_config, prepared, tmp_path):
    from src.data.mindrecord import prepare
    folder = copy_cache(prepared, tmp_path / "pp")
    meta = json.loads((folder / "meta.json").read_text())
    del meta["digests"]
    (folder / "meta.json").write_text(json.dumps(meta))
    messages = []
    assert prepare(dataclasses.replace(tiny_config, preprocess_path=str(folder)),
                   log=messages.append).folder == folder
    assert messages == [f"reading preprocessed data in {folder} (written by an older version: "
                        f"no digests to check)"]


def test_a_rank_that_waits_never_takes_a_damaged_folder(tiny_config, prepared, tmp_path):
    """Ranks other than 0 wait for rank 0 to rebuild it (here no rank 0: they time out)."""
    from src.data.mindrecord import prepare
    folder = copy_cache(prepared, tmp_path / "pp")
    DAMAGE["header"](folder)
    config = dataclasses.replace(tiny_config, preprocess_path=str(tmp_path / "pp"))
    with pytest.raises(UserError, match="rank 0 did not write"):
        prepare(config, log=lambda *_: None, build=False, timeout=1)


def test_train_on_a_truncated_cache_rebuilds_it_and_trains(prepared, tmp_path, capfd):
    folder = copy_cache(prepared, tmp_path / "pp")
    DAMAGE["truncated file"](folder)
    args = tiny_args(tmp_path) + ["--preprocess_path", tmp_path / "pp"]
    result = run_in_process("train.py", *args, capfd=capfd)
    assert result.returncode == 0, result.stderr[-3000:]
    why = [line for line in result.stdout.splitlines() if "rebuilding" in line]
    assert len(why) == 1 and "train.mindrecord" in why[0], result.stdout[-3000:]
    assert (tmp_path / "run" / "lstm-best.ckpt").exists()


def test_the_cache_deleted_during_training_ends_the_run_in_one_line(prepared, tmp_path):
    copy_cache(prepared, tmp_path / "pp")
    args = tiny_args(tmp_path) + ["--preprocess_path", tmp_path / "pp", "--num_epochs", "3",
                                  "--batch_size", "8", "--save_checkpoint_steps", "1000"]
    process = subprocess.Popen([sys.executable, str(ROOT / "train.py"), *map(str, args)],
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True)
    metrics = tmp_path / "run" / "metrics.jsonl"
    started = time.monotonic()
    while not (metrics.exists() and metrics.stat().st_size) and process.poll() is None:
        assert time.monotonic() - started < 600
        time.sleep(0.01)
    shutil.rmtree(tmp_path / "pp")
    _, err = process.communicate(timeout=600)
    result = subprocess.CompletedProcess(args, process.returncode, "", err)
    one_error_line(result, "preprocessed data", "rebuilt")


# --- item 4: checkpoints ------------------------------------------------------------------
def flip_weight_bytes(path, count=64):
    """Flip `count` bytes in the middle of the largest weight's bytes: the file still parses."""
    import mindspore as ms
    params = ms.load_checkpoint(str(path))
    largest = max((v.asnumpy() for v in params.values() if hasattr(v, "asnumpy")),
                  key=lambda a: a.nbytes)
    content = bytearray(Path(path).read_bytes())
    start = content.find(largest.tobytes()[:256])
    assert start > 0
    middle = start + largest.nbytes // 2
    content[middle:middle + count] = bytes(b ^ 0x5A for b in content[middle:middle + count])
    os.chmod(path, 0o600)
    Path(path).write_bytes(content)
    return path


def has_crc_trailer(path):
    data = Path(path).read_bytes()
    return data[-17:-10] == b"crc_num" and \
        int.from_bytes(data[-10:], "big") == zlib.crc32(data[:-17])


def small_cell():
    from mindspore import nn
    return nn.Dense(64, 32)


def test_every_saved_checkpoint_carries_a_crc_and_a_flipped_one_is_refused(tmp_path):
    from src.model.checkpoint import load_params, save_atomic
    path = tmp_path / "a.ckpt"
    save_atomic(small_cell(), path, {"epoch": 3})
    assert has_crc_trailer(path)
    assert int(load_params(path)["epoch"].asnumpy()) == 3
    flip_weight_bytes(path)
    with pytest.raises(UserError, match="is damaged") as caught:
        load_params(path)
    assert "another .ckpt" in str(caught.value)


def test_a_checkpoint_written_before_digests_still_loads(tmp_path):
    import mindspore as ms
    from src.model.checkpoint import load_params
    path = tmp_path / "old.ckpt"
    ms.save_checkpoint(small_cell(), str(path), append_dict={"epoch": 2})
    assert not has_crc_trailer(path)
    assert int(load_params(path)["epoch"].asnumpy()) == 2


def test_the_shipped_checkpoints_carry_a_crc():
    for path in (ROOT / "model" / "lstm-best.ckpt", ROOT / "model" / "encoder" / "encoder.ckpt"):
        assert has_crc_trailer(path), path


def test_the_checkpoint_ring_adds_the_crc(tmp_path):
    """(pretrain.py's encoder files: test_pretrain; ship_model.py's: test_shipped_model)"""
    from src.model.checkpoint import CheckpointRing
    assert has_crc_trailer(CheckpointRing(tmp_path, "lstm", 2).save(small_cell(), 1, 5, {}))


def damaged_copy_of(path, folder):
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / Path(path).name
    shutil.copyfile(path, copy)
    for name in ("vocab.json", "config.yaml"):
        if (Path(path).parent / name).exists():
            shutil.copyfile(Path(path).parent / name, folder / name)
    return flip_weight_bytes(copy)


def _resume_args(tmp_path, run, shared):
    shutil.copytree(run, tmp_path / "run")
    from src.model.checkpoint import latest_checkpoint
    flip_weight_bytes(latest_checkpoint(tmp_path / "run", "lstm"))
    return tiny_args(tmp_path) + ["--resume", "true", "--preprocess_path", shared]


ENTRY_POINTS = {
    "eval.py": lambda t, run, shared: tiny_args(t) + [
        "--preprocess_path", shared,
        "--checkpoint_file", damaged_copy_of(run / "lstm-best.ckpt", t / "given")],
    "predict.py": lambda t, run, shared: [
        "--run_dir", run, "--checkpoint_file",
        damaged_copy_of(run / "lstm-best.ckpt", t / "given"), "good"],
    "predict.py on the shipped model": lambda t, run, shared: [
        "--run_dir", damaged_copy_of(ROOT / "model" / "lstm-best.ckpt", t / "model").parent,
        "great"],
    "export.py": lambda t, run, shared: tiny_args(t) + [
        "--checkpoint_file", damaged_copy_of(run / "lstm-best.ckpt", t / "given"),
        "--file_name", t / "out" / "lstm"],
    "train.py --init_checkpoint": lambda t, run, shared: tiny_args(t) + [
        "--preprocess_path", shared,
        "--init_checkpoint", damaged_copy_of(run / "lstm-best.ckpt", t / "given")],
    "train.py --resume": _resume_args,
}


@pytest.mark.parametrize("entry", ENTRY_POINTS, ids=list(ENTRY_POINTS))
def test_a_damaged_checkpoint_is_one_line_and_exit_2(entry, trained_run, prepared, tmp_path,
                                                    capfd):
    args = ENTRY_POINTS[entry](tmp_path, trained_run, prepared.folder.parent)
    result = run_in_process(entry.split()[0], *args, capfd=capfd)
    one_error_line(result, "is damaged", "CRC32")


# --- item 9: bounded reads ----------------------------------------------------------------
class Repeated:
    """A read()-able stream of `size` bytes: head, then unit repeated."""

    def __init__(self, unit, size, head=b""):
        self.head, self.block, self.left = head, unit * ((1 << 20) // len(unit) + 1), size

    def read(self, count=-1):
        count = self.left if count < 0 else min(count, self.left)
        chunk, self.head = self.head[:count], self.head[count:]
        while len(chunk) < count:
            chunk += self.block[:count - len(chunk)]
        self.left -= len(chunk)
        return chunk


HUGE = 256 << 20  # bytes of the one huge review: far above what any kept review costs


def _add(tar, name, data, size=None):
    info = tarfile.TarInfo(name)
    info.size = len(data) if size is None else size
    tar.addfile(info, Repeated(data, info.size) if size else __import__("io").BytesIO(data))


def archive_with_a_huge_review(path):
    """aclImdb_v1.tar.gz's layout: two short reviews a split and label, and one review of
    HUGE bytes (a phrase repeated; a few hundred kilobytes compressed)."""
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        for split in ("train", "test"):
            for label in ("pos", "neg"):
                for number in (1, 2):
                    _add(tar, f"aclImdb/{split}/{label}/{number}_7.txt", b"a fine short review")
        _add(tar, "aclImdb/train/pos/3_9.txt", b"a great film ", size=HUGE)
    return path


def peak_memory(function, *args):
    """(function's result, the peak of Python's allocations while it ran, in bytes)."""
    tracemalloc.start()
    try:
        result = function(*args)
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_huge_review_in_the_archive_is_read_only_as_far_as_it_is_kept(tmp_path):
    from src.data.readers.aclimdb import read_aclimdb
    splits, peak = peak_memory(read_aclimdb, archive_with_a_huge_review(tmp_path / "a.tar.gz"))
    assert peak < 32 << 20, f"{peak / 2**20:.0f} MiB"
    huge = next(r for r in splits["train"] if r.name.endswith("3_9.txt"))
    assert huge.text.startswith("a great film a great film") and \
        MAX_CHARS <= len(huge.text) <= 4 * MAX_CHARS
    assert len(splits["train"]) == 5 and len(splits["test"]) == 4


def test_a_huge_review_file_in_a_folder_is_read_only_as_far_as_it_is_kept(tmp_path):
    from src.data.readers.aclimdb import read_aclimdb
    root = tmp_path / "aclImdb"
    for split in ("train", "test"):
        for label in ("pos", "neg"):
            (root / split / label).mkdir(parents=True)
            (root / split / label / "1_7.txt").write_text("a fine short review")
    with open(root / "train" / "pos" / "2_9.txt", "wb") as huge:  # sparse: costs no disk
        huge.write(b"a great film " * 1000)
        huge.truncate(1 << 30)
    splits, peak = peak_memory(read_aclimdb, root)
    assert peak < 32 << 20, f"{peak / 2**20:.0f} MiB"
    assert len(splits["train"]) == 3


def test_a_table_or_tree_file_with_an_endless_line_is_refused_without_reading_it_whole(tmp_path):
    from src.core.config import load_config
    from src.data.readers.labelled_text import MAX_LINE
    from src.data.splits import read_dataset
    table = tmp_path / "reviews.csv"
    with open(table, "wb") as stream:
        stream.write(b"text,label\nfine,1\nbad,0\n")
        stream.write(b"x" * (64 << 20))
    trees = archive_of_trees(tmp_path / "trees.tar.gz")
    for config, words in (
            (load_config(tiny_args(tmp_path) + ["--dataset", "csv", "--data_path", str(table)]),
             f"reviews.csv: line 4 is longer than {MAX_LINE:,} characters"),
            (load_config(tiny_args(tmp_path) + ["--dataset", "sst", "--data_path", str(trees),
                                                "--sst_classes", "2"]),
             "train.txt: line 2 is longer than")):
        tracemalloc.start()
        try:
            with pytest.raises(UserError, match=words):
                read_dataset(config)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 32 << 20, f"{peak / 2**20:.0f} MiB"


def archive_of_trees(path):
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        for name in ("dev.txt", "test.txt"):
            _add(tar, f"trees/{name}", b"(3 (2 It) (4 works))\n")
        info = tarfile.TarInfo("trees/train.txt")
        info.size = HUGE
        tar.addfile(info, Repeated(b"(2 word) ", HUGE, head=b"(3 (2 It) (4 works))\n"))
    return path


def test_a_field_beyond_the_csv_limit_is_one_line():
    """csv's field limit (131,072 characters; 10 MB once MindSpore is imported) as one line."""
    import csv
    from src.data.readers.tables import table_rows
    limit = csv.field_size_limit(1000)
    try:
        with pytest.raises(UserError, match=r"reviews.csv:\d+: .*field larger than"):
            table_rows('text,label\n"' + "a" * 2000 + ',1\n', "reviews.csv", ",")
    finally:
        csv.field_size_limit(limit)


def test_a_table_line_longer_than_a_review_but_under_the_limit_is_read_whole(tmp_path):
    from src.data.readers.labelled_text import MAX_LINE, read_file_text
    path = tmp_path / "t.tsv"
    long = "word " * (MAX_CHARS // 2)                      # 2.5 x MAX_CHARS < MAX_LINE
    path.write_text(f"text\tlabel\n{long}\t1\n")
    assert len(long) < MAX_LINE and read_file_text(path).splitlines()[1] == f"{long}\t1"


@pytest.mark.parametrize("target", ["/dev/zero", "fifo"])
@pytest.mark.parametrize("key", ["aclimdb_path", "data_path"])
def test_a_dataset_path_that_is_no_file_or_folder_is_refused_in_one_line(target, key,
                                                                         tmp_path):
    if target == "fifo":
        target = tmp_path / "reviews.fifo"
        os.mkfifo(target)
    args = tiny_args(tmp_path) + [f"--{key}", target]
    if key == "data_path":
        args += ["--dataset", "csv"]
    result = run_script("train.py", *args, timeout=120)
    one_error_line(result, "neither a folder nor a regular file", f"--{key}")
