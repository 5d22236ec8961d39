"""The run folder (config.run_dir): the names of its files, one writer at a time, and
opening it for a training run.

A run folder holds config.yaml (what was run), vocab.json, metrics.jsonl, run.log (the
console's lines), curves.png, lstm-EPOCH_STEP.ckpt (the newest keep_checkpoint_max) and
lstm-best.ckpt (best validation accuracy); eval.py adds eval.json, eval.txt, confusion.png;
aim_run.txt names the run's Aim run. In data-parallel runs rank N writes into rank_N/.
"""
import contextlib
import fcntl
import fnmatch
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .config import RENAMED, load_config, save_config
from .errors import UserError
from .files import remove_temp_files

__all__ = ["FolderLock", "Run", "guard_run_folder", "run_files", "holds_a_run", "open_run",
           "run_folder", "run_config_first", "resume_config_first", "checkpoint_of", "PREFIX",
           "BEST", "CONFIG", "VOCAB", "METRICS", "RUN_LOG", "CURVES", "AIM_RUN", "EVAL", "SHIPPED"]

PREFIX = "lstm"  # checkpoint names as the zoo's: lstm-EPOCH_STEP.ckpt, lstm-best.ckpt
BEST = f"{PREFIX}-best.ckpt"
CONFIG, VOCAB, METRICS, RUN_LOG = "config.yaml", "vocab.json", "metrics.jsonl", "run.log"
CURVES, AIM_RUN, EVAL = "curves.png", "aim_run.txt", "eval.json"
LOCK = ".lock"
SHIPPED = Path(__file__).resolve().parents[2] / "model"  # the trained model in the box
# What a checkpoint and its vocabulary depend on: a resumed run must not change them.
RESUME_KEEPS = ("dataset", "max_len", "truncate", "min_freq", "vocab_size", "vocab_from_glove",
                "valid_split", "split_seed", "seed", "sst_classes", "sst_phrases",
                "mix_sst_phrases", "identity_swaps", "embedding", "embed_size", "num_classes",
                "num_hiddens", "num_layers", "bidirectional", "pooling", "wide", "batch_size",
                "batch_tokens", "bucket_width")


def _holder(path, wait=1.0):
    """The PID written in the lock file (the holder writes it right after locking)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            text = Path(path).read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            text = ""
        if text.isdigit() or time.monotonic() > deadline:
            return text or "unknown"
        time.sleep(0.05)


class FolderLock:
    """An exclusive flock on folder/.lock, held until release() or the process ends.

    The kernel drops a flock when its process dies, however it dies, so a lock left by a
    killed run never blocks the next one. A second process asking for the folder gets one
    UserError line naming the PID that holds it.
    """

    def __init__(self, folder, what="run_dir"):
        self.folder, self.what, self.fd = Path(folder), what, None

    def acquire(self):
        path = self.folder / LOCK
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise UserError(f"{self.what} {self.folder} is in use by another training run "
                            f"(PID {_holder(path)}); wait for it to finish or pass another "
                            f"--{self.what}") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        self.fd = fd
        return self

    def release(self):
        if self.fd is not None:
            os.close(self.fd)  # closing the only descriptor drops the flock
            self.fd = None


@dataclass
class Run:
    """An open run folder: where this process writes (RUN_DIR, or RUN_DIR/rank_N), the
    folder checkpoints are resumed from (RUN_DIR), and the log that also goes to run.log."""
    dir: Path
    run_dir: Path
    log: object


def _start_fresh(run_dir, checkpoints):
    """Remove what an earlier run in this folder left (a new run, not --resume)."""
    for stale in [run_dir / METRICS, run_dir / AIM_RUN, run_dir / CURVES,
                  *(path for pattern in checkpoints for path in run_dir.glob(pattern))]:
        stale.unlink(missing_ok=True)


def run_files(names, checkpoints=(f"{PREFIX}-*.ckpt",)):
    """Of the file names (relative paths) given, those that show a run started where they are:
    config.yaml, the metrics, checkpoints matching the `checkpoints` patterns."""
    patterns = (CONFIG, METRICS, *checkpoints)
    return sorted(name for name in names
                  if any(fnmatch.fnmatch(PurePosixPath(name).name, p) for p in patterns))


def holds_a_run(where, found, flag):
    """The refusal of a new run in a place (a folder, a train_url) that holds one."""
    return UserError(f"{where} holds a run ({', '.join(found[:3])}); pass --resume true to "
                     f"continue it, --overwrite_run true to replace it, or another {flag}")


def _changed_settings(config, run_config_file):
    """The RESUME_KEEPS keys whose value in config differs from the run's config.yaml."""
    trained = load_config(["--config_path", str(run_config_file)])
    return [(name, getattr(trained, name), getattr(config, name)) for name in RESUME_KEEPS
            if getattr(trained, name) != getattr(config, name)
            and not (name == "embed_size" and config.embedding == "glove")]  # the file's width


def _check_resumable(config, folder, key, prefix):
    if not list(folder.glob(f"{prefix}-*_*.ckpt")):
        raise UserError(f"--resume: no {prefix}-EPOCH_STEP.ckpt in --{key} {folder}; start the "
                        f"run without --resume, or pass the run's --{key}")
    if (folder / CONFIG).exists():
        changed = _changed_settings(config, folder / CONFIG)
        if changed:
            said = ", ".join(f"{name} {new} (the run's: {old})" for name, old, new in changed)
            raise UserError(f"--resume: {said} would not fit the run's checkpoints; resume with "
                            f"the run's own settings (drop those --KEY words) or start a new run "
                            f"in another --{key}")


def guard_run_folder(config, key="run_dir", prefix=PREFIX, checkpoints=(f"{PREFIX}-*.ckpt",)):
    """Refuse, before anything is read or written, a run folder where training would destroy a
    run: model/ (the shipped model), a folder holding a started or finished run (unless
    --resume continues it or --overwrite_run replaces it), or --resume with nothing to resume
    or with settings its checkpoints cannot take."""
    folder = Path(getattr(config, key))
    if folder.exists() and SHIPPED in (folder.resolve(), *folder.resolve().parents):
        raise UserError(f"--{key} {folder} holds the shipped model, which training never "
                        f"replaces; pass --{key} to a folder of your own, e.g. runs/first")
    if folder.exists() and not folder.is_dir():
        raise UserError(f"--{key} {folder} is a file, not a run folder; pass --{key} FOLDER "
                        f"(a new one, or a run's to --resume)")
    if config.resume:
        return _check_resumable(config, folder, key, prefix)
    found = run_files([p.name for p in folder.iterdir()], checkpoints) if folder.is_dir() else []
    if found and not config.overwrite_run:
        raise holds_a_run(f"--{key} {folder}", found, f"--{key}")


def _same_vocabulary(config, vocab_file, run_dir):
    """A resumed run's vocabulary is the one its checkpoints were trained with."""
    kept = run_dir / VOCAB
    if config.resume and kept.exists() and kept.read_bytes() != Path(vocab_file).read_bytes():
        raise UserError(f"--resume: the data gives another vocabulary than {kept}, which the "
                        f"run's checkpoints were trained with; resume with the run's own data "
                        f"and settings, or start a new run in another folder")


@contextlib.contextmanager
def open_run(config, vocab_file, rank, log, key="run_dir", checkpoints=(f"{PREFIX}-*.ckpt",)):
    """The run folder config.<key>, locked for this process, with config.yaml and vocab.json
    written and log attached to run.log; yields a Run and unlocks when the block ends.

    A new run (not --resume) first removes the metrics, curves and the checkpoints matching
    the `checkpoints` patterns that an earlier run left there (guard_run_folder has checked
    that --overwrite_run allows it).
    """
    run_dir = Path(getattr(config, key))
    if not rank.is_main:
        run_dir = run_dir / f"rank_{rank.id}"
    _same_vocabulary(config, vocab_file, run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        lock = FolderLock(run_dir, key).acquire()
        save_config(config, run_dir / CONFIG)
        shutil.copyfile(vocab_file, run_dir / VOCAB)
    except OSError as err:
        raise UserError(f"cannot write to {key} {run_dir} ({err.strerror}); pass "
                        f"--{key} to a writable folder") from None
    try:
        remove_temp_files(run_dir)
        if not config.resume:
            _start_fresh(run_dir, checkpoints)
        log.attach(run_dir / RUN_LOG, append=config.resume)
        yield Run(run_dir, Path(getattr(config, key)), log)
    finally:
        lock.release()


# How the training process ran, not what it learned: never carried over to a reader of the run.
HOW_IT_RAN = ["--resume", "false", "--overwrite_run", "false", "--run_distribute", "false",
              "--enable_modelarts", "false"]


def run_config_first(flags, fallback=None):
    """Command-line flags (--key value pairs) with the run's config.yaml put first, so a
    checkpoint is read with the settings it was trained with (network shape, max_len,
    vocabulary settings) and every --KEY VALUE given still overrides.

    The run folder is --run_dir, else the folder of --checkpoint_file, else fallback (with
    --run_dir fallback added). Nothing changes when --config_path is given or the folder has
    no config.yaml.
    """
    flags = [part for flag in flags for part in
             (flag.split("=", 1) if flag.startswith("--") and "=" in flag else [flag])]
    values = {f"--{RENAMED.get(flag[2:], flag[2:])}": value  # the zoo's --ckpt_path too
              for flag, value in zip(flags[::2], flags[1::2])}
    if fallback and not {"--run_dir", "--checkpoint_file", "--config_path"} & set(values):
        flags = ["--run_dir", str(fallback)] + flags
        values["--run_dir"] = str(fallback)
    folder = values.get("--run_dir") or (values.get("--checkpoint_file") and
                                         str(Path(values["--checkpoint_file"]).parent))
    if "--config_path" not in values and folder and (Path(folder) / CONFIG).exists():
        flags = ["--config_path", str(Path(folder) / CONFIG), *HOW_IT_RAN] + flags
    return flags


def resume_config_first(flags):
    """train.py's flags: with --resume true, the run folder's config.yaml first
    (run_config_first), so the resumed run keeps its own settings under the --KEY words given."""
    try:
        config = load_config(flags)
    except UserError:
        return flags  # run_main reports it
    return run_config_first(["--run_dir", config.run_dir, *flags]) if config.resume else flags


def _check_reader_paths(config):
    """A run folder and a checkpoint file given to eval/export/predict are what they say."""
    if config.checkpoint_file and Path(config.checkpoint_file).is_dir():
        raise UserError(f"--checkpoint_file {config.checkpoint_file} is a folder; pass a .ckpt "
                        f"file, or the run folder as --run_dir")
    if Path(config.run_dir).is_file():
        raise UserError(f"--run_dir {config.run_dir} is a file; pass the run folder (a "
                        f".ckpt file goes to --checkpoint_file)")


def run_folder(config):
    """The training run folder that holds vocab.json (config.run_dir, or the checkpoint's)."""
    _check_reader_paths(config)
    folder = Path(config.run_dir)
    if config.checkpoint_file and not (folder / VOCAB).exists():
        folder = Path(config.checkpoint_file).parent
    return folder


def checkpoint_of(config):
    """The checkpoint a run is used through: --checkpoint_file, else run_dir/lstm-best.ckpt."""
    _check_reader_paths(config)
    if config.checkpoint_file:
        return Path(config.checkpoint_file)
    best = Path(config.run_dir) / BEST
    if best.exists():
        return best
    raise UserError(f"no checkpoint given and no {best}; pass --run_dir RUN_DIR (a run of "
                    f"train.py) or --checkpoint_file FILE.ckpt")
