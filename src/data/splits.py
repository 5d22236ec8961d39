"""The configured dataset as train / valid / test reviews: the reader config.dataset names
(aclImdb, Kaggle phrases, any CSV/TSV, SST) and the seeded splits cut from train."""
import random
from pathlib import Path

from .readers.aclimdb import read_aclimdb
from .readers.labelled_text import require_data_path
from ..core.errors import UserError
from .readers.sst import graded_phrases, read_sst
from .readers.tables import read_tables

__all__ = ["read_dataset", "labelled_parts", "split_validation", "split_by_group",
           "read_unlabelled", "dataset_settings", "split_seed"]


def read_dataset(config):
    """Every review of the dataset config.dataset names.

    Returns:
        {"train": [Review], "valid": [Review] or None (cut from train later),
        "test": [Review] (empty when the data has no labelled test set),
        "unlabelled": [Review] (rows without a label, e.g. Kaggle's test.tsv; label -1)}.
    """
    if config.dataset == "aclimdb":
        return {**read_aclimdb(config.aclimdb_path), "valid": None, "unlabelled": []}
    if config.dataset == "sst":
        splits = read_sst(require_data_path(config.data_path, config.dataset),
                          config.sst_classes, config.sst_phrases)
    else:
        splits = read_tables(config)
    if len({r.label for r in splits["train"]}) < 2:
        raise UserError(f"{config.data_path}: the training rows have one label only; a "
                        f"classifier needs at least two")
    return splits


def split_seed(config):
    """The seed of the validation split: split_seed, or seed when it is -1."""
    return config.seed if config.split_seed == -1 else config.split_seed


def split_by_group(reviews, fraction, seed):
    """(kept, held out): a seeded share of the groups, so no group sits on both sides."""
    groups = sorted({r.group for r in reviews})
    random.Random(seed).shuffle(groups)
    held = set(groups[:int(round(len(groups) * fraction))])
    return ([r for r in reviews if r.group not in held], [r for r in reviews if r.group in held])


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


def labelled_parts(config):
    """{"train", "valid", "test": [Review]} of the configured dataset.

    Validation is the dataset's own (SST dev) or cut from train (valid_split). Without a
    labelled test set (Kaggle's test.tsv has no labels) a second, equally sized share of train
    is held out as test, by group too, so test accuracy is on sentences never trained on.
    """
    splits = read_dataset(config)
    train, valid, test = splits["train"], splits["valid"], splits["test"]
    share = config.valid_split
    if not test:
        if not 0 < share < 0.5:
            raise UserError(f"dataset {config.dataset} has no labelled test file, so valid and "
                            f"test are each cut from train by valid_split, which is {share}; "
                            f"pass --valid_split 0.1")
        train, test = split_validation(train, share, split_seed(config) + 1000)
        share = share / (1 - share)
    if valid is None:
        train, valid = split_validation(train, share, split_seed(config))
    if config.mix_sst_path:  # after the splits: validation and test stay the dataset's own
        train = train + graded_phrases(config.mix_sst_path, config.mix_sst_phrases,
                                       split_seed(config))
    return {"train": train, "valid": valid, "test": test}


def read_unlabelled(config):
    """(ids, texts) of the rows without a label (Kaggle's test.tsv), for a submission file."""
    rows = read_dataset(config)["unlabelled"]
    if not rows:
        raise UserError(f"{config.data_path} has no unlabelled test rows (a test file without "
                        f"the '{config.label_column}' column); nothing to write a submission for")
    return [r.name for r in rows], [r.text for r in rows]


def dataset_settings(config):
    """The config keys a non-aclImdb dataset's MindRecord files depend on (for the cache key)."""
    if config.dataset == "aclimdb":
        return {}
    return {"data_path": str(Path(config.data_path).resolve()), "num_classes": config.num_classes,
            "text_column": config.text_column, "label_column": config.label_column,
            "id_column": config.id_column, "group_column": config.group_column,
            "delimiter": config.delimiter, "sst_classes": config.sst_classes,
            "sst_phrases": config.sst_phrases}
