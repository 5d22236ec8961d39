"""predict.py's command line: reviews and --key value words apart, the run's config.yaml as
the base config, the checks every review passes, and a Kaggle submission CSV (rows.py reads
and writes the reviews themselves)."""
import csv
from pathlib import Path

from ..data.splits import read_unlabelled
from ..core.errors import UserError
from ..core.files import atomic_path
from ..core.run_folder import SHIPPED, run_config_first

__all__ = ["check_reviews", "split_arguments", "with_run_config", "write_submission",
           "submission_from"]


def check_reviews(texts):
    """texts as a list, or the UserError predict.py gives for a review that is not text or is
    empty (the Python classifier raises the same)."""
    texts = list(texts)
    for number, text in enumerate(texts, 1):
        if not isinstance(text, str):
            raise UserError(f"review argument {number} is a {type(text).__name__}, not text; "
                            f"pass strings")
        if not text.strip():
            raise UserError(f"review argument {number} is empty; give it text")
    return texts


def split_arguments(argv):
    """Split predict.py's words into config words (--key value) and review texts.

    Every word after a bare "--" is a review, so a review may itself start with "--".
    """
    flags, texts, words = [], [], list(argv)
    while words:
        word = words.pop(0)
        if word == "--":
            texts += words
            break
        if word.startswith("--") and len(word) > 2:
            key, equals, value = word.partition("=")
            flags += [key, value] if equals else [key] + words[:1]
            words = words if equals else words[1:]
        else:
            texts.append(word)
    return flags, texts


def with_run_config(argv):
    """argv with the run's config.yaml put first (src/run_folder.run_config_first); with no
    run named, the model shipped in model/."""
    flags, texts = split_arguments(argv)
    return run_config_first(flags, fallback=SHIPPED) + texts


def write_submission(ids, labels, path, header=("PhraseId", "Sentiment")):
    """Write a Kaggle submission CSV (id,label per row) atomically: temp file, then rename.

    Args:
        ids: the rows' ids (e.g. PhraseId of test.tsv), in order.
        labels: the predicted class of each row (ints).
        path: the CSV to write.
        header: the two column names.
    """
    ids, labels = list(ids), list(labels)
    if len(ids) != len(labels):
        raise UserError(f"submission: {len(ids)} ids but {len(labels)} predictions")
    with atomic_path(path, what="--submission", kind="submission") as tmp:
        with tmp.open("w", encoding="utf-8", newline="") as stream:
            writer = csv.writer(stream, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(zip(ids, (int(label) for label in labels)))
    return Path(path)


def submission_from(config, predictor):
    """Predict every unlabelled row of data_path (Kaggle's test.tsv) into config.submission;
    returns (path, rows)."""
    ids, texts = read_unlabelled(config)
    labels = predictor.logits(predictor.encode(texts)).argmax(axis=1)
    return write_submission(ids, labels.tolist(), config.submission), len(ids)
