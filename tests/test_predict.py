"""predict.py: reviews from arguments, a file or stdin; text or JSON lines; bad input."""
import csv
import dataclasses
import io
import json
import subprocess
import sys

import pytest

from predict import main as predict_command
from src.inference.predict_io import split_arguments, with_run_config
from src.inference.rows import read_rows
from conftest import REVIEWS as MIXED, ROOT

REVIEWS = ["A wonderful film with a moving story.", "Boring, predictable and far too long."]


def _predict(capsys, *words):
    """predict.py in-process: (exit code, stdout, stderr)."""
    try:
        code = predict_command([str(word) for word in words])
    except SystemExit as stop:
        code = stop.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _same_predictions(results, predictions, tolerance=1e-5):
    """predict.py's (label, {name: probability}) pairs equal the Predictor's predictions."""
    assert len(results) == len(predictions)
    for (label, probabilities), expected in zip(results, predictions):
        assert label == expected.label
        assert probabilities == pytest.approx(expected.probabilities, abs=tolerance)


def test_text_output_is_the_models_prediction_one_line_per_review(trained_run,
                                                                  checkpoint_predictor, capsys):
    code, out, err = _predict(capsys, "--run_dir", trained_run, *REVIEWS)
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == len(REVIEWS), out
    results = []
    for line, review in zip(lines, REVIEWS):
        verdict, probabilities, snippet = line.split("\t")
        assert snippet == review
        results.append((verdict, {part.split("=")[0][2:-1]: float(part.split("=")[1])
                                for part in probabilities.split()}))  # p(name)=0.1234
    expected = checkpoint_predictor.predict(REVIEWS)
    assert [verdict for verdict, _ in results] == [e.verdict for e in expected]
    _same_predictions([(e.label, p) for e, (_, p) in zip(expected, results)], expected, 6e-5)


def test_json_lines_match_the_checkpoint_and_the_mindir(trained_run, exported_mindir, capsys):
    code, out, err = _predict(capsys, "--run_dir", trained_run, "--output_format", "json",
                              *REVIEWS)
    assert code == 0, err
    from_ckpt = [json.loads(line) for line in out.splitlines()]
    assert [set(r) for r in from_ckpt] == [{"row", "label", "verdict", "probabilities"}] * 2
    assert [r["row"] for r in from_ckpt] == [1, 2]
    code, out, err = _predict(capsys, "--run_dir", trained_run, "--mindir_path",
                              exported_mindir, "--output_format=json", *REVIEWS)
    assert code == 0, err
    for one, other in zip(from_ckpt, map(json.loads, out.splitlines())):
        assert one["label"] == other["label"]
        for name, p in one["probabilities"].items():
            assert other["probabilities"][name] == pytest.approx(p, abs=1e-5)
        assert max(one["probabilities"], key=one["probabilities"].get) == one["label"]


def test_onnxruntime_int8_from_the_command_line(trained_run, checkpoint_predictor, capsys):
    """int8 weights move the probabilities a little, never the labels; float onnxruntime is
    MindSpore's result (so a --quantize that is ignored fails here)."""
    runs = {}
    for quantize in ("none", "int8"):
        code, out, err = _predict(capsys, "--run_dir", trained_run, "--backend",
                                  "onnxruntime", "--quantize", quantize, "--output_format",
                                  "json", *MIXED)
        assert code == 0, err
        runs[quantize] = [json.loads(line) for line in out.splitlines()]
    expected = checkpoint_predictor.predict(MIXED)
    _same_predictions([(r["label"], r["probabilities"]) for r in runs["none"]], expected)
    _same_predictions([(r["label"], r["probabilities"]) for r in runs["int8"]], expected, 0.01)
    moved = [abs(p - r["probabilities"][name]) for q, r in zip(runs["int8"], runs["none"])
             for name, p in q["probabilities"].items()]
    assert max(moved) > 1e-5, moved  # the float model's probabilities would not move at all


def test_input_file_one_review_per_line(trained_run, tmp_path, capsys):
    reviews = tmp_path / "reviews.txt"
    reviews.write_text("\n".join(REVIEWS * 3) + "\n", encoding="utf-8")
    code, out, err = _predict(capsys, "--run_dir", trained_run, "--input_file", reviews)
    assert code == 0, err
    assert [line.split("\t")[-1] for line in out.splitlines()] == REVIEWS * 3


def test_stdin_and_the_checkpoint_path_alone(trained_run, checkpoint_predictor):
    """The run's settings come from the checkpoint's folder: same predictions as the run's."""
    done = subprocess.run([sys.executable, str(ROOT / "predict.py"), "--checkpoint_file",
                           str(trained_run / "lstm-best.ckpt"), "--output_format", "json"],
                          input="\n".join(REVIEWS).encode(), capture_output=True, cwd=ROOT,
                          timeout=300)
    assert done.returncode == 0, done.stderr.decode()
    results = [json.loads(line) for line in done.stdout.decode().splitlines()]
    _same_predictions([(r["label"], r["probabilities"]) for r in results],
                      checkpoint_predictor.predict(REVIEWS))


def test_words_after_a_double_dash_are_reviews():
    assert split_arguments(["--run_dir", "r", "good", "--", "--not a flag"]) == (
        ["--run_dir", "r"], ["good", "--not a flag"])
    assert with_run_config(["--run_dir", "missing_run", "x"]) == ["--run_dir",
                                                                  "missing_run", "x"]


def test_an_empty_reviews_file_is_one_clear_error(trained_run, tmp_path, capsys):
    reviews = tmp_path / "reviews.txt"
    reviews.write_bytes(b"\n \n")
    code, out, err = _predict(capsys, "--run_dir", trained_run, "--input_file", reviews)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and "holds no reviews" in err and len(err.splitlines()) == 1


def test_blank_and_unreadable_lines_get_an_empty_prediction_in_place(trained_run, tmp_path,
                                                                      capsys):
    reviews = tmp_path / "reviews.txt"
    reviews.write_bytes(b"fine review\n\n\xff\xfe bad bytes\nanother\n")
    code, out, err = _predict(capsys, "--run_dir", trained_run, "--input_file", reviews,
                              "--output_format", "json")
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["row"] for r in records] == [1, 2, 3, 4]
    assert [r["verdict"] is None for r in records] == [False, True, True, False]
    assert "line 2 of" in records[1]["note"] and "not UTF-8" in records[2]["note"]
    assert err.splitlines() == [f"note: {records[1]['note']}", f"note: {records[2]['note']}"]


@pytest.mark.parametrize("words, message", [
    (["--output_format", "xml", "good"], "output_format"),
    (["--backend", "tensorrt", "good"], "backend"),
    (["--quantize", "int4", "good"], "quantize"),
    (["--quantize", "int8", "good"], "applies to --backend onnxruntime only"),
    (["--input_file", "/nonexistent/reviews.txt"], "cannot read --input_file"),
    (["--mindir_path", "/nonexistent/x.mindir", "good"], "not found"),
    (["   "], "review argument 1 is empty"),
    (["--checkpoint_file", "/nonexistent/x.ckpt", "good"], "not found"),
])
def test_bad_options_are_one_clear_error(words, message, trained_run, capsys):
    code, out, err = _predict(capsys, "--run_dir", trained_run, *words)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and message in err


def test_missing_vocabulary_is_a_clear_error(tmp_path, capsys):
    code, _, err = _predict(capsys, "--run_dir", tmp_path, "good")
    assert code == 2 and "vocab" in err


def test_read_reviews_from_a_pipe(tiny_config):
    piped = dataclasses.replace(tiny_config, input_file="-")
    rows, _ = read_rows([], piped, io.BytesIO("één\r\ntwo\n".encode()))
    assert [row.text for row in rows] == ["één", "two"]
    rows, _ = read_rows([], tiny_config, io.BytesIO(b"x\n"))
    assert [row.text for row in rows] == ["x"]


def test_long_reviews_are_classified_in_smaller_batches(tiny_config):
    """A serving batch holds at most buckets.EVAL_BATCH (16) reviews and EVAL_TOKENS (4,000)
    padded tokens, whatever the run trained with: 64 x 3,000 tokens ran the shipped model out
    of memory, 64 x 500 needed 1.8 GB on MindSpore, 16 x 500 up to 1.0 GB."""
    import numpy as np
    from src.inference.predictor import Predictor
    from src.data.text import Vocab
    config = dataclasses.replace(tiny_config, batch_size=64, bucket_width=50, max_len=3000)
    seen = []

    def forward(ids, length):
        seen.append(ids.shape)
        return np.zeros((ids.shape[0], 2), np.float32)
    predictor = Predictor(config, Vocab(["<pad>", "<unk>", "a"]), forward)
    encoded = [np.ones(n, np.int32) for n in [100] * 70 + [2500] * 20 + [900] * 5]
    assert predictor.logits(encoded).shape == (95, 2)
    assert seen[0] == (16, 100) and (1, 3000) in seen and (4, 1000) in seen
    assert all(batch * steps <= 4000 for batch, steps in seen), seen


# --- the output's reader and the output's bytes --------------------------------------------
def test_a_reader_that_stops_after_the_first_line_ends_it_quietly(trained_run, tmp_path):
    """`predict.py ... | head -1`: the reader closes the pipe after one line while predict.py
    still has rows to write (3,000 rows, ~200 KB, more than a pipe and both buffers hold, so
    a write fails whatever the timing): exit 0, nothing on stderr, as --help | head."""
    reviews = tmp_path / "reviews.txt"
    reviews.write_text("A moving, beautifully acted film.\n" * 3000, encoding="utf-8")
    with open(tmp_path / "stderr", "wb") as stderr:
        process = subprocess.Popen([sys.executable, str(ROOT / "predict.py"), "--run_dir",
                                    str(trained_run), "--input_file", str(reviews)],
                                   cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr)
        first = process.stdout.readline().decode()
        process.stdout.close()
        code = process.wait(timeout=300)
    assert first.endswith("\tA moving, beautifully acted film.\n"), first
    err = (tmp_path / "stderr").read_text(encoding="utf-8", errors="replace")
    assert code == 0 and err == "", err[-2000:]


CONTROLS = "good\x00film \x1b[31mred\x07 end\x7f \x9b"
SHOWN = "good\\x00film \\x1b[31mred\\x07 end\\x7f \\x9b"


def test_control_characters_of_a_review_are_echoed_escaped(trained_run, tmp_path, capsys):
    """NUL, ESC (a terminal's colours and cursor), BEL, DEL and C1 codes in a review reach
    the model as read, but the text line and the table echo them as \\xNN, never raw; JSON
    writes none (its strings escape them); a table keeps its tabs."""
    reviews = tmp_path / "reviews.txt"
    reviews.write_bytes((CONTROLS + "\nfine\n").encode("utf-8"))
    code, out, err = _predict(capsys, "--run_dir", trained_run, "--input_file", reviews,
                              "--explain", "true")
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 2 and lines[0].split("\t")[-1] == SHOWN
    assert not [c for c in out if c not in "\t\n" and (c < " " or "\x7f" <= c <= "\x9f")]
    table = tmp_path / "reviews.csv"
    table.write_bytes(f'id,text\n1,"{CONTROLS}\tand more"\n'.encode("utf-8"))
    code, out, err = _predict(capsys, "--run_dir", trained_run, "--input_file", table,
                              "--output_format", "csv")
    assert code == 0, err
    assert not [c for c in out if c not in "\t\n" and (c < " " or "\x7f" <= c <= "\x9f")]
    import csv
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows[0]["text"] == SHOWN + "\tand more" and rows[0]["label"]


@pytest.mark.parametrize("broken", ["probability", "score"])
def test_json_output_never_holds_nan_or_infinity(broken, tiny_config):
    """Python's json writes NaN and Infinity, which are not JSON: a row whose numbers are
    not finite is one clear error, and nothing of it is written."""
    from src.core.errors import UserError
    from src.inference.explanations import Explanation
    from src.inference.predictor import Prediction
    from src.inference.rows import InputRow, RowWriter
    out = io.StringIO()
    writer = RowWriter(out, dataclasses.replace(tiny_config, output_format="json"), ["text"],
                       ["negative", "positive"])
    row = InputRow(1, "fine", {"text": "fine"})
    prediction = Prediction("positive", {"negative": 0.2, "positive": 0.8})
    explanation = Explanation(["fine"], [0.1], "positive", 0.8, "decomposition", prediction)
    writer.write(row, prediction, explanation)
    assert json.loads(out.getvalue())["explanation"] == [["fine", 0.1]]
    if broken == "probability":
        prediction.probabilities["negative"] = float("nan")
    else:
        explanation.scores = [float("inf")]
    with pytest.raises(UserError, match="row 2: .*not a finite number.*JSON") as raised:
        writer.write(dataclasses.replace(row, number=2), prediction, explanation)
    assert "\n" not in str(raised.value) and len(out.getvalue().splitlines()) == 1
