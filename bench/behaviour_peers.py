"""The peers of bench/bench_behaviour.py, run with the peers' interpreter (`make bench-venv`
builds .bench-venv with scikit-learn and vaderSentiment; neither is a project dependency):

    .bench-venv/bin/python bench/behaviour_peers.py INPUT.json

INPUT.json: {"systems": ["nbsvm", "vader"], "texts": [text, ...], "band": [low, high],
"train": [[text, label], ...]} ("train", aclImdb's training reviews, only for nbsvm).
- nbsvm: bench/sklearn_peer.py's NBSVM, fitted on "train", p = predict_proba of label 1;
- vader: vaderSentiment's compound c in [-1, 1] mapped piecewise-linearly onto p with
  c = -1 -> 0, c = -0.05 -> low, c = 0.05 -> high, c = 1 -> 1, so VADER's own neutral band
  |c| < 0.05 is the bench's neutral band low <= p <= high (c = +-0.05 exactly, positive or
  negative for VADER, lands on the band's closed edge: neutral here).
Prints one JSON line: {"p": {system: [p of each text]}, "seconds": {system: s},
"versions": {...}}.
"""
import json
import sys
import time
from importlib import metadata

import numpy as np

from sklearn_peer import nbsvm_proba


def nbsvm(request):
    """NBSVM's p(positive) of each text."""
    train = request["train"]
    p, _ = nbsvm_proba([text for text, _ in train], [label for _, label in train],
                       request["texts"])
    return p


def vader_to_p(compound, band):
    """VADER's compound score(s) mapped onto p(positive) (see the module's docstring)."""
    low, high = band
    return np.interp(compound, [-1.0, -0.05, 0.05, 1.0], [0.0, low, high, 1.0])


def vader(request):
    """VADER's compound score of each text, mapped onto p(positive)."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    analyzer = SentimentIntensityAnalyzer()
    compound = [analyzer.polarity_scores(text)["compound"] for text in request["texts"]]
    return vader_to_p(np.asarray(compound), request["band"])


SYSTEMS = {"nbsvm": nbsvm, "vader": vader}
PACKAGES = {"nbsvm": "scikit-learn", "vader": "vaderSentiment"}


def main(path):
    """Print the p values of every requested system as one JSON line."""
    request = json.loads(open(path, encoding="utf-8").read())
    result = {"p": {}, "seconds": {}, "versions": {}}
    for name in request["systems"]:
        started = time.perf_counter()
        result["p"][name] = [round(float(value), 6) for value in SYSTEMS[name](request)]
        result["seconds"][name] = round(time.perf_counter() - started, 1)
        result["versions"][name] = f"{PACKAGES[name]} {metadata.version(PACKAGES[name])}"
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1])
