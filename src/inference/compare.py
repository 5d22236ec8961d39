"""Accuracy of several trained runs on the same raw test reviews, each with its own vocabulary.

    python -m src.inference.compare RUN_DIR [RUN_DIR ...] --aclimdb_path data/aclImdb_sample

`make demo` ends with it: the model it trained on the sample against the model shipped in
model/, on the sample's test reviews.
"""
import sys

import numpy as np

from ..data.readers.aclimdb import read_aclimdb
from ..core.errors import UserError
from .predict_io import with_run_config

__all__ = ["accuracy_of", "main"]


def accuracy_of(run_dir, reviews, extra=()):
    """The share of reviews that the run's lstm-best.ckpt labels right."""
    from ..core.config import load_config
    from .predictor import load_predictor
    predictor = load_predictor(load_config(with_run_config(["--run_dir", str(run_dir),
                                                            *extra])))
    predicted = predictor.logits(predictor.encode([r.text for r in reviews])).argmax(axis=1)
    return float(np.mean(predicted == np.array([r.label for r in reviews])))


def main(argv):
    runs = [word for word in argv if not word.startswith("--")]
    source = argv[argv.index("--aclimdb_path") + 1] if "--aclimdb_path" in argv else None
    if not runs or source is None:
        raise UserError("usage: python -m src.inference.compare RUN_DIR [RUN_DIR ...] --aclimdb_path "
                        "ACLIMDB; pass the run folders and the reviews to score them on")
    runs = [run for run in runs if run != source]
    reviews = read_aclimdb(source)["test"]
    print(f"accuracy on the {len(reviews)} test reviews of {source}:")
    for run in runs:
        print(f"  {run}: {100 * accuracy_of(run, reviews):.1f} %")
    return 0


if __name__ == "__main__":
    from ..core.cli import fail
    try:
        sys.exit(main(sys.argv[1:]))
    except UserError as err:
        fail(err)
