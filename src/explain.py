"""Why the model decided: each token's signed score toward the predicted class.

Leave-one-out occlusion: a token's score is how much the predicted class's probability drops
when that token is deleted from the review (negative: the review reads more like the
predicted class without it). The variants run through the predictor in batches, so the cost
is a bounded number of extra tokens through the network, never a gradient: at most
`explain_tokens` tokens per review (variants x length). A review too long for one variant
per token is explained by spans of consecutive tokens, each token taking its span's score.
"""
from dataclasses import dataclass

import numpy as np

from src.predictor import softmax
from src.text import UNK, tokenize

__all__ = ["Explanation", "explain", "span_size"]


@dataclass
class Explanation:
    """The tokens the network read and their scores (same order and length)."""
    tokens: list
    scores: list
    label: str
    probability: float

    def strongest(self, count=5):
        """The count tokens that pushed hardest toward the label: [(token, score)]."""
        order = np.argsort(-np.asarray(self.scores), kind="stable")[:count]
        return [(self.tokens[i], self.scores[i]) for i in order if self.scores[i] > 0]

    def as_dict(self):
        return {"label": self.label, "probability": round(self.probability, 6),
                "tokens": [[token, round(score, 5)] for token, score in
                           zip(self.tokens, self.scores)]}


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


def explain(predictor, texts, budget=50_000):
    """[Explanation] of each text (str) for predictor (see src/predictor.py)."""
    config, vocab = predictor.config, predictor.vocab
    kept = [vocab.kept(tokenize(text), config.max_len, config.truncate) or ["<unk>"]
            for text in texts]
    encoded = predictor.encode(texts)
    full = softmax(predictor.logits(encoded))
    sizes = [span_size(len(ids), budget) for ids in encoded]
    variants = [_variants(ids, size, vocab.index[UNK]) for ids, size in zip(encoded, sizes)]
    flat = [variant for review in variants for variant in review]
    without = softmax(predictor.logits(flat))
    explanations, at = [], 0
    for tokens, row, size, review in zip(kept, full, sizes, variants):
        label = int(row.argmax())
        drops = row[label] - without[at:at + len(review), label]
        at += len(review)
        scores = np.repeat(drops, size)[:len(tokens)]
        explanations.append(Explanation(tokens, [float(x) for x in scores],
                                        predictor.labels[label], float(row[label])))
    return explanations

