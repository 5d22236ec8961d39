"""Readers for the datasets besides aclImdb: Kaggle's phrase TSV, any CSV/TSV file, SST trees.

Each reader returns {"train": [Review], "valid": [Review] or None, "test": [Review],
"unlabelled": [Review]}: "valid" is None when it has to be cut from train, "test" is empty when
the data has no labelled test set (then a held-out part of train stands in for it), and
"unlabelled" holds rows without a label (Kaggle's test.tsv) with label -1 and the row's id as
name, for a submission file. `label_names(config)` names the classes for every output.
"""
import csv
import io
import os
import random
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path

from src.config import UserError

__all__ = ["Review", "read_dataset", "read_table", "read_unlabelled", "label_names",
           "split_by_group", "parse_tree", "tree_phrases", "write_submission", "dataset_settings",
           "unescape_delimiter"]

TABLE_SUFFIXES = (".csv", ".tsv", ".txt")
SST_FILES = {"train": "train.txt", "valid": "dev.txt", "test": "test.txt"}
PHRASE_FILES = {"train": "train.tsv", "test": "test.tsv"}
# Penn Treebank escapes for brackets, as SST and the Kaggle phrases write them.
_PTB_ESCAPES = {"-LRB-": "(", "-RRB-": ")", "-LSB-": "[", "-RSB-": "]", "-LCB-": "{",
                "-RCB-": "}"}
_PTB_ESCAPE = re.compile("|".join(map(re.escape, _PTB_ESCAPES)))
_TREE_TOKEN = re.compile(r"\(|\)|[^\s()]+")
_NAMES = {2: ("negative", "positive"),
          3: ("negative", "neutral", "positive"),
          5: ("negative", "somewhat negative", "neutral", "somewhat positive", "positive")}


@dataclass
class Review:
    """One labelled text. label -1 marks a row without a label; group ties rows together
    (the sentence a phrase came from) so a validation split never cuts through it."""
    text: str
    label: int
    name: str
    group: str = None


def label_names(config):
    """The class names, index = label: negative .. positive for 2, 3 or 5 classes.

    Args:
        config: a Config (uses num_classes) or the number of classes itself.

    Returns:
        A tuple of num_classes strings; other class counts give "class 0", "class 1", ...
    """
    count = config if isinstance(config, int) else config.num_classes
    return _NAMES.get(count, tuple(f"class {i}" for i in range(count)))


def dataset_settings(config):
    """The config keys a non-aclImdb dataset's MindRecord files depend on (for the cache key)."""
    if config.dataset == "aclimdb":
        return {}
    return {"data_path": str(Path(config.data_path).resolve()), "num_classes": config.num_classes,
            "text_column": config.text_column, "label_column": config.label_column,
            "id_column": config.id_column, "group_column": config.group_column,
            "delimiter": config.delimiter, "sst_classes": config.sst_classes,
            "sst_phrases": config.sst_phrases}


def unescape_delimiter(text):
    r"""The one-character delimiter meant by the config value ('\t' and 'tab' mean a tab)."""
    return "\t" if text in ("\\t", "tab") else text


def _clean(text):
    return _PTB_ESCAPE.sub(lambda m: _PTB_ESCAPES[m.group(0)], text)


# ---- files: a folder, a single file or a .tar.gz archive ----------------------------------

def _decode(raw, source):
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise UserError(f"{source} is not UTF-8 (bad byte at offset {err.start}); re-save it "
                        f"as UTF-8") from None


def _read_named_files(path, names):
    """{name: text or None} for the wanted file names, from a folder or a .tar.gz archive."""
    path = Path(path)
    if path.is_dir():
        found = {name: path / name for name in names if (path / name).is_file()}
        return {name: _decode(found[name].read_bytes(), found[name]) if name in found else None
                for name in names}
    texts = dict.fromkeys(names)
    try:
        with tarfile.open(path) as tar:
            for member in tar:
                base = member.name.rsplit("/", 1)[-1]
                if member.isfile() and base in texts and texts[base] is None:
                    texts[base] = _decode(tar.extractfile(member).read(), f"{path}:{member.name}")
    except (tarfile.TarError, OSError, EOFError) as err:
        raise UserError(f"cannot read {path} as a folder or .tar.gz archive ({err}); pass "
                        f"--data_path to the unpacked folder") from None
    return texts


def _require_path(config):
    path = Path(config.data_path)
    if not path.exists():
        raise UserError(f"data_path {path} does not exist; pass --data_path to the "
                        f"{config.dataset} file or folder")
    return path


# ---- tables: Kaggle phrases and any CSV/TSV -----------------------------------------------

def _parse_label(value, names, where):
    value = value.strip()
    if value.lower() in names:
        return names.index(value.lower())
    try:
        label = int(value)
    except ValueError:
        raise UserError(f"{where}: label '{value}' is not a class number 0..{len(names) - 1} "
                        f"or one of {', '.join(names)}; fix the row or --label_column") from None
    if not 0 <= label < len(names):
        raise UserError(f"{where}: label {label} is outside 0..{len(names) - 1}; pass "
                        f"--num_classes {label + 1} or more, or fix the row")
    return label


def _column_index(header, column, key, source):
    if column not in header:
        shown = ", ".join(repr(h) for h in header[:10])
        raise UserError(f"{source} has no column '{column}' (its columns: {shown}); pass "
                        f"--{key} with one of them or check --delimiter")
    return header.index(column)


def _table_rows(text, source, delimiter):
    """(header, [(line number, cells)]) of a delimited text, every row as wide as the header."""
    if not text.strip():
        raise UserError(f"{source} is empty; it needs a header line and rows")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [cell.strip() for cell in next(reader)]
    rows = []
    for cells in reader:
        if not cells:
            continue
        if len(cells) != len(header):
            raise UserError(f"{source}:{reader.line_num}: {len(cells)} fields, the header has "
                            f"{len(header)}; check --delimiter or the row's quoting")
        rows.append((reader.line_num, cells))
    if not rows:
        raise UserError(f"{source} has a header but no rows; give it data")
    return header, rows


def read_table(text, source, config, need_label=True):
    """Reviews from one delimited text (CSV/TSV) with the config's column names.

    Args:
        text: the file's content.
        source: its name, for messages.
        config: uses text_column, label_column, id_column, group_column, delimiter,
            num_classes. id_column and group_column may be empty.
        need_label: if False and the label column is missing, rows get label -1.

    Returns:
        [Review]: name is the id column's value (or the line number), group the group
        column's value (or None).
    """
    header, rows = _table_rows(text, source, unescape_delimiter(config.delimiter))
    text_at = _column_index(header, config.text_column, "text_column", source)
    labelled = need_label or config.label_column in header
    label_at = _column_index(header, config.label_column, "label_column", source) \
        if labelled else None
    id_at = _column_index(header, config.id_column, "id_column", source) \
        if config.id_column else None
    group_at = _column_index(header, config.group_column, "group_column", source) \
        if config.group_column else None
    names = [n.lower() for n in label_names(config)]
    reviews = []
    for line, cells in rows:
        label = -1 if label_at is None else _parse_label(cells[label_at], names,
                                                         f"{source}:{line}")
        reviews.append(Review(_clean(cells[text_at]), label,
                              cells[id_at].strip() if id_at is not None else str(line),
                              cells[group_at].strip() if group_at is not None else None))
    return reviews


def _read_tables(config, files):
    """{"train", "test"} texts for phrases_tsv (fixed names) or csv (a file or a folder)."""
    path = _require_path(config)
    if config.dataset == "csv" and path.is_file():
        return {"train": (_decode(path.read_bytes(), path), str(path)), "test": None}
    found = {}
    for split, names in files.items():
        texts = _read_named_files(path, names)
        hit = next((name for name in names if texts[name] is not None), None)
        found[split] = (texts[hit], f"{path}/{hit}") if hit else None
    if found["train"] is None:
        wanted = " or ".join(files["train"])
        raise UserError(f"{path} holds no {wanted}; pass --data_path to the folder (or "
                        f"archive) with the training file")
    return found


def _read_phrases_or_csv(config):
    if config.dataset == "phrases_tsv":
        files = {split: [name] for split, name in PHRASE_FILES.items()}
    else:
        files = {split: [split + suffix for suffix in TABLE_SUFFIXES]
                 for split in ("train", "test")}
    found = _read_tables(config, files)
    train = read_table(*found["train"], config)
    test, unlabelled = [], []
    if found["test"] is not None:
        rows = read_table(*found["test"], config, need_label=False)
        unlabelled = [r for r in rows if r.label < 0]
        test = [r for r in rows if r.label >= 0]
    return {"train": train, "valid": None, "test": test, "unlabelled": unlabelled}


# ---- Stanford Sentiment Treebank ----------------------------------------------------------

def tree_phrases(line, where="tree"):
    """[(label, words)] of every node of one PTB-bracketed SST tree, the root last.

    '(3 (2 It) (4 works))' gives [(2, ['It']), (4, ['works']), (3, ['It', 'works'])].
    Brackets escaped as -LRB-/-RRB- come back as '(' and ')'.
    """
    tokens = _TREE_TOKEN.findall(line)
    words, open_nodes, nodes = [], [], []
    for at, token in enumerate(tokens):
        if token == "(":
            label = tokens[at + 1] if at + 1 < len(tokens) else ""
            if not label.isdigit() or (at and not open_nodes):
                break
            open_nodes.append((int(label), len(words)))
        elif token == ")":
            if not open_nodes:
                break
            label, start = open_nodes.pop()
            nodes.append((label, words[start:]))
        elif tokens[at - 1] != "(":
            words.append(_clean(token))
    else:
        if nodes and not open_nodes and all(node[1] for node in nodes):
            return nodes
    raise UserError(f"{where}: not a bracketed SST tree like '(3 (2 It) (4 works))'; "
                    f"pass --data_path to trainDevTestTrees_PTB's trees folder")


def parse_tree(line, where="tree"):
    """(root label, leaf words) of one PTB-bracketed SST tree such as '(3 (2 It) (4 works))'."""
    return tree_phrases(line, where)[-1]


def _sst_label(root, classes, where):
    """SST-5 keeps 0..4; SST-2 maps 0-1 to 0 and 3-4 to 1 and drops neutral (None)."""
    if not 0 <= root <= 4:
        raise UserError(f"{where}: root label {root} is outside 0..4; is this an SST tree file?")
    if classes == 5:
        return root
    return None if root == 2 else int(root > 2)


def _read_trees(text, source, classes, phrases=False):
    """Reviews of the sentences (root labels), or of every distinct labelled phrase."""
    reviews, seen = [], set()
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{source}:{number}"
        nodes = tree_phrases(line, where) if phrases else [parse_tree(line, where)]
        for root, words in nodes:
            label, phrase = _sst_label(root, classes, where), " ".join(words)
            if label is not None and not (phrases and phrase in seen):
                seen.add(phrase)
                reviews.append(Review(phrase, label, where))
    if not reviews:
        raise UserError(f"{source} holds no trees; pass --data_path to the trees folder")
    return reviews


def _read_sst(config):
    path = _require_path(config)
    texts = _read_named_files(path, list(SST_FILES.values()))
    missing = [name for name in SST_FILES.values() if texts[name] is None]
    if missing:
        raise UserError(f"{path} has no {', '.join(missing)}; pass --data_path to SST's "
                        f"trees folder (train.txt, dev.txt, test.txt) or its .tar.gz")
    splits = {split: _read_trees(texts[name], f"{path}/{name}", config.sst_classes,
                                 phrases=config.sst_phrases and split == "train")
              for split, name in SST_FILES.items()}
    return {**splits, "unlabelled": []}


# ---- entry points -------------------------------------------------------------------------

READERS = {"phrases_tsv": _read_phrases_or_csv, "csv": _read_phrases_or_csv, "sst": _read_sst}


def read_dataset(config):
    """Read the dataset config.dataset names (phrases_tsv, csv or sst) from config.data_path.

    Returns:
        {"train": [Review], "valid": [Review] or None, "test": [Review],
        "unlabelled": [Review]} as the module docstring describes.
    """
    splits = READERS[config.dataset](config)
    if len({r.label for r in splits["train"]}) < 2:
        raise UserError(f"{config.data_path}: the training rows have one label only; a "
                        f"classifier needs at least two")
    return splits


def read_unlabelled(config):
    """(ids, texts) of the rows without a label (Kaggle's test.tsv), for a submission file."""
    rows = read_dataset(config)["unlabelled"]
    if not rows:
        raise UserError(f"{config.data_path} has no unlabelled test rows (a test file without "
                        f"the '{config.label_column}' column); nothing to write a submission for")
    return [r.name for r in rows], [r.text for r in rows]


def split_by_group(reviews, fraction, seed):
    """(kept, held out): a seeded share of the groups, so no group sits on both sides."""
    groups = sorted({r.group for r in reviews})
    random.Random(seed).shuffle(groups)
    held = set(groups[:int(round(len(groups) * fraction))])
    return ([r for r in reviews if r.group not in held], [r for r in reviews if r.group in held])


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
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with tmp.open("w", encoding="utf-8", newline="") as stream:
            writer = csv.writer(stream, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(zip(ids, (int(label) for label in labels)))
        tmp.replace(path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise UserError(f"cannot write submission {path} ({err.strerror}); pass a path in a "
                        f"writable folder") from None
    return path
