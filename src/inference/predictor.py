"""Inference: raw reviews -> labels and probabilities, from a checkpoint (MindSpore or
onnxruntime) or from an exported MINDIR.

Reviews go through `src.data.text.tokenize` and the training run's vocab.json exactly as in
training. Work is batched: reviews are sorted by length, cut into batches of at most
buckets.EVAL_BATCH (or the run's smaller batch_size) and buckets.EVAL_TOKENS padded tokens,
and each batch is padded to a small set of fixed shapes so the compiled graph is reused.
Padding never changes a review's result (SentimentNet masks by the true lengths); padded rows
are dropped.
"""
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.buckets import EVAL_TOKENS, bucket_length, eval_batch_size, reviews_per_batch
from ..core.errors import UserError, first_line
from ..core.progress import progress
from ..data.readers.labelled_text import label_names
from ..core.run_folder import BEST, VOCAB, run_folder
from ..data.text import UNK, Vocab, tokenize

__all__ = ["Predictor", "Prediction", "NetworkForward", "load_predictor", "mindir_forward",
           "softmax", "verdict_of", "unreadable"]


@dataclass
class Prediction:
    """One review's result: the winning label, every class probability, and the verdict: with
    two classes positive, negative or neutral (p(positive) inside the neutral band), or
    "cannot tell" when the model cannot read the text (reason says why); else the label."""
    label: str
    probabilities: dict
    verdict: str = None
    reason: str = ""
    explanation: list = None  # [(token, score)], from an explanation's pass

    def as_dict(self):
        found = {"label": self.label, "verdict": self.verdict or self.label,
                 "probabilities": self.probabilities}
        if self.reason:
            found["reason"] = self.reason
        if self.explanation is not None:
            found["explanation"] = [[token, round(score, 5)] for token, score in self.explanation]
        return found


def verdict_of(p_positive, band):
    """negative below the band (low, high), neutral inside it, positive above it."""
    low, high = band
    return "negative" if p_positive < low else "positive" if p_positive > high else "neutral"


def unreadable(ids, vocab, familiar, share):
    """Why the model cannot read a text of these ids, or "": it holds no word, or at least
    `share` of its words (and two or more) are unknown or rarer than the `familiar` most
    frequent words of the vocabulary (another language, gibberish)."""
    unk = vocab.index[UNK]
    words = [i for i in ids if i == unk or any(c.isalpha() for c in vocab.tokens[i])]
    if not words:
        return "no words"
    rare = sum(1 for i in words if i == unk or i >= familiar)
    if rare == len(words) or (rare >= 2 and rare >= share * len(words)):
        return f"{rare} of {len(words)} words unknown or rare to the model"
    return ""


def softmax(logits):
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


class Predictor:
    """Batches encoded reviews through a forward function and turns logits into predictions.

    Args:
        config: the run's Config (max_len, batch_size, bucket_width, num_classes).
        vocab: the run's Vocab.
        forward: callable (ids [B, T] int32, length [B] int32) -> logits numpy [B, C].
        fixed_shape: (batch, steps) every call must use (an exported MINDIR), or None to pad
            batches to powers of two and steps to buckets.padded_lengths (a checkpoint).
        name: how the page and logs name the model (the checkpoint or MINDIR file).
    """

    def __init__(self, config, vocab, forward, fixed_shape=None, name="model"):
        self.config, self.vocab, self.forward = config, vocab, forward
        self.fixed_shape, self.name = fixed_shape, name
        self.labels = label_names(config)
        self.batch_size = eval_batch_size(config.batch_size)

    def encode(self, texts):
        """Token ids (int32 arrays, 1..max_len long) of each text, as in training."""
        return [self.vocab.encode(tokenize(text), self.config.max_len, self.config.truncate)
                for text in texts]

    def _shape(self, rows, longest):
        if self.fixed_shape:
            return self.fixed_shape
        config = self.config
        batch = min(1 << (rows - 1).bit_length(), reviews_per_batch(
            self.batch_size, config.bucket_width, config.max_len, longest, EVAL_TOKENS))
        return batch, bucket_length(min(longest, config.max_len), config.bucket_width,
                                    config.max_len)

    def _padded(self, encoded):
        batch, steps = self._shape(len(encoded), max(len(ids) for ids in encoded))
        ids = np.zeros((batch, steps), np.int32)
        length = np.ones((batch,), np.int32)
        for row, review in enumerate(encoded):
            ids[row, :len(review)] = review
            length[row] = len(review)
        return ids, length

    def logits(self, encoded):
        """Logits [N, num_classes] of encoded reviews, computed in length-sorted batches."""
        def run(chosen):
            return (np.asarray(self.forward(*self._padded(chosen)))[:len(chosen)],
                    [None] * len(chosen))
        return self._run(encoded, run)[0]

    @property
    def gives_states(self):
        """Whether the forward function also gives the states (a checkpoint's network, on
        either backend; not a MINDIR)."""
        return hasattr(self.forward, "logits_and_states")

    def logits_and_states(self, encoded):
        """(logits [N, num_classes], [states [len(ids), C] of each review]) in the same
        batches as logits(), in one pass of each review (see gives_states)."""
        def run(chosen):
            logits, states = self.forward.logits_and_states(*self._padded(chosen))
            return logits[:len(chosen)], [states[:len(ids), row] for row, ids in
                                          enumerate(chosen)]
        return self._run(encoded, run)

    def _run(self, encoded, run):
        """(logits [N, num_classes], [what else run gave for each review]) of encoded reviews
        by run(a batch of reviews) -> (logits, a list with one item per review)."""
        logits = np.zeros((len(encoded), self.config.num_classes), np.float32)
        extras = [None] * len(encoded)
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        batches = self._batches(order, encoded) if encoded else []
        for chosen in progress(batches, "classify", unit="batch") if len(batches) > 1 else batches:
            logits[chosen], more = run([encoded[i] for i in chosen])
            for i, extra in zip(chosen, more):
                extras[i] = extra
        return logits, extras

    def _batches(self, order, encoded):
        """Length-sorted batches of self.batch_size reviews, fewer of long ones, so no batch
        holds more than EVAL_TOKENS padded tokens (the LSTM's work memory grows with them)."""
        if self.fixed_shape:
            size = self.fixed_shape[0]
            return [order[start:start + size] for start in range(0, len(order), size)]
        config, batches = self.config, [[]]
        for index in order:
            fits = reviews_per_batch(self.batch_size, config.bucket_width, config.max_len,
                                     len(encoded[index]), EVAL_TOKENS)
            if len(batches[-1]) >= fits:
                batches.append([])
            batches[-1].append(index)
        return batches

    def predict(self, texts):
        """[Prediction] for each text (str), in input order."""
        encoded = self.encode(texts)
        return self.predictions(self.logits(encoded), encoded)

    def predictions(self, logits, encoded):
        """[Prediction] of each row of logits [N, num_classes], the rows of encoded ids."""
        return [self._prediction(row, ids) for row, ids in zip(softmax(np.asarray(logits)),
                                                              encoded)]

    def _prediction(self, row, ids):
        label = self.labels[int(row.argmax())]
        probabilities = {name: round(float(p), 6) for name, p in zip(self.labels, row)}
        if len(self.labels) != 2:
            return Prediction(label, probabilities, label)
        config = self.config
        reason = unreadable(ids, self.vocab, config.familiar_words, config.unreadable_share)
        if reason:
            return Prediction(label, probabilities, "cannot tell", reason)
        band = (config.neutral_low, config.neutral_high)
        return Prediction(label, probabilities, verdict_of(float(row[1]), band))


class NetworkForward:
    """A SentimentNet run by MindSpore: callable (ids, length) -> logits numpy, and
    logits_and_states(ids, length) -> (logits, states [T, N, C]) in one pass."""

    def __init__(self, network, dynamic_shapes=False):
        from ..model.network import LogitsAndStates, any_batch_shape
        self.network, self.with_states = network, LogitsAndStates(network)
        if dynamic_shapes:  # one graph for every batch shape, not one per bucket length
            any_batch_shape(self.network, 2)
            any_batch_shape(self.with_states, 2)
        self.readout = network.readout()

    def __call__(self, ids, length):
        import mindspore as ms
        return self.network(ms.Tensor(ids), ms.Tensor(length)).asnumpy()

    def logits_and_states(self, ids, length):
        import mindspore as ms
        logits, states = self.with_states(ms.Tensor(ids), ms.Tensor(length))
        return logits.asnumpy(), states.asnumpy()


def _checkpoint_forward(config, checkpoint, vocab):
    from ..model.checkpoint import load_network
    network = load_network(config.model, checkpoint, vocab, run_folder(config) / VOCAB)
    if config.backend == "onnxruntime":
        from ..model.onnx_graph import OnnxForward
        return OnnxForward(network, config.quantize)
    return NetworkForward(network, config.dynamic_shapes)


def _load_graph(path):
    import mindspore as ms
    from mindspore import nn
    from .mindir import read_mindir
    _, shapes = read_mindir(path)
    if [name for name, _ in shapes] != ["ids", "length"] or len(shapes[0][1]) != 2:
        raise UserError(f"MINDIR {path} does not take (ids [batch, steps], length [batch]); "
                        f"use a file written by this project's export.py")
    try:
        graph = nn.GraphCell(ms.load(str(path)))
    except (RuntimeError, ValueError) as err:
        raise UserError(f"MindSpore cannot load {path} ({first_line(err, 80)}); export it "
                        f"again with export.py") from None
    return graph, shapes[0][1]


def mindir_forward(path, config, vocab, device=None):
    """(forward, fixed input shape) of the MINDIR at path, once it is known to fit this run's
    vocabulary and device (src/inference/mindir.py)."""
    import mindspore as ms
    from .mindir import check_fits
    check_fits(path, config, vocab, device)
    graph, shape = _load_graph(path)
    return (lambda ids, length: graph(ms.Tensor(ids), ms.Tensor(length)).asnumpy()), shape


def _limit_cpu_threads(config):
    """One CPU kernel thread per usable core (MindSpore's default is 25 threads, whatever the
    core count: on 2 cores that more than doubles the latency of one small review), and
    numpy's OpenBLAS on one thread: after each threaded call its idle workers spin for a
    while and take the cores from the next pass (an explanation's numpy work, src/inference/relevance.py,
    then costs over twice as much: bench/bench_explain.py)."""
    from mindspore.device_context.cpu.op_tuning import RuntimeConf, threads_num
    configured = RuntimeConf.get_instance().is_op_threads_num_configured()
    if config.device_target == "CPU" and not configured:
        threads_num(len(os.sched_getaffinity(0)))
    if "OPENBLAS_NUM_THREADS" not in os.environ:  # the user's choice stands
        _openblas_threads(1)


def _openblas_threads(count):
    """Set the thread count of the OpenBLAS numpy loaded, if one is found (Linux)."""
    import ctypes
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            paths = sorted({line.split()[-1] for line in maps if "openblas" in line.lower()})
    except OSError:
        return
    for path in paths:
        library = ctypes.CDLL(path)
        for name in ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
                     "openblas_set_num_threads"):
            if hasattr(library, name):
                getattr(library, name)(count)
                return


def load_predictor(config):
    """A Predictor for config.mindir_path if set, else for the run's checkpoint.

    The checkpoint is config.checkpoint_file, or run_dir/lstm-best.ckpt; the vocabulary is
    vocab.json of the run folder (see run_folder). Sets up the device (CPU/GPU/Ascend).
    """
    from ..core.device import init_device
    if config.quantize != "none" and config.backend != "onnxruntime":
        raise UserError(f"quantize: {config.quantize} applies to --backend onnxruntime only; "
                        f"add --backend onnxruntime or drop --quantize")
    if config.mindir_path and config.backend == "onnxruntime":
        raise UserError("a MINDIR runs on MindSpore only; drop --mindir_path to run the "
                        "checkpoint with --backend onnxruntime")
    _limit_cpu_threads(config)
    init_device(config)
    vocab = Vocab.load(run_folder(config) / VOCAB)
    if config.mindir_path:
        forward, shape = mindir_forward(config.mindir_path, config, vocab)
        return Predictor(config, vocab, forward, shape, name=Path(config.mindir_path).name)
    checkpoint = Path(config.checkpoint_file or Path(config.run_dir) / BEST)
    return Predictor(config, vocab, _checkpoint_forward(config, checkpoint, vocab),
                     name=f"{checkpoint.parent.name}/{checkpoint.name}"
                     + _backend_suffix(config))


def _backend_suffix(config):
    if config.backend == "mindspore":
        return ""
    return f" ({config.backend}{'' if config.quantize == 'none' else ' ' + config.quantize})"
