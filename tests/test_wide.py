"""The wide part (--wide): fitted after training into lstm-best.ckpt, and computed in the graph
exactly as src/model/wide.py counts words and word pairs in numpy."""
import json

import mindspore as ms
import numpy as np
import pytest

from conftest import SAMPLE, run_script, tiny_args
from src.model import wide
from src.data.readers.aclimdb import read_aclimdb
from src.model.checkpoint import load_network, load_params
from src.core.config import load_config
from src.model.network import any_batch_shape
from src.inference.predictor import load_predictor


@pytest.fixture(scope="module")
def wide_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("wide")
    args = tiny_args(workdir) + ["--wide", "true", "--num_epochs", "2"]
    from train import main as train
    printed = []
    run = train(load_config(args), log=printed.append)
    return run, args, "\n".join(map(str, printed))


def _validation_accuracy(config):
    """The accuracy of config.checkpoint_file on the validation split, by the predictor."""
    from src.data.mindrecord import prepare
    from src.training.wide_fit import _reviews
    reviews, labels, _ = _reviews(config, prepare(config, log=lambda *_: None).mindrecord("valid"))
    return float(np.mean(load_predictor(config).logits(reviews).argmax(axis=1) == labels))


def test_train_fits_the_wide_part_into_the_best_checkpoint_on_validation(wide_run):
    run, args, printed = wide_run
    params = load_params(run / "lstm-best.ckpt")
    table = params["wide.table"].asnumpy()
    assert np.count_nonzero(table) > 1000 and "wide part: validation accuracy" in printed
    # mixed in, it lifts the network's validation accuracy (0.50 -> 0.74 here), and the file
    # scores what it records (one review of 100 may flip between the two passes)
    mixed, deep = (float(params[name].asnumpy()) for name in ("wide_valid_acc", "valid_acc"))
    assert float(params["wide_scale"].asnumpy()) > 0 and mixed > deep + 0.1, (mixed, deep)
    config = load_config(args + ["--checkpoint_file", str(run / "lstm-best.ckpt")])
    assert _validation_accuracy(config) == pytest.approx(mixed, abs=0.0101)


def test_the_graph_adds_the_counts_times_the_table(wide_run):
    run, args, _ = wide_run
    config = load_config(args + ["--checkpoint_file", str(run / "lstm-best.ckpt")])
    predictor = load_predictor(config)
    texts = [review.text for review in read_aclimdb(SAMPLE)["test"][:40]]
    encoded = predictor.encode(texts)
    network = any_batch_shape(load_network(config.model, run / "lstm-best.ckpt"), inputs=2)
    table = network.wide.table.asnumpy()
    with_wide = predictor.logits(encoded)
    network.wide.table.set_data(ms.Tensor(np.zeros_like(table)))
    deep = np.concatenate([network(ms.Tensor(ids[None]), ms.Tensor(np.int32([len(ids)])))
                           .asnumpy() for ids in encoded])
    counted = wide.wide_logits(wide.count_matrix(encoded, len(predictor.vocab)), table, 0.0)
    assert np.abs(counted).max() > 0.1
    np.testing.assert_allclose(with_wide - deep, counted, atol=1e-4)


def test_ship_model_trims_the_wide_tables_word_rows_with_the_vocabulary(wide_run, tmp_path,
                                                                        capfd):
    from test_shipped_model import _bench_row
    run, _, _ = wide_run
    out = tmp_path / "model"
    result = run_script("scripts/ship_model.py", run, "--results", _bench_row(tmp_path),
                        "--recipe", "tiny", "--seed", "1", "--vocab_rows", "2000",
                        "--check", SAMPLE, "--out", out, capfd=capfd)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = load_params(out / "lstm-best.ckpt")["wide.table"].shape[0]
    assert rows == 2000 + wide.BIGRAM_BUCKETS
    check = json.loads((out / "eval.json").read_text())["shipped_check"]
    assert abs(check["shipped_accuracy"] - check["run_accuracy"]) < 0.03


def test_the_wide_part_fits_into_a_run_trained_without_it(tiny_config, trained_run, tmp_path):
    """bench/bench_wide.py fits it beside model/, which was trained without --wide."""
    import dataclasses
    import shutil
    from src.data.mindrecord import prepare
    from src.training.wide_fit import attach_wide
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    assert "wide.table" not in load_params(run / "lstm-best.ckpt")
    config = dataclasses.replace(tiny_config, run_dir=str(run), wide=True)
    record = attach_wide(config, prepare(config, log=lambda *_: None), run, lambda *_: None)
    network = any_batch_shape(load_network(config.model, run / "lstm-best.ckpt"), inputs=2)
    assert network.wide is not None
    assert record["wide_scale"] > 0 and np.count_nonzero(network.wide.table.asnumpy()) > 1000
    assert record["valid_acc"] > record["valid_acc_deep"] + 0.1, record  # 0.50 -> 0.74 here
    checkpoint = dataclasses.replace(config, checkpoint_file=str(run / "lstm-best.ckpt"))
    assert _validation_accuracy(checkpoint) == pytest.approx(record["valid_acc"], abs=0.0101)


def test_without_a_validation_split_the_table_is_never_fitted(tmp_path, capfd):
    """It is mixed in on validation; with none, fitting it (a minute on the full data, before
    training) would be wasted."""
    result = run_script("train.py", *tiny_args(tmp_path), "--wide", "true", "--valid_split", "0",
                        capfd=capfd)
    assert result.returncode == 0, result.stderr[-2000:]
    log = (tmp_path / "run" / "run.log").read_text()
    assert "wide part skipped" in log and "wide table fitted" not in log


def test_the_table_fitted_on_the_features_present_is_optimal_over_all_of_them():
    """fit_table optimises only the columns the reviews hold; the result must still be the
    minimum of the whole objective: a gradient of ~0 over every feature, absent ones included."""
    rng = np.random.default_rng(3)
    reviews = [rng.integers(1, 40, rng.integers(5, 30)) for _ in range(60)]
    labels = np.array([int((review < 20).mean() > 0.5) for review in reviews])
    counts = wide.count_matrix(reviews, 40)
    table, bias = wide.fit_table(counts, labels, 2)
    ratios = wide._log_count_ratios(counts, labels, 2)
    weights = table / ratios
    error = np.exp(counts @ table + bias)
    error = error / error.sum(axis=1, keepdims=True) - np.eye(2)[labels]
    gradient = ratios * (counts.T @ error) + weights
    assert np.count_nonzero(table) and np.abs(gradient).max() < 1e-3
