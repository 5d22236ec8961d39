"""Put a pretraining run's language model into model/encoder/: the encoder train.py starts
from, and the state pretrain.py --pretrain_init_encoder continues.

Usage: .venv/bin/python scripts/ship_encoder.py PRETRAIN_DIR [--vocab_rows 35000]
           [--checkpoint PRETRAIN_DIR/lm-E_S.ckpt] [--out model/encoder]

Reads the end of the run, PRETRAIN_DIR/encoder.ckpt (or, for a run that was stopped before
its end, the newest lm-EPOCH_STEP.ckpt; or --checkpoint: either kind, or an encoder-MMmin.ckpt
snapshot) and writes into OUT:
encoder.ckpt (float16: the embedding and both LSTMs under SentimentNet's names, the language
model's output layers under "lm.", the vocabulary's digest, steps and minutes; with
--vocab_rows only the rows of the most frequent words, the others read as <unk>), vocab.json,
config.yaml (the pretraining settings without this machine's paths) and CARD.md with the
held-out loss of the shipped (trimmed, float16) language model, measured here on the run's
held-out unlabelled reviews. The optimizer's moments are not shipped.
"""
import argparse
import dataclasses
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from src.core.cli import fail  # noqa: E402
from src.core.config import Config, load_config, save_config  # noqa: E402
from src.core.errors import UserError  # noqa: E402
from src.data.text import UNK, Vocab  # noqa: E402

PATHS = ("aclimdb_path", "data_path", "glove_path", "preprocess_path", "unlabelled_path",
         "pretrain_dir", "encoder_checkpoint", "pretrain_init_encoder", "checkpoint_file",
         "run_dir", "aim_repo")


def _language_model(config, vocab, path):
    """(the BiLanguageModel of the checkpoint at path, its step, its minutes of pretraining).

    path: an lm-EPOCH_STEP.ckpt (the training state) or an encoder file (encoder.ckpt at a
    run's end, an encoder-MMmin.ckpt snapshot), which holds the language model's weights too.
    """
    from src.model.checkpoint import load_into, load_params
    from src.model.language_model import BiLanguageModel, load_encoder_params
    params = load_params(path)
    model = BiLanguageModel(np.zeros((len(vocab), config.embed_size), np.float32),
                            config.num_hiddens, np.zeros(len(vocab), np.float32), 0.0)
    if "lm.word_bias" not in params:
        load_into(model, params, path)
        return model, int(params["lm_step"].asnumpy()), float(params["lm_seconds"].asnumpy()) / 60
    missing = load_encoder_params(model, params)
    if missing:
        raise UserError(f"{path} does not fit this run's language model (no {missing[0]}, or "
                        f"another shape); pass an encoder.ckpt or lm-EPOCH_STEP.ckpt of the "
                        f"run whose folder is given")
    return model, int(params["lm_step"].asnumpy()), float(params["minutes"].asnumpy())


def _run_end(pretrain_dir):
    """The checkpoint that holds the run's last step: encoder.ckpt, written when it ends."""
    from src.model.checkpoint import latest_checkpoint
    from src.training.pretraining import LM_PREFIX
    end = pretrain_dir / "encoder.ckpt"
    path = end if end.is_file() else latest_checkpoint(pretrain_dir, LM_PREFIX)
    if path is None:
        raise UserError(f"{pretrain_dir} holds no encoder.ckpt and no {LM_PREFIX}-EPOCH_STEP.ckpt; "
                        f"pass the --pretrain_dir of a pretrain.py run")
    return path


def _trimmed(model, rows):
    """encoder_params of model, float16, the vocabulary cut to its first rows words."""
    from src.model.language_model import encoder_params
    params = encoder_params(model)
    for name in ("embedding.embedding_table", "lm.word_bias"):
        params[name] = params[name][:rows]
    return {name: value.astype(np.float16) for name, value in params.items()}


def _heldout_loss(config, vocab, rows, params):
    """The held-out loss of the shipped language model (its rows, float16 weights widened)."""
    import mindspore as ms
    from src.data import mindrecord
    from src.training import pretraining
    from src.core.device import init_device
    from src.model.language_model import load_encoder_params
    init_device(config)
    prepared = mindrecord.prepare(config, lambda *_: None)
    stream, heldout = pretraining.corpus(config, prepared, lambda *_: None)
    unknown = vocab.index[UNK]
    heldout = np.where(heldout >= rows, unknown, heldout).astype(np.int32)
    windows = pretraining.Windows(stream[:(config.pretrain_window + 1) * config.pretrain_batch_size
                                      + 1], config.pretrain_window,
                               config.pretrain_batch_size, config.seed)
    table = np.zeros((rows, config.embed_size), np.float32)
    model, sampler = pretraining.build_language_model(config, table, rows)
    load_encoder_params(model, {name: ms.Tensor(value) for name, value in params.items()})
    return pretraining.HeldOut(heldout, windows, sampler).loss(model)


def _card(config, record, rows, command):
    tokens = record["lm_step"] * config.pretrain_batch_size * config.pretrain_window
    return "\n".join([
        "# Encoder card: the pretrained movie-language encoder",
        "",
        "**What it is.** SentimentNet's encoder (a "
        f"{config.embed_size}-d embedding and one bidirectional LSTM layer of "
        f"{config.num_hiddens} units) pretrained as a forward + backward language model: "
        "`train.py --encoder_checkpoint model/encoder/encoder.ckpt` starts a classifier from "
        "it; `pretrain.py --pretrain_init_encoder model/encoder/encoder.ckpt` continues it.",
        "",
        "**Data.** aclImdb v1's training reviews (the 22,500 outside the validation split) "
        "and its unlabelled reviews that are not copies of test reviews, minus "
        f"{config.pretrain_heldout_reviews} unlabelled reviews held out to measure it; the "
        "test reviews were never read.",
        "",
        f"**Training.** {record['lm_step']:,} steps of {config.pretrain_batch_size} windows "
        f"of {config.pretrain_window} tokens: {tokens / 1e6:.1f} M tokens "
        f"({tokens / record['corpus_tokens']:.2f} passes) in {record['minutes'] / 60:.2f} "
        f"hours of wall clock (median {record['tokens_per_s']:,.0f} tokens/s on a CPU); Adam "
        f"at {config.pretrain_learning_rate:g}, warm-up and cosine over "
        f"{config.pretrain_epochs:g} passes.",
        "",
        f"**Held-out loss** (sampled softmax against {config.pretrain_samples} negatives, "
        f"the shipped float16 weights and {rows:,}-word vocabulary): "
        f"**{record['heldout_loss']:.3f}**.",
        "",
        f"**Continue it.** `{command}`; then "
        "`.venv/bin/python scripts/ship_encoder.py PRETRAIN_DIR --vocab_rows "
        f"{rows}`. The optimizer's moments start afresh.",
        ""])


def ship(args):
    """Write the encoder of args.pretrain_dir (or args.checkpoint) into args.out."""
    config = load_config(["--config_path", str(args.pretrain_dir / "config.yaml")])
    vocab = Vocab.load(args.pretrain_dir / "vocab.json")
    path = args.checkpoint or _run_end(args.pretrain_dir)
    rows = min(args.vocab_rows or len(vocab), len(vocab))
    model, step, minutes = _language_model(config, vocab, path)
    shipped_vocab = Vocab(vocab.tokens[:rows])
    weights = _trimmed(model, rows)
    # a time budget counts every minute since step 0: kept, it would stop a continuation at once
    shipped = dataclasses.replace(config, vocab_size=rows, resume=False, pretrain_minutes=0.0,
                                  pretrain_init_encoder="")
    record = {"lm_step": step, "minutes": minutes,
              "heldout_loss": _heldout_loss(shipped, shipped_vocab, rows, weights)}
    record["corpus_tokens"] = _corpus_tokens(args.pretrain_dir)
    record["tokens_per_s"] = _median_speed(args.pretrain_dir)
    building = args.out.with_name(f".{args.out.name}.building")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    _write(building, weights, shipped_vocab, record)
    neutral = dataclasses.replace(shipped, **{name: getattr(Config(), name) for name in PATHS})
    save_config(neutral, building / "config.yaml")
    listed = yaml.safe_load((building / "config.yaml").read_text())
    listed.pop("config_path", None)  # where it was read from on the machine that built it
    (building / "config.yaml").write_text(yaml.safe_dump(listed, sort_keys=False))
    command = (".venv/bin/python pretrain.py --config_path model/encoder/config.yaml "
               "--aclimdb_path aclImdb_v1.tar.gz --unlabelled_path aclImdb/train/unsup "
               "--pretrain_dir PRETRAIN_DIR --pretrain_init_encoder model/encoder/encoder.ckpt")
    (building / "CARD.md").write_text(_card(config, record, rows, command))
    shutil.rmtree(args.out, ignore_errors=True)
    building.rename(args.out)
    size = sum(p.stat().st_size for p in args.out.iterdir()) / 1e6
    print(f"shipped {path.name} into {args.out} ({size:.1f} MB): {json.dumps(record)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pretrain_dir", type=Path)
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--vocab_rows", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "model" / "encoder")
    try:
        ship(parser.parse_args())
    except UserError as err:
        fail(err)


def _corpus_tokens(pretrain_dir):
    """The corpus size pretrain.py logged ("language-model corpus: N reviews, T tokens")."""
    for line in (pretrain_dir / "run.log").read_text().splitlines():
        if "language-model corpus:" in line:
            return int(line.split(" reviews, ")[1].split(" tokens")[0].replace(",", ""))
    raise SystemExit(f"{pretrain_dir}/run.log does not name the corpus size")


def _median_speed(pretrain_dir):
    speeds = sorted(json.loads(line)["tokens_per_s"]
                    for line in (pretrain_dir / "metrics.jsonl").read_text().splitlines()
                    if "tokens_per_s" in line)
    return speeds[len(speeds) // 2] if speeds else 0.0


def _write(folder, weights, vocab, record):
    import mindspore as ms
    from src.model.checkpoint import save_atomic  # with the CRC trailer load_params checks
    save_atomic([{"name": name, "data": ms.Tensor(value)} for name, value in weights.items()],
                folder / "encoder.ckpt", {"vocab_digest": vocab.digest(),
                                          "lm_step": record["lm_step"],
                                          "minutes": record["minutes"],
                                          "heldout_loss": record["heldout_loss"]})
    vocab.save(folder / "vocab.json")


if __name__ == "__main__":
    main()
