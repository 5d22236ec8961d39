"""The TF-IDF peer, run with the peers' interpreter (scikit-learn is not a project dependency):

    /tmp/torchvenv/bin/python bench/sklearn_peer.py REVIEWS.json

REVIEWS.json: {"train": [[text, label], ...], "test": [[text, label], ...]} (bench_recipes.py
writes it). Unigram + bigram TF-IDF (sublinear tf, min_df 2) and a logistic regression
(C=10) trained on the training reviews only. Prints one JSON line: the test accuracy, the
seconds it took and each test review's predicted label.
"""
import json
import sys
import time

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression


def main(path):
    reviews = json.loads(open(path, encoding="utf-8").read())
    started = time.perf_counter()
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)
    features = vectorizer.fit_transform(text for text, _ in reviews["train"])
    model = LogisticRegression(C=10, max_iter=1000)
    model.fit(features, [label for _, label in reviews["train"]])
    predicted = model.predict(vectorizer.transform(text for text, _ in reviews["test"]))
    seconds = time.perf_counter() - started
    right = sum(int(p) == label for p, (_, label) in zip(predicted, reviews["test"]))
    print(json.dumps({"accuracy": right / len(reviews["test"]), "seconds": round(seconds, 1),
                      "features": features.shape[1],
                      "predicted": [int(p) for p in predicted]}))


if __name__ == "__main__":
    main(sys.argv[1])
