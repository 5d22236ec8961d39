"""The embedding table: GloVe vectors, word2vec trained on the training reviews, or random.

The table is cached beside the MindRecord files (Prepared.embedding_file), keyed by the
embedding settings, so a second run with the same settings starts at once.
"""
import hashlib
import json
import logging
import os
import time

import numpy as np

from .token_corpus import unlabelled_tokens
from ..core.errors import UserError
from ..core.files import atomic_path
from .glove import glove_source, load_glove
from ..core.progress import interactive
from .text import UNK

__all__ = ["build_embedding", "embedding_key", "ASCEND_MULTIPLE"]

ASCEND_MULTIPLE = 16  # DynamicRNN on Ascend wants input sizes in multiples of 16


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


def _glove_table(config, prepared, rng, log):
    vectors = load_glove(config.glove_path)
    if vectors.vector_size != config.embed_size:
        log(f"GloVe vectors are {vectors.vector_size}-d: the embedding takes their width "
            f"(embed_size {config.embed_size} applies to word2vec and random)")
    table, found = _table_from_vectors(prepared.vocab, vectors, rng)
    log(f"GloVe covers {found}/{len(prepared.vocab)} vocabulary words "
        f"({found / len(prepared.vocab):.1%})")
    return table


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


def _sentences(config, prepared, log):
    """The training reviews as word lists (tokenized once, by prepare) and the reviews of
    unlabelled_path. Words outside the vocabulary are left out: they get no row anyway."""
    token_lists = prepared.token_lists("train")
    if config.unlabelled_path:
        token_lists += unlabelled_tokens(config, prepared, log)
    words, unk = prepared.vocab.tokens, prepared.vocab.index[UNK]
    return [[words[i] for i in ids if i != unk] for ids in token_lists]


def _word2vec_table(config, prepared, rng, log):
    from gensim.models import Word2Vec
    sentences = _sentences(config, prepared, log)
    log(f"training word2vec ({config.embed_size}-d, {config.w2v_epochs} epochs) on "
        f"{len(sentences)} reviews")
    logging.getLogger("gensim").setLevel(logging.WARNING)
    model = Word2Vec(sentences=sentences, vector_size=config.embed_size, window=5,
                     min_count=config.min_freq, sg=1,
                     workers=config.w2v_workers or os.cpu_count() or 1,
                     epochs=config.w2v_epochs, seed=config.seed,
                     callbacks=[_Word2VecProgress(config.w2v_epochs, log)])
    table, found = _table_from_vectors(prepared.vocab, model.wv, rng)
    log(f"word2vec covers {found}/{len(prepared.vocab)} vocabulary words "
        f"({found / len(prepared.vocab):.1%})")
    return table


def _random_table(config, prepared, rng, log):
    table = rng.normal(0.0, 0.1, (len(prepared.vocab), config.embed_size)).astype(np.float32)
    table[0] = 0.0
    return table


BUILDERS = {"glove": _glove_table, "word2vec": _word2vec_table, "random": _random_table}


def _pad_columns_for_ascend(table, device_target):
    extra = -table.shape[1] % ASCEND_MULTIPLE if device_target == "Ascend" else 0
    return np.pad(table, ((0, 0), (0, extra))) if extra else table


def embedding_key(config):
    """Hash of the settings the table depends on (beyond the cache folder's own)."""
    settings = {"embedding": config.embedding, "seed": config.seed}
    if config.embedding == "glove":  # the file sets the width
        source = glove_source(config.glove_path)
        stat = source.stat() if source.exists() else None
        settings["glove"] = [str(source.resolve()), stat and stat.st_size,
                             stat and stat.st_mtime_ns]
    else:
        settings["embed_size"] = config.embed_size
    if config.embedding == "word2vec":
        settings.update(w2v_epochs=config.w2v_epochs, extra=config.unlabelled_path)
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]


def _wait_for(path, log, timeout):
    log(f"waiting for rank 0 to write the embedding table ({path})")
    started = time.monotonic()
    while not path.exists():
        if time.monotonic() - started > timeout:
            raise UserError(f"rank 0 did not write {path} within {timeout:.0f} s; see rank "
                            f"0's log (worker_0.log) for its error")
        time.sleep(0.5)


def build_embedding(config, prepared, log=print, build=True, timeout=7200.0):
    """The [vocab, embed_size] float32 table for this config, built once then reused.

    Args:
        config: uses embedding, glove_path, embed_size, w2v_* and device_target; with a
            encoder_checkpoint (train.py) the table is zeros, to be replaced by the encoder's.
        prepared: the Prepared data (its vocabulary and cache folder).
        log: where to report coverage.
        build: False for data-parallel ranks other than 0: wait for rank 0's table.

    Returns:
        numpy float32 array; on Ascend its width is padded with zeros to a multiple of 16.
    """
    if config.encoder_checkpoint:  # train.py: the encoder (or --resume's checkpoint) brings it
        log(f"the embedding comes from {config.encoder_checkpoint}")
        table = np.zeros((len(prepared.vocab), config.embed_size), np.float32)
        return _pad_columns_for_ascend(table, config.device_target)
    cache = prepared.embedding_file(config.embedding, embedding_key(config))
    if not cache.exists() and not build:
        _wait_for(cache, log, timeout)
    if cache.exists():
        log(f"reusing embedding table {cache}")
        table = np.load(cache, allow_pickle=False)
    else:
        rng = np.random.default_rng(config.seed)
        table = BUILDERS[config.embedding](config, prepared, rng, log)
        with atomic_path(cache, suffix=".npy", what="--preprocess_path") as tmp:
            np.save(tmp, table, allow_pickle=False)
    return _pad_columns_for_ascend(table, config.device_target)
