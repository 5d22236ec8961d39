"""Classify reviews with a trained run.

    python predict.py --ckpt_path RUN_DIR "What a film!" "Dull and far too long."
    python predict.py --ckpt_path RUN_DIR --input_file reviews.txt --output_format json
    cat reviews.txt | python predict.py --ckpt_path RUN_DIR --backend onnxruntime

One line per review: the label, every class probability and the review's start (or one JSON
object); --explain true adds why: the words that pushed hardest toward the label (JSON: every
token with its score), by --explain_method decomposition (default) or occlusion. The run's
config.yaml is the base config; any --KEY VALUE applies.
"""
import sys

from src.core.cli import run_main
from src.core.config import format_help
from src.inference.predict_io import split_arguments, with_run_config

USAGE = ("usage: predict.py --ckpt_path RUN_DIR [--checkpoint_path X.ckpt | --mindir_path "
         "X.mindir] [--input_file FILE|-] [--output_format text|json] [--explain true "
         "[--explain_method decomposition|occlusion]] "
         "[--KEY VALUE ...] [--] [REVIEW ...]")


def predict(config, texts, out):
    """Reviews -> predictor -> one output line each (or a Kaggle submission file)."""
    from src.inference.explanations import explain, method_for
    from src.inference.predict_io import format_prediction, read_reviews, submission_from
    from src.inference.predictor import load_predictor
    if config.submission:
        path, rows = submission_from(config, load_predictor(config))
        print(f"wrote {rows} predictions to {path}", file=out)
        return 0
    reviews = read_reviews(texts, config.input_file)   # arguments, a file or stdin
    predictor = load_predictor(config)                  # checkpoint, MINDIR or onnxruntime
    if config.explain:                                  # each token's score, and the label
        method, note = method_for(predictor, config.explain_method)
        if note:
            print(f"note: {note}", file=sys.stderr)
        reasons = explain(predictor, reviews, config.explain_tokens, method)
        predictions = [reason.prediction for reason in reasons]  # from the same pass
    else:
        predictions, reasons = predictor.predict(reviews), [None] * len(reviews)
    for review, prediction, reason in zip(reviews, predictions, reasons):
        print(format_prediction(prediction, review, config.output_format, reason), file=out)
    return 0


def main(argv, out=None):
    """predict.py's command line: reviews and --key value words, in any order."""
    if argv and argv[0] in ("-h", "--help"):
        print(USAGE + "\n\n" + format_help("predict.py").split("\n", 2)[2])
        return 0
    flags, texts = split_arguments(argv)
    return run_main(lambda config: predict(config, texts, out or sys.stdout),
                    with_run_config(flags))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
