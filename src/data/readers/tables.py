"""Tables of labelled texts: Kaggle's phrase TSV (train.tsv, test.tsv) and any CSV/TSV file.

`read_tables(config)` returns {"train": [Review], "valid": None, "test": [Review],
"unlabelled": [Review]}: rows of a test file without the label column (Kaggle's test.tsv)
are "unlabelled", with label -1 and the row's id as name, for a submission file.
"""
import csv
import io

from ...core.errors import UserError
from .labelled_text import (Review, label_names, read_file_text, read_named_files,
                            require_data_path, unescape_ptb)

__all__ = ["read_tables", "read_table", "table_rows", "csv_rows", "column_name", "delimiter_for",
           "delimiter_by_name"]

TABLE_SUFFIXES = (".csv", ".tsv", ".txt")
PHRASE_FILES = {"train": "train.tsv", "test": "test.tsv"}
# the columns a key left empty names: Kaggle's phrase files, and any other table
KAGGLE_COLUMNS = {"text": "Phrase", "label": "Sentiment", "id": "PhraseId", "group": "SentenceId"}
COLUMNS = {"text": "text", "label": "label", "id": "", "group": ""}


def column_name(config, role):
    """The column config.<role>_column names, or the dataset's own when it is empty."""
    given = getattr(config, f"{role}_column")
    return given or (KAGGLE_COLUMNS if config.dataset == "phrases_tsv" else COLUMNS)[role]


def delimiter_for(config, source):
    r"""The one-character delimiter of the file named source: config.delimiter ('\t' and
    'tab' mean a tab), or by the name: comma for .csv, tab for anything else."""
    if config.delimiter:
        return "\t" if config.delimiter in ("\\t", "tab") else config.delimiter
    return delimiter_by_name(source)


def delimiter_by_name(source):
    """A table's delimiter by its file name: comma for .csv, tab for anything else."""
    return "," if str(source).lower().endswith(".csv") else "\t"


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


def csv_rows(text, source, delimiter, strict=False):
    """(line number, cells) of every row of a delimited text, a quoted cell's line breaks kept;
    csv's errors (a field beyond its limit, with strict a quote never closed) as one UserError."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=strict)
    try:
        for cells in reader:
            yield reader.line_num, cells
    except csv.Error as err:
        raise UserError(f"{source}:{reader.line_num}: {err}; check the row's quoting (a quote "
                        f"never closed runs on to the file's end) or shorten its text") from None


def table_rows(text, source, delimiter):
    """(header, [(line number, cells)]) of a delimited text, every row as wide as the header."""
    if not text.strip():
        raise UserError(f"{source} is empty; it needs a header line and rows")
    lines = csv_rows(text, source, delimiter)
    header = [cell.strip() for cell in next(lines)[1]]
    rows = []
    for line, cells in lines:
        if not cells:
            continue
        if len(cells) != len(header):
            raise UserError(f"{source}:{line}: {len(cells)} fields, the header has "
                            f"{len(header)}; check --delimiter or the row's quoting")
        rows.append((line, cells))
    if not rows:
        raise UserError(f"{source} has a header but no rows; give it data")
    return header, rows


def _columns(header, config, source, need_label):
    """The positions of the text, label, id and group columns (None: no such column)."""
    def find(role, required=True):
        name = column_name(config, role)
        if not name or (not required and name not in header):
            return None
        return _column_index(header, name, f"{role}_column", source)
    id_at = find("id")
    if id_at is None and "id" in header:
        id_at = header.index("id")
    return find("text"), find("label", need_label), id_at, find("group")


def read_table(text, source, config, need_label=True):
    """Reviews from one delimited text (CSV/TSV) with the config's column names.

    Args:
        text: the file's content.
        source: its name, for messages.
        config: uses text_column, label_column, id_column, group_column, delimiter,
            num_classes (empty keys: the dataset's own columns, see column_name).
        need_label: if False and the label column is missing, rows get label -1.

    Returns:
        [Review]: name is the id column's value (or the line number), group the group
        column's value (or None).
    """
    header, rows = table_rows(text, source, delimiter_for(config, source))
    text_at, label_at, id_at, group_at = _columns(header, config, source, need_label)
    names = [n.lower() for n in label_names(config)]
    reviews = []
    for line, cells in rows:
        label = -1 if label_at is None else _parse_label(cells[label_at], names,
                                                         f"{source}:{line}")
        reviews.append(Review(unescape_ptb(cells[text_at]), label,
                              cells[id_at].strip() if id_at is not None else str(line),
                              cells[group_at].strip() if group_at is not None else None))
    return reviews



def _read_tables(config, files):
    """{"train", "test"} texts for phrases_tsv (fixed names) or csv (a file or a folder)."""
    path = require_data_path(config.data_path, config.dataset)
    if config.dataset == "csv" and path.is_file():
        return {"train": (read_file_text(path), str(path)), "test": None}
    found = {}
    for split, names in files.items():
        texts = read_named_files(path, names)
        hit = next((name for name in names if texts[name] is not None), None)
        found[split] = (texts[hit], f"{path}/{hit}") if hit else None
    if found["train"] is None:
        wanted = " or ".join(files["train"])
        raise UserError(f"{path} holds no {wanted}; pass --data_path to the folder (or "
                        f"archive) with the training file")
    return found


def read_tables(config):
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
