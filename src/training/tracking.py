"""Following a training run: run.log beside the console, a bar per epoch, curves, and Aim.

- `RunLog`: the log function train() passes around; every line goes to the console and to
  RUN_DIR/run.log.
- `EpochBar`: a tqdm bar over each epoch's steps, only when a person watches (src.core.progress).
- `CurvePlot`: redraws RUN_DIR/curves.png after every epoch (src.training.report.plot_run).
- `AimTracker`: hyperparameters and metrics of the run in an Aim repo (config.aim_repo), so that
  `aim up --repo PATH` shows them; `track_evaluation` adds eval.py's test scores to that run.
"""
import dataclasses
import logging
from pathlib import Path

from mindspore.train import Callback
from tqdm import tqdm

from ..core.errors import UserError
from ..core.run_folder import AIM_RUN
from ..core.progress import bar, interactive

__all__ = ["RunLog", "EpochBar", "EvalBar", "CurvePlot", "AimTracker", "track_evaluation", "EXPERIMENT",
           "AIM_RUN_FILE"]

EXPERIMENT = "lstm-sentiment"
AIM_RUN_FILE = AIM_RUN  # the Aim run hash of a run folder: --resume and eval.py reuse it


class RunLog:
    """A log function: prints a line and appends it to the run's run.log.

    Lines logged before the run folder exists (preprocessing, embeddings) are kept and
    written when `attach` opens the file.
    """

    def __init__(self, console=print):
        self.console, self.stream, self.pending = console, None, []

    def __call__(self, line):
        line = str(line)
        if interactive():
            with tqdm.external_write_mode():
                self.console(line)
        else:
            self.console(line)
        if self.stream is None:
            self.pending.append(line)
        else:
            self._write(line)

    def attach(self, path, append=False):
        """Open path (appending when resuming) and write the lines logged so far."""
        try:
            self.stream = open(path, "a" if append else "w", encoding="utf-8")
        except OSError as err:
            raise UserError(f"cannot write {path} ({err.strerror}); pass --run_dir to a "
                            f"writable folder") from None
        for line in self.pending:
            self._write(line)
        self.pending = []

    def _write(self, line):
        self.stream.write(line + "\n")
        self.stream.flush()

    def close(self):
        if self.stream is not None:
            self.stream.close()
            self.stream = None


class EpochBar(Callback):
    """A tqdm bar over the steps of each epoch, with the running loss (interactive runs only)."""

    def __init__(self, state, steps_per_epoch):
        super().__init__()
        self.state, self.steps_per_epoch, self.bar = state, steps_per_epoch, None

    def on_train_epoch_begin(self, run_context):
        self.bar = tqdm(total=max(self.steps_per_epoch - self.state.step_in_epoch, 0),
                        desc=f"epoch {self.state.epoch + 1}", unit="step", leave=False,
                        dynamic_ncols=True)

    def on_train_step_end(self, run_context):
        loss = float(run_context.original_args().net_outputs.asnumpy())
        self.bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
        self.bar.update(1)

    def on_train_epoch_end(self, run_context):
        self.bar.close()


class EvalBar(Callback):
    """A bar over the batches of an evaluation, on a terminal only (src.core.progress)."""

    def __init__(self, batches):
        super().__init__()
        self.batches, self.bar = batches, None

    def on_eval_begin(self, run_context):
        self.bar = bar(self.batches, "evaluate", "batch")

    def on_eval_step_end(self, run_context):
        self.bar.update(1)

    def on_eval_end(self, run_context):
        self.bar.close()


class CurvePlot(Callback):
    """After each epoch, redraw RUN_DIR/curves.png (loss and accuracy so far)."""

    def __init__(self, run_dir, log):
        super().__init__()
        self.run_dir, self.log, self.enabled = Path(run_dir), log, True

    def on_train_epoch_end(self, run_context):
        self.draw()

    def draw(self):
        """Draw the curves; a missing matplotlib is said once and never stops training."""
        if not self.enabled:
            return None
        from .report import plot_run
        try:
            return plot_run(self.run_dir)
        except UserError as err:
            self.log(f"no curves.png: {err}")
            self.enabled = False
            return None


def _import_aim():
    try:
        import aim
    except ImportError:
        raise UserError("aim_repo is set but the aim package is missing; run `pip install -r "
                        "requirements-track.txt` or leave aim_repo empty") from None
    logging.getLogger("aim").setLevel(logging.WARNING)
    return aim


def _open_run(aim, repo, run_hash=None, force_resume=False):
    try:
        Path(repo).mkdir(parents=True, exist_ok=True)
        return aim.Run(run_hash=run_hash, repo=str(repo), experiment=EXPERIMENT,
                       force_resume=force_resume, capture_terminal_logs=False)
    except (OSError, RuntimeError) as err:
        reason = getattr(err, "strerror", None) or str(err).splitlines()[0][:120]
        raise UserError(f"cannot open Aim repo {repo} ({reason}); pass --aim_repo to a "
                        f"writable folder") from None


def _index(aim_run):
    """Make a closed run visible to Aim's query API without a running `aim up`.

    Aim (3.29) writes each run into its own chunk and leaves the repo index to the indexing
    thread of `aim up`; until then Repo.get_run / query_metrics would not see the run.
    """
    from aim.sdk.index_manager import RepoIndexManager
    RepoIndexManager.get_index_manager(aim_run.repo).index(aim_run.hash)


class AimTracker:
    """Hyperparameters and metrics of one training run in an Aim repo.

    Metrics: loss, lr and samples_per_s per step (context subset=train); accuracy and loss
    per epoch (subset=valid, at the epoch's last step). Hyperparameters: run["hparams"] holds
    every config key. The run hash is kept in RUN_DIR/aim_run.txt, so --resume continues the
    same Aim run and eval.py adds the test scores to it.
    """

    def __init__(self, config, run_dir, log):
        aim = _import_aim()
        self.run_dir, self.last_step = Path(run_dir), 0
        hash_file = self.run_dir / AIM_RUN_FILE
        resume_hash = hash_file.read_text().strip() if config.resume and hash_file.exists() \
            else None
        # A killed run leaves its Aim lock behind; --resume is the same run coming back.
        self.run = _open_run(aim, config.aim_repo, resume_hash, force_resume=bool(resume_hash))
        self.run.name = str(self.run_dir.resolve())
        self.run["hparams"] = dataclasses.asdict(config)
        self.run["run_dir"] = str(self.run_dir.resolve())
        hash_file.write_text(self.run.hash + "\n", encoding="utf-8")
        log(f"tracking to Aim repo {config.aim_repo} as run {self.run.hash}; see it with "
            f"`aim up --repo {config.aim_repo}`")

    def record(self, record):
        """Track one metrics.jsonl record (a step or an epoch record)."""
        if "loss" in record and "step" in record:
            self.last_step = record["step"]
            for name in ("loss", "lr", "samples_per_s"):
                if name in record:
                    self.run.track(record[name], name=name, step=record["step"],
                                   epoch=record["epoch"], context={"subset": "train"})
            return
        for key, name in (("valid_acc", "accuracy"), ("valid_loss", "loss")):
            if key in record:
                self.run.track(record[key], name=name, step=self.last_step,
                               epoch=record["epoch"], context={"subset": "valid"})

    def close(self):
        """Finish the Aim run and index it."""
        if self.run is not None:
            self.run.close()
            _index(self.run)
            self.run = None


def track_evaluation(config, run_dir, result):
    """Add eval.py's scores to the training run's Aim run, when aim_repo is set.

    The run is found through RUN_DIR/aim_run.txt; without it nothing is tracked.
    Returns the Aim run hash, or None.
    """
    hash_file = Path(run_dir) / AIM_RUN_FILE
    if not config.aim_repo or not hash_file.exists():
        return None
    aim = _import_aim()
    run = _open_run(aim, config.aim_repo, hash_file.read_text().strip())
    split = result.get("split", "test")
    run[split] = {key: result[key] for key in ("accuracy", "loss", "macro", "per_class")
                  if key in result}
    run.track(result["accuracy"], name="accuracy", context={"subset": split})
    run.close()
    _index(run)
    return run.hash
