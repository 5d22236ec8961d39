"""predict.py's rows: reviews in from arguments, a text file (one per line), a CSV/TSV table
or stdin; predictions out as text lines, JSON lines or a table.

A blank or unreadable row never stops the batch: it gets an empty prediction, in its place,
and a note on stderr. A table keeps every input column, in order, then the prediction's.
Text echoed (a line's review, a table's cells) shows control characters as \\xNN, never raw;
JSON lines are strict JSON (no NaN or infinity).
"""
import csv
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import UserError
from ..data.readers.tables import csv_rows, delimiter_by_name
from .predict_io import check_reviews

__all__ = ["InputRow", "read_rows", "RowWriter"]

TABLE_SUFFIXES = (".csv", ".tsv")
# control characters (C0 but tab and line breaks, DEL, C1): echoed as \xNN, never raw (a NUL
# ends many readers' strings, an ESC moves a terminal's cursor); JSON escapes them itself
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


@dataclass
class InputRow:
    """One input row: its number (from 1), its text (None: blank or unreadable, see note),
    its cells when it came from a table, and its id (the table's id column)."""
    number: int
    text: str = None
    cells: dict = field(default_factory=dict)
    note: str = ""
    id: str = None


def read_rows(texts, config, stdin=None):
    """(rows, input columns): texts given as arguments, else config.input_file ("-": stdin),
    else stdin when it is not a terminal. A file named .csv (comma) or .tsv (tab) is a table
    whose text_column (default: text) holds the reviews."""
    if texts:
        return [InputRow(n, text, {"text": text})
                for n, text in enumerate(check_reviews(texts), 1)], ["text"]
    raw, source = _input_bytes(config.input_file, stdin)
    if not raw.strip():
        raise UserError(f"{source} holds no reviews; put one review per line")
    if source.lower().endswith(TABLE_SUFFIXES):
        return _table_rows(raw.decode("utf-8", "surrogateescape"), source, config)
    return [_line_row(line, n, source) for n, line in enumerate(raw.splitlines(), 1)], ["text"]


def _input_bytes(input_file, stdin):
    stdin = stdin if stdin is not None else sys.stdin.buffer
    if input_file and input_file != "-":
        try:
            return Path(input_file).read_bytes(), input_file
        except OSError as err:
            raise UserError(f"cannot read --input_file {input_file} ({err.strerror}); pass a "
                            f"readable file with one review per line, or a CSV/TSV") from None
    if input_file == "-" or not getattr(stdin, "isatty", lambda: True)():
        return stdin.read(), "stdin"
    raise UserError("no reviews given; pass them as arguments, with --input_file FILE, or on "
                    "stdin")


def _line_row(raw, number, source):
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        return InputRow(number, note=f"line {number} of {source} is not UTF-8 (bad byte at "
                                     f"offset {err.start}); no prediction")
    if not text.strip():
        return InputRow(number, cells={"text": text},
                        note=f"line {number} of {source} is empty; no prediction")
    return InputRow(number, text, {"text": text})


def _table_rows(text, source, config):
    # the delimiter by the name of the user's file, not by the run's training data
    lines = csv_rows(text, source, delimiter_by_name(source), strict=True)
    header = [cell.strip() for cell in next(lines)[1]]
    # a run's config.yaml names its training data's columns; the user's table may differ
    wanted = next((name for name in (config.text_column, "text") if name in header), None)
    if wanted is None:
        raise UserError(f"{source} has no column '{config.text_column or 'text'}' (its "
                        f"columns: {', '.join(header[:10])}); pass --text_column with one of "
                        f"them")
    id_column = next((name for name in (config.id_column, "id") if name in header), None)
    rows = [_table_row(dict(zip(header, cells)), number, source, wanted, id_column,
                       len(cells) == len(header)) for number, (_, cells) in enumerate(lines, 1)]
    return rows, header


def _table_row(cells, number, source, text_column, id_column, whole):
    row = InputRow(number, cells=cells, id=cells.get(id_column))
    text = cells.get(text_column) or ""
    if not whole:
        row.note = f"row {number} of {source} has a different number of fields than the header"
    elif any("\udc80" <= c <= "\udcff" for c in text):
        row.note = f"row {number} of {source} is not UTF-8"
    elif not text.strip():
        row.note = f"row {number} of {source} has an empty '{text_column}'"
    else:
        row.text = text
    row.note += "; no prediction" if row.note else ""
    return row


class RowWriter:
    """Writes one output per input row to out: text lines, JSON lines or a table (the input's
    columns, then label, verdict, each class's probability and reason)."""

    def __init__(self, out, config, columns, labels, source=""):
        self.out, self.format, self.columns = out, config.output_format, columns
        self.labels = labels
        if self.format == "csv":
            self.table = csv.writer(out, delimiter=delimiter_by_name(
                source if str(source).lower().endswith(TABLE_SUFFIXES) else ".csv"),
                                    lineterminator="\n")
            self.table.writerow(columns + self.prediction_columns())

    def prediction_columns(self):
        return ["label", "verdict"] + [f"p_{name.replace(' ', '_')}" for name in self.labels] \
            + ["reason"]

    def write(self, row, prediction=None, explanation=None):
        if self.format == "csv":
            self.table.writerow([_printable(row.cells.get(c, "")) for c in self.columns]
                                + self._prediction_cells(row, prediction))
        elif self.format == "json":
            self.out.write(_json_line(row, self._record(row, prediction, explanation)))
        else:
            self.out.write(_text_line(row, prediction, explanation) + "\n")

    def _prediction_cells(self, row, prediction):
        if prediction is None:
            return ["", ""] + [""] * len(self.labels) + [row.note]
        return ([prediction.label, prediction.verdict or prediction.label]
                + [f"{prediction.probabilities[name]:.6f}" for name in self.labels]
                + [prediction.reason])

    def _record(self, row, prediction, explanation):
        record = {"row": row.number, **({"id": row.id} if row.id is not None else {})}
        if prediction is None:
            return {**record, "label": None, "verdict": None, "note": row.note}
        record.update(prediction.as_dict())
        if explanation is not None:
            record["explanation"] = explanation.as_dict()["tokens"]
            record["explanation_method"] = explanation.method
        return record


def _json_line(row, record):
    """record as one line of strict JSON: NaN and infinity, which Python's json would write
    and no JSON reader takes, are one clear error."""
    try:
        return json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n"
    except ValueError:
        raise UserError(f"row {row.number}: its prediction or explanation is not a finite "
                        f"number (NaN or infinity), which JSON cannot hold; the rows before "
                        f"it are written") from None


def _text_line(row, prediction, explanation):
    """'verdict  p(name)=0.1234 ...  [strongest words]  review start'."""
    if prediction is None:
        return f"no prediction\t\t{row.note}"
    probabilities = " ".join(f"p({name})={p:.4f}" for name, p in
                             prediction.probabilities.items())
    snippet = " ".join(row.text.split())
    snippet = _escaped(snippet if len(snippet) <= 60 else snippet[:57] + "...")
    verdict = prediction.verdict or prediction.label
    fields = [f"{verdict} ({prediction.reason})" if prediction.reason else verdict,
              probabilities]
    if explanation is not None:
        fields.append(_escaped(", ".join(f"{token} {score:+.3f}" for token, score in
                                         explanation.strongest()))
                      or "(no single word decides)")
    return "\t".join(fields + [snippet])


def _printable(cell):
    return _escaped(cell.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))


def _escaped(text):
    """text with each control character (_CONTROL) written as \\xNN."""
    return _CONTROL.sub(lambda found: f"\\x{ord(found.group()):02x}", text)
