"""The onnxruntime backend: SentimentNet rebuilt as one ONNX graph from a checkpoint's weights.

predict.py / app.py `--backend onnxruntime`. The graph is the network of src/model/network.py, written
with ONNX's own operators: the embedding table lookup, each layer as one ONNX LSTM node
(`direction="bidirectional"`, `sequence_lens` = the true lengths, so the reverse direction
starts at each review's last real token, as SentimentNet's reversed reading does), the
pooling, the dense layer and the wide part if the network has one; every layer's states are
a second output, "states", for the explanations (src/inference/explanations.py). Batch size and length are
free dimensions, so one session serves every batch shape. It is built in memory in well
under a second; nothing is written.

Why not mindspore.export(file_format="ONNX")? It works (export.py offers it), but MindSpore
2.10 exports one fixed input shape per file and writes the reverse direction as gathers
around a forward LSTM; the graph here is shape-free and lets onnxruntime's LSTM kernel do
the masking. `quantize: int8` then stores the LSTM weights as int8 (onnxruntime dynamic
quantization: activations stay float, quantized per batch): faster, with probabilities that
move slightly (bench/bench_predict.py reports speed and accuracy of both).
"""
import logging
import os
import tempfile
from pathlib import Path

import numpy as np

from ..core.errors import UserError
from .wide import BIGRAM_BUCKETS, MULTIPLIER, pair_rows

__all__ = ["OnnxForward", "build_onnx_model"]

OPSET = 17
# MindSpore's LSTM stores the gates as (input, forget, cell, output); ONNX wants (i, o, f, c)
ONNX_GATE_ORDER = (0, 3, 1, 2)


def _import(module, what):
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError:
        raise UserError(f"{what} needs the {module.split('.')[0]} package: pip install -r "
                        f"requirements-serve.txt (or pass --backend mindspore)") from None


def _weights(cell):
    """A cell's numpy weights by short name: weight_ih, weight_hh, bias_ih, bias_hh for an
    nn.LSTM layer (its "_l0" dropped), weight and bias for a Dense."""
    return {p.name.rsplit(".", 1)[-1].removesuffix("_l0"): p.asnumpy()
            for p in cell.get_parameters()}


def _onnx_gates(matrix):
    """Rows of a [4H, ...] gate matrix reordered from MindSpore's to ONNX's gate order."""
    return np.concatenate([np.split(matrix, 4)[gate] for gate in ONNX_GATE_ORDER])


def _lstm_weights(graph, directions, name):
    """Names of the ONNX LSTM inputs W [D, 4H, in], R [D, 4H, H], B [D, 8H] built from the
    directions' nn.LSTM cells (forward, then backward)."""
    weights = [_weights(cell) for cell in directions]
    w = np.stack([_onnx_gates(d["weight_ih"]) for d in weights])
    r = np.stack([_onnx_gates(d["weight_hh"]) for d in weights])
    b = np.stack([np.concatenate([_onnx_gates(d["bias_ih"]), _onnx_gates(d["bias_hh"])])
                  for d in weights])
    return [graph.constant(f"{name}_{part}", array.astype(np.float32))
            for part, array in (("W", w), ("R", r), ("B", b))]


class _GraphBuilder:
    """Collects nodes and constants; `node` returns the name of its (first) output."""

    def __init__(self):
        from onnx import helper, numpy_helper
        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes, self.initializers, self.count = [], [], 0

    def constant(self, name, array):
        self.initializers.append(self.numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(self, op, inputs, **attributes):
        self.count += 1
        output = f"{op.lower()}_{self.count}"
        self.nodes.append(self.helper.make_node(op, inputs, [output], **attributes))
        return output


def _encode(graph, network):
    """ids [N, T] -> (the last LSTM layer's outputs [T, N, directions * H], every layer's)."""
    x = graph.node("Gather", [graph.constant(
        "embedding", network.embedding.embedding_table.asnumpy()), "ids"])
    x = graph.node("Transpose", [x], perm=[1, 0, 2])
    directions = "bidirectional" if network.bidirectional else "forward"
    merge = graph.constant("merge_directions", np.int64([0, 0, -1]))
    outputs = []
    for i, forward in enumerate(network.forward_layers):
        cells = [forward] + ([network.backward_layers[i]] if network.bidirectional else [])
        y = graph.node("LSTM", [x, *_lstm_weights(graph, cells, f"lstm{i}"), "length"],
                       hidden_size=cells[0].hidden_size, direction=directions)
        # Y [T, directions, N, H] -> [T, N, directions * H]: forward and backward side by side
        x = graph.node("Reshape", [graph.node("Transpose", [y], perm=[0, 2, 1, 3]), merge])
        outputs.append(x)
    return x, outputs


def _pool(graph, x, channels, pooling):
    """[T, N, channels] -> [N, C'] over real positions only (mask inputs come from numpy)."""
    if pooling == "first_last":
        first = graph.node("Gather", [x, graph.constant("step0", np.int64(0))], axis=0)
        flat = graph.node("Reshape", [x, graph.constant("rows", np.int64([-1, channels]))])
        # flat is [T * N, C]; "last_row" holds (length - 1) * N + review
        last = graph.node("Gather", [flat, "last_row"], axis=0)
        return graph.node("Concat", [first, last], axis=1)
    pooled = []
    if pooling in ("mean", "mean_max"):
        total = graph.node("ReduceSum", [graph.node("Mul", [x, "mask"]),
                                         graph.constant("time_axis", np.int64([0]))],
                           keepdims=0)
        pooled.append(graph.node("Mul", [total, "inverse_length"]))
    if pooling in ("max", "mean_max"):
        pooled.append(graph.node("ReduceMax", [graph.node("Add", [x, "max_offset"])], axes=[0],
                                 keepdims=0))
    return pooled[0] if len(pooled) == 1 else graph.node("Concat", pooled, axis=1)


def _inputs(helper, TensorProto, pooling, wide=False):
    inputs = [helper.make_tensor_value_info("ids", TensorProto.INT32, ["batch", "steps"]),
              helper.make_tensor_value_info("length", TensorProto.INT32, ["batch"])]
    if wide:  # which positions hold a word, and a word followed by another; the pairs' rows
        inputs += [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", "steps", 1])
                   for name in ("wide_word", "wide_pair")]
        inputs.append(helper.make_tensor_value_info("wide_pairs", TensorProto.INT32,
                                                    ["batch", "steps"]))
    if pooling == "first_last":
        inputs.append(helper.make_tensor_value_info("last_row", TensorProto.INT64, ["batch"]))
    if pooling in ("mean", "mean_max"):
        inputs += [helper.make_tensor_value_info("mask", TensorProto.FLOAT,
                                                 ["steps", "batch", 1]),
                   helper.make_tensor_value_info("inverse_length", TensorProto.FLOAT,
                                                 ["batch", 1])]
    if pooling in ("max", "mean_max"):
        inputs.append(helper.make_tensor_value_info("max_offset", TensorProto.FLOAT,
                                                    ["steps", "batch", 1]))
    return inputs


def _wide(graph, table):
    """src/model/wide.py's WideLogits: [N, classes], the table's rows of every real position's word
    and of its pair with the next word ("wide_pairs", hashed in the feed by wide.pair_rows),
    summed over the steps."""
    rows = graph.constant("wide_table", table)
    words = graph.node("Mul", [graph.node("Gather", [rows, "ids"]), "wide_word"])
    paired = graph.node("Mul", [graph.node("Gather", [rows, "wide_pairs"]), "wide_pair"])
    return graph.node("ReduceSum", [graph.node("Add", [words, paired]),
                                    graph.constant("wide_steps", np.int64([1]))], keepdims=0)


def _masks_in_graph(graph, pooling, wide_vocab):
    """The inputs OnnxForward._feed computes in numpy, computed by the graph itself from ids
    [N, T] and length [N] (for a file that needs nothing else: export.py's ONNX)."""
    from onnx import TensorProto
    node, constant = graph.node, graph.constant
    shape = node("Shape", ["ids"])
    batch = node("Gather", [shape, constant("axis_0", np.int64(0))])
    steps = node("Gather", [shape, constant("axis_1", np.int64(1))])
    zero, one = constant("zero", np.int64(0)), constant("one", np.int64(1))
    positions = node("Unsqueeze", [node("Range", [zero, steps, one]), one])        # [T, 1]
    lengths = node("Cast", ["length"], to=TensorProto.INT64)
    row = node("Unsqueeze", [lengths, zero])                                       # [1, N]

    def before(offset):  # [T, N, 1] float: 1 where position + offset < length
        shifted = node("Add", [positions, constant(f"offset_{offset}", np.int64(offset))])
        real = node("Cast", [node("Less", [shifted, row])], to=TensorProto.FLOAT)
        return node("Unsqueeze", [real, constant(f"axis_2_{offset}", np.int64([2]))])
    real, named = before(0), {}
    named["mask"] = real
    named["inverse_length"] = node("Unsqueeze", [node("Reciprocal", [node(
        "Cast", ["length"], to=TensorProto.FLOAT)]), one])
    named["max_offset"] = node("Mul", [node("Sub", [real, constant("one_f", np.float32(1))]),
                                       constant("big", np.float32(1e9))])
    named["last_row"] = node("Add", [node("Mul", [node("Sub", [lengths, one]), batch]),
                                     node("Range", [zero, batch, one])])
    if wide_vocab is not None:
        named["wide_word"] = node("Transpose", [real], perm=[1, 0, 2])
        named["wide_pair"] = node("Transpose", [before(1)], perm=[1, 0, 2])
        following = node("Pad", [node("Slice", ["ids", constant("from_1", np.int64([1])),
                                                constant("to_end", np.int64([2**62])),
                                                one]),
                                 constant("pad_end", np.int64([0, 0, 0, 1]))])
        pairs = node("Mod", [node("Add", [node("Mul", ["ids", constant(
            "multiplier", np.int32(MULTIPLIER))]), following]), constant(
            "buckets", np.int32(BIGRAM_BUCKETS))])
        named["wide_pairs"] = node("Add", [pairs, constant("wide_vocab", np.int32(wide_vocab))])
    for name, output in named.items():
        graph.nodes.append(graph.helper.make_node("Identity", [output], [name]))


def build_onnx_model(network, for_service=False):
    """The ONNX ModelProto of a SentimentNet: (ids, length, pooling masks) -> logits, and
    "states", every LSTM layer's outputs [T, N, layers * C] (SentimentNet.logits_and_states).
    for_service: inputs ids and length alone (the masks computed inside), outputs logits and
    probabilities."""
    from onnx import TensorProto, checker, helper
    graph = _GraphBuilder()
    if for_service:
        _masks_in_graph(graph, network.pooling,
                        None if network.wide is None else network.wide.vocab_size)
    channels = network.forward_layers[-1].hidden_size * (2 if network.bidirectional else 1)
    x, layers = _encode(graph, network)
    graph.nodes.append(helper.make_node("Concat", layers, ["states"], axis=2))
    pooled = _pool(graph, x, channels, network.pooling)
    decoder = _weights(network.decoder)
    deep = "logits" if network.wide is None else "deep_logits"
    graph.nodes.append(helper.make_node(
        "Gemm", [pooled, graph.constant("decoder_weight", decoder["weight"]),
                 graph.constant("decoder_bias", decoder["bias"])], [deep], transB=1))
    if network.wide is not None:
        wide = _wide(graph, network.wide.table.asnumpy())
        graph.nodes.append(helper.make_node("Add", ["deep_logits", wide], ["logits"]))
    inputs = _inputs(helper, TensorProto, network.pooling, network.wide is not None)
    logits = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", "classes"])
    if for_service:
        graph.nodes.append(helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1))
        inputs, outputs = inputs[:2], [logits, helper.make_tensor_value_info(
            "probabilities", TensorProto.FLOAT, ["batch", "classes"])]
    else:
        outputs = [logits, helper.make_tensor_value_info(
            "states", TensorProto.FLOAT, ["steps", "batch", channels * len(layers)])]
    model = helper.make_model(
        helper.make_graph(graph.nodes, "SentimentNet", inputs, outputs, graph.initializers),
        opset_imports=[helper.make_opsetid("", OPSET)], producer_name="lstm-sentiment")
    checker.check_model(model)
    return model


def _quantized(model):
    """The model with int8 LSTM weights (onnxruntime's dynamic quantization)."""
    import onnx
    quantization = _import("onnxruntime.quantization", "quantize: int8")
    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder) / "float.onnx", Path(folder) / "int8.onnx"
        onnx.save(model, source)
        logging.disable(logging.WARNING)  # quiets its advice to pre-process (shape inference)
        try:
            quantization.quantize_dynamic(source, target, op_types_to_quantize=["LSTM"],
                                          weight_type=quantization.QuantType.QInt8)
        finally:
            logging.disable(logging.NOTSET)
        return onnx.load(target)


class OnnxForward:
    """A SentimentNet run by onnxruntime: callable (ids [N, T] int32, length [N] int32) ->
    logits [N, C], one session for every shape. quantize: "none" or "int8"."""

    def __init__(self, network, quantize="none"):
        runtime = _import("onnxruntime", "backend onnxruntime")
        _import("onnx", "backend onnxruntime")
        self.pooling = network.pooling
        self.wide_vocab = None if network.wide is None else network.wide.vocab_size
        self.readout = network.readout()
        self.model = build_onnx_model(network)
        if quantize == "int8":
            self.model = _quantized(self.model)
        options = runtime.SessionOptions()
        options.intra_op_num_threads = len(os.sched_getaffinity(0))
        self.session = runtime.InferenceSession(self.model.SerializeToString(), options,
                                                providers=["CPUExecutionProvider"])

    def __call__(self, ids, length):
        return self.session.run(["logits"], self._feed(ids, length))[0]

    def logits_and_states(self, ids, length):
        """(logits [N, C], states [T, N, channels]) of one batch, in one run."""
        return tuple(self.session.run(["logits", "states"], self._feed(ids, length)))

    def _feed(self, ids, length):
        ids, length = np.asarray(ids, np.int32), np.asarray(length, np.int32)
        feed = {"ids": ids, "length": length}
        batch, steps = ids.shape
        if self.wide_vocab is not None:
            positions = np.arange(steps)[None, :, None]
            feed["wide_word"] = (positions < length[:, None, None]).astype(np.float32)
            feed["wide_pair"] = (positions + 1 < length[:, None, None]).astype(np.float32)
            following = np.pad(ids[:, 1:], ((0, 0), (0, 1)))  # padding after the last word
            feed["wide_pairs"] = pair_rows(ids, following, self.wide_vocab).astype(np.int32)
        if self.pooling == "first_last":
            feed["last_row"] = ((length - 1) * batch + np.arange(batch)).astype(np.int64)
            return feed
        real = (np.arange(steps)[:, None] < length[None, :]).astype(np.float32)[:, :, None]
        if self.pooling in ("mean", "mean_max"):
            feed["mask"] = real
            feed["inverse_length"] = (1.0 / length.astype(np.float32))[:, None]
        if self.pooling in ("max", "mean_max"):
            feed["max_offset"] = (real - 1.0) * 1e9
        return feed
