"""Learning from sentences as well as reviews: SST's graded train phrases mixed into aclImdb's
training split with soft targets p(positive) = grade / 4, never into validation or test."""
import dataclasses

import mindspore as ms
import numpy as np
from mindspore import nn

from conftest import ROOT
from src.data.mindrecord import prepare, train_batches
from src.data.readers.sst import tree_phrases
from src.data.splits import labelled_parts
from src.model.network import NetWithLoss, SentimentNet

SST_SAMPLE = ROOT / "data" / "sst_sample"


def _mixed(config, phrases=50):
    return dataclasses.replace(config, mix_sst_path=str(SST_SAMPLE), mix_sst_phrases=phrases)


def test_sst_sentences_and_phrases_join_only_the_training_split(tiny_config):
    parts = labelled_parts(_mixed(tiny_config))
    graded = [r for r in parts["train"] if r.target is not None]
    sentences = (SST_SAMPLE / "train.txt").read_text().splitlines()
    assert len(graded) == len(sentences) + 50
    assert {r.target for r in graded} == {0.0, 0.25, 0.5, 0.75, 1.0}
    assert all(r.label == (-1 if r.target == 0.5 else int(r.target > 0.5)) for r in graded)
    assert not any(r.target is not None for r in parts["valid"] + parts["test"])
    unmixed = labelled_parts(tiny_config)
    assert [r.text for r in unmixed["valid"]] == [r.text for r in parts["valid"]]
    dev = {" ".join(tree_phrases(line)[-1][1])
           for line in (SST_SAMPLE / "dev.txt").read_text().splitlines()}
    assert not dev & {r.text for r in graded}


def test_training_batches_carry_the_grades_as_class_distributions(tiny_config, tmp_path):
    config = dataclasses.replace(_mixed(tiny_config), preprocess_path=str(tmp_path))
    prepared = prepare(config, log=lambda *_: None)
    targets = np.concatenate([target for _, _, target in train_batches(config, prepared, 0)
                              .create_tuple_iterator(output_numpy=True)])
    assert targets.shape[1] == 2 and np.allclose(targets.sum(axis=1), 1)
    assert set(np.round(targets[:, 1], 2)) == {0.0, 0.25, 0.5, 0.75, 1.0}
    assert prepare(tiny_config, log=lambda *_: None).folder != prepared.folder


def test_a_soft_target_trains_the_probability_toward_it():
    ms.set_context(mode=ms.GRAPH_MODE)
    ms.set_seed(2)
    rng = np.random.default_rng(2)
    net = SentimentNet(rng.normal(size=(30, 8)).astype(np.float32), 8, 1, True, 2,
                       dropout=0.0, pooling="mean")
    step = nn.TrainOneStepCell(NetWithLoss(net), nn.Adam(net.trainable_params(), 0.01))
    ids = ms.Tensor(rng.integers(2, 30, (4, 6)).astype(np.int32))
    length = ms.Tensor(np.full(4, 6, np.int32))
    target = ms.Tensor(np.array([[0.25, 0.75], [0.5, 0.5], [1.0, 0.0], [0.0, 1.0]],
                                np.float32))
    for _ in range(300):
        step(ids, length, target)
    logits = net(ids, length).asnumpy()
    p = np.exp(logits[:, 1]) / np.exp(logits).sum(axis=1)
    np.testing.assert_allclose(p[:2], [0.75, 0.5], atol=0.05)
    assert p[2] < 0.1 and p[3] > 0.9
