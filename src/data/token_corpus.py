"""The reviews as token ids, for word2vec and pretraining: the files prepare() stores for the
training reviews, and the unlabelled reviews (tokenized once, cached beside them) without the
copies of test reviews that aclImdb's unlabelled set holds (the test split is never learned
from, not even as unlabelled text)."""
import hashlib
from pathlib import Path

import numpy as np

from .readers.aclimdb import read_text_folder
from ..core.errors import UserError
from ..core.files import atomic_path
from ..core.progress import progress
from .text import UNK, tokenize

__all__ = ["write_tokens", "read_tokens", "text_hash", "unlabelled_tokens", "fingerprint"]


def fingerprint(path, patterns=("**/*.txt",)):
    """Cheap identity of the raw data: names, sizes and mtimes (not contents)."""
    path = Path(path).resolve()
    if not path.exists():
        raise UserError(f"dataset path {path} does not exist; pass --aclimdb_path (aclimdb) "
                        f"or --data_path (other datasets) to the data")
    digest = hashlib.sha256(str(path).encode())
    files = sorted({file for pattern in patterns for file in path.glob(pattern)}) \
        if path.is_dir() else [path]
    for file in files:
        stat = file.stat()
        digest.update(f"{file.relative_to(path.parent)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def text_hash(text):
    return hashlib.sha1(text.strip().encode("utf-8")).hexdigest()


def write_tokens(path, token_lists, vocab):
    """Every review's ids (unknown words as <unk>) into one .npz: ids and offsets."""
    unk = vocab.index[UNK]
    ids = [np.asarray([vocab.index.get(t, unk) for t in tokens], np.int32)
           for tokens in token_lists]
    offsets = np.cumsum([0] + [len(row) for row in ids]).astype(np.int64)
    np.savez(path, ids=np.concatenate(ids) if ids else np.zeros(0, np.int32), offsets=offsets)


def read_tokens(path):
    """The ids of each review stored by write_tokens, as a list of arrays."""
    with np.load(path, allow_pickle=False) as stored:
        ids, offsets = stored["ids"], stored["offsets"]
    return np.split(ids, offsets[1:-1])


def unlabelled_tokens(config, prepared, log=print):
    """The reviews of config.unlabelled_path as token id lists of the prepared vocabulary
    (unknown words as <unk>), tokenized once and cached in the prepared folder."""
    if not Path(config.unlabelled_path).is_dir():
        raise UserError(f"unlabelled_path {config.unlabelled_path} is not a folder; pass the "
                        f"folder of unlabelled reviews (aclImdb/train/unsup) or leave it empty")
    source = "without-test-copies:" + fingerprint(config.unlabelled_path)
    path = prepared.unlabelled_token_file(hashlib.sha256(source.encode()).hexdigest()[:12])
    if path.exists():
        log(f"reusing the unlabelled reviews' tokens {path}")
        return read_tokens(path)
    test = set(prepared.test_hash_file.read_text().split())
    texts = read_text_folder(config.unlabelled_path, "unlabelled_path")
    kept = [text for text in texts if text_hash(text) not in test]  # never the test reviews
    tokens = [tokenize(text) for text in progress(kept, "tokenize unlabelled")]
    with atomic_path(path, suffix=".npz", what="--preprocess_path") as tmp:
        write_tokens(tmp, tokens, prepared.vocab)
    log(f"tokenized {len(kept)} unlabelled reviews into {path} (left out "
        f"{len(texts) - len(kept)} copies of test reviews)")
    return read_tokens(path)
