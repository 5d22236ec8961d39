"""The test reviews of data other than a run's own, for eval.py: a user's CSV/TSV file
(--data_path FILE) whole, every row, nothing split off; or the test split of another dataset
folder. Either is encoded with the run's vocabulary, which the checkpoint was trained with."""
from pathlib import Path

from .mindrecord import write_mindrecord
from .readers.labelled_text import decode
from .readers.tables import read_table
from .splits import labelled_parts
from .text import tokenize

__all__ = ["table_file", "test_reviews", "write_test_set"]


def table_file(config):
    """config.data_path when it names one CSV/TSV file, else None."""
    path = Path(config.data_path) if config.data_path else None
    if path and path.suffix.lower() in (".csv", ".tsv") and path.is_file():
        return path
    return None


def test_reviews(config):
    """Every row of the table file, else the configured dataset's test split."""
    path = table_file(config)
    if path is None:
        return labelled_parts(config)["test"]
    return read_table(decode(path.read_bytes(), path), str(path), config)


def write_test_set(config, vocab, folder):
    """test_reviews(config) as folder/test.mindrecord, encoded with vocab; returns its path."""
    reviews = test_reviews(config)
    target = Path(folder) / "test.mindrecord"
    write_mindrecord(target, [tokenize(r.text) for r in reviews], reviews, vocab, config)
    return target
