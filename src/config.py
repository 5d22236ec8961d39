"""One typed configuration object: YAML defaults, then `--key value` overrides, then checks.

Every entry script calls `run_main(job)`: it builds the Config from the command line and turns
any `UserError` into one line on stderr and exit code 2.
"""
import dataclasses
import errno
import importlib
import math
import os
import signal
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

__all__ = ["Config", "UserError", "load_config", "run_main", "DEFAULT_CONFIG"]

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "default_config.yaml"


class UserError(Exception):
    """A problem the user can fix: shown as one line, exit code 2, no traceback."""


@dataclass
class Config:
    """Every setting of a run. The YAML files list the same keys with comments."""
    # where it runs
    device_target: str = "CPU"
    device_id: int = 0
    seed: int = 1
    # data
    dataset: str = "aclimdb"
    aclimdb_path: str = "./data/aclImdb_sample"
    data_path: str = ""
    text_column: str = "Phrase"
    label_column: str = "Sentiment"
    id_column: str = "PhraseId"
    group_column: str = "SentenceId"
    delimiter: str = "\\t"
    sst_classes: int = 5
    sst_phrases: bool = False
    preprocess_path: str = "./preprocess"
    max_len: int = 500
    truncate: str = "head_tail"
    min_freq: int = 2
    vocab_size: int = 50000
    vocab_from_glove: bool = False
    valid_split: float = 0.1
    bucket_width: int = 50
    # embeddings
    embedding: str = "word2vec"
    glove_path: str = ""
    embed_size: int = 50
    freeze_embedding: bool = False
    w2v_epochs: int = 5
    w2v_extra_path: str = ""
    # model
    num_classes: int = 2
    num_hiddens: int = 100
    num_layers: int = 2
    bidirectional: bool = True
    dropout: float = 0.3
    pooling: str = "mean_max"
    # training
    batch_size: int = 64
    num_epochs: int = 4
    optimizer: str = "adam"
    learning_rate: float = 0.002
    momentum: float = 0.9
    weight_decay: float = 0.0
    lr_schedule: str = "cosine"
    warmup_epochs: float = 0.2
    early_stop_patience: int = 0
    save_checkpoint_steps: int = 390
    keep_checkpoint_max: int = 5
    ckpt_path: str = "./ckpt"
    pre_trained: str = ""
    resume: bool = False
    aim_repo: str = ""
    # evaluation and export
    checkpoint_path: str = ""
    file_name: str = "lstm"
    file_format: str = "MINDIR"
    # inference: predict.py, the 310 .bin flow, the Gradio page (src/infer.py, src/serve.py)
    mindir_path: str = ""
    backend: str = "mindspore"
    quantize: str = "none"
    input_file: str = ""
    output_format: str = "text"
    submission: str = ""
    result_path: str = "./preprocess_Result"
    result_dir: str = "./result_Files"
    serve_host: str = "127.0.0.1"
    serve_port: int = 7860
    max_review_chars: int = 20000
    # data-parallel training (msrun) and ModelArts-style object-store sync (src/distribute.py,
    # src/modelarts.py)
    run_distribute: bool = False
    device_num: int = 1
    enable_modelarts: bool = False
    data_url: str = ""
    train_url: str = ""
    checkpoint_url: str = ""
    modelarts_cache: str = "./modelarts_cache"
    # the file this config came from (set by load_config)
    config_path: str = field(default=str(DEFAULT_CONFIG))


CHOICES = {
    "device_target": ("CPU", "GPU", "Ascend"),
    "dataset": ("aclimdb", "phrases_tsv", "csv", "sst"),
    "embedding": ("glove", "word2vec", "random"),
    "pooling": ("first_last", "mean", "max", "mean_max"),
    "optimizer": ("momentum", "adam"),
    "lr_schedule": ("fixed", "cosine"),
    "file_format": ("MINDIR", "AIR", "ONNX"),
    "output_format": ("text", "json"),
    "backend": ("mindspore", "onnxruntime"),
    "quantize": ("none", "int8"),
    "truncate": ("head", "head_tail"),
}
POSITIVE = ("max_len", "vocab_size", "embed_size", "num_classes", "num_hiddens", "num_layers",
            "batch_size", "num_epochs", "learning_rate", "save_checkpoint_steps",
            "keep_checkpoint_max", "w2v_epochs", "min_freq", "device_num",
            "serve_port", "max_review_chars")
NOT_NEGATIVE = ("seed", "device_id", "bucket_width", "momentum", "weight_decay", "warmup_epochs",
                "early_stop_patience")
FRACTIONS = ("valid_split", "dropout")
MAX_SEED = 2**31 - 1  # MindSpore takes seeds below 2**32; runs add epoch numbers to it
MIN_VOCAB = 3  # <pad>, <unk> and at least one word


def _field_types():
    hints = typing.get_type_hints(Config)
    return {f.name: hints[f.name] for f in dataclasses.fields(Config)}


def _parse_bool(text):
    lowered = str(text).strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise ValueError(text)


def _coerce(key, value, kind):
    """Turn a YAML or command-line value into the field's type, or raise UserError."""
    try:
        if kind is bool:
            return value if isinstance(value, bool) else _parse_bool(value)
        if kind is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(value)
            return int(value)
        if kind is float:
            if isinstance(value, bool):
                raise ValueError(value)
            number = float(value)
            if not math.isfinite(number):
                raise UserError(f"config key '{key}' must be a finite number, got {value!r}; "
                                f"pass e.g. --{key} {_example(key)}")
            return number
        return "" if value is None else str(value)
    except (TypeError, ValueError):
        raise UserError(f"config key '{key}' must be {kind.__name__}, got {value!r}; pass e.g. "
                        f"--{key} {_example(key)}") from None


def _read_yaml(path):
    try:
        with open(path, encoding="utf-8") as stream:
            content = yaml.safe_load(stream)
    except FileNotFoundError:
        raise UserError(f"config file {path} not found; pass --config_path to an existing "
                        f"YAML file such as default_config.yaml") from None
    except IsADirectoryError:
        raise UserError(f"config file {path} is a folder; pass --config_path to a YAML file "
                        f"such as default_config.yaml or RUN_DIR/config.yaml") from None
    except PermissionError:
        raise UserError(f"config file {path} cannot be read (permission denied); pass "
                        f"--config_path to a readable YAML file") from None
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        where = getattr(err, "problem_mark", None)
        line = f" at line {where.line + 1}" if where else ""
        raise UserError(f"config file {path} is not valid YAML{line}; fix its syntax") from None
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise UserError(f"config file {path} must hold 'key: value' lines, not a "
                        f"{type(content).__name__}; write it like default_config.yaml")
    return content


def _example(key):
    """A valid value for key to show in an error message: its default."""
    return getattr(Config(), key)


def _unknown_key(key, source):
    known = sorted(_field_types())
    return UserError(f"unknown config key '{key}' in {source}; known keys: {', '.join(known)}")


def _parse_command_line(argv):
    """Split argv into the config path and a dict of raw `--key value` overrides."""
    overrides = {}
    args = list(argv)
    while args:
        flag = args.pop(0)
        if not flag.startswith("--") or len(flag) < 3:
            raise UserError(f"unexpected argument '{flag}'; use --key value")
        key, _, value = flag[2:].partition("=")
        if not _:
            if not args or args[0].startswith("--"):
                raise UserError(f"--{key} needs a value; pass --{key} VALUE")
            value = args.pop(0)
        overrides[key] = value
    config_path = overrides.pop("config_path", str(DEFAULT_CONFIG))
    return config_path, overrides


def _check_dataset(config):
    """The keys of non-aclImdb datasets (src/datasets.py) fit together."""
    if config.dataset == "aclimdb":
        return
    if not config.data_path:
        raise UserError(f"dataset '{config.dataset}' reads data_path, which is empty; pass "
                        f"--data_path to its file or folder")
    if config.dataset == "sst":
        if config.sst_classes not in (2, 5):
            raise UserError(f"config key 'sst_classes' must be 5 (SST-5) or 2 (SST-2), got "
                            f"{config.sst_classes}; pass --sst_classes 5 or --sst_classes 2")
        if config.num_classes != config.sst_classes:
            raise UserError(f"SST with sst_classes {config.sst_classes} has "
                            f"{config.sst_classes} labels but num_classes is "
                            f"{config.num_classes}; pass --num_classes {config.sst_classes}")
        return
    if not config.text_column or not config.label_column:
        raise UserError("text_column and label_column must name columns of the data file; "
                        "pass --text_column NAME --label_column NAME")
    if config.delimiter not in ("\\t", "tab") and len(config.delimiter) != 1:
        raise UserError(f"config key 'delimiter' must be one character (or '\\t' for a tab), "
                        f"got {config.delimiter!r}; pass e.g. --delimiter ,")


def validate(config):
    """Check values that have the right type but make no sense; raise UserError."""
    for key, allowed in CHOICES.items():
        if getattr(config, key) not in allowed:
            raise UserError(f"config key '{key}' must be one of {', '.join(allowed)}, "
                            f"got '{getattr(config, key)}'; pass e.g. --{key} {allowed[0]}")
    for key in POSITIVE:
        if getattr(config, key) <= 0:
            raise UserError(f"config key '{key}' must be positive, got {getattr(config, key)}; "
                            f"pass e.g. --{key} {_example(key)}")
    for key in NOT_NEGATIVE:
        if getattr(config, key) < 0:
            raise UserError(f"config key '{key}' must not be negative, got "
                            f"{getattr(config, key)}; pass e.g. --{key} {_example(key)}")
    if config.seed > MAX_SEED:
        raise UserError(f"config key 'seed' must be at most {MAX_SEED}, got {config.seed}; "
                        f"pass e.g. --seed 1")
    if config.vocab_size < MIN_VOCAB:
        raise UserError(f"config key 'vocab_size' must be at least {MIN_VOCAB} (<pad>, <unk> "
                        f"and one word), got {config.vocab_size}; pass e.g. --vocab_size "
                        f"{_example('vocab_size')}")
    for key in FRACTIONS:
        if not 0 <= getattr(config, key) < 1:
            raise UserError(f"config key '{key}' must be in [0, 1), got {getattr(config, key)}; "
                            f"pass e.g. --{key} {_example(key)}")
    if config.embedding == "glove" and not config.glove_path:
        raise UserError("embedding is 'glove' but glove_path is empty; pass --glove_path FILE "
                        "or use --embedding word2vec")
    _check_dataset(config)
    if config.resume and config.pre_trained:
        raise UserError("--resume continues a run from its own checkpoints; do not combine it "
                        "with --pre_trained")
    return config


def load_config(argv=()):
    """Build the Config: defaults <- YAML file <- command line, then validate.

    Args:
        argv: command-line words after the script name, e.g. ["--num_epochs", "3"].

    Returns:
        A validated Config. Raises UserError on any bad key, type or value.
    """
    config_path, overrides = _parse_command_line(argv)
    types = _field_types()
    values = {}
    for key, value in _read_yaml(config_path).items():
        if key not in types:
            raise _unknown_key(key, config_path)
        values[key] = _coerce(key, value, types[key])
    for key, value in overrides.items():
        if key not in types:
            raise _unknown_key(key, "the command line")
        values[key] = _coerce(key, value, types[key])
    values["config_path"] = config_path
    return validate(Config(**values))


def save_config(config, path):
    """Write the config as YAML (what a run used), via a temp file and rename."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(yaml.safe_dump(dataclasses.asdict(config), sort_keys=False), encoding="utf-8")
    tmp.replace(path)


# Disk and permission problems anywhere (a full disk mid-write, a read-only folder) are the
# user's to fix, so they get the one-line treatment instead of a traceback.
_USER_OS_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM,
                   errno.ENOTDIR, errno.EISDIR)


def _resolve(job):
    """job itself, or the function named by 'module:function', imported only now."""
    if callable(job):
        return job
    module, _, name = job.partition(":")
    # MindSpore's own warnings (deprecations, graph compiler notes) are noise for users;
    # GLOG_v=2 shows them again.
    os.environ.setdefault("GLOG_v", "3")
    return getattr(importlib.import_module(module), name)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _fail(message, code=2):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


def run_main(job, argv=None):
    """Entry point shared by train.py, eval.py and export.py.

    Args:
        job: a function taking the Config, or its 'module:function' name (imported after the
            config is checked, so a bad config fails in a fraction of a second).
        argv: command-line words (defaults to sys.argv[1:]).

    Exit codes: 2 for a UserError or a disk/permission error (one `error:` line on stderr),
    130 for Ctrl-C.
    """
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("-h", "--help"):
        print(f"usage: {Path(sys.argv[0]).name} [--config_path FILE] [--KEY VALUE ...]\n"
              f"keys: {', '.join(sorted(_field_types()))}")
        return 0
    try:
        config = load_config(argv)
        if os.environ.get("MS_ROLE") == "MS_WORKER":
            print(f"worker pid {os.getpid()}", flush=True)  # the launcher's failure report reads it
        if os.environ.get("MS_ROLE") == "MS_SCHED":
            # msrun runs the entry script once more as its scheduler (with RANK_ID=0): that
            # process must only serve the cluster, never act as rank 0 (ModelArts copy-in...)
            from src.distribute import serve_as_scheduler
            return serve_as_scheduler()
        if not config.run_distribute:
            # MindSpore's runtime answers Ctrl-C by sending itself SIGTERM; both end up as
            # KeyboardInterrupt between two steps, so the message is clear. Workers of msrun
            # keep the default: a worker stuck in a collective must still die on SIGTERM.
            signal.signal(signal.SIGTERM, _interrupt)
        job = _resolve(job)
        if config.enable_modelarts:
            from src.modelarts import run_synced
            return run_synced(job, config)
        return job(config)
    except UserError as err:
        _fail(err)
    except KeyboardInterrupt:
        _fail("interrupted (Ctrl-C or SIGTERM); finished files are kept, half-written ones "
              "were never renamed into place; rerun (train.py: add --resume True) to continue",
              130)
    except OSError as err:
        if err.errno not in _USER_OS_ERRORS:
            raise
        _fail(f"{err.strerror}: {err.filename or 'a file'}; free disk space or pass a "
              f"writable folder (--ckpt_path, --preprocess_path, --file_name)")
