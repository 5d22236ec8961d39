"""aclImdb (or another dataset) -> tokens -> vocabulary -> MindRecord files, cached by a hash.

config.dataset picks the reader: aclimdb here, phrases_tsv, csv and sst in src/datasets.py.

`prepare(config)` returns the folder holding train/valid/test MindRecord files, vocab.json and
the embedding table; it rebuilds only when the reviews or the data settings change.
`create_dataset(...)` reads one split back as batches for MindSpore.
"""
import codecs
import hashlib
import json
import os
import random
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import mindspore.dataset as ds
from mindspore.mindrecord import FileWriter

from src.checkpoint import left_by_dead_process
from src.config import UserError
from src.datasets import Review, dataset_settings, read_dataset, split_by_group
from src.text import MAX_CHARS, Vocab, tokenize
from src.progress import progress

__all__ = ["Review", "read_aclimdb", "labelled_parts", "prepare", "Prepared", "create_dataset"]

LABELS = ("neg", "pos")
SPLITS = ("train", "test")
SCHEMA = {"ids": {"type": "int32", "shape": [-1]}, "length": {"type": "int32"},
          "label": {"type": "int32"}}
FORMAT_VERSION = 1  # bump when the MindRecord layout or the tokenizer changes


@dataclass
class Prepared:
    """What preprocessing produced: a cache folder and the vocabulary in it."""
    folder: Path
    vocab: Vocab

    def mindrecord(self, split):
        return self.folder / f"{split}.mindrecord"


def _decode(raw, name):
    """The review's text; only the first MAX_CHARS characters count, so only those are decoded
    (a character cut in half at the end is dropped, a bad byte before it is an error)."""
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(raw[:4 * MAX_CHARS], final=False)
    except UnicodeDecodeError as err:
        raise UserError(f"review {name} is not UTF-8 (bad byte at offset {err.start}); "
                        f"re-save it as UTF-8 or delete it") from None
    if not text.strip():
        raise UserError(f"review {name} is empty; delete it or give it text")
    return text


def _review_id(name):
    stem = Path(name).stem
    return int(stem.split("_")[0]) if stem.split("_")[0].isdigit() else 0


def _sorted(reviews):
    return sorted(reviews, key=lambda r: (r.label, _review_id(r.name), r.name))


def _read_folder(root):
    """{split: [Review]} from an unpacked aclImdb folder."""
    splits = {}
    for split in SPLITS:
        reviews = []
        for label, label_name in enumerate(LABELS):
            folder = root / split / label_name
            if not folder.is_dir():
                raise UserError(f"{root} has no {split}/{label_name}/ folder; point "
                                f"--aclimdb_path at the aclImdb folder that holds "
                                f"train/{{pos,neg}} and test/{{pos,neg}}")
            for path in folder.glob("*.txt"):
                name = f"{split}/{label_name}/{path.name}"
                reviews.append(Review(_decode(path.read_bytes(), name), label, name))
        splits[split] = _sorted(reviews)
    return splits


def _read_archive(archive):
    """{split: [Review]} straight from aclImdb_v1.tar.gz, without unpacking it."""
    splits = {split: [] for split in SPLITS}
    try:
        with tarfile.open(archive) as tar:
            for member in tar:
                parts = member.name.split("/")
                if (member.isfile() and len(parts) == 4 and parts[1] in SPLITS
                        and parts[2] in LABELS and parts[3].endswith(".txt")):
                    name = "/".join(parts[1:])
                    raw = tar.extractfile(member).read()
                    splits[parts[1]].append(Review(_decode(raw, name), LABELS.index(parts[2]), name))
    except (tarfile.TarError, OSError, EOFError) as err:
        reason = str(err).splitlines()[0].rstrip(":") if str(err) else type(err).__name__
        raise UserError(f"cannot read archive {archive} ({reason}); download aclImdb_v1.tar.gz "
                        f"again or unpack it and pass the folder") from None
    for split in SPLITS:
        if not splits[split]:
            raise UserError(f"archive {archive} holds no aclImdb/{split}/pos|neg reviews; "
                            f"is it aclImdb_v1.tar.gz?")
    return {split: _sorted(reviews) for split, reviews in splits.items()}


def read_aclimdb(path):
    """Read every labelled review of aclImdb.

    Args:
        path: the unpacked aclImdb folder, or the aclImdb_v1.tar.gz archive itself.

    Returns:
        {"train": [Review], "test": [Review]}, each sorted by label then review id.
    """
    path = Path(path)
    if not path.exists():
        raise UserError(f"dataset path {path} does not exist; pass --aclimdb_path pointing at "
                        f"the aclImdb folder or aclImdb_v1.tar.gz")
    splits = _read_folder(path) if path.is_dir() else _read_archive(path)
    for split, reviews in splits.items():
        if len({r.label for r in reviews}) < 2:
            raise UserError(f"{path}: {split} has reviews of one label only; both pos and neg "
                            f"need reviews")
    return splits


def _source_fingerprint(path, pattern="*.txt"):
    """Cheap identity of the raw data: names, sizes and mtimes (not contents)."""
    path = Path(path).resolve()
    if not path.exists():
        raise UserError(f"dataset path {path} does not exist; pass --aclimdb_path (aclimdb) "
                        f"or --data_path (other datasets) to the data")
    digest = hashlib.sha256(str(path).encode())
    files = sorted(path.rglob(pattern)) if path.is_dir() else [path]
    for file in files:
        stat = file.stat()
        digest.update(f"{file.relative_to(path.parent)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def data_key(config):
    """Hash of everything the MindRecord files depend on."""
    settings = {"format": FORMAT_VERSION, "dataset": config.dataset, "max_len": config.max_len,
                "truncate": config.truncate,
                "min_freq": config.min_freq, "vocab_size": config.vocab_size,
                "valid_split": config.valid_split, "seed": config.seed}
    if config.dataset == "aclimdb":
        settings["source"] = _source_fingerprint(config.aclimdb_path)
    else:
        settings.update(dataset_settings(config), source=_source_fingerprint(config.data_path, "*"))
    if config.vocab_from_glove and config.embedding == "glove":
        glove = Path(config.glove_path).resolve()
        stat = glove.stat() if glove.exists() else None  # a missing file fails later, clearly
        settings["vocab_from_glove"] = [str(glove), stat and stat.st_size, stat and stat.st_mtime_ns]
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def glove_words(path):
    """The words of a GloVe file in file order (most frequent first in Stanford's files)."""
    from src.embeddings import load_glove  # src.embeddings imports this module
    return load_glove(path).index_to_key


def split_validation(reviews, fraction, seed):
    """Cut a seeded validation set off the training reviews: label-balanced, or, when the
    reviews carry groups (a phrase's sentence), whole groups so none sits on both sides."""
    if reviews and reviews[0].group is not None:
        return split_by_group(reviews, fraction, seed)
    train, valid = [], []
    for label in sorted({r.label for r in reviews}):
        of_label = [r for r in reviews if r.label == label]
        random.Random(seed + label).shuffle(of_label)
        cut = int(round(len(of_label) * fraction))
        valid += of_label[:cut]
        train += of_label[cut:]
    return train, valid


def _write_mindrecord(path, token_lists, labels, vocab, config):
    try:
        _write_rows(path, token_lists, labels, vocab, config)
    except RuntimeError as err:  # MindRecord reports a full disk this way
        reason = next((line.strip() for line in str(err).splitlines() if "[ERROR]" in line),
                      str(err).splitlines()[0])
        raise UserError(f"cannot write {path.name} into {path.parent.parent} ({reason}); free "
                        f"disk space or pass --preprocess_path to another folder") from None


def _write_rows(path, token_lists, labels, vocab, config):
    writer = FileWriter(str(path), shard_num=1, overwrite=True)
    writer.add_schema(SCHEMA, "reviews")
    rows = []
    for tokens, label in zip(token_lists, labels):
        ids = vocab.encode(tokens, config.max_len, config.truncate)
        rows.append({"ids": ids, "length": np.int32(len(ids)), "label": np.int32(label)})
        if len(rows) == 2048:
            writer.write_raw_data(rows)
            rows = []
    if rows:
        writer.write_raw_data(rows)
    writer.commit()


def labelled_parts(config):
    """{"train", "valid", "test": [Review]} of the configured dataset.

    Validation is the dataset's own (SST dev) or cut from train (valid_split). Without a
    labelled test set (Kaggle's test.tsv has no labels) a second, equally sized share of train
    is held out as test, by group too, so test accuracy is on sentences never trained on.
    """
    if config.dataset == "aclimdb":
        splits = read_aclimdb(config.aclimdb_path)
        splits["valid"] = None
    else:
        splits = read_dataset(config)
    train, valid, test = splits["train"], splits["valid"], splits["test"]
    share = config.valid_split
    if not test:
        if not 0 < share < 0.5:
            raise UserError(f"dataset {config.dataset} has no labelled test file, so valid and "
                            f"test are each cut from train by valid_split, which is {share}; "
                            f"pass --valid_split 0.1")
        train, test = split_validation(train, share, config.seed + 1000)
        share = share / (1 - share)
    if valid is None:
        train, valid = split_validation(train, share, config.seed)
    return {"train": train, "valid": valid, "test": test}


def _build(config, folder):
    """Read, tokenize, build the vocabulary and write every split into folder."""
    parts = labelled_parts(config)
    tokens = {name: [tokenize(r.text) for r in progress(reviews, f"tokenize {name}")]
              for name, reviews in parts.items()}
    vocab = Vocab.build(tokens["train"], config.min_freq, config.vocab_size)
    if len(vocab) <= 2:
        raise UserError(f"the vocabulary holds no word: none of the training words occurs "
                        f"min_freq {config.min_freq} times; lower --min_freq")
    if config.vocab_from_glove and config.embedding == "glove":
        vocab = vocab.extended(glove_words(config.glove_path), config.vocab_size)
    vocab.save(folder / "vocab.json")
    for name, reviews in parts.items():
        if reviews:
            _write_mindrecord(folder / f"{name}.mindrecord", tokens[name],
                              [r.label for r in reviews], vocab, config)
    counts = {name: len(reviews) for name, reviews in parts.items()}
    meta = {"key": folder.name.split(".building-")[0], "counts": counts, "vocab": len(vocab)}
    (folder / "meta.json").write_text(json.dumps(meta))
    return counts


def _is_complete(folder):
    """A cache folder is read only if its meta.json (written last) names this folder's key
    and every file it lists is there; anything else is rebuilt."""
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        counts = meta["counts"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    files = [f"{name}.mindrecord{ext}" for name, count in counts.items() if count
             for ext in ("", ".db")]
    return meta.get("key") == folder.name and all((folder / f).is_file()
                                                   for f in ["vocab.json", *files])


def _remove_dead_builds(folder):
    """Delete folder.building-PID trees of killed runs (live ones belong to other workers)."""
    for stale in folder.parent.glob(f"{folder.name}.building-*"):
        if left_by_dead_process(stale):
            shutil.rmtree(stale, ignore_errors=True)


def prepare(config, log=print):
    """Make (or reuse) the MindRecord files and vocabulary for this config.

    Args:
        config: the run's Config (uses the data keys).
        log: where to report progress lines.

    Returns:
        Prepared. A folder is reused only if its meta.json, written last, names the folder's
        key and every file it lists exists; folders are built under a temporary name and
        renamed, so a killed run never leaves a half-written cache that a later run would read.
    """
    root = Path(config.preprocess_path)
    if _is_complete(root):  # a prepared folder itself (the zoo's PREPROCESS_DIR)
        log(f"reading preprocessed data in {root}")
        return Prepared(root, Vocab.load(root / "vocab.json"))
    folder = root / data_key(config)
    if _is_complete(folder):
        log(f"reusing preprocessed data in {folder}")
        return Prepared(folder, Vocab.load(folder / "vocab.json"))
    try:
        root.mkdir(parents=True, exist_ok=True)
        _remove_dead_builds(folder)
        building = Path(f"{folder}.building-{os.getpid()}")
        shutil.rmtree(building, ignore_errors=True)
        building.mkdir()
    except OSError as err:
        raise UserError(f"cannot write to preprocess_path {root} ({err.strerror}); pass "
                        f"--preprocess_path to a writable folder") from None
    try:
        counts = _build(config, building)
        if folder.exists() and not _is_complete(folder):
            shutil.rmtree(folder, ignore_errors=True)
        try:
            building.rename(folder)
        except OSError:
            if not _is_complete(folder):
                raise
            log(f"another process prepared {folder} first; using it")
    except OSError as err:
        raise UserError(f"cannot write preprocessed data into {root} ({err.strerror}); free "
                        f"disk space or pass --preprocess_path to another folder") from None
    finally:
        shutil.rmtree(building, ignore_errors=True)
    log(f"preprocessed {counts} reviews into {folder}")
    return Prepared(folder, Vocab.load(folder / "vocab.json"))


def _bucket_boundaries(width, max_len):
    return list(range(width + 1, max_len + 1, width)) + [max_len + 1]


def create_dataset(path, batch_size, max_len, bucket_width=0, shuffle=False, seed=0,
                   drop_remainder=False, skip_batches=0, num_shards=None, shard_id=None):
    """Batches of (ids, length, label) from one MindRecord file.

    Args:
        path: a .mindrecord file written by prepare().
        batch_size: reviews per batch.
        max_len: reviews were cut to this many tokens; batches are padded with 0 up to it,
            or, with bucket_width > 0, only up to the next multiple of bucket_width above
            the longest review of similar length (far less padding, same results).
        shuffle, seed: a seeded global shuffle, so an epoch's order can be replayed exactly.
        drop_remainder: drop the last incomplete batch of each length bucket.
        skip_batches: leave out the first batches (to resume mid-epoch).
        num_shards, shard_id: read one shard for data-parallel training.

    Returns:
        A mindspore.dataset.Dataset with columns ids [B, T] int32, length [B] int32,
        label [B] int32.
    """
    if shuffle:
        ds.config.set_seed(seed)
    dataset = ds.MindDataset(str(path), columns_list=["ids", "length", "label"],
                             shuffle=shuffle, num_shards=num_shards, shard_id=shard_id)
    if bucket_width:
        boundaries = _bucket_boundaries(bucket_width, max_len)
        dataset = dataset.bucket_batch_by_length(
            ["ids"], boundaries, [batch_size] * (len(boundaries) + 1),
            pad_info={"ids": ([None], 0)}, pad_to_bucket_boundary=True,
            drop_remainder=drop_remainder)
    else:
        dataset = dataset.padded_batch(batch_size, drop_remainder=drop_remainder,
                                       pad_info={"ids": ([max_len], 0)})
    if skip_batches:
        dataset = dataset.skip(skip_batches)
    return dataset
