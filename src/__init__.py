"""lstm-sentiment: an LSTM sentiment classifier on MindSpore.

    from src import load       # after `pip install -e .`: from lstm_sentiment import load
    clf = load()               # the model shipped in model/
    clf.predict("Not bad at all.")

The packages, each importing only from those before it: core/ -> data/ -> model/ ->
training/ and inference/, with cloud/ on core/ alone.
"""
import os

# MindSpore prints its C++ warnings to stderr; keep stderr for our one-line errors.
os.environ.setdefault("GLOG_v", "3")

__all__ = ["load", "UserError", "__version__"]
from .core.errors import UserError  # noqa: E402  (after GLOG_v, before MindSpore loads)
from .core.version import __version__  # noqa: E402


def load(run_dir=None, backend="onnxruntime", **settings):
    """The classifier of a run folder, model/ by default (src/inference/classifier.py)."""
    from .inference.classifier import load as load_classifier
    return load_classifier(run_dir, backend, **settings)
