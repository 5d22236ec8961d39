"""Why the model decided: each token's signed score toward the predicted label.

Two methods (`explain_method`):

decomposition (the default): the margin between the predicted label and the runner-up,
split exactly over the tokens, from the pass that gives the prediction. SentimentNet's
logits are bias + A·mean_t(h_t) + M·max_t(h_t) over the real positions t (h_t: the last
LSTM layer's states there), so the margin splits over positions and channels: A·h_t / length
to every position, M's part of each channel to the position that holds its maximum
(state_shares). A position's states hold what the LSTM read around it, not only its token
(left there, the shares single out the tokens that matter far less well than occlusion:
bench/README.md), so src/inference/relevance.py carries each share back through the LSTM to the tokens
(LRP). Each additive part of the logits is one function in SHARE_TERMS; the wide part's
(src/model/wide.py) is each word's row and half of each of its word pairs' rows, and another
linear part would add its own the same way. The scores plus `baseline` (the biases' part,
no token's) sum to the margin. It costs the pass and numpy work of one or two more
(bench/bench_explain.py). It needs the network's states and mean, max or mean_max pooling:
a MINDIR (logits only) or first_last pooling is explained by occlusion, and `method_for`
says so in one line.

occlusion (leave-one-out): a token's score is how much the predicted label's probability
drops when that token is deleted from the review (negative: the review reads more like the
label without it). The variants run through the predictor in batches: at most
`explain_tokens` tokens per review (variants x length). A review too long for one variant
per token is explained by spans of consecutive tokens, each token taking its span's score.
"""
from dataclasses import dataclass

import numpy as np

from .predictor import softmax
from .relevance import token_relevance
from ..data.text import UNK, tokenize
from ..model.wide import BIGRAM_BUCKETS, feature_rows

__all__ = ["Explanation", "explain", "method_for", "state_shares", "token_shares", "span_size",
           "METHODS", "DECOMPOSABLE"]

METHODS = ("decomposition", "occlusion")
DECOMPOSABLE = ("mean", "max", "mean_max")  # poolings whose logits split over positions


@dataclass
class Explanation:
    """The tokens the network read and their scores (same order and length), the method that
    scored them and the prediction of the same pass (src/inference/predictor.py's Prediction)."""
    tokens: list
    scores: list
    label: str
    probability: float
    method: str = "occlusion"
    prediction: object = None
    baseline: float = 0.0  # decomposition: the margin's part no token holds (the biases')

    def strongest(self, count=5):
        """The count tokens that pushed hardest toward the label: [(token, score)]."""
        order = np.argsort(-np.asarray(self.scores), kind="stable")[:count]
        return [(self.tokens[i], self.scores[i]) for i in order if self.scores[i] > 0]

    def as_dict(self):
        return {"label": self.label, "probability": round(self.probability, 6),
                "method": self.method,
                "tokens": [[token, round(score, 5)] for token, score in
                           zip(self.tokens, self.scores)]}


def method_for(predictor, requested="decomposition"):
    """(the method explain() uses for predictor when asked for `requested`, and a one-line
    note if that is not the one asked for, else "")."""
    if requested == "occlusion":
        return "occlusion", ""
    if not predictor.gives_states:
        return "occlusion", ("explain_method decomposition needs the checkpoint's network (a "
                             "MINDIR gives only logits): explaining by occlusion")
    pooling = predictor.forward.readout["pooling"]
    if pooling not in DECOMPOSABLE:
        return "occlusion", (f"explain_method decomposition needs mean, max or mean_max "
                             f"pooling, not {pooling}: explaining by occlusion")
    return "decomposition", ""


def state_shares(readout, states, direction):
    """[L, C]: the share of direction . logits (without the bias) that each position and
    channel of the last layer's states holds; states [L, layers * C] of one review."""
    weight = (direction @ readout["weight"]).astype(np.float32)  # [pooled]
    channels = len(weight) // (2 if readout["pooling"] == "mean_max" else 1)
    last = np.asarray(states[:, -channels:], np.float32)
    shares, at = np.zeros(last.shape, np.float32), 0
    if readout["pooling"] in ("mean", "mean_max"):  # pooled as [mean, max]: src/model/network.py
        shares += last * (weight[:channels] / len(last))
        at = channels
    if readout["pooling"] in ("max", "mean_max"):
        holder, every = last.argmax(axis=0), np.arange(channels)  # who holds each maximum
        shares[holder, every] += last[holder, every] * weight[at:at + channels]
    return shares


def _deep(readout, ids, states, direction, through_lstm=True):
    """([L], rest): the network part's shares carried back to the tokens (src/inference/relevance.py;
    rest: the LSTM biases' part, no token's), or left with the positions that hold them
    (through_lstm False)."""
    shares = state_shares(readout, states, direction)
    if not through_lstm:
        return shares.sum(axis=1), 0.0
    scores, rest, _ = token_relevance(readout, ids, states, shares)
    return scores, rest


def _wide(readout, ids, states, direction, through_lstm=True):
    """([L], 0.0): each word's row of the wide table and half the row of each word pair it
    is part of (src/model/wide.py); (0.0, 0.0) without a wide part."""
    table = readout["wide"]
    if table is None:
        return 0.0, 0.0
    rows = feature_rows(ids, table.shape[0] - BIGRAM_BUCKETS)
    shares = table[rows[:len(ids)]].astype(np.float64) @ direction
    halves = table[rows[len(ids):]].astype(np.float64) @ direction / 2
    shares[:-1] += halves
    shares[1:] += halves
    return shares, 0.0


SHARE_TERMS = (_deep, _wide)  # each additive part of the logits: (token shares, rest)


def token_shares(readout, ids, states, direction, through_lstm=True):
    """(scores [L], constant): one review's token shares of direction . logits (direction
    [classes], e.g. +1 for the label and -1 for the runner-up), which sum to it less
    constant, the biases' part. readout: SentimentNet.readout(); ids [L]; states
    [L, layers * C]. through_lstm False leaves the network part with the positions."""
    parts = [term(readout, ids, states, direction, through_lstm) for term in SHARE_TERMS]
    return (sum(scores for scores, _ in parts),
            float(direction @ readout["bias"]) + sum(rest for _, rest in parts))


def span_size(length, budget):
    """Tokens per occluded span so that the variants of a review of `length` tokens (one
    per span, each about `length` long) stay within `budget` tokens."""
    spans = max(1, min(length, budget // max(length, 1)))
    return -(-length // spans)


def _variants(ids, size, unk):
    """The review with each span of `size` tokens deleted in turn (nothing left: <unk>)."""
    variants = []
    for start in range(0, len(ids), size):
        rest = np.concatenate([ids[:start], ids[start + size:]])
        variants.append(rest if len(rest) else np.asarray([unk], np.int32))
    return variants


def explain(predictor, texts, budget=50_000, method="decomposition"):
    """[Explanation] of each text (str) for predictor (see src/inference/predictor.py), by `method`
    (one of METHODS; see method_for for when decomposition falls back to occlusion)."""
    config, vocab = predictor.config, predictor.vocab
    kept = [vocab.kept(tokenize(text), config.max_len, config.truncate) or ["<unk>"]
            for text in texts]
    encoded = [vocab.encode(tokens, config.max_len, config.truncate) for tokens in kept]
    if method_for(predictor, method)[0] == "decomposition":
        return _decomposed(predictor, kept, encoded)
    return _occluded(predictor, kept, encoded, budget)


def _decomposed(predictor, kept, encoded):
    logits, states = predictor.logits_and_states(encoded)
    explanations = []
    for tokens, ids, row, held, prediction in zip(kept, encoded, logits, states,
                                                  predictor.predictions(logits, encoded)):
        label, runner_up = np.argsort(-row, kind="stable")[:2]
        direction = np.zeros(len(row))
        direction[[label, runner_up]] = 1.0, -1.0
        scores, baseline = token_shares(predictor.forward.readout, ids, held, direction)
        explanations.append(Explanation(
            tokens, [float(x) for x in scores], predictor.labels[label],
            float(softmax(row[None])[0, label]), "decomposition", prediction, baseline))
    return explanations


def _occluded(predictor, kept, encoded, budget):
    vocab = predictor.vocab
    logits = predictor.logits(encoded)
    full = softmax(logits)
    sizes = [span_size(len(ids), budget) for ids in encoded]
    variants = [_variants(ids, size, vocab.index[UNK]) for ids, size in zip(encoded, sizes)]
    flat = [variant for review in variants for variant in review]
    without = softmax(predictor.logits(flat))
    explanations, at = [], 0
    for tokens, row, size, review, prediction in zip(kept, full, sizes, variants,
                                                     predictor.predictions(logits, encoded)):
        label = int(row.argmax())
        drops = row[label] - without[at:at + len(review), label]
        at += len(review)
        scores = np.repeat(drops, size)[:len(tokens)]
        explanations.append(Explanation(tokens, [float(x) for x in scores],
                                        predictor.labels[label], float(row[label]),
                                        "occlusion", prediction))
    return explanations
