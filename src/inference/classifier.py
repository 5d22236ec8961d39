"""The classifier for Python programs: a trained run (model/ by default) behind two methods.

    from src import load        # after `pip install -e .`: from lstm_sentiment import load
    clf = load()                # the shipped model; load("RUN_DIR") for a run of train.py
    clf.predict("Not bad at all.").verdict
    [r.as_dict() for r in clf.explain(["A wonderful film.", "Dull and far too long."])]

Each result is a Prediction: label (the larger probability), verdict (positive, negative,
neutral or "cannot tell"), probabilities, reason (why "cannot tell") and, from explain(),
each token with its score. Refusals are the command line's, raised as UserError.
"""
import dataclasses

from ..core.config import load_config
from .explanations import explain, method_for
from .predict_io import check_reviews, with_run_config
from .predictor import load_predictor

__all__ = ["Classifier", "load"]


class Classifier:
    """Classifies texts with one loaded model; one instance serves any number of calls."""

    def __init__(self, predictor):
        self.predictor = predictor
        self.config = predictor.config

    def predict(self, texts):
        """A Prediction for a text, or a list of them for a list of texts (in order)."""
        many = _as_list(texts)
        results = self.predictor.predict(many)
        return results if not isinstance(texts, str) else results[0]

    def explain(self, texts):
        """As predict(), each Prediction with `explanation`: [(token, score)] toward its label
        (config.explain_method: the margin split over the tokens, or occlusion)."""
        many = _as_list(texts)
        method, _ = method_for(self.predictor, self.config.explain_method)
        reasons = explain(self.predictor, many, self.config.explain_tokens, method)
        results = [dataclasses.replace(r.prediction, explanation=list(zip(r.tokens, r.scores)))
                   for r in reasons]
        return results if not isinstance(texts, str) else results[0]


def load(run_dir=None, backend="onnxruntime", **settings):
    """The Classifier of a run folder (default: the model shipped in model/).

    Args:
        run_dir: a folder train.py wrote (config.yaml, vocab.json, lstm-best.ckpt), or None.
        backend: "onnxruntime" (fast on CPU) or "mindspore".
        settings: any other config key, e.g. neutral_low=0.4, neutral_high=0.6.
    Raises:
        UserError: a missing run, an unknown key or a bad value, in one line.
    """
    words = ["--run_dir", str(run_dir)] if run_dir else []
    for key, value in {"backend": backend, **settings}.items():
        words += [f"--{key}", str(value)]
    return Classifier(load_predictor(load_config(with_run_config(words))))


def _as_list(texts):
    return check_reviews([texts] if isinstance(texts, str) else texts)
