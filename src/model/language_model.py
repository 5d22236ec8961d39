"""The language model that pretrains SentimentNet's encoder: a forward LSTM that predicts each
next word and a backward LSTM that predicts each previous one, over one shared embedding.

The two LSTMs have exactly the shapes of SentimentNet's one-layer bidirectional encoder (the
backward one reads the text reversed, as SentimentNet's backward direction does), so after
pretraining the embedding and both LSTMs become the classifier's (`encoder_params`). The
output layer ties its word vectors to the input embedding, and its softmax over the whole
vocabulary is replaced by a sampled one: the true word against `samples` words drawn
log-uniformly (the vocabulary is sorted by frequency), each logit corrected by the log of its
expected count, so the cost does not grow with the vocabulary.
"""
import mindspore as ms
import numpy as np
from mindspore import nn, ops

__all__ = ["BiLanguageModel", "NegativeSampler", "encoder_params", "load_encoder_params",
           "ENCODER_PREFIXES"]

# The parameters of SentimentNet that pretraining provides.
ENCODER_PREFIXES = ("embedding.", "forward_layers.0.", "backward_layers.0.")


class NegativeSampler:
    """Draws the sampled softmax's negative words: log-uniform over frequency ranks, seeded
    by (seed, step), so a resumed run draws what the uninterrupted one drew."""

    def __init__(self, vocab_size, samples, seed):
        ranks = np.arange(vocab_size, dtype=np.float64)
        probability = (np.log(ranks + 2) - np.log(ranks + 1)) / np.log(vocab_size + 1)
        self.probability = probability / probability.sum()
        self.vocab_size, self.samples, self.seed = vocab_size, samples, seed
        self.log_expected = np.log(samples * self.probability).astype(np.float32)

    def draw(self, step):
        rng = np.random.default_rng([self.seed, step])
        return rng.choice(self.vocab_size, self.samples, p=self.probability).astype(np.int32)


class _SampledSoftmax(nn.Cell):
    """Mean cross-entropy of each true word against the sampled negatives."""

    def __init__(self, log_expected):
        super().__init__()
        self.log_expected = ms.Parameter(ms.Tensor(log_expected), name="log_expected",
                                         requires_grad=False)

    def construct(self, weights, bias, hidden, targets, negatives):
        true_logit = (hidden * ops.gather(weights, targets, 0)).sum(-1) \
            + ops.gather(bias, targets, 0) - ops.gather(self.log_expected, targets, 0)
        negative_logit = ops.matmul(hidden, ops.gather(weights, negatives, 0).T) \
            + ops.gather(bias, negatives, 0) - ops.gather(self.log_expected, negatives, 0)
        hit = targets.reshape(-1, 1) == negatives.reshape(1, -1)  # a negative that is the truth
        negative_logit = negative_logit - hit.astype(negative_logit.dtype) * 1e9
        logits = ops.concat((true_logit.reshape(-1, 1), negative_logit), axis=1)
        return (ops.logsumexp(logits, 1) - true_logit).mean()


class BiLanguageModel(nn.Cell):
    """(window [T+1, B] ids, negatives [K] ids) -> mean sampled-softmax loss of both directions.

    Args:
        embedding_table: numpy [vocab, embed] initial vectors (tied to the output layer).
        num_hiddens: LSTM units per direction.
        log_expected: NegativeSampler.log_expected.
        dropout: on the embeddings and the LSTM outputs.
    """

    def __init__(self, embedding_table, num_hiddens, log_expected, dropout=0.1):
        super().__init__()
        vocab_size, embed_size = embedding_table.shape
        self.embedding = nn.Embedding(vocab_size, embed_size,
                                      embedding_table=ms.Tensor(embedding_table, ms.float32))
        self.forward_lstm = nn.LSTM(embed_size, num_hiddens)
        self.backward_lstm = nn.LSTM(embed_size, num_hiddens)
        self.forward_project = nn.Dense(num_hiddens, embed_size)
        self.backward_project = nn.Dense(num_hiddens, embed_size)
        self.bias = ms.Parameter(ms.Tensor(np.zeros(vocab_size, np.float32)), name="word_bias")
        self.softmax = _SampledSoftmax(log_expected)
        self.dropout = nn.Dropout(p=dropout)
        self.embed_size = embed_size

    def _direction(self, window, lstm, project, negatives):
        hidden, _ = lstm(self.dropout(self.embedding(window[:-1])))
        predicted = project(self.dropout(hidden)).reshape(-1, self.embed_size)
        return self.softmax(self.embedding.embedding_table, self.bias, predicted,
                            window[1:].reshape(-1), negatives)

    def construct(self, window, negatives):
        forward = self._direction(window, self.forward_lstm, self.forward_project, negatives)
        backward = self._direction(window[::-1], self.backward_lstm, self.backward_project,
                                   negatives)
        return (forward + backward) / 2


def _named_parts(lm):
    """(name in an encoder file, parameter of lm): the embedding and both LSTMs under
    SentimentNet's names, the language model's own output layers under "lm."."""
    parts = [("embedding.embedding_table", lm.embedding.embedding_table),
             ("lm.word_bias", lm.bias)]
    for direction, lstm in (("forward_layers.0", lm.forward_lstm),
                            ("backward_layers.0", lm.backward_lstm)):
        parts += [(f"{direction}.{param.name.rsplit('.', 1)[-1]}", param)
                  for param in lstm.get_parameters()]
    for name, project in (("forward_project", lm.forward_project),
                          ("backward_project", lm.backward_project)):
        parts += [(f"lm.{name}.{param.name.rsplit('.', 1)[-1]}", param)
                  for param in project.get_parameters()]
    return parts


def encoder_params(lm):
    """{name: numpy array} of an encoder file: what SentimentNet takes (ENCODER_PREFIXES) and
    the language model's output layers, so the same file also continues pretraining."""
    return {name: param.asnumpy() for name, param in _named_parts(lm)}


def load_encoder_params(lm, params):
    """Set lm's weights from an encoder file's params (float16 files are widened); returns
    the names of lm's weights that params lacks."""
    missing = []
    for name, param in _named_parts(lm):
        if name not in params or tuple(params[name].shape) != tuple(param.shape):
            missing.append(name)
            continue
        param.set_data(ms.Tensor(params[name].asnumpy().astype(np.float32)))
    return missing
