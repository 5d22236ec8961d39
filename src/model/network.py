"""SentimentNet, the zoo's src/lstm.py: embedding -> (bi)LSTM -> length-aware pooling -> dense.

Padding never reaches the encoding. MindSpore's `seq_length=` argument would mask, but in
GRAPH_MODE on CPU it unrolls the time loop and does not compile at 500 steps. Instead each
backward direction reads its review reversed within the review's true length (padding moves
to the end, after every real token), and pooling looks only at real positions. The forward
direction needs nothing: padding comes after the real tokens, so it cannot change them.
"""
import mindspore as ms
import numpy as np
from mindspore import nn, ops

from .wide import WideLogits

__all__ = ["SentimentNet", "LogitsAndStates", "NetWithLoss", "NetWithEval", "build_network",
           "POOLINGS", "any_batch_shape", "evaluator", "scoring_model"]

POOLINGS = ("first_last", "mean", "max", "mean_max")


def _steps_and_reviews(steps, batch, length):
    """(step index [T, 1], true lengths [1, B], review index [1, B]) int32, to broadcast."""
    return (ops.arange(steps, dtype=ms.int32).reshape(steps, 1), length.reshape(1, batch),
            ops.arange(batch, dtype=ms.int32).reshape(1, batch))


def _gather_rows(values, flat_index):
    """values [T, B, C] picked per (step, review) by flat_index [T*B] -> [T, B, C]."""
    steps, batch, channels = values.shape
    picked = ops.gather(values.reshape(steps * batch, channels), flat_index, 0)
    return picked.reshape(steps, batch, channels)


class SentimentNet(nn.Cell):
    """Sentiment classifier over padded id batches.

    Args:
        embedding_table: numpy [vocab, embed] initial vectors.
        num_hiddens, num_layers, bidirectional: LSTM shape.
        num_classes: outputs of the final dense layer.
        freeze_embedding: keep the embedding table fixed.
        dropout: dropout between LSTM layers and before the dense layer.
        pooling: first_last (the original zoo model), mean, max or mean_max.
        wide: add src/model/wide.py's linear part over word and word-pair counts to the logits.

    Inputs: ids [B, T] int32 (0 = padding), length [B] int32 (true lengths, >= 1).
    Output: logits [B, num_classes].
    """

    def __init__(self, embedding_table, num_hiddens, num_layers, bidirectional, num_classes,
                 freeze_embedding=False, dropout=0.0, pooling="first_last", wide=False):
        super().__init__()
        vocab_size, embed_size = embedding_table.shape
        self.embedding = nn.Embedding(vocab_size, embed_size,
                                      embedding_table=ms.Tensor(embedding_table, ms.float32))
        self.embedding.embedding_table.requires_grad = not freeze_embedding
        self.bidirectional = bidirectional
        self.pooling = pooling
        directions = 2 if bidirectional else 1
        sizes = [embed_size] + [num_hiddens * directions] * (num_layers - 1)
        # time-major ([T, B, C]) throughout: the CPU LSTM kernel reads that layout, and
        # batch_first would transpose every layer's input and output, both ways (~6 % of a step)
        self.forward_layers = nn.CellList([nn.LSTM(size, num_hiddens) for size in sizes])
        self.backward_layers = nn.CellList(
            [nn.LSTM(size, num_hiddens) for size in sizes] if bidirectional else [])
        self.dropout = nn.Dropout(p=dropout)
        pooled = num_hiddens * directions * (1 if pooling in ("mean", "max") else 2)
        self.decoder = nn.Dense(pooled, num_classes)
        self.wide = WideLogits(vocab_size, num_classes) if wide else None

    def construct(self, ids, length):
        return self.logits_and_states(ids, length)[0]

    def logits_and_states(self, ids, length):
        """(logits [B, classes], states [T, B, layers * C]): every LSTM layer's output at every
        position, side by side, in the pass that gives the logits (src/inference/explanations.py splits the
        logits over the positions and tokens from them and readout())."""
        return self._logits_and_states(self.embed(ids), ids, length)

    def embed(self, ids):
        """ids [B, T] -> their embedding, time-major: x [T, B, E]."""
        return self.embedding(ids.transpose(1, 0))

    def classify(self, x, ids, length):
        """Logits of embedded reviews: x [T, B, E], the embedding of ids (embed(ids)), maybe
        moved (adversarial training) or differentiated (gradient explanations); the wide part,
        if any, reads ids, as in construct."""
        return self._logits_and_states(x, ids, length)[0]

    def _logits_and_states(self, x, ids, length):
        """The one path from embedded reviews to logits (and states): construct,
        logits_and_states and classify all go through it."""
        x, last, outputs = self._encode(x, length)
        logits = self.decoder(self.dropout(self._pool(x, length, last)))
        if self.wide is not None:
            logits = logits + self.wide(ids, length)
        return logits, outputs[0] if len(outputs) == 1 else ops.concat(outputs, axis=2)

    def readout(self):
        """The weights as numpy, for src/inference/explanations.py and src/inference/relevance.py: pooling, the dense
        layer's weight [classes, pooled] and bias, the wide table (or None), the embedding
        and, per layer, (weight_ih [D, 4H, in], weight_hh [D, 4H, H], bias_ih + bias_hh
        [D, 4H]) of its D directions (forward, then backward)."""
        def lstm(cells):
            weights = [{p.name.rsplit(".", 1)[-1]: p.asnumpy() for p in cell.get_parameters()}
                       for cell in cells]
            return tuple(np.stack([w[name] for w in weights]) for name in
                         ("weight_ih_l0", "weight_hh_l0")) + (
                np.stack([w["bias_ih_l0"] + w["bias_hh_l0"] for w in weights]),)
        return {"pooling": self.pooling, "weight": self.decoder.weight.asnumpy(),
                "bias": self.decoder.bias.asnumpy(),
                "wide": None if self.wide is None else self.wide.table.asnumpy(),
                "embedding": self.embedding.embedding_table.asnumpy(),
                "lstm": [lstm([forward] + ([self.backward_layers[i]] if self.bidirectional
                                           else []))
                         for i, forward in enumerate(self.forward_layers)]}

    def _encode(self, x, length):
        """x [T, B, E] -> (the last layer's outputs [T, B, C], the flat row of each review's
        last real step, every layer's outputs)."""
        steps, batch = x.shape[0], x.shape[1]
        positions, lengths, column = _steps_and_reviews(steps, batch, length)
        reverse = (ops.where(positions < lengths, lengths - 1 - positions, positions) * batch
                   + column).reshape(-1)
        last = ((lengths - 1) * batch + column).reshape(-1)
        outputs = ()
        for i in range(len(self.forward_layers)):
            if i > 0:
                x = self.dropout(x)
            forward, _ = self.forward_layers[i](x)
            if self.bidirectional:
                backward, _ = self.backward_layers[i](_gather_rows(x, reverse))
                forward = ops.concat((forward, _gather_rows(backward, reverse)), axis=2)
            x = forward
            outputs = outputs + (x,)
        return x, last, outputs

    def _pool(self, x, length, last):
        """x [T, B, C] -> [B, C] or [B, 2C], over each review's real steps only.

        The padding steps are replaced by gathers, not masked by arithmetic: zeros for the
        mean, copies of the review's last real step for the maximum. In a dynamic-shape graph
        on CPU, element-wise kernels over [T, B, C] run several times slower than in a static
        one (masking by arithmetic took over a quarter of a training step there); gathers do
        not slow down (bench/bench_pooling.py)."""
        steps, batch, channels = x.shape
        if self.pooling == "first_last":
            final = ops.gather(x.reshape(steps * batch, channels), last, 0)
            return ops.concat((x[0], final), axis=1)
        positions, lengths, column = _steps_and_reviews(steps, batch, length)
        real = positions < lengths
        pooled = ()
        if self.pooling in ("mean", "mean_max"):
            zeros = ops.concat((x, ops.zeros((1, batch, channels), x.dtype)), axis=0)
            rows = (ops.where(real, positions, steps) * batch + column).reshape(-1)
            total = ops.gather(zeros.reshape((steps + 1) * batch, channels), rows, 0)
            pooled += (total.reshape(steps, batch, channels).sum(axis=0)
                       / length.astype(x.dtype).reshape(batch, 1),)
        if self.pooling in ("max", "mean_max"):
            rows = (ops.minimum(positions, lengths - 1) * batch + column).reshape(-1)
            pooled += (_gather_rows(x, rows).max(axis=0),)
        return pooled[0] if len(pooled) == 1 else ops.concat(pooled, axis=1)


def build_network(model, embedding_table, wide=None):
    """SentimentNet shaped by model (a ModelConfig: Config.model); embedding_table is the
    numpy initial table (its width wins over model.embed_size); wide (default: model.wide)
    adds the linear part."""
    return SentimentNet(np.asarray(embedding_table, np.float32), model.num_hiddens,
                        model.num_layers, model.bidirectional, model.num_classes,
                        model.freeze_embedding, model.dropout, model.pooling,
                        model.wide if wide is None else wide)


def any_batch_shape(cell, inputs=3, targets=False):
    """Declare cell's (ids, length, label) inputs (the first `inputs` of them) with unknown
    batch size and length; with targets, the third is a training step's target [B, C] float.

    GRAPH_MODE then compiles the cell once for all buckets instead of once per new shape;
    on CPU each static graph keeps its LSTM kernels' work memory until the process ends
    (config key dynamic_shapes). Returns the cell.
    """
    third = ms.Tensor(shape=[None, None], dtype=ms.float32) if targets else \
        ms.Tensor(shape=[None], dtype=ms.int32)
    tensors = (ms.Tensor(shape=[None, None], dtype=ms.int32),
               ms.Tensor(shape=[None], dtype=ms.int32), third)
    cell.set_inputs(*tensors[:inputs])
    return cell


class LogitsAndStates(nn.Cell):
    """(ids, length) -> SentimentNet.logits_and_states: the logits and the states in one
    pass, for the explanations of src/inference/explanations.py."""

    def __init__(self, network):
        super().__init__(auto_prefix=False)
        self.network = network

    def construct(self, ids, length):
        return self.network.logits_and_states(ids, length)


class NetWithLoss(nn.Cell):
    """(ids, length, target) -> mean cross-entropy loss, for TrainOneStepCell. target [B, C]
    is the class distribution each review aims at: one-hot for a labelled review, soft for a
    graded phrase (mindrecord.target_of)."""

    def __init__(self, network):
        super().__init__(auto_prefix=False)
        self.network = network
        self.loss = nn.SoftmaxCrossEntropyWithLogits(sparse=False, reduction="mean")

    def construct(self, ids, length, target):
        return self.loss(self.network(ids, length), target)


class NetWithEval(nn.Cell):
    """(ids, length, label) -> (loss, logits, label), the triple Model.eval's metrics read."""

    def __init__(self, network):
        super().__init__(auto_prefix=False)
        self.network = network
        self.loss = nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean")

    def construct(self, ids, length, label):
        logits = self.network(ids, length)
        return self.loss(logits, label), logits, label


def evaluator(network, dynamic_shapes):
    """NetWithEval of network, compiled once for every batch shape when dynamic_shapes."""
    cell = NetWithEval(network)
    return any_batch_shape(cell) if dynamic_shapes else cell


def scoring_model(network, dynamic_shapes, step=None, **metrics):
    """MindSpore's Model whose eval() scores network through evaluator(): accuracy "acc",
    mean loss "loss" and the other metrics given by name; its train() runs step (a training
    step cell; None: a Model for eval alone)."""
    from mindspore.train import Accuracy, Loss, Model
    return Model(network if step is None else step,
                 eval_network=evaluator(network, dynamic_shapes), eval_indexes=[0, 1, 2],
                 metrics={"acc": Accuracy(), "loss": Loss(), **metrics})


class _EmbeddedLoss(nn.Cell):
    """(embedded reviews [T, B, E], ids, length, label) -> mean cross-entropy: NetWithLoss's
    loss, from the embedding on (SentimentNet.classify)."""

    def __init__(self, network, loss):
        super().__init__(auto_prefix=False)
        self.network, self.loss = network, loss

    def construct(self, x, ids, length, label):
        return self.loss(self.network.classify(x, ids, length), label)


class _ClearAndAttacked(nn.Cell):
    """(ids, length, label, shift) -> the loss of the reviews plus that of their embeddings
    moved by shift (a constant of the step: its gradient is not followed)."""

    def __init__(self, network, loss):
        super().__init__(auto_prefix=False)
        self.network, self.embedded = network, _EmbeddedLoss(network, loss)

    def construct(self, ids, length, label, shift):
        x = self.network.embed(ids)
        return (self.embedded(x, ids, length, label)
                + self.embedded(x + shift, ids, length, label))


class AdversarialStep(nn.TrainOneStepCell):
    """A training step with adversarial training on the embeddings (Miyato et al. 2017): the
    loss is also taken on each review's embedding moved, by radius x its norm, in the
    direction that raises the loss most (its gradient), and the two losses are added.

    Costs about three times a plain step (one more backward pass to find the direction, and
    the loss twice). Wraps NetWithLoss(network) like TrainOneStepCell.
    """

    def __init__(self, net_with_loss, optimizer, radius):
        super().__init__(net_with_loss, optimizer)
        network = net_with_loss.network
        self.radius = radius
        self.embedded = _EmbeddedLoss(network, net_with_loss.loss)
        self.both = _ClearAndAttacked(network, net_with_loss.loss)
        self.direction_of = ops.GradOperation()
        self.gradients_of = ops.GradOperation(get_by_list=True)

    def construct(self, ids, length, label):
        x = self.network.network.embed(ids)
        direction = self.direction_of(self.embedded)(x, ids, length, label)
        size = ops.sqrt((direction * direction).sum(axis=(0, 2), keepdims=True)) + 1e-12
        scale = ops.sqrt((x * x).sum(axis=(0, 2), keepdims=True))
        shift = ops.stop_gradient(self.radius * scale * direction / size)
        loss = self.both(ids, length, label, shift)
        gradients = self.grad_reducer(self.gradients_of(self.both, self.weights)(
            ids, length, label, shift))
        self.optimizer(gradients)
        return loss
