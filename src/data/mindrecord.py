"""Reviews -> tokens -> vocabulary -> MindRecord files, cached by a hash of what they depend on;
and the batches MindSpore trains on.

`prepare(config)` returns the Prepared folder (train/valid/test MindRecord files, vocab.json,
the training reviews' token ids, the embedding tables built later); it rebuilds only when the
reviews or the data settings change, or when a file no longer matches the SHA-256 digest its
meta.json recorded (a damaged cache is rebuilt, never read). `create_dataset(...)` reads one
split back as batches.
"""
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import mindspore.dataset as ds
import numpy as np
from mindspore.mindrecord import FileWriter

from . import cache_check
from .cache_check import dataset_files, require_split
from .readers.aclimdb import LABELS, SPLITS
from .buckets import EVAL_TOKENS, bucket_batch_sizes, bucket_boundaries, eval_batch_size
from .token_corpus import fingerprint, read_tokens, text_hash, write_tokens
from .splits import dataset_settings, labelled_parts, split_seed
from ..core.errors import UserError
from ..core.files import build_folder
from .glove import glove_words
from ..core.progress import progress
from .identity import swap_identities
from .text import Vocab, tokenize

__all__ = ["prepare", "Prepared", "create_dataset", "train_batches", "eval_batches", "data_key",
           "batches_per_epoch", "write_mindrecord", "check_folder", "require_split",
           "dataset_files"]

SCHEMA = {"ids": {"type": "int32", "shape": [-1]}, "length": {"type": "int32"},
          "label": {"type": "int32"}, "target": {"type": "float32", "shape": [-1]}}
FORMAT_VERSION = 4  # bump when the cache's files, the MindRecord layout or the tokenizer change
LABELLED = tuple(f"{split}/{label}/*.txt" for split in SPLITS for label in LABELS)


@dataclass
class Prepared:
    """A preprocessed cache folder and its vocabulary; the one place that names its files."""
    folder: Path
    vocab: Vocab

    @property
    def vocab_file(self):
        return self.folder / "vocab.json"

    def mindrecord(self, split):
        return self.folder / f"{split}.mindrecord"

    def token_file(self, split):
        """Every review of split as full-length token ids (word2vec, pretraining)."""
        return self.folder / f"{split}.tokens.npz"

    def embedding_file(self, kind, key):
        return self.folder / f"embedding-{kind}-{key}.npy"

    @property
    def test_hash_file(self):
        """A hash of each test review's text, so unlabelled copies of them can be left out."""
        return self.folder / "test.sha1"

    def unlabelled_token_file(self, key):
        """The unlabelled reviews of one folder as token ids (its key: the folder's identity)."""
        return self.folder / f"unlabelled-{key}.tokens.npz"

    def token_lists(self, split):
        """The ids of each review of split, full length, unknown words as <unk>."""
        try:
            return read_tokens(self.token_file(split))
        except FileNotFoundError:
            raise UserError(cache_check.vanished(self.token_file(split))) from None


def encoder_vocab(config):
    """The vocabulary of the encoder a run starts from (pretrain_init_encoder, else
    encoder_checkpoint): the vocab.json beside it; None: the run builds its own."""
    start = config.pretrain_init_encoder or config.encoder_checkpoint
    path = Path(start).parent / "vocab.json" if start else None
    return Vocab.load(path) if path and path.is_file() else None


def data_key(config):
    """Hash of everything the cache folder's files depend on."""
    settings = {"format": FORMAT_VERSION, "dataset": config.dataset, "max_len": config.max_len,
                "truncate": config.truncate, "min_freq": config.min_freq,
                "vocab_size": config.vocab_size, "valid_split": config.valid_split,
                "seed": split_seed(config)}
    if config.dataset == "aclimdb":  # the labelled reviews only (train/unsup is not read)
        settings["source"] = fingerprint(config.aclimdb_path, LABELLED)
    else:
        settings.update(dataset_settings(config),
                        source=fingerprint(config.data_path, ("**/*",)))
    if config.identity_swaps:
        settings["identity_swaps"] = True
    if config.mix_sst_path:
        settings["mix_sst"] = [fingerprint(config.mix_sst_path, ("**/*",)),
                               config.mix_sst_phrases]
    if config.vocab_from_glove and config.embedding == "glove":
        glove = Path(config.glove_path).resolve()
        stat = glove.stat() if glove.exists() else None  # a missing file fails later, clearly
        settings["vocab_from_glove"] = [str(glove), stat and stat.st_size, stat and stat.st_mtime_ns]
    if (vocab := encoder_vocab(config)) is not None:
        settings["vocab"] = vocab.digest()
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def target_of(review, num_classes):
    """The class distribution training aims at: one-hot of the label, or (p(negative),
    p(positive)) of a graded review's target."""
    if review.target is not None:
        return np.array([1 - review.target, review.target], np.float32)
    return np.eye(num_classes, dtype=np.float32)[review.label]


def _write_rows(path, token_lists, reviews, vocab, config):
    writer = FileWriter(str(path), shard_num=1, overwrite=True)
    writer.add_schema(SCHEMA, "reviews")
    rows = []
    for tokens, review in zip(token_lists, reviews):
        ids = vocab.encode(tokens, config.max_len, config.truncate)
        rows.append({"ids": ids, "length": np.int32(len(ids)), "label": np.int32(review.label),
                     "target": target_of(review, config.num_classes)})
        if len(rows) == 2048:
            writer.write_raw_data(rows)
            rows = []
    if rows:
        writer.write_raw_data(rows)
    writer.commit()


def write_mindrecord(path, token_lists, reviews, vocab, config):
    """Write reviews (their token lists, encoded with vocab) as one MindRecord file."""
    try:
        _write_rows(path, token_lists, reviews, vocab, config)
    except RuntimeError as err:  # MindRecord reports a full disk this way
        reason = next((line.strip() for line in str(err).splitlines() if "[ERROR]" in line),
                      str(err).splitlines()[0])
        raise UserError(f"cannot write {path.name} into {path.parent.parent} ({reason}); free "
                        f"disk space or pass --preprocess_path to another folder") from None


def _built_vocab(config, train_tokens):
    vocab = Vocab.build(train_tokens, config.min_freq, config.vocab_size)
    if len(vocab) <= 2:
        raise UserError(f"the vocabulary holds no word: none of the training words occurs "
                        f"min_freq {config.min_freq} times; lower --min_freq")
    if config.vocab_from_glove and config.embedding == "glove":
        vocab = vocab.extended(glove_words(config.glove_path), config.vocab_size)
    return vocab


def _build(config, folder, key):
    """Read, tokenize, build the vocabulary and write every split into folder."""
    parts = labelled_parts(config)
    tokens = {name: [tokenize(r.text) for r in progress(reviews, f"tokenize {name}")]
              for name, reviews in parts.items()}
    if config.identity_swaps:  # the training text only: validation and test stay as written
        tokens["train"] = [swap_identities(words, split_seed(config) + i)
                           for i, words in enumerate(tokens["train"])]
    vocab = encoder_vocab(config) or _built_vocab(config, tokens["train"])
    names = Prepared(folder, vocab)
    vocab.save(names.vocab_file)
    for name, reviews in parts.items():
        if reviews:
            write_mindrecord(names.mindrecord(name), tokens[name], reviews, vocab, config)
    write_tokens(names.token_file("train"), tokens["train"], vocab)
    names.test_hash_file.write_text("".join(f"{text_hash(r.text)}\n" for r in parts["test"]))
    counts = {name: len(reviews) for name, reviews in parts.items()}
    digests = cache_check.folder_digests(folder)
    meta = {"key": key, "counts": counts, "vocab": len(vocab), "digests": digests}
    (folder / "meta.json").write_text(json.dumps(meta))  # last: it marks the folder complete
    return counts


def check_folder(folder):
    """None if folder is a complete cache whose files all match the digests its meta.json
    records; else why not, for a log line (see cache_check.check_folder)."""
    return cache_check.check_folder(folder, _required_files)


def _required_files(counts):
    """The names of the files a cache of these review counts must hold."""
    names = Prepared(Path(), None)
    files = [names.vocab_file, names.token_file("train"), names.test_hash_file]
    files += [path for split, count in counts.items() if count
              for path in (names.mindrecord(split), Path(f"{names.mindrecord(split)}.db"))]
    return [path.name for path in files]


def _is_complete(folder):
    """A cache folder is read only if check_folder finds nothing wrong with it."""
    return check_folder(folder) is None


def _build_into(config, root, folder, log):
    """Build under a temporary name, then rename into place (another process may win)."""
    counts, placed = build_folder(
        folder, lambda building: _build(config, building, folder.name),
        lambda err: f"cannot write preprocessed data into {root} ({err.strerror}); free disk "
                    f"space or pass --preprocess_path to another folder",
        lambda err: f"cannot write to preprocess_path {root} ({err.strerror}); pass "
                    f"--preprocess_path to a writable folder",
        finished=_is_complete)
    if not placed:
        log(f"another process prepared {folder} first; using it")
    log(f"preprocessed {counts} reviews into {folder}")


def prepare(config, log=print, build=True, timeout=7200.0):
    """Make (or reuse) the MindRecord files and vocabulary for this config.

    build: False for data-parallel ranks other than 0: they wait for rank 0's folder.

    Returns:
        Prepared. A folder is reused only if its meta.json, written last, names the folder's
        key and every file matches the size and SHA-256 digest meta.json records (see
        check_folder); any other is rebuilt, with a log line saying why. Folders are built
        under a temporary name and renamed, so a killed run never leaves a half-written cache
        that a later run would read. preprocess_path may also be a prepared folder itself (the
        zoo's PREPROCESS_DIR): a damaged one is refused (UserError), as it cannot be rebuilt
        in place; one written before digests is read unchecked.
    """
    root = Path(config.preprocess_path)
    if cache_check.names_itself(root):
        damage = check_folder(root)
        if damage not in (None, cache_check.NO_DIGESTS):
            raise UserError(f"preprocessed data in {root} is damaged ({damage}); preprocess "
                            f"again: pass --preprocess_path to another folder (or delete "
                            f"{root}) with the dataset's path")
        unchecked = " (written by an older version: no digests to check)" if damage else ""
        log(f"reading preprocessed data in {root}{unchecked}")
        return _load(root)
    folder = root / data_key(config)
    damage = check_folder(folder)
    if damage is None:
        log(f"reusing preprocessed data in {folder}")
    elif build:
        if damage == cache_check.NO_DIGESTS:
            log(f"preprocessed data in {folder}: {damage}; rebuilding it")
        elif damage != cache_check.ABSENT:
            log(f"preprocessed data in {folder} is damaged ({damage}); rebuilding it")
        _build_into(config, root, folder, log)
    else:
        cache_check.wait_for(folder, _is_complete, log, timeout)
    return _load(folder)


def _load(folder):
    return Prepared(folder, Vocab.load(Prepared(folder, None).vocab_file))


def create_dataset(path, batch_size, max_len, bucket_width=0, shuffle=False, seed=0,
                   drop_remainder=False, skip_batches=0, num_shards=None, shard_id=None,
                   batch_tokens=0, labels="label"):
    """Batches of (ids, length, label) from one MindRecord file, or (ids, length, target).

    Args:
        path: a .mindrecord file written by prepare().
        batch_size: reviews per batch (fewer in buckets beyond 10 widths, see
            src/data/buckets.py).
        max_len: reviews were cut to this many tokens; batches are padded with 0 up to it,
            or, with bucket_width > 0, only up to the next of buckets.padded_lengths() above the
            longest review of similar length (far less padding, same results).
        shuffle, seed: a seeded global shuffle, so an epoch's order can be replayed exactly.
        drop_remainder: drop the last incomplete batch of each length bucket.
        skip_batches: leave out the first batches (to resume mid-epoch).
        num_shards, shard_id: read one shard for data-parallel training.
        batch_tokens: with buckets, at most this many tokens a batch (0: batch_size x 10
            widths).
        labels: "label" (the class, for evaluation) or "target" (the class distribution
            training aims at).

    Returns:
        A mindspore.dataset.Dataset with columns ids [B, T] int32, length [B] int32,
        label [B] int32 (or target [B, classes] float32).
    """
    require_split(path)
    if shuffle:
        ds.config.set_seed(seed)
    dataset = ds.MindDataset(str(path), columns_list=["ids", "length", labels],
                             shuffle=shuffle, num_shards=num_shards, shard_id=shard_id)
    if bucket_width:
        dataset = dataset.bucket_batch_by_length(
            ["ids"], bucket_boundaries(bucket_width, max_len),
            bucket_batch_sizes(batch_size, bucket_width, max_len, batch_tokens),
            pad_info={"ids": ([None], 0)}, pad_to_bucket_boundary=True,
            drop_remainder=drop_remainder)
    else:
        dataset = dataset.padded_batch(batch_size, drop_remainder=drop_remainder,
                                       pad_info={"ids": ([max_len], 0)})
    if skip_batches:
        dataset = dataset.skip(skip_batches)
    return dataset


def eval_batches(config, path):
    """The batches of one split for a pass without gradient: in order, length buckets of at
    most buckets.eval_batch_size reviews and buckets.EVAL_TOKENS padded tokens."""
    return create_dataset(path, eval_batch_size(config.batch_size), config.max_len,
                          config.bucket_width, batch_tokens=EVAL_TOKENS)


def train_batches(config, prepared, epoch, skip_batches=0, num_shards=None, shard_id=None):
    """One epoch of shuffled training batches (seeded by seed + epoch; the last incomplete
    batch of each length bucket dropped), of one shard in data-parallel runs."""
    return create_dataset(prepared.mindrecord("train"), config.batch_size, config.max_len,
                          config.bucket_width, shuffle=True, seed=config.seed + epoch,
                          drop_remainder=True, skip_batches=skip_batches,
                          num_shards=num_shards, shard_id=shard_id,
                          batch_tokens=config.batch_tokens, labels="target")


def batches_per_epoch(config, prepared, num_shards=None, shard_id=None, epoch=0):
    """The batches of one training epoch (of this shard); at least 1. With length buckets
    it varies a little with the epoch's shuffle (the remainders dropped per bucket)."""
    dataset = train_batches(config, prepared, epoch, 0, num_shards, shard_id)
    return max(dataset.get_dataset_size(), 1)
