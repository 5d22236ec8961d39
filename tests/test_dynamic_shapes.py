"""any_batch_shape: one compiled graph serves every bucket, and masking stays exact."""
import mindspore as ms
import numpy as np
from mindspore import nn

from src.model.network import NetWithEval, NetWithLoss, SentimentNet, any_batch_shape


def _net(seed=0):
    rng = np.random.default_rng(seed)
    return SentimentNet(rng.normal(size=(50, 8)).astype(np.float32), 6, 2, True, 2,
                        pooling="mean_max")


def test_one_dynamic_graph_gives_exact_outputs_for_every_shape():
    ms.set_context(mode=ms.GRAPH_MODE)
    net = _net()
    net.set_train(False)
    evaluator = any_batch_shape(NetWithEval(net))
    rng = np.random.default_rng(1)
    ids = rng.integers(2, 50, (3, 12)).astype(np.int32)
    ids[1, 7:] = 0
    length, label = np.array([12, 7, 12], np.int32), np.zeros(3, np.int32)
    _, padded, _ = evaluator(ms.Tensor(ids), ms.Tensor(length), ms.Tensor(label))
    _, alone, _ = evaluator(ms.Tensor(ids[1:2, :7]), ms.Tensor(length[1:2]),
                            ms.Tensor(label[1:2]))
    np.testing.assert_allclose(padded.asnumpy()[1], alone.asnumpy()[0], atol=1e-6)
    expected = net(ms.Tensor(ids), ms.Tensor(length)).asnumpy()  # the static-shape graph
    np.testing.assert_allclose(padded.asnumpy(), expected, atol=1e-6)
    assert len(evaluator.compile_cache) == 1, "each shape compiled its own graph"
    assert len(net.compile_cache) == 1  # the plain network compiled for its one shape


def test_dynamic_train_step_accepts_batches_of_different_shapes():
    ms.set_context(mode=ms.GRAPH_MODE)
    net = _net(2)
    step = any_batch_shape(nn.TrainOneStepCell(NetWithLoss(net),
                                               nn.Adam(net.trainable_params(), 0.05)),
                           targets=True)
    rng = np.random.default_rng(3)
    losses = []
    for batch, steps in ((8, 10), (5, 20), (8, 10)):
        ids = ms.Tensor(rng.integers(2, 50, (batch, steps)).astype(np.int32))
        label = ms.Tensor(np.eye(2, dtype=np.float32)[[0, 1] * 4][:batch])
        losses.append(float(step(ids, ms.Tensor(np.full(batch, steps, np.int32)),
                                 label).asnumpy()))
    assert all(np.isfinite(losses))
    assert len(step.compile_cache) == 1, "each shape compiled its own graph"
