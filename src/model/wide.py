"""The wide part: a linear model over each review's word and word-pair counts, added to the
network's logits (Wide & Deep, Cheng et al. 2016), fitted as NBSVM is (Wang & Manning 2012).

Features are the review's token ids as the network reads them (cut to max_len), plus each
pair of neighbours hashed into BIGRAM_BUCKETS rows after the vocabulary: row
vocab + (a * MULTIPLIER + b) % BIGRAM_BUCKETS, in int32 without overflow while the vocabulary
has at most MAX_VOCAB words. The network adds table[row] for every position, so a review's wide
logits are its counts times the table; this module computes the same counts in numpy to fit
the table.

Fitting (`fit_table`): naive-Bayes log-count ratios r (one class against the rest, alpha 1)
scale the counts, a multinomial logistic regression with an L2 penalty is fitted on the
training split (L-BFGS), and the table is r x the weights. The deep part is trained without
it; `mix_scale` then picks, on the validation split alone, how much of the wide logits to
add to the deep ones. Fitting the two apart keeps the linear part, which can separate every
training review, from taking the deep part's gradient away.
"""
import mindspore as ms
import numpy as np
from mindspore import nn, ops

__all__ = ["BIGRAM_BUCKETS", "MULTIPLIER", "MAX_VOCAB", "WideLogits", "pair_rows",
           "feature_rows", "count_matrix", "fit_table", "wide_logits", "mix_scale"]

BIGRAM_BUCKETS = 1 << 20
MULTIPLIER = 40009
MAX_VOCAB = (2 ** 31 - 1) // MULTIPLIER - 1
SCALES = np.round(np.concatenate([[0.0], np.geomspace(0.01, 2.0, 24)]), 4)  # x1.26 apart


def pair_rows(words, following, vocab_size):
    """Table rows of word pairs, each word with the word after it (arrays of one shape):
    vocab_size + (word * MULTIPLIER + following) % BIGRAM_BUCKETS. The one hash of the pairs:
    numpy arrays (feature_rows, the onnxruntime backend's feed) or MindSpore tensors inside
    WideLogits' graph, int32 without overflow while vocab_size <= MAX_VOCAB."""
    return (words * MULTIPLIER + following) % BIGRAM_BUCKETS + vocab_size


class WideLogits(nn.Cell):
    """(ids [B, T] int32, length [B] int32) -> [B, num_classes]: the table's rows of every
    real position's word and of its pair with the next word, summed. The table is fitted,
    not trained (requires_grad False); it starts at zero, adding nothing."""

    def __init__(self, vocab_size, num_classes):
        super().__init__()
        self.vocab_size = vocab_size
        self.table = ms.Parameter(ms.Tensor(np.zeros((vocab_size + BIGRAM_BUCKETS, num_classes),
                                                     np.float32)), requires_grad=False)

    def construct(self, ids, length):
        batch, steps = ids.shape
        positions = ops.arange(steps, dtype=ms.int32).reshape(1, steps)
        real = (positions < length.reshape(batch, 1)).astype(ms.float32).expand_dims(2)
        paired = (positions + 1 < length.reshape(batch, 1)).astype(ms.float32).expand_dims(2)
        # the next word of every position (padding after the last), so no slice is ever empty
        following = ops.concat((ids[:, 1:], ops.zeros((batch, 1), ms.int32)), axis=1)
        pairs = pair_rows(ids, following, self.vocab_size)
        words = ops.gather(self.table, ids, 0) * real
        return (words + ops.gather(self.table, pairs, 0) * paired).sum(axis=1)


def feature_rows(ids, vocab_size):
    """Table rows of one review (ids int32 [T], padding excluded): its T unigrams, then its
    T - 1 hashed bigrams."""
    ids = np.asarray(ids, np.int64)
    return np.concatenate([ids, pair_rows(ids[:-1], ids[1:], vocab_size)])


def count_matrix(reviews, vocab_size):
    """scipy CSR [reviews, vocab_size + BIGRAM_BUCKETS] of feature counts."""
    from scipy import sparse
    rows = [feature_rows(ids, vocab_size) for ids in reviews]
    which = np.repeat(np.arange(len(rows)), [len(r) for r in rows])
    matrix = sparse.csr_matrix((np.ones(len(which), np.float32),
                                (which, np.concatenate(rows))),
                               shape=(len(rows), vocab_size + BIGRAM_BUCKETS))
    matrix.sum_duplicates()
    return matrix


def _log_count_ratios(counts, labels, num_classes, alpha=1.0):
    """[features, classes]: log of (share of the feature in class c) / (share elsewhere)."""
    ratios = []
    for c in range(num_classes):
        inside = alpha + np.asarray(counts[labels == c].sum(axis=0)).ravel()
        outside = alpha + np.asarray(counts[labels != c].sum(axis=0)).ravel()
        ratios.append(np.log(inside / inside.sum()) - np.log(outside / outside.sum()))
    return np.stack(ratios, axis=1)


def _softmax(logits):
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def fit_table(counts, labels, num_classes, penalty=1.0, iterations=200):
    """(table float32 [features, classes], bias float32 [classes]) of the NB-weighted logistic
    regression; penalty is the L2 weight on the ratio-scaled weights (liblinear's 1 / C).

    Only the features the reviews hold are optimised: an absent one's gradient is its L2 term
    alone, zero from a zero start, so its weight stays 0 (most of the million hashed pairs on
    a small corpus)."""
    from scipy.optimize import minimize
    labels = np.asarray(labels)
    ratios = _log_count_ratios(counts, labels, num_classes)
    present = np.flatnonzero(np.bincount(counts.indices, minlength=counts.shape[1]))
    all_features, counts, ratios = counts.shape[1], counts[:, present], ratios[present]
    onehot = np.eye(num_classes)[labels]
    features, classes = ratios.shape

    def loss_and_gradient(flat):
        weights, bias = flat[:-classes].reshape(features, classes), flat[-classes:]
        logits = counts @ (ratios * weights) + bias
        probabilities = _softmax(logits)
        loss = -np.log(probabilities[onehot == 1] + 1e-12).sum() + 0.5 * penalty * (
            weights * weights).sum()
        error = probabilities - onehot
        gradient = ratios * (counts.T @ error) + penalty * weights
        return loss, np.concatenate([gradient.ravel(), error.sum(axis=0)])

    start = np.zeros(features * classes + classes)
    found = minimize(loss_and_gradient, start, jac=True, method="L-BFGS-B",
                     options={"maxiter": iterations})
    table = np.zeros((all_features, classes), np.float32)
    table[present] = ratios * found.x[:-classes].reshape(features, classes)
    return table, found.x[-classes:].astype(np.float32)


def wide_logits(counts, table, bias):
    """[reviews, classes] logits of the wide part alone."""
    return np.asarray(counts @ table) + bias


def mix_scale(deep, wide, labels):
    """The scale s in SCALES for which deep + s * wide is most accurate on the validation
    labels, the lowest log-loss breaking ties: (s, {s: (accuracy, loss)}). Accuracy first:
    the wide logits are overconfident, so log-loss alone keeps too little of them (on the
    full aclImdb it chose 0.1 where accuracy chose 1.0: bench/bench_wide.py)."""
    labels = np.asarray(labels)
    scores = {}
    for scale in SCALES:
        mixed = deep + scale * wide
        probabilities = _softmax(mixed)
        scores[float(scale)] = (float((mixed.argmax(axis=1) == labels).mean()), float(
            -np.log(probabilities[np.arange(len(labels)), labels] + 1e-12).mean()))
    return max(scores, key=lambda s: (scores[s][0], -scores[s][1])), scores
