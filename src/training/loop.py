"""Training: the optimizer and its learning-rate schedule, --init_checkpoint / --resume, and the
epochs, MindSpore's Model.train with the callbacks of src/training/callbacks.py.

train.py (the entry script) shows the whole flow: config, device, data, embeddings, network,
optimizer, then `fit`.
"""
import json
import math
from pathlib import Path

from mindspore import nn

from .callbacks import (DivergenceGuard, EpochCheckpoint, MetricsLog, StepCheckpoint,
                           TrainState, ValidationWatch)
from ..model.checkpoint import (CheckpointRing, load_encoder, load_into, load_params, resume_latest,
                            weights_digest)
from ..data.mindrecord import batches_per_epoch, eval_batches, train_batches
from ..core.distribute import common_steps
from ..core.errors import UserError
from ..core.files import write_text
from ..data.glove import check_glove_path
from ..model.language_model import ENCODER_PREFIXES
from ..model.network import AdversarialStep, NetWithLoss, any_batch_shape, scoring_model
from ..core.progress import interactive
from ..core.run_folder import METRICS, PREFIX
from .tracking import AimTracker, CurvePlot, EpochBar
from ..model.wide import MAX_VOCAB

__all__ = ["cosine_rates", "learning_rates", "build_optimizer", "train_step", "check_inputs",
           "restore", "fit"]


def cosine_rates(peak, total, warmup):
    """Per-step learning rates: linear warm-up over `warmup` steps, then cosine decay to 0."""
    rates = []
    for step in range(total):
        if step < warmup:
            rates.append(peak * (step + 1) / warmup)
        else:
            done = (step - warmup) / max(total - warmup, 1)
            rates.append(0.5 * peak * (1 + math.cos(math.pi * done)))
    return rates


def learning_rates(config, steps_per_epoch):
    """The learning rate of every step: fixed, or linear warm-up then cosine decay to 0.

    A plain list (MindSpore's dynamic learning rate) that covers num_epochs full epochs;
    bucketed epochs with dropped remainders take fewer steps, never more.
    """
    total = config.num_epochs * steps_per_epoch
    if config.lr_schedule == "fixed":
        return [config.learning_rate] * total
    return cosine_rates(config.learning_rate, total,
                        max(int(config.warmup_epochs * steps_per_epoch), 1))


def build_optimizer(config, network, steps_per_epoch):
    """Adam or Momentum over the network's trainable weights with per-step learning rates.

    Returns (optimizer, rates).
    """
    rates = learning_rates(config, steps_per_epoch)
    params = network.trainable_params()
    if config.encoder_lr_scale != 1.0:  # discriminative rates: the encoder moves slower
        slower = [rate * config.encoder_lr_scale for rate in rates]
        params = [{"params": [p for p in params if p.name.startswith(ENCODER_PREFIXES)],
                   "lr": slower},
                  {"params": [p for p in params if not p.name.startswith(ENCODER_PREFIXES)]}]
    if config.optimizer == "adam":
        optimizer = nn.Adam(params, learning_rate=rates, weight_decay=config.weight_decay)
    else:
        optimizer = nn.Momentum(params, learning_rate=rates, momentum=config.momentum,
                                weight_decay=config.weight_decay)
    return optimizer, rates


def train_step(network, optimizer, adversarial=0.0, dynamic_shapes=False):
    """One training step: mean cross-entropy (plus the adversarial loss when adversarial > 0),
    gradients (all-reduced in data-parallel runs), optimizer update; one graph for all batch
    shapes when dynamic_shapes."""
    if adversarial:
        step = AdversarialStep(NetWithLoss(network), optimizer, adversarial)
    else:
        step = nn.TrainOneStepCell(NetWithLoss(network), optimizer)
    return any_batch_shape(step, targets=True) if dynamic_shapes else step


def check_inputs(config):
    """Fail in a second, before preprocessing, on input files that are missing or unreadable."""
    if config.init_checkpoint and not Path(config.init_checkpoint).is_file():
        raise UserError(f"--init_checkpoint {config.init_checkpoint} not found; pass a .ckpt file "
                        f"written by train.py")
    if config.encoder_checkpoint and not Path(config.encoder_checkpoint).is_file():
        raise UserError(f"--encoder_checkpoint {config.encoder_checkpoint} not found; pass "
                        f"the encoder.ckpt pretrain.py wrote (PRETRAIN_PATH/encoder.ckpt)")
    if config.unlabelled_path and not Path(config.unlabelled_path).is_dir():
        raise UserError(f"unlabelled_path {config.unlabelled_path} is not a folder; pass the "
                        f"folder of unlabelled reviews (aclImdb/train/unsup) or leave it empty")
    if config.embedding == "glove":
        check_glove_path(config.glove_path)
    if config.wide and config.vocab_size > MAX_VOCAB:  # pair ids must stay inside int32
        raise UserError(f"--wide true hashes word pairs in int32, for {MAX_VOCAB} words at "
                        f"most; pass --vocab_size {MAX_VOCAB} or less (it is {config.vocab_size})")


def _kept_record(line, state):
    """Whether a metrics.jsonl line survives a resume from state (steps after it are redone)."""
    try:
        record = json.loads(line)
    except ValueError:
        return False  # the half-written last line of a killed run
    if "loss" in record:
        return record.get("step", 0) <= state.steps_done
    if "valid_acc" in record:
        return record.get("epoch", 0) <= state.epoch
    return True


def _trim_metrics(path, state):
    """Drop the records a killed run wrote after its last checkpoint, so none is doubled."""
    if path.exists():
        kept = [line for line in path.read_text(encoding="utf-8").splitlines()
                if _kept_record(line, state)]
        write_text(path, "".join(line + "\n" for line in kept))


def restore(config, step, run, vocab):
    """Load --init_checkpoint weights, a --encoder_checkpoint, or the --resume state of run;
    returns the TrainState to start from."""
    if config.encoder_checkpoint and not config.resume:
        names = load_encoder(step.network, config.encoder_checkpoint, vocab)
        run.log(f"started the embedding and LSTM layer 0 from {config.encoder_checkpoint} "
                f"({len(names)} weights)")
        return TrainState()
    if config.init_checkpoint:
        load_into(step.network, load_params(config.init_checkpoint), config.init_checkpoint)
        run.log(f"started from weights in {config.init_checkpoint}")
        return TrainState()
    if not config.resume:
        return TrainState()
    path, params = resume_latest(step, run.run_dir, PREFIX, "train", "--run_dir")
    state = TrainState.from_checkpoint(params)
    run.log(f"resuming from {path}: epoch {state.epoch + 1}, step {state.step_in_epoch}"
            + (f", {state.bad_epochs} epochs without a better validation" if state.bad_epochs
               else ""))
    _trim_metrics(run.dir / METRICS, state)
    return state


def _callbacks(config, run, model, prepared, state, metrics, rank, steps_per_epoch):
    """Divergence guard, step checkpoints, metrics, progress bar, validation, the epoch-end
    checkpoint (after validation, so it holds the early-stop count), curves: in order."""
    ring = CheckpointRing(run.dir, PREFIX, config.keep_checkpoint_max) if rank.is_main else None
    stamp = {"vocab_digest": prepared.vocab.digest()}  # eval/predict refuse another vocabulary
    steps = StepCheckpoint(ring, state, config.save_checkpoint_steps, stamp)
    callbacks = [DivergenceGuard(state, run.dir, metrics, config.learning_rate), steps, metrics]
    if interactive():
        callbacks.append(EpochBar(state, steps_per_epoch))
    if prepared.mindrecord("valid").exists():
        valid = eval_batches(config, prepared.mindrecord("valid"))
        callbacks.append(ValidationWatch(model, valid, run.run_dir, metrics, state, config,
                                         run.log, rank.is_main, stamp))
    callbacks += [EpochCheckpoint(steps), CurvePlot(run.dir, run.log)]
    return callbacks


def _epochs(config, model, prepared, state, callbacks, rank, steps_per_epoch):
    """Every epoch runs at most steps_per_epoch batches, the count the learning-rate schedule
    was built for: with length buckets an epoch's count varies a little with its shuffle (each
    bucket drops its own remainder), and in data-parallel runs every rank runs the same count."""
    watch = next((c for c in callbacks if isinstance(c, ValidationWatch)), None)
    for epoch in range(state.epoch, config.num_epochs):
        state.epoch = epoch
        steps = steps_per_epoch
        if rank.sharded:
            steps = min(steps, common_steps(
                lambda n, i: batches_per_epoch(config, prepared, n, i, epoch), rank))
        dataset = train_batches(config, prepared, epoch, state.step_in_epoch, *rank.shard())
        dataset = dataset.take(max(steps - state.step_in_epoch, 1))
        model.train(epoch + 1, dataset, callbacks=callbacks, dataset_sink_mode=False,
                    initial_epoch=epoch)
        state.step_in_epoch = 0
        if watch and watch.stopped:
            break


def fit(config, step, rates, prepared, run, state, rank, steps_per_epoch):
    """Train for the remaining epochs of state: checkpoints, metrics.jsonl, validation after
    each epoch (lstm-best.ckpt), curves.png, Aim when aim_repo is set. Returns run.dir."""
    network = step.network.network
    model = scoring_model(network, config.dynamic_shapes, step)
    metrics = MetricsLog(run.dir / METRICS, state, rank.size, rates, run.log)
    tracker = AimTracker(config, run.dir, run.log) if config.aim_repo and rank.is_main else None
    if tracker:
        metrics.listeners.append(tracker.record)
    callbacks = _callbacks(config, run, model, prepared, state, metrics, rank, steps_per_epoch)
    try:
        _epochs(config, model, prepared, state, callbacks, rank, steps_per_epoch)
    finally:
        if tracker:
            tracker.close()
    if rank.sharded:
        run.log(f"rank {rank.id} of {rank.size}: weights digest {weights_digest(network)}")
    run.log(f"training done: checkpoints, run.log and curves.png in {run.dir}")
    return run.dir
