"""predict.py on a user's table: CSV or TSV in, the same rows out with the prediction's
columns after the input's; blank or unreadable rows keep their place with an empty prediction."""
import csv
import io
import json

import pytest

from conftest import SAMPLE, run_script
from src import load
from src.data.readers.aclimdb import read_aclimdb

REVIEWS = [r.text for r in read_aclimdb(SAMPLE)["test"][::100]]   # 5 real reviews


def _table(path, delimiter, rows):
    with open(path, "w", encoding="utf-8", newline="") as stream:
        csv.writer(stream, delimiter=delimiter).writerows(rows)
    return path


@pytest.mark.parametrize("name, delimiter", [("reviews.csv", ","), ("reviews.tsv", "\t")])
def test_a_table_comes_back_row_for_row_with_the_predictions(tmp_path, name, delimiter, capfd):
    rows = [["id", "text", "stars"]] + [[f"r{i}", text, str(i)] for i, text in
                                        enumerate(REVIEWS)]
    rows.insert(3, ["r-blank", "  ", "9"])
    path = _table(tmp_path / name, delimiter, rows)
    done = run_script("predict.py", "--input_file", path, "--text_column", "text",
                      "--output_format", "csv", "--backend", "onnxruntime", capfd=capfd)
    assert done.returncode == 0, done.stderr
    out = list(csv.reader(io.StringIO(done.stdout), delimiter=delimiter))
    assert out[0] == ["id", "text", "stars", "label", "verdict", "p_negative", "p_positive",
                      "reason"]
    assert [row[:3] for row in out[1:]] == rows[1:]
    expected = load().predict(REVIEWS)
    predicted = out[1:3] + out[4:]
    assert [row[3] for row in predicted] == [e.label for e in expected]
    assert [row[4] for row in predicted] == [e.verdict for e in expected]
    assert [float(row[6]) for row in predicted] == \
        pytest.approx([e.probabilities["positive"] for e in expected], abs=1e-5)
    assert out[3][3:7] == ["", "", "", ""] and "row 3 of" in out[3][7]
    assert done.stderr.strip() == f"note: {out[3][7]}"


def test_json_lines_carry_the_row_number_and_the_id(tmp_path, capfd):
    path = _table(tmp_path / "reviews.csv", ",",
                  [["id", "text"], ["a1", REVIEWS[0]], ["a2", ""], ["a3", REVIEWS[1]]])
    done = run_script("predict.py", "--input_file", path, "--output_format", "json",
                      "--backend", "onnxruntime", capfd=capfd)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(r["row"], r["id"], r["verdict"] is None) for r in records] == \
        [(1, "a1", False), (2, "a2", True), (3, "a3", False)]


def test_plain_reviews_as_a_table(tmp_path, capfd):
    done = run_script("predict.py", "--output_format", "csv", "--backend", "onnxruntime",
                      "A wonderful, moving film.", "xqzv blorf", capfd=capfd)
    assert done.returncode == 0, done.stderr
    out = list(csv.reader(io.StringIO(done.stdout)))
    assert [row[0] for row in out] == ["text", "A wonderful, moving film.", "xqzv blorf"]
    assert out[1][2] == "positive" and out[2][2] == "cannot tell" and "2 of 2" in out[2][-1]


def test_a_quoted_cell_may_hold_line_breaks_and_an_unclosed_quote_is_one_error(tmp_path):
    from src.core.config import load_config
    from src.core.errors import UserError
    from src.inference.rows import read_rows
    path = _table(tmp_path / "reviews.csv", ",",
                  [["id", "text"], ["a1", "Slow start,\nand a break,\r\nthen superb."], ["a2", "Dull."]])
    rows, header = read_rows([], load_config(["--input_file", str(path)]))
    assert header == ["id", "text"]
    assert [(row.id, row.text) for row in rows] == \
        [("a1", "Slow start,\nand a break,\r\nthen superb."), ("a2", "Dull.")]
    path.write_text('id,text\na1,"never closed\na2,Dull.\n', encoding="utf-8")
    with pytest.raises(UserError, match="reviews.csv:.*quot"):
        read_rows([], load_config(["--input_file", str(path)]))
