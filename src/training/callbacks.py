"""The training callbacks, in the order train.fit runs them after each step and epoch:
stop a diverging run, save step checkpoints, log metrics, validate (lstm-best.ckpt, early
stop), then the epoch-end checkpoint, so that it holds the validation's outcome and a run
killed during validation validates that epoch again on --resume."""
import json
import math
import time
from pathlib import Path

from mindspore.train import Callback

from ..model.checkpoint import latest_checkpoint, load_params, save_atomic, weights_finite
from ..data.cache_check import dataset_files, require_split
from ..core.errors import UserError
from ..core.run_folder import BEST, PREFIX

__all__ = ["TrainState", "DivergenceGuard", "StepCheckpoint", "EpochCheckpoint", "MetricsLog",
           "ValidationWatch",
           "best_so_far"]


class TrainState:
    """Where training stands, all that --resume restores beside the weights: the (epoch,
    step) names of checkpoints and the epochs since validation accuracy last improved."""

    def __init__(self, epoch=0, step_in_epoch=0, steps_done=0, bad_epochs=0):
        self.epoch, self.step_in_epoch, self.steps_done = epoch, step_in_epoch, steps_done
        self.bad_epochs = bad_epochs

    def as_dict(self):
        # steps_done, the training steps run so far in all epochs: not "global_step", the
        # name of the optimizer's own step counter in the same checkpoint
        return {"epoch": self.epoch, "step_in_epoch": self.step_in_epoch,
                "steps_done": self.steps_done, "bad_epochs": self.bad_epochs}

    @classmethod
    def from_checkpoint(cls, params):
        """The state saved beside a checkpoint's weights (bad_epochs: 0 in older files;
        steps_done was saved as train_step before)."""
        read = lambda key: int(params[key].asnumpy()) if key in params else 0
        steps_done = read("steps_done" if "steps_done" in params else "train_step")
        return cls(read("epoch"), read("step_in_epoch"), steps_done, read("bad_epochs"))



class DivergenceGuard(Callback):
    """Stops the run at the first step whose loss is NaN or infinite, before that step is
    saved or logged: one line naming the step, the last finite loss and what to try.

    Goes first in the callback list. Checkpoints of diverged weights are never written
    (StepCheckpoint and ValidationWatch check the weights), so the newest checkpoint left
    is the last finite one.
    """

    def __init__(self, state, run_dir, metrics, learning_rate):
        super().__init__()
        self.state, self.run_dir, self.metrics = state, Path(run_dir), metrics
        self.learning_rate = learning_rate
        self.last = None  # (step, loss) of the last finite loss

    def on_train_step_end(self, run_context):
        loss = float(run_context.original_args().net_outputs.asnumpy())
        step = self.state.steps_done + 1
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
        return (f"lower --learning_rate (it is {self.learning_rate:g}) or raise "
                f"--warmup_epochs{where}")



class StepCheckpoint(Callback):
    """Every save_steps steps: save lstm-EPOCH_STEP.ckpt atomically, with the state and stamp
    (the vocabulary's digest) beside the weights.

    Also counts the steps in state; with ring None (ranks other than 0) it only counts.
    """

    def __init__(self, ring, state, save_steps, stamp):
        super().__init__()
        self.ring, self.state, self.save_steps, self.stamp = ring, state, save_steps, stamp

    def on_train_step_end(self, run_context):
        self.state.step_in_epoch += 1
        self.state.steps_done += 1
        if self.state.steps_done % self.save_steps == 0:
            self.save(run_context, self.state)

    def save(self, run_context, state):
        if self.ring is None:
            return
        cell = run_context.original_args().train_network
        if weights_finite(cell):  # a diverged step's weights must not push out finite ones
            self.ring.save(cell, self.state.epoch + 1, self.state.step_in_epoch,
                           {**state.as_dict(), **self.stamp})


class EpochCheckpoint(Callback):
    """At each epoch end, after validation: the epoch's checkpoint, recorded as "next epoch,
    step 0" so that --resume starts the following epoch with the early-stop count as it is."""

    def __init__(self, steps):
        super().__init__()
        self.steps = steps  # the StepCheckpoint whose ring and state it shares

    def on_train_epoch_end(self, run_context):
        state = self.steps.state
        finished = TrainState(state.epoch + 1, 0, state.steps_done, state.bad_epochs)
        self.steps.save(run_context, finished)


class MetricsLog(Callback):
    """Appends loss, learning rate and throughput to metrics.jsonl; prints a line per N steps."""

    def __init__(self, path, state, workers, rates, log, every=20):
        super().__init__()
        self.path, self.state, self.workers = Path(path), state, workers
        self.rates, self.log, self.every = rates, log, every
        self.started = time.perf_counter()
        self.listeners = []  # functions called with each record (the Aim tracker)

    def on_train_step_begin(self, run_context):
        self.started = time.perf_counter()

    def on_train_step_end(self, run_context):
        loss = float(run_context.original_args().net_outputs.asnumpy())
        seconds = time.perf_counter() - self.started
        lr = self.rates[min(self.state.steps_done - 1, len(self.rates) - 1)]
        ids = run_context.original_args().train_dataset_element[0]
        reviews = int(ids.shape[0]) * self.workers  # long buckets hold fewer than batch_size
        record = {"epoch": self.state.epoch + 1, "step": self.state.steps_done,
                  "loss": round(loss, 5), "lr": lr, "step_s": round(seconds, 4),
                  "reviews": reviews, "samples_per_s": round(reviews / seconds, 1),
                  "tokens": int(ids.shape[1])}
        self.write(record)
        if self.state.steps_done % self.every == 0:
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

    def __init__(self, model, dataset, run_dir, metrics, state, config, log, save_best, stamp):
        super().__init__()
        self.model, self.dataset, self.run_dir = model, dataset, Path(run_dir)
        self.metrics, self.state, self.log = metrics, state, log
        self.patience = config.early_stop_patience
        self.save_best, self.stamp = save_best, stamp
        self.best, self.stopped = best_so_far(self.run_dir), False

    def on_train_epoch_end(self, run_context):
        self._require_files()  # deleted during the epoch: one line, not MindSpore's traceback
        try:
            scores = self.model.eval(self.dataset, dataset_sink_mode=False)
        except RuntimeError:
            self._require_files()  # ... or during the validation itself
            raise
        accuracy = scores["acc"]
        epoch = run_context.original_args().cur_epoch_num
        self.metrics.write({"epoch": epoch, "valid_acc": round(accuracy, 5),
                            "valid_loss": round(float(scores["loss"]), 5)})
        self.log(f"epoch {epoch} validation accuracy {accuracy:.4f}")
        if accuracy > self.best:
            self.best, self.state.bad_epochs = accuracy, 0
            if self.save_best and weights_finite(run_context.original_args().train_network):
                save_atomic(run_context.original_args().train_network,
                            self.run_dir / BEST,
                            {"epoch": epoch, "valid_acc": accuracy, **self.stamp})
        else:
            self.state.bad_epochs += 1
            if self.patience and self.state.bad_epochs >= self.patience:
                self.log(f"early stop: no better validation accuracy for {self.patience} epochs")
                self.stopped = True
                run_context.request_stop()

    def _require_files(self):
        for path in dataset_files(self.dataset):
            require_split(path)



def best_so_far(run_dir):
    """Validation accuracy stored in an earlier lstm-best.ckpt of this run (for --resume)."""
    best = Path(run_dir) / BEST
    if not best.exists():
        return -1.0
    return float(load_params(best)["valid_acc"].asnumpy())
