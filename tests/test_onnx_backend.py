"""src/model/onnx_graph.py: the checkpoint's network as one shape-free ONNX graph in onnxruntime."""
import dataclasses
import sys

import mindspore as ms
import numpy as np
import pytest

from src.core.errors import UserError
from src.inference.predictor import load_predictor
from src.model.network import SentimentNet
from src.model.onnx_graph import OnnxForward
from conftest import REVIEWS, SAMPLE


def _random_batch(rng, batch, steps, vocab):
    length = rng.integers(1, steps + 1, batch).astype(np.int32)
    length[0] = steps  # one row without padding
    ids = np.zeros((batch, steps), np.int32)
    for row, size in enumerate(length):
        ids[row, :size] = rng.integers(1, vocab, size)
    return ids, length


@pytest.mark.parametrize("pooling,bidirectional,layers,wide", [
    ("mean_max", True, 2, False), ("first_last", True, 2, False), ("mean", False, 1, False),
    ("max", True, 1, False), ("mean_max", True, 1, True)])
def test_graph_gives_the_network_logits_and_states_for_any_shape(pooling, bidirectional,
                                                                  layers, wide):
    """The graph's logits, and its states (every layer's outputs, for the explanations), are
    the network's, with the wide part too. The MindSpore cells take any shape too, as
    predict.py compiles them (dynamic_shapes): one compile each, not one per shape."""
    from src.model.network import LogitsAndStates, any_batch_shape
    ms.set_context(mode=ms.GRAPH_MODE)
    rng = np.random.default_rng(0)
    table = rng.normal(0, 0.5, (300, 12)).astype(np.float32)
    network = SentimentNet(table, 16, layers, bidirectional, 3, pooling=pooling, wide=wide)
    if wide:
        network.wide.table.set_data(ms.Tensor(
            rng.normal(0, 0.3, network.wide.table.shape).astype(np.float32)))
    network.set_train(False)
    forward, both = OnnxForward(network), any_batch_shape(LogitsAndStates(network), 2)
    any_batch_shape(network, 2)
    for batch, steps in ((1, 7), (5, 30), (8, 13)):  # one session, every shape
        ids, length = _random_batch(rng, batch, steps, 300)
        expected, states = (output.asnumpy() for output in both(ms.Tensor(ids),
                                                                ms.Tensor(length)))
        if batch == 5:  # the plain forward pass gives the same logits
            np.testing.assert_allclose(network(ms.Tensor(ids), ms.Tensor(length)).asnumpy(),
                                       expected, atol=1e-6)
        np.testing.assert_allclose(forward(ids, length), expected, atol=1e-5)
        onnx_logits, onnx_states = forward.logits_and_states(ids, length)
        np.testing.assert_allclose(onnx_logits, expected, atol=1e-5)
        real = (np.arange(steps)[:, None] < length[None, :])[:, :, None]
        assert onnx_states.shape == states.shape == (steps, batch, layers * 16 * (
            1 + bidirectional))
        np.testing.assert_allclose(onnx_states * real, states * real, atol=1e-5)


def test_backend_gives_the_checkpoint_results(run_config, checkpoint_predictor):
    predictor = load_predictor(dataclasses.replace(run_config, backend="onnxruntime"))
    assert predictor.name.endswith("(onnxruntime)")
    for one, other in zip(predictor.predict(REVIEWS), checkpoint_predictor.predict(REVIEWS)):
        assert one.label == other.label
        for name in one.probabilities:
            assert abs(one.probabilities[name] - other.probabilities[name]) < 1e-5


def test_int8_weights_keep_the_probabilities_close(run_config, checkpoint_predictor):
    predictor = load_predictor(dataclasses.replace(run_config, backend="onnxruntime",
                                                   quantize="int8"))
    assert predictor.name.endswith("(onnxruntime int8)")
    ops = {node.op_type for node in predictor.forward.model.graph.node}
    assert "DynamicQuantizeLSTM" in ops and "LSTM" not in ops
    differences = [abs(one.probabilities[name] - other.probabilities[name])
                   for one, other in zip(predictor.predict(REVIEWS),
                                         checkpoint_predictor.predict(REVIEWS))
                   for name in one.probabilities]
    assert 0 < max(differences) < 0.05


def test_bad_backend_settings_are_clear_errors(run_config, exported_mindir, monkeypatch):
    with pytest.raises(UserError, match="MINDIR runs on MindSpore only"):
        load_predictor(dataclasses.replace(run_config, backend="onnxruntime",
                                           mindir_path=str(exported_mindir)))
    with pytest.raises(UserError, match="applies to --backend onnxruntime only"):
        load_predictor(dataclasses.replace(run_config, quantize="int8"))
    monkeypatch.setitem(sys.modules, "onnx", None)  # as if onnx were not installed
    with pytest.raises(UserError, match="needs the onnx package: pip install -r "
                                        "requirements-serve.txt"):
        load_predictor(dataclasses.replace(run_config, backend="onnxruntime"))


@pytest.mark.slow
def test_int8_keeps_the_accuracy_on_the_samples_test_reviews(learned_run):
    from src.data.readers.aclimdb import read_aclimdb
    from src.core.config import load_config
    run, args = learned_run
    config = load_config(args + ["--checkpoint_file", str(run / "lstm-best.ckpt"),
                                 "--backend", "onnxruntime"])
    reviews = read_aclimdb(SAMPLE)["test"]
    accuracy = {}
    for quantize in ("none", "int8"):
        predictor = load_predictor(dataclasses.replace(config, quantize=quantize))
        labels = predictor.logits(predictor.encode([r.text for r in reviews])).argmax(axis=1)
        accuracy[quantize] = float(np.mean(labels == np.array([r.label for r in reviews])))
    assert accuracy["none"] >= 0.6 and abs(accuracy["int8"] - accuracy["none"]) <= 0.01, accuracy
