"""Classify reviews with a trained run.

    python predict.py --run_dir RUN_DIR "What a film!" "Dull and far too long."
    python predict.py --run_dir RUN_DIR --input_file reviews.txt --output_format json
    python predict.py --input_file reviews.csv --text_column text --output_format csv > out.csv
    cat reviews.txt | python predict.py --run_dir RUN_DIR --backend onnxruntime

Without --run_dir the model shipped in model/ answers. One output per input row, in order:
the verdict, every class probability and the review's start; or a JSON object with the row
number and id; or, with --output_format csv, a table row after the input's columns. A blank
or unreadable row gets an empty prediction and a note on stderr. --explain true adds why: the
words that pushed hardest toward the label (JSON: every token with its score), by
--explain_method decomposition (default) or occlusion. The run's config.yaml is the base
config; any --KEY VALUE applies.
"""
import os
import sys

from src.core.cli import run_main
from src.core.config import format_help
from src.inference.predict_io import split_arguments, with_run_config

USAGE = ("usage: predict.py [--run_dir RUN_DIR (default: model/, the shipped model)] "
         "[--checkpoint_file X.ckpt | --mindir_path X.mindir] [--input_file FILE.txt|FILE.csv|"
         "FILE.tsv|- [--text_column text]] [--output_format text|json|csv] [--explain true "
         "[--explain_method decomposition|occlusion]] [--KEY VALUE ...] [--] [REVIEW ...]")


def predict(config, texts, out):
    """Reviews -> predictor -> one output per input row (or a Kaggle submission file)."""
    from src.inference.explanations import explain, method_for
    from src.inference.predict_io import submission_from
    from src.inference.predictor import load_predictor
    from src.inference.rows import RowWriter, read_rows
    if config.submission:
        path, rows = submission_from(config, load_predictor(config))
        print(f"wrote {rows} predictions to {path}", file=out)
        return 0
    rows, columns = read_rows(texts, config)            # arguments, a file, a table or stdin
    readable = [row for row in rows if row.text is not None]
    predictor = load_predictor(config)                  # checkpoint, MINDIR or onnxruntime
    texts = [row.text for row in readable]
    if config.explain:                                  # each token's score, and the label
        method, note = method_for(predictor, config.explain_method)
        if note:
            print(f"note: {note}", file=sys.stderr)
        reasons = explain(predictor, texts, config.explain_tokens, method) if texts else []
        predictions = [reason.prediction for reason in reasons]  # from the same pass
    else:
        predictions = predictor.predict(texts) if texts else []
        reasons = [None] * len(predictions)
    results = {row.number: pair for row, pair in zip(readable, zip(predictions, reasons))}
    writer = RowWriter(out, config, columns, predictor.labels, config.input_file)
    for row in rows:                                    # in input order, blank rows included
        if row.text is None:
            print(f"note: {row.note}", file=sys.stderr)
        writer.write(row, *results.get(row.number, (None, None)))
    return 0


def main(argv, out=None):
    """predict.py's command line: reviews and --key value words, in any order."""
    from src import __version__
    from src.core.cli import asks_for, print_help
    if asks_for(argv, "-h", "--help"):
        print_help(USAGE + "\n\n" + format_help("predict.py").split("\n", 2)[2])
        return 0
    if asks_for(argv, "--version"):
        print(f"lstm-sentiment {__version__}", file=out or sys.stdout)
        return 0
    flags, texts = split_arguments(argv)
    out = out or sys.stdout
    return run_main(lambda config: _until_the_reader_leaves(
        lambda: predict(config, texts, out), out), with_run_config(flags))


def _until_the_reader_leaves(job, out):
    """job()'s exit code, with out flushed; 0 when the reader of out goes away first
    (`predict.py ... | head -1`): the rows left are not written, and no traceback, as for
    --help (src/core/cli.print_help)."""
    try:
        code = job()
        out.flush()
        return code
    except BrokenPipeError:
        try:  # the interpreter flushes out once more at exit: to nowhere, not the closed pipe
            os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
        except (AttributeError, OSError, ValueError):
            pass
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
