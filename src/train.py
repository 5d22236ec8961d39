"""Training: data, network, optimizer, learning-rate schedule, callbacks, resume.

The run folder (config.ckpt_path) receives config.yaml, vocab.json, metrics.jsonl, run.log
(the console's lines), curves.png (loss and accuracy, redrawn each epoch), checkpoints named
lstm-EPOCH_STEP.ckpt (the newest keep_checkpoint_max kept) and lstm-best.ckpt (best validation
accuracy), and aim_run.txt when tracking to Aim (--aim_repo). In data-parallel runs
(run_distribute) only rank 0 writes those; rank N writes its config.yaml and metrics.jsonl into
ckpt_path/rank_N.
"""
import json
import math
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path

import mindspore as ms
import numpy as np
from mindspore import nn
from mindspore.train import Accuracy, Callback, Loss, Model

from src.checkpoint import (CheckpointRing, latest_checkpoint, load_into, load_params,
                            remove_temp_files, save_atomic)
from src.config import UserError, save_config
from src.data import create_dataset
from src.device import init_device
from src.embeddings import check_glove_path
from src.run_folder import FolderLock
from src.distribute import (Rank, broadcast_weights, common_steps, for_worker, init_distribute,
                            prepare_inputs, weights_digest)
from src.lstm import NetWithEval, NetWithLoss, build_network
from src.progress import interactive
from src.tracking import AimTracker, CurvePlot, EpochBar, RunLog

__all__ = ["train", "learning_rates", "build_optimizer", "PREFIX"]

PREFIX = "lstm"


def learning_rates(config, steps_per_epoch):
    """The learning rate of every step: fixed, or linear warm-up then cosine decay to 0.

    A plain list (MindSpore's dynamic learning rate) that covers num_epochs full epochs;
    bucketed epochs with dropped remainders take fewer steps, never more.
    """
    total = config.num_epochs * steps_per_epoch
    if config.lr_schedule == "fixed":
        return [config.learning_rate] * total
    warmup = max(int(config.warmup_epochs * steps_per_epoch), 1)
    rates = []
    for step in range(total):
        if step < warmup:
            rates.append(config.learning_rate * (step + 1) / warmup)
        else:
            done = (step - warmup) / max(total - warmup, 1)
            rates.append(0.5 * config.learning_rate * (1 + math.cos(math.pi * done)))
    return rates


def build_optimizer(config, params, rates):
    """Momentum or Adam over params with the per-step learning rates."""
    if config.optimizer == "adam":
        return nn.Adam(params, learning_rate=rates, weight_decay=config.weight_decay)
    return nn.Momentum(params, learning_rate=rates, momentum=config.momentum,
                       weight_decay=config.weight_decay)


def weights_finite(cell):
    """True when no parameter of cell holds NaN or infinity."""
    return all(np.isfinite(param.asnumpy()).all() for param in cell.trainable_params())


class DivergenceGuard(Callback):
    """Stops the run at the first step whose loss is NaN or infinite, before that step is
    saved or logged: one line naming the step, the last finite loss and what to try.

    Goes first in the callback list. Checkpoints of diverged weights are never written
    (StepCheckpoint and ValidationWatch check the weights), so the newest checkpoint left
    is the last finite one.
    """

    def __init__(self, state, run_dir, metrics, config):
        super().__init__()
        self.state, self.run_dir, self.metrics, self.config = state, Path(run_dir), metrics, config
        self.last = None  # (step, loss) of the last finite loss

    def on_train_step_end(self, run_context):
        loss = float(run_context.original_args().net_outputs.asnumpy())
        step = self.state.global_step + 1
        if math.isfinite(loss):
            self.last = (step, loss)
            return
        self.metrics.write({"epoch": self.state.epoch + 1, "diverged_at_step": step})
        raise UserError(f"training diverged at step {step}: the loss is {loss} "
                        f"({self._last_finite()}); {self._advice()}")

    def _last_finite(self):
        if self.last is None:
            return "no step had a finite loss"
        return f"last finite loss {self.last[1]:.4g} at step {self.last[0]}"

    def _advice(self):
        kept = latest_checkpoint(self.run_dir, PREFIX)
        where = f"; {kept.name} holds the last finite weights" if kept else ""
        return (f"lower --learning_rate (it is {self.config.learning_rate:g}) or raise "
                f"--warmup_epochs, and train again without --resume{where}")


class TrainState:
    """Where training stands: the (epoch, step) names of checkpoints and resume."""

    def __init__(self, epoch=0, step_in_epoch=0, global_step=0):
        self.epoch, self.step_in_epoch, self.global_step = epoch, step_in_epoch, global_step

    def as_dict(self):
        # Not "global_step": that name belongs to the optimizer's own step counter.
        return {"epoch": self.epoch, "step_in_epoch": self.step_in_epoch,
                "train_step": self.global_step}


class StepCheckpoint(Callback):
    """Every save_steps steps and at each epoch end: save lstm-EPOCH_STEP.ckpt atomically.

    Also counts the steps in state; with ring None (ranks other than 0) it only counts.
    """

    def __init__(self, ring, state, save_steps, log):
        super().__init__()
        self.ring, self.state, self.save_steps, self.log = ring, state, save_steps, log

    def on_train_step_end(self, run_context):
        self.state.step_in_epoch += 1
        self.state.global_step += 1
        if self.state.global_step % self.save_steps == 0:
            self._save(run_context, self.state.as_dict())

    def on_train_epoch_end(self, run_context):
        # Recorded as "next epoch, step 0" so that --resume starts the following epoch.
        finished = TrainState(self.state.epoch + 1, 0, self.state.global_step)
        self._save(run_context, finished.as_dict())

    def _save(self, run_context, record):
        if self.ring is None:
            return
        cell = run_context.original_args().train_network
        if weights_finite(cell):  # a diverged step's weights must not push out finite ones
            self.ring.save(cell, self.state.epoch + 1, self.state.step_in_epoch, record)


class MetricsLog(Callback):
    """Appends loss, learning rate and throughput to metrics.jsonl; prints a line per N steps."""

    def __init__(self, path, state, batch_size, rates, log, every=20):
        super().__init__()
        self.path, self.state, self.batch_size = Path(path), state, batch_size
        self.rates, self.log, self.every = rates, log, every
        self.started = time.perf_counter()
        self.listeners = []  # functions called with each record (the Aim tracker)

    def on_train_step_begin(self, run_context):
        self.started = time.perf_counter()

    def on_train_step_end(self, run_context):
        loss = float(run_context.original_args().net_outputs.asnumpy())
        seconds = time.perf_counter() - self.started
        lr = self.rates[min(self.state.global_step - 1, len(self.rates) - 1)]
        ids = run_context.original_args().train_dataset_element[0]
        record = {"epoch": self.state.epoch + 1, "step": self.state.global_step,
                  "loss": round(loss, 5), "lr": lr, "step_s": round(seconds, 4),
                  "samples_per_s": round(self.batch_size / seconds, 1),
                  "tokens": int(ids.shape[1])}
        self.write(record)
        if self.state.global_step % self.every == 0:
            self.log(f"epoch {record['epoch']} step {self.state.step_in_epoch} "
                     f"loss {loss:.4f} {record['samples_per_s']} samples/s")

    def write(self, record):
        """Append one record; NaN and infinity become null, so every line stays JSON."""
        record = {key: None if isinstance(value, float) and not math.isfinite(value) else value
                  for key, value in record.items()}
        with self.path.open("a", encoding="utf-8") as stream:
            stream.write(json.dumps(record, allow_nan=False) + "\n")
        for listener in self.listeners:
            listener(record)


class ValidationWatch(Callback):
    """After each epoch: validation accuracy, lstm-best.ckpt, and early stopping."""

    def __init__(self, model, dataset, run_dir, metrics, patience, log, save_best=True):
        super().__init__()
        self.model, self.dataset, self.run_dir = model, dataset, Path(run_dir)
        self.metrics, self.patience, self.log = metrics, patience, log
        self.save_best = save_best
        self.best, self.bad_epochs, self.stopped = _best_so_far(self.run_dir), 0, False

    def on_train_epoch_end(self, run_context):
        scores = self.model.eval(self.dataset, dataset_sink_mode=False)
        accuracy = scores["acc"]
        epoch = run_context.original_args().cur_epoch_num
        self.metrics.write({"epoch": epoch, "valid_acc": round(accuracy, 5),
                            "valid_loss": round(float(scores["loss"]), 5)})
        self.log(f"epoch {epoch} validation accuracy {accuracy:.4f}")
        if accuracy > self.best:
            self.best, self.bad_epochs = accuracy, 0
            if self.save_best and weights_finite(run_context.original_args().train_network):
                save_atomic(run_context.original_args().train_network,
                            self.run_dir / f"{PREFIX}-best.ckpt",
                            {"epoch": epoch, "valid_acc": accuracy})
        else:
            self.bad_epochs += 1
            if self.patience and self.bad_epochs >= self.patience:
                self.log(f"early stop: no better validation accuracy for {self.patience} epochs")
                self.stopped = True
                run_context.request_stop()


def _best_so_far(run_dir):
    """Validation accuracy stored in an earlier lstm-best.ckpt of this run (for --resume)."""
    best = Path(run_dir) / f"{PREFIX}-best.ckpt"
    if not best.exists():
        return -1.0
    return float(load_params(best)["valid_acc"].asnumpy())


def _prepare_run_dir(config, prepared, rank=Rank()):
    """The run folder, locked for this process (see FolderLock), with config and vocabulary.

    Returns (run_dir, lock); the caller releases the lock when training ends.
    """
    run_dir = Path(config.ckpt_path)
    if not rank.is_main:
        run_dir = run_dir / f"rank_{rank.id}"
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        lock = FolderLock(run_dir).acquire()
        save_config(config, run_dir / "config.yaml")
        shutil.copyfile(prepared.folder / "vocab.json", run_dir / "vocab.json")
    except OSError as err:
        raise UserError(f"cannot write to ckpt_path {run_dir} ({err.strerror}); pass "
                        f"--ckpt_path to a writable folder") from None
    remove_temp_files(run_dir)
    if not config.resume:
        for stale in [run_dir / "metrics.jsonl", run_dir / "aim_run.txt", run_dir / "curves.png",
                      *run_dir.glob(f"{PREFIX}-*.ckpt")]:
            stale.unlink(missing_ok=True)
    return run_dir, lock


def _kept_record(line, state):
    """Whether a metrics.jsonl line survives a resume from state (steps after it are redone)."""
    try:
        record = json.loads(line)
    except ValueError:
        return False  # the half-written last line of a killed run
    if "loss" in record:
        return record.get("step", 0) <= state.global_step
    if "valid_acc" in record:
        return record.get("epoch", 0) <= state.epoch
    return True


def _trim_metrics(path, state):
    """Drop the records a killed run wrote after its last checkpoint, so none is doubled."""
    if not path.exists():
        return
    kept = [line for line in path.read_text(encoding="utf-8").splitlines()
            if _kept_record(line, state)]
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
    tmp.replace(path)


def _restore(config, train_net, run_dir, log):
    """Load --pre_trained weights or --resume state; returns the TrainState to start from."""
    if config.pre_trained:
        params = load_params(config.pre_trained)
        load_into(train_net.network, params, config.pre_trained)
        log(f"started from weights in {config.pre_trained}")
        return TrainState()
    if not config.resume:
        return TrainState()
    path = latest_checkpoint(run_dir, PREFIX)
    if path is None:
        raise UserError(f"--resume: no {PREFIX}-EPOCH_STEP.ckpt in {run_dir}; train without "
                        f"--resume first, or pass the run's --ckpt_path")
    params = load_params(path)
    load_into(train_net, params, path)
    state = TrainState(*(int(params[key].asnumpy()) for key in
                         ("epoch", "step_in_epoch", "train_step")))
    log(f"resuming from {path}: epoch {state.epoch + 1}, step {state.step_in_epoch}")
    return state


def _check_inputs(config):
    """Fail in a second, before preprocessing, on input files that are missing or unreadable."""
    if config.pre_trained and not Path(config.pre_trained).is_file():
        raise UserError(f"--pre_trained {config.pre_trained} not found; pass a .ckpt file "
                        f"written by train.py")
    if config.embedding == "glove":
        check_glove_path(config.glove_path)


def _count_rows(path):
    return ms.dataset.MindDataset(str(path), columns_list=["label"]).get_dataset_size()


def _epoch_data(config, prepared, epoch, skip_batches=0, num_shards=None, shard_id=None):
    return create_dataset(prepared.mindrecord("train"), config.batch_size, config.max_len,
                          config.bucket_width, shuffle=True, seed=config.seed + epoch,
                          drop_remainder=True, skip_batches=skip_batches,
                          num_shards=num_shards, shard_id=shard_id)


def _train_epochs(config, model, prepared, state, callbacks, rank=Rank()):
    watch = next((c for c in callbacks if isinstance(c, ValidationWatch)), None)
    for epoch in range(state.epoch, config.num_epochs):
        state.epoch = epoch
        if rank.sharded:
            steps = common_steps(lambda n, i: _epoch_data(config, prepared, epoch, 0, n, i), rank)
            dataset = _epoch_data(config, prepared, epoch, state.step_in_epoch, *rank.shard())
            dataset = dataset.take(max(steps - state.step_in_epoch, 1))
        else:
            dataset = _epoch_data(config, prepared, epoch, state.step_in_epoch)
        model.train(epoch + 1, dataset, callbacks=callbacks, dataset_sink_mode=False,
                    initial_epoch=epoch)
        state.step_in_epoch = 0
        if watch and watch.stopped:
            break


def _build_model(config, network, steps_per_epoch):
    """The Model (train and eval networks) and the per-step learning rates."""
    rates = learning_rates(config, steps_per_epoch)
    optimizer = build_optimizer(config, network.trainable_params(), rates)
    train_net = nn.TrainOneStepCell(NetWithLoss(network), optimizer)
    model = Model(train_net, eval_network=NetWithEval(network),
                  metrics={"acc": Accuracy(), "loss": Loss()}, eval_indexes=[0, 1, 2])
    return model, train_net, rates


def _callbacks(config, run, model, metrics, tracker):
    """Checkpoints, metrics, progress bar, validation/early stop and curves, in that order."""
    ring = (CheckpointRing(run.dir, PREFIX, config.keep_checkpoint_max)
            if run.rank.is_main else None)
    callbacks = [DivergenceGuard(run.state, run.dir, metrics, config),
                 StepCheckpoint(ring, run.state, config.save_checkpoint_steps, run.log), metrics]
    if interactive():
        callbacks.append(EpochBar(run.state, run.steps_per_epoch))
    if tracker:
        metrics.listeners.append(tracker.record)
    if run.prepared.mindrecord("valid").exists():
        valid = create_dataset(run.prepared.mindrecord("valid"), config.batch_size,
                               config.max_len, config.bucket_width)
        callbacks.append(ValidationWatch(model, valid, Path(config.ckpt_path), metrics,
                                         config.early_stop_patience, run.log, run.rank.is_main))
    callbacks.append(CurvePlot(run.dir, run.log))
    return callbacks


@dataclass
class _Run:
    """What one training run works with, handed to the helpers above."""
    dir: Path
    rank: Rank
    prepared: object
    state: TrainState
    steps_per_epoch: int
    log: RunLog


def train(config, log=print):
    """Train SentimentNet as configured.

    Args:
        config: the run's Config.
        log: where progress lines go (also written to RUN_DIR/run.log).

    Returns:
        The run folder (config.ckpt_path).
    """
    log = RunLog(log)
    config = for_worker(config)
    _check_inputs(config)
    init_device(config)
    rank = init_distribute(config)
    prepared, table = prepare_inputs(config, rank, log)
    config = replace(config, embed_size=table.shape[1])  # GloVe files set the width
    run_dir, lock = _prepare_run_dir(config, prepared, rank)
    try:
        return _train_in(config, run_dir, rank, prepared, table, log)
    finally:
        lock.release()


def _train_in(config, run_dir, rank, prepared, table, log):
    """The training proper, in a locked and prepared run folder."""
    log.attach(run_dir / "run.log", append=config.resume)
    network = build_network(config, table)
    global_batch = config.batch_size * rank.size
    steps_per_epoch = max(_count_rows(prepared.mindrecord("train")) // global_batch, 1)
    model, train_net, rates = _build_model(config, network, steps_per_epoch)
    state = _restore(config, train_net, Path(config.ckpt_path), log)
    broadcast_weights(network, rank)
    if config.resume:
        _trim_metrics(run_dir / "metrics.jsonl", state)
    run = _Run(run_dir, rank, prepared, state, steps_per_epoch, log)
    metrics = MetricsLog(run_dir / "metrics.jsonl", state, global_batch, rates, log)
    tracker = AimTracker(config, run_dir, log) if config.aim_repo and rank.is_main else None
    callbacks = _callbacks(config, run, model, metrics, tracker)
    try:
        _train_epochs(config, model, prepared, state, callbacks, rank)
    finally:
        if tracker:
            tracker.close()
    if rank.sharded:
        log(f"rank {rank.id} of {rank.size}: weights digest {weights_digest(network)}")
    log(f"training done: checkpoints, run.log and curves.png in {run_dir}")
    log.close()
    return run_dir
