"""pretrain.py on the bundled sample: the language model, its encoder for train.py, resume."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml
import pytest

from conftest import ROOT, SAMPLE, run_script, tiny_args
from src.model.checkpoint import check_crc, load_params

pytestmark = pytest.mark.slow

UNSUP = SAMPLE / "train" / "unsup"


def pretrain_args(workdir, name="pretrain", *more):
    """tiny_args' data and shapes, a small language model: 20-token windows, batch 16."""
    return tiny_args(workdir) + ["--unlabelled_path", str(UNSUP), "--pretrain_dir",
                                 str(Path(workdir) / name), "--pretrain_window", "20",
                                 "--pretrain_batch_size", "16", "--pretrain_epochs", "0.1",
                                 "--pretrain_samples", "256", "--num_layers", "1", *more]


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("pretrain")
    done = run_script("pretrain.py", *pretrain_args(workdir, "pretrain",
                                                    "--save_checkpoint_steps", "50"))
    assert done.returncode == 0, done.stderr[-3000:]
    return workdir, workdir / "pretrain"


def _losses(folder):
    records = [json.loads(line) for line in (folder / "metrics.jsonl").open()]
    return [record["loss"] for record in records if "loss" in record]


def test_pretraining_lowers_the_language_models_loss(pretrained):
    losses = _losses(pretrained[1])
    assert len(losses) >= 3 and losses[-1] < losses[0] - 0.3, losses


def test_the_held_out_reviews_are_never_trained_on_and_their_loss_is_recorded(pretrained):
    from src.core.config import load_config
    from src.data.mindrecord import prepare
    from src.training.pretraining import corpus
    workdir, folder = pretrained
    config = load_config(pretrain_args(workdir))
    stream, heldout = corpus(config, prepare(config, lambda *_: None), lambda *_: None)
    text = lambda ids: " ".join(map(str, ids))
    reviews = [r for r in text(heldout).split(" 0 ") if len(r.split()) > 30]
    trained_text = text(stream)
    assert len(reviews) >= 5 and not [r for r in reviews if r in trained_text]
    encoder = load_params(folder / "encoder.ckpt")
    assert check_crc(folder / "encoder.ckpt")  # MindSpore's CRC32 trailer, checked at load
    losses = [json.loads(line) for line in (folder / "metrics.jsonl").open()]
    recorded = [record["heldout_loss"] for record in losses if "heldout_loss" in record]
    assert recorded and float(encoder["heldout_loss"].asnumpy()) == pytest.approx(recorded[-1])
    assert 1 < recorded[-1] < _losses(folder)[0], (recorded, _losses(folder))


def test_encoder_holds_the_classifiers_embedding_and_first_lstm_layer(pretrained):
    encoder = load_params(pretrained[1] / "encoder.ckpt")
    assert tuple(encoder["embedding.embedding_table"].shape)[1] == 16
    for direction in ("forward_layers", "backward_layers"):
        assert tuple(encoder[f"{direction}.0.weight_hh_l0"].shape) == (64, 16)
    assert not [name for name in encoder if name.startswith(("decoder", "forward_layers.1"))]
    from src.data.text import Vocab
    vocab = Vocab.load(pretrained[1] / "vocab.json")
    assert encoder["vocab_digest"] == vocab.digest()
    # the weights are the language model's at the end: its last checkpoint's, not the first's
    from src.model.checkpoint import checkpoint_step, latest_checkpoint
    first, last = (load_params(path) for path in (
        min(pretrained[1].glob("lm-*_*.ckpt"), key=checkpoint_step),
        latest_checkpoint(pretrained[1], "lm")))
    assert int(last["lm_step"].asnumpy()) == int(encoder["lm_step"].asnumpy())
    for name in ["embedding.embedding_table"] + [f"{d}_layers.0.{w}_{x}_l0" for d in (
            "forward", "backward") for w in ("weight", "bias") for x in ("ih", "hh")]:
        in_lm = name.replace("_layers.0.", "_lstm.")
        np.testing.assert_array_equal(encoder[name].asnumpy(), last[in_lm].asnumpy())
        learned = float(np.abs(encoder[name].asnumpy() - first[in_lm].asnumpy()).max())
        assert learned > 1e-3, (name, learned)


def _train_from_encoder(args, encoder_path, given=True):
    """train.py --encoder_checkpoint in this process; asserts that it started from the
    encoder and tuned it: after 10 steps the embedding and LSTM layer 0 are within 10 Adam
    steps (about learning_rate each) of the encoder's weights, where a classifier's own
    initial weights are ~0.2 away, and by the end of the epoch they have moved on."""
    from src.core.config import load_config
    from train import main as train
    config = load_config(args + ["--encoder_checkpoint", str(encoder_path)] * given)
    lines = []
    run = train(config, log=lines.append)
    assert any(line.startswith("started the embedding and LSTM layer 0 from") and
               line.endswith("(9 weights)") for line in lines), lines
    encoder = load_params(encoder_path)
    early, final = (load_params(run / name) for name in ("lstm-1_10.ckpt", "lstm-best.ckpt"))
    names = [name for name in early if name.startswith(("embedding.", "forward_layers.0.",
                                                        "backward_layers.0."))]
    assert len(names) == 9
    for name in names:
        start = encoder[name].asnumpy().astype(np.float32)  # a shipped encoder is float16
        moved = [float(np.abs(ckpt[name].asnumpy() - start).max()) for ckpt in (early, final)]
        assert moved[0] < 15 * config.learning_rate and moved[1] > 1e-4, (name, moved)


def test_train_starts_from_the_encoder_and_fine_tunes_it(pretrained):
    workdir, folder = pretrained
    _train_from_encoder(tiny_args(workdir) + ["--num_layers", "1"], folder / "encoder.ckpt")


def test_train_starts_from_the_shipped_encoder_by_default(tmp_path):
    args = ["--aclimdb_path", str(SAMPLE), "--preprocess_path", str(tmp_path / "preprocess"),
            "--run_dir", str(tmp_path / "run"), "--max_len", "64", "--bucket_width", "0",
            "--batch_size", "64", "--num_epochs", "1", "--save_checkpoint_steps", "10",
            "--wide", "false"]
    _train_from_encoder(args, ROOT / "model" / "encoder" / "encoder.ckpt", given=False)
    shipped = ROOT / "model" / "encoder" / "vocab.json"
    tokens = [json.loads(path.read_text())["tokens"]
              for path in (tmp_path / "run" / "vocab.json", shipped)]
    assert tokens[0] == tokens[1]


def test_resumed_pretraining_ends_with_the_uninterrupted_weights(pretrained, tmp_path, capfd):
    workdir, _ = pretrained
    args = pretrain_args(workdir, "whole", "--pretrain_dropout", "0",
                         "--save_checkpoint_steps", "40")
    assert run_script("pretrain.py", *args, capfd=capfd).returncode == 0
    cut = Path(workdir) / "cut"
    shutil.copytree(Path(workdir) / "whole", cut)
    ring = sorted(cut.glob("lm-*.ckpt"), key=lambda p: int(p.stem.split("_")[1]))
    for later in ring[1:]:                       # as if killed after the first checkpoint
        later.unlink()
    (cut / "encoder.ckpt").unlink()
    args[args.index("--pretrain_dir") + 1] = str(cut)
    done = run_script("pretrain.py", *args, "--resume", "true", capfd=capfd)
    assert done.returncode == 0 and "resuming from" in done.stdout, done.stderr[-3000:]
    whole, resumed = (load_params(Path(workdir) / name / "encoder.ckpt")
                      for name in ("whole", "cut"))
    for name in ("embedding.embedding_table", "forward_layers.0.weight_ih_l0"):
        np.testing.assert_allclose(resumed[name].asnumpy(), whole[name].asnumpy(), atol=1e-6)


def test_a_time_budget_stops_pretraining_and_snapshots_are_written(tmp_path, capfd):
    args = pretrain_args(tmp_path, "budget", "--pretrain_epochs", "50",
                         "--pretrain_minutes", "0.15", "--pretrain_save_minutes", "0.05")
    done = run_script("pretrain.py", *args, capfd=capfd)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "pretrain_minutes 0.15 reached" in done.stdout
    folder = tmp_path / "budget"
    assert (folder / "encoder.ckpt").exists()
    assert sorted(p.name for p in folder.glob("encoder-*min.ckpt")) == [
        "encoder-0.05min.ckpt", "encoder-0.1min.ckpt"]
    # the budget counts every minute since step 0: shipped with it, the encoder's config would
    # stop a continuation (--pretrain_init_encoder) at once
    shipped = _ship(folder, tmp_path / "box")
    assert shipped.returncode == 0, shipped.stderr[-2000:]
    settings = yaml.safe_load((tmp_path / "box" / "config.yaml").read_text())
    assert settings["pretrain_minutes"] == 0 and settings["pretrain_init_encoder"] == ""


def _alone(encoder, folder):
    """A copy of encoder without the vocab.json beside it."""
    folder.mkdir()
    return Path(shutil.copy(encoder, folder / "encoder.ckpt"))


@pytest.mark.parametrize("change, words", [
    (["--num_hiddens", "24"], ["does not fit this network", "num_hiddens"]),
    (["--min_freq", "3"], ["pretrained with another vocabulary", "data settings"]),
])
def test_an_encoder_that_does_not_fit_is_one_line(change, words, pretrained, tmp_path, capfd):
    encoder = _alone(pretrained[1] / "encoder.ckpt", tmp_path / "alone")
    done = run_script("train.py", *tiny_args(tmp_path), "--num_layers", "1", *change,
                      "--encoder_checkpoint", encoder, capfd=capfd)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert all(word in done.stderr for word in words), done.stderr


def test_a_run_from_an_encoder_reads_with_the_vocabulary_beside_it(pretrained, tmp_path, capfd):
    """Other data settings (or another dataset) build another vocabulary; the encoder's wins."""
    done = run_script("train.py", *tiny_args(tmp_path), "--num_layers", "1", "--min_freq", "3",
                      "--encoder_checkpoint", pretrained[1] / "encoder.ckpt", capfd=capfd)
    assert done.returncode == 0, done.stderr[-2000:]
    own, encoders = (json.loads((folder / "vocab.json").read_text())["tokens"]
                     for folder in (tmp_path / "run", pretrained[1]))
    assert own == encoders


def test_unlabelled_copies_of_test_reviews_are_never_learned_from(tmp_path):
    from src.core.config import load_config
    from src.data.token_corpus import unlabelled_tokens
    from src.data.mindrecord import prepare
    unsup = tmp_path / "unsup"
    unsup.mkdir()
    originals = sorted(UNSUP.glob("*.txt"))[:5]
    for path in originals:
        shutil.copyfile(path, unsup / path.name)
    test_review = sorted((SAMPLE / "test" / "pos").glob("*.txt"))[0]
    shutil.copyfile(test_review, unsup / "99999_0.txt")  # a copy, as aclImdb's unsup has some
    config = load_config(tiny_args(tmp_path) + ["--unlabelled_path", str(unsup)])
    prepared = prepare(config, log=lambda *_: None)
    lines = []
    kept = unlabelled_tokens(config, prepared, log=lines.append)
    assert len(kept) == 5 and "left out 1 copies of test reviews" in lines[-1]
    assert unlabelled_tokens(config, prepared, log=lines.append) and \
        lines[-1].startswith("reusing")


@pytest.fixture(scope="module")
def shipped_encoder(pretrained):
    """The tiny run's language model shipped as model/encoder/ is: 3,000 words, float16."""
    workdir, folder = pretrained
    out = workdir / "box" / "encoder"
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "ship_encoder.py"),
                           str(folder), "--vocab_rows", "3000", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def test_the_shipped_encoder_is_trimmed_float16_with_its_card(shipped_encoder, pretrained):
    from src.data.text import Vocab
    from src.model.checkpoint import check_crc
    assert check_crc(shipped_encoder / "encoder.ckpt"), "written without its CRC trailer"
    params = load_params(shipped_encoder / "encoder.ckpt")
    assert tuple(params["embedding.embedding_table"].shape) == (3000, 16)
    assert params["embedding.embedding_table"].asnumpy().dtype == np.float16
    assert {"lm.word_bias", "lm.forward_project.weight", "lm.backward_project.bias"} <= set(params)
    vocab = Vocab.load(shipped_encoder / "vocab.json")
    assert len(vocab) == 3000 and params["vocab_digest"] == vocab.digest()
    full = Vocab.load(pretrained[1] / "vocab.json")
    assert vocab.tokens == full.tokens[:3000]
    card = (shipped_encoder / "CARD.md").read_text()
    loss = float(params["heldout_loss"].asnumpy())
    assert f"**{loss:.3f}**" in card and "never read" in card
    untrained = _untrained_heldout_loss(pretrained[1], 3000)
    assert loss < untrained - 1, (loss, untrained)  # what was learned is in the file (5.7, 7.9)


def _untrained_heldout_loss(folder, rows):
    """The held-out loss scripts/ship_encoder.py measures, of the language model that the
    pretraining run in folder started from (its first weights, shipped the same way)."""
    import dataclasses
    import importlib.util
    from src.core.config import load_config
    from src.data import embeddings, mindrecord
    from src.data.text import Vocab
    from src.training.pretraining import build_language_model
    spec = importlib.util.spec_from_file_location("ship_encoder",
                                                  ROOT / "scripts" / "ship_encoder.py")
    ship = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ship)
    config = load_config(["--config_path", str(folder / "config.yaml")])
    vocab = Vocab.load(folder / "vocab.json")
    quiet = lambda *_: None  # noqa: E731
    table = embeddings.build_embedding(config, mindrecord.prepare(config, quiet), quiet)
    model, _ = build_language_model(config, table, len(vocab))
    shipped = dataclasses.replace(config, vocab_size=rows, resume=False)
    return ship._heldout_loss(shipped, Vocab(vocab.tokens[:rows]), rows,
                              ship._trimmed(model, rows))


def _ship(folder, out, *more, capfd=None):
    return run_script("scripts/ship_encoder.py", folder, "--out", out, *more, capfd=capfd)


def test_shipping_takes_the_runs_last_step_not_its_last_lm_checkpoint(pretrained, tmp_path,
                                                                      capfd):
    run = tmp_path / "run"
    shutil.copytree(pretrained[1], run)
    lm_checkpoints = sorted(run.glob("lm-*.ckpt"), key=lambda p: p.stat().st_mtime)
    for later in lm_checkpoints[1:]:          # as if the run saved its state once, early on
        later.unlink()
    done = _ship(run, tmp_path / "encoder", capfd=capfd)
    assert done.returncode == 0, done.stderr[-2000:]
    shipped = load_params(tmp_path / "encoder" / "encoder.ckpt")
    end = load_params(run / "encoder.ckpt")
    assert int(shipped["lm_step"].asnumpy()) == int(end["lm_step"].asnumpy())
    assert int(end["lm_step"].asnumpy()) > int(load_params(lm_checkpoints[0])["lm_step"].asnumpy())


def test_shipping_a_run_without_checkpoints_or_a_file_that_does_not_fit_is_one_line(
        pretrained, tmp_path, capfd):
    empty = tmp_path / "empty"
    empty.mkdir()
    for name in ("config.yaml", "vocab.json"):
        shutil.copy(pretrained[1] / name, empty / name)
    other = tmp_path / "other.ckpt"                       # another run's: 35,000 words, 100-d
    shutil.copy(ROOT / "model" / "encoder" / "encoder.ckpt", other)
    for done, says in ((_ship(empty, tmp_path / "a", capfd=capfd), "holds no encoder.ckpt"),
                       (_ship(pretrained[1], tmp_path / "b", "--checkpoint", other, capfd=capfd),
                        "does not fit this run's language model")):
        assert done.returncode == 2 and says in done.stderr, done.stderr[-2000:]
        assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_pretraining_continues_from_the_shipped_encoder(shipped_encoder, pretrained, tmp_path,
                                                        capfd):
    """Its first losses are those of a trained language model, not of a new one."""
    workdir, folder = pretrained
    start = int(load_params(shipped_encoder / "encoder.ckpt")["lm_step"].asnumpy())
    args = pretrain_args(workdir, "continued", "--vocab_size", "3000", "--pretrain_epochs",
                         "0.2", "--pretrain_init_encoder", str(shipped_encoder / "encoder.ckpt"))
    args[args.index("--pretrain_dir") + 1] = str(tmp_path / "continued")
    done = run_script("pretrain.py", *args, capfd=capfd)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"continuing from {shipped_encoder / 'encoder.ckpt'}: step {start}" in done.stdout
    records = [json.loads(line) for line in (tmp_path / "continued" / "metrics.jsonl").open()]
    steps = [r["step"] for r in records if "loss" in r]
    assert steps and steps[0] == (start // 50 + 1) * 50
    fresh = _losses(folder)[0]
    assert _losses(tmp_path / "continued")[0] < fresh - 0.3, (_losses(tmp_path / "continued"), fresh)


def test_a_classifier_starts_from_the_shipped_encoder(shipped_encoder, tmp_path):
    _train_from_encoder(tiny_args(tmp_path) + ["--num_layers", "1", "--vocab_size", "3000",
                                               "--num_epochs", "1"],
                        shipped_encoder / "encoder.ckpt")
