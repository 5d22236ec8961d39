"""Pretraining SentimentNet's encoder as a language model (src/model/language_model.py) on the training reviews
and the unlabelled ones (never the test reviews).

The reviews' token ids (cached by src/data/mindrecord.py) are shuffled and joined into one stream, each
review ended by <pad>, and cut into windows of pretrain_window + 1 tokens. Every step takes
pretrain_batch_size windows in a seeded order, so --resume replays the same steps. The loop
is a plain one rather than Model.train: the windows come from memory, and MindSpore's
in-memory datasets (GeneratorDataset, NumpySlicesDataset) fail under numpy 2.

The pretrain folder (pretrain_dir) receives config.yaml, vocab.json, metrics.jsonl, run.log,
lm-EPOCH_STEP.ckpt (the whole language model and its optimizer, for --resume), an encoder
snapshot encoder-MMmin.ckpt every pretrain_save_minutes, and encoder.ckpt at the end: the
embedding and both LSTMs under SentimentNet's names, for train.py --encoder_checkpoint.
"""
import json
import math
import time
from pathlib import Path

import mindspore as ms
import numpy as np
from mindspore import nn

from ..model.checkpoint import CheckpointRing, load_params, resume_latest
from ..data.token_corpus import unlabelled_tokens
from ..core.errors import UserError
from ..core.files import atomic_path
from ..model.language_model import BiLanguageModel, NegativeSampler, encoder_params, load_encoder_params
from ..core.progress import bar
from ..core.run_folder import METRICS
from .loop import cosine_rates

__all__ = ["corpus", "Windows", "HeldOut", "build_language_model", "pretrain", "ENCODER", "LM_PREFIX"]

ENCODER = "encoder.ckpt"
LM_PREFIX = "lm"
HELDOUT_DRAWS = 2 ** 40  # step numbers of the held-out negatives, beyond any training step


def corpus(config, prepared, log=print):
    """(training stream, held-out stream) of token ids. The training stream joins the training
    reviews and those of unlabelled_path, shuffled (seeded), each followed by <pad> (id 0) so
    no window reads across reviews unmarked; the held-out stream joins the
    pretrain_heldout_reviews unlabelled reviews that are never trained on."""
    reviews = prepared.token_lists("train")
    heldout = []
    if config.unlabelled_path:
        unlabelled = unlabelled_tokens(config, prepared, log)
        kept = np.random.default_rng([config.seed, 1]).permutation(len(unlabelled))
        cut = min(config.pretrain_heldout_reviews, len(unlabelled) // 10)
        heldout = [unlabelled[i] for i in kept[:cut]]
        reviews += [unlabelled[i] for i in sorted(kept[cut:])]
    order = np.random.default_rng(config.seed).permutation(len(reviews))
    stream = _joined(reviews[index] for index in order)
    log(f"language-model corpus: {len(reviews)} reviews, {len(stream):,} tokens; held out: "
        f"{len(heldout)} unlabelled reviews")
    return stream, _joined(heldout)


def _joined(reviews):
    pieces = [np.zeros(0, np.int32)]
    for review in reviews:
        pieces += [review, np.zeros(1, np.int32)]
    return np.concatenate(pieces).astype(np.int32)


class Windows:
    """The stream cut into windows of length + 1 tokens; batch(step) -> [length + 1, batch]."""

    def __init__(self, stream, length, batch_size, seed):
        self.count = (len(stream) - 1) // (length + 1)
        if self.count < batch_size:
            raise UserError(f"the pretraining corpus holds {self.count} windows of "
                            f"{length + 1} tokens, fewer than pretrain_batch_size "
                            f"{batch_size}; lower --pretrain_window or --pretrain_batch_size, "
                            f"or pass --unlabelled_path")
        self.windows = stream[:self.count * (length + 1)].reshape(self.count, length + 1)
        self.batch_size, self.seed = batch_size, seed
        self.steps_per_epoch = self.count // batch_size
        self._epoch, self._order = None, None

    def batch(self, step):
        epoch, index = divmod(step, self.steps_per_epoch)
        if epoch != self._epoch:
            self._epoch = epoch
            self._order = np.random.default_rng(self.seed + epoch).permutation(self.count)
        chosen = self._order[index * self.batch_size:(index + 1) * self.batch_size]
        return self.windows[chosen].T.copy()


def build_language_model(config, table, vocab_size):
    """(the bidirectional language model, its negative-word sampler)."""
    sampler = NegativeSampler(vocab_size, min(config.pretrain_samples, vocab_size - 1),
                              config.seed)
    model = BiLanguageModel(table, config.num_hiddens, sampler.log_expected,
                            config.pretrain_dropout)
    return model, sampler


def _save_encoder(model, path, vocab, record):
    params = [{"name": name, "data": ms.Tensor(value)}
              for name, value in encoder_params(model).items()]
    with atomic_path(path, suffix=".ckpt", what="--pretrain_dir", kind="encoder") as tmp:
        ms.save_checkpoint(params, str(tmp), append_dict={"vocab_digest": vocab.digest(),
                                                          **record},
                           crc_check=True)  # checked at load (model/checkpoint.py)


class HeldOut:
    """The language model's loss on held-out windows (dropout off), each batch scored against
    the same negatives every time, so the figure tells progress from overfitting."""

    BATCHES = 20  # at most 20 x 64 windows of 70 tokens: ~90,000 tokens, a few seconds

    def __init__(self, stream, windows, sampler):
        length, batch_size = windows.windows.shape[1] - 1, windows.batch_size
        count = (len(stream) - 1) // (length + 1) // batch_size * batch_size
        usable = stream[:count * (length + 1)].reshape(-1, batch_size, length + 1)
        self.batches = [batch.T.copy() for batch in usable[:self.BATCHES]]
        self.negatives = [sampler.draw(HELDOUT_DRAWS + index) for index in range(len(self.batches))]

    def loss(self, model):
        """Mean held-out loss, or None when too few held-out reviews make a batch."""
        if not self.batches:
            return None
        model.set_train(False)
        losses = [float(model(ms.Tensor(batch), ms.Tensor(negatives)).asnumpy())
                  for batch, negatives in zip(self.batches, self.negatives)]
        model.set_train(True)
        return round(float(np.mean(losses)), 4)


def _snapshot(model, heldout, run, path, vocab, record):
    """The encoder into path, with the held-out loss in its record and in metrics.jsonl."""
    loss = heldout.loss(model)
    if loss is not None:
        record = {**record, "heldout_loss": loss}
        with (run.dir / METRICS).open("a", encoding="utf-8") as stream:
            stream.write(json.dumps({"step": record["lm_step"], "heldout_loss": loss}) + "\n")
        run.log(f"held-out loss {loss:.4f} at step {record['lm_step']}")
    _save_encoder(model, path, vocab, record)


def _start_from(path, model, vocab, run):
    """(first step, seconds already spent) of the language model set from encoder file path."""
    if not Path(path).is_file():
        raise UserError(f"--pretrain_init_encoder {path} not found; pass an encoder file of "
                        f"pretrain.py (PRETRAIN_PATH/encoder*.ckpt or model/encoder/encoder.ckpt)")
    params = load_params(path)
    if params.get("vocab_digest") != vocab.digest():
        raise UserError(f"--pretrain_init_encoder {path} was pretrained with another vocabulary; "
                        f"continue it with the data settings it was built with (the config "
                        f"beside it: same --aclimdb_path, vocab_size, min_freq, split_seed)")
    missing = load_encoder_params(model, params)
    if missing:
        raise UserError(f"--pretrain_init_encoder {path} does not fit this language model: "
                        f"{missing[0]} is missing or of another shape ({len(missing)} in all); "
                        f"pass an encoder written by pretrain.py, with its embed_size and "
                        f"num_hiddens")
    done = int(params["lm_step"].asnumpy())
    spent = float(params["minutes"].asnumpy()) * 60
    run.log(f"continuing from {path}: step {done}, {spent / 60:.1f} min done")
    return done, spent


def _resume(config, step, run):
    """(first step, seconds already spent) from the newest lm-EPOCH_STEP.ckpt of run."""
    path, params = resume_latest(step, run.dir, LM_PREFIX, "pretrain", "--pretrain_dir")
    done, spent = int(params["lm_step"].asnumpy()), float(params["lm_seconds"].asnumpy())
    run.log(f"resuming from {path}: step {done}, {spent / 60:.1f} min done")
    return done, spent


class _Progress:
    """metrics.jsonl every 50 steps, a log line every 200, a bar on a terminal."""

    def __init__(self, run, total, done):
        self.run, self.losses, self.started = run, [], time.perf_counter()
        self.bar = bar(total, "pretrain", "step", initial=done)

    def step(self, step, loss, lr, tokens):
        self.losses.append(loss)
        self.bar.update(1)
        if (step + 1) % 50 == 0:
            seconds = time.perf_counter() - self.started
            record = {"step": step + 1, "loss": round(float(np.mean(self.losses)), 5),
                      "lr": lr, "tokens_per_s": round(tokens * len(self.losses) / seconds, 1)}
            with (self.run.dir / METRICS).open("a", encoding="utf-8") as stream:
                stream.write(json.dumps(record) + "\n")
            if (step + 1) % 200 == 0:
                self.run.log(f"pretrain step {step + 1} loss {record['loss']:.4f} "
                             f"{record['tokens_per_s']:.0f} tokens/s")
            self.losses, self.started = [], time.perf_counter()


def pretrain(config, model, sampler, windows, vocab, run, heldout):
    """Train the language model for pretrain_epochs passes or pretrain_minutes, whichever
    ends first, measuring heldout (a HeldOut) at every snapshot and at the end; returns the
    path of encoder.ckpt."""
    total = max(int(config.pretrain_epochs * windows.steps_per_epoch), 1)
    rates = cosine_rates(config.pretrain_learning_rate, total,
                         max(int(0.02 * total), 1))
    step = nn.TrainOneStepCell(model, nn.Adam(model.trainable_params(), learning_rate=rates))
    if config.resume:
        done, spent = _resume(config, step, run)
    elif config.pretrain_init_encoder:
        done, spent = _start_from(config.pretrain_init_encoder, model, vocab, run)
    else:
        done, spent = 0, 0.0
    ring = CheckpointRing(run.dir, LM_PREFIX, config.keep_checkpoint_max)
    budget = config.pretrain_minutes * 60 or math.inf
    started, last_finite = time.perf_counter() - spent, None
    next_snapshot = (int(spent / 60 / config.pretrain_save_minutes) + 1) * \
        config.pretrain_save_minutes
    progress = _Progress(run, total, done)
    tokens = windows.batch_size * (windows.windows.shape[1] - 1)
    for index in range(done, total):
        elapsed = time.perf_counter() - started
        while next_snapshot * 60 <= elapsed and next_snapshot * 60 < budget:  # none skipped
            _snapshot(model, heldout, run, run.dir / f"encoder-{next_snapshot:g}min.ckpt",
                      vocab, {"minutes": float(next_snapshot), "lm_step": index})
            next_snapshot += config.pretrain_save_minutes
        if elapsed >= budget:
            run.log(f"pretrain_minutes {config.pretrain_minutes} reached at step {index}")
            break
        loss = float(step(ms.Tensor(windows.batch(index)), ms.Tensor(sampler.draw(index))).asnumpy())
        if not math.isfinite(loss):
            raise UserError(f"pretraining diverged at step {index + 1}: the loss is {loss} "
                            f"(last finite {last_finite}); lower --pretrain_learning_rate (it "
                            f"is {config.pretrain_learning_rate:g}) or resume from the last "
                            f"{LM_PREFIX}-EPOCH_STEP.ckpt")
        last_finite = round(loss, 4)
        progress.step(index, loss, rates[index], tokens)
        if (index + 1) % config.save_checkpoint_steps == 0:
            epoch, in_epoch = divmod(index + 1, windows.steps_per_epoch)
            ring.save(step, epoch + 1, in_epoch, {"lm_step": index + 1,
                                                  "lm_seconds": time.perf_counter() - started})
    else:
        index = total
    progress.bar.close()
    minutes = (time.perf_counter() - started) / 60
    path = run.dir / ENCODER
    _snapshot(model, heldout, run, path, vocab, {"minutes": minutes, "lm_step": index})
    run.log(f"pretrained for {minutes:.1f} min, {index} steps "
            f"({index / windows.steps_per_epoch:.2f} passes); encoder in {path}")
    return Path(path)
