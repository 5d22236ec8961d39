"""The linear peers, run with the peers' interpreter (scikit-learn is not a project dependency;
`make bench-venv` builds .bench-venv with it):

    .bench-venv/bin/python bench/sklearn_peer.py REVIEWS.json [tfidf|nbsvm|nbsvm_proba]

REVIEWS.json: {"train": [[text, label], ...], "test": [[text, label], ...]} (bench_recipes.py
writes it; for nbsvm_proba, "texts": [text, ...] instead of "test"). Trained on the training
reviews only:
- tfidf: unigram + bigram TF-IDF (sublinear tf, min_df 2), logistic regression (C=10);
- nbsvm: NB-weighted logistic regression after Wang & Manning 2012: binarised unigram +
  bigram counts of the tokens \b\w+\b plus ! and ?, scaled by the log-count ratio (alpha 1),
  liblinear with C=1.
Prints one JSON line: the test accuracy, the seconds it took and each test review's label;
nbsvm_proba prints the seconds, the features and "p_positive", NBSVM's predict_proba of label 1
for each of "texts" (bench/behaviour_peers.py calls nbsvm_proba in-process).
"""
import json
import sys
import time

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression


def tfidf(train_texts, labels, test_texts):
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)
    features = vectorizer.fit_transform(train_texts)
    model = LogisticRegression(C=10, max_iter=1000).fit(features, labels)
    return model.predict(vectorizer.transform(test_texts)), features.shape[1]


def nbsvm_fit(train_texts, labels):
    """(scaled, model, width): NBSVM fitted on the training reviews; scaled(texts) is the
    log-count-ratio-scaled feature matrix the model takes, width the number of features."""
    vectorizer = CountVectorizer(ngram_range=(1, 2), binary=True,
                                 token_pattern=r"\b\w+\b|[!?]")
    features = vectorizer.fit_transform(train_texts)
    labels = np.asarray(labels)
    positive = 1 + np.asarray(features[labels == 1].sum(axis=0)).ravel()
    negative = 1 + np.asarray(features[labels == 0].sum(axis=0)).ravel()
    ratio = np.log((positive / positive.sum()) / (negative / negative.sum()))
    model = LogisticRegression(C=1, solver="liblinear").fit(features.multiply(ratio).tocsr(),
                                                            labels)

    def scaled(texts):
        return vectorizer.transform(texts).multiply(ratio).tocsr()
    return scaled, model, features.shape[1]


def nbsvm(train_texts, labels, test_texts):
    """(predicted label of each test text, width): NBSVM fitted on the training reviews."""
    scaled, model, width = nbsvm_fit(train_texts, labels)
    return model.predict(scaled(test_texts)), width


def nbsvm_proba(train_texts, labels, texts):
    """(p(label 1) of each text, width): NBSVM's predict_proba after fitting on the training
    reviews."""
    scaled, model, width = nbsvm_fit(train_texts, labels)
    column = list(model.classes_).index(1)
    return model.predict_proba(scaled(texts))[:, column], width


def main(path, method="tfidf"):
    reviews = json.loads(open(path, encoding="utf-8").read())
    if method == "nbsvm_proba":
        return main_proba(reviews)
    started = time.perf_counter()
    peer = {"tfidf": tfidf, "nbsvm": nbsvm}[method]
    predicted, width = peer([text for text, _ in reviews["train"]],
                            [label for _, label in reviews["train"]],
                            [text for text, _ in reviews["test"]])
    seconds = time.perf_counter() - started
    right = sum(int(p) == label for p, (_, label) in zip(predicted, reviews["test"]))
    print(json.dumps({"accuracy": right / len(reviews["test"]), "seconds": round(seconds, 1),
                      "features": width,
                      "predicted": [int(p) for p in predicted]}))


def main_proba(reviews):
    """Print NBSVM's p(positive) of each of reviews["texts"] as one JSON line."""
    started = time.perf_counter()
    p, width = nbsvm_proba([text for text, _ in reviews["train"]],
                           [label for _, label in reviews["train"]], reviews["texts"])
    print(json.dumps({"seconds": round(time.perf_counter() - started, 1), "features": width,
                      "p_positive": [round(float(value), 6) for value in p]}))


if __name__ == "__main__":
    main(*sys.argv[1:3])
