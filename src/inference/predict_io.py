"""predict.py's input and output: reviews from arguments, a file or stdin; one text or JSON line
per prediction; a Kaggle submission CSV; and the run's config.yaml as the base config."""
import csv
import json
import sys
from pathlib import Path

from ..data.splits import read_unlabelled
from ..core.errors import UserError
from ..core.files import atomic_path
from ..core.run_folder import SHIPPED, run_config_first

__all__ = ["check_reviews", "read_reviews", "format_prediction", "split_arguments", "with_run_config",
           "write_submission", "submission_from"]


def _decode_line(raw, number, source):
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UserError(f"line {number} of {source} is not UTF-8 (bad byte at offset "
                        f"{err.start}); re-save the file as UTF-8") from None
    if not text.strip():
        raise UserError(f"line {number} of {source} is empty; remove blank lines (one review "
                        f"per line)")
    return text


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


def read_reviews(texts, input_file, stdin=None):
    """The reviews to classify: texts given as arguments, else lines of input_file or stdin.

    Args:
        texts: reviews from the command line (may be empty).
        input_file: path of a UTF-8 file with one review per line, "-" for stdin, or "".
        stdin: binary stream used when input_file is "-" or when no texts and no file are
            given and it is not a terminal.

    Returns:
        A list of non-empty review strings. Empty reviews and non-UTF-8 bytes raise UserError
        naming the line (nothing is predicted then).
    """
    if texts:
        return check_reviews(texts)
    stdin = stdin if stdin is not None else sys.stdin.buffer
    if input_file and input_file != "-":
        try:
            raw, source = Path(input_file).read_bytes(), input_file
        except OSError as err:
            raise UserError(f"cannot read --input_file {input_file} ({err.strerror}); pass a "
                            f"readable file with one review per line") from None
    elif input_file == "-" or not getattr(stdin, "isatty", lambda: True)():
        raw, source = stdin.read(), "stdin"
    else:
        raise UserError("no reviews given; pass them as arguments, with --input_file FILE, or "
                        "on stdin")
    lines = raw.splitlines()
    if not lines:
        raise UserError(f"{source} holds no reviews; put one review per line")
    return [_decode_line(line, number, source) for number, line in enumerate(lines, 1)]


def format_prediction(prediction, text, output_format, explanation=None):
    """One output line: JSON, or 'verdict  p(name)=0.1234 ...  [strongest words]  review start'
    (the verdict: the label, or neutral / cannot tell, see Prediction).

    With an explanation (src/inference/explanations.py), JSON holds every token and its score and the method
    that scored them, the text line the words that pushed hardest toward the label.
    """
    if output_format == "json":
        record = prediction.as_dict()
        if explanation is not None:
            record["explanation"] = explanation.as_dict()["tokens"]
            record["explanation_method"] = explanation.method
        return json.dumps(record, ensure_ascii=False)
    probabilities = " ".join(f"p({name})={p:.4f}" for name, p in
                             prediction.probabilities.items())
    snippet = " ".join(text.split())
    snippet = snippet if len(snippet) <= 60 else snippet[:57] + "..."
    verdict = prediction.verdict or prediction.label
    fields = [f"{verdict} ({prediction.reason})" if prediction.reason else verdict,
              probabilities]
    if explanation is not None:
        fields.append(", ".join(f"{token} {score:+.3f}" for token, score in
                                explanation.strongest()) or "(no single word decides)")
    return "\t".join(fields + [snippet])


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
