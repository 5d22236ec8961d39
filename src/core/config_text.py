"""Config values as text and back: `--key value` words, YAML files, values coerced to a field's
type, and the two texts made from the fields: --help and default_config.yaml."""
import math
import textwrap
from dataclasses import field

import yaml

from .errors import UserError

__all__ = ["key", "group", "coerce", "read_yaml", "parse_command_line", "help_text", "yaml_text", "shown",
           "READERS", "KEY_READERS", "reads"]

# Which entry scripts read each group of keys (the groups of config.Config's keys), and the keys
# that are read otherwise than their group: --help lists only the keys a script reads.
TRAIN, EVAL, EXPORT, PRETRAIN = "train.py", "eval.py", "export.py", "pretrain.py"
PREDICT, APP, PRE, POST = "predict.py", "app.py", "preprocess.py", "postprocess.py"
RUNS = (TRAIN, EVAL, EXPORT, PRETRAIN)  # on a device, on ModelArts too
NETWORK = (TRAIN, EVAL, EXPORT, PREDICT, APP)  # build or load the classifier
READERS = {"where it runs": RUNS + (PRE,), "data": (TRAIN, EVAL, PRETRAIN, PRE),
           "embeddings": (TRAIN, PRETRAIN), "model": NETWORK, "training": (TRAIN,),
           "pretraining": (PRETRAIN,), "evaluation and export": (EVAL, EXPORT),
           "inference": (PREDICT, APP),
           "data-parallel training and ModelArts-style object-store sync": RUNS}
KEY_READERS = {
    **dict.fromkeys(["device_target", "device_id"], RUNS + (PREDICT, APP, PRE)),
    **dict.fromkeys(["dataset", "data_path", "text_column", "id_column", "delimiter"],
                    READERS["data"] + (PREDICT,)),  # a table to read, a submission
    "max_len": READERS["data"] + (EXPORT,), "num_hiddens": NETWORK + (PRETRAIN,),
    "batch_size": NETWORK + (PRE,), "run_dir": NETWORK, "checkpoint_file": NETWORK[1:],
    **dict.fromkeys(["save_checkpoint_steps", "keep_checkpoint_max", "resume", "overwrite_run",
                     "aim_repo"],
                    (TRAIN, PRETRAIN)),
    **dict.fromkeys(["encoder_checkpoint", "encoder_lr_scale", "run_distribute",
                     "device_num"], (TRAIN,)),
    **dict.fromkeys(["file_name", "file_format"], (EXPORT,)),
    **dict.fromkeys(["input_file", "output_format", "explain", "submission"], (PREDICT,)),
    **dict.fromkeys(["serve_host", "serve_port", "max_review_chars"], (APP,)),
    "result_path": (PRE, POST), "result_dir": (POST,)}
SCRIPTS = RUNS + (PREDICT, APP, PRE, POST)
SHIPPED = {APP: "[--run_dir RUN_DIR (default: model/, the shipped model)] "}  # usage



_GROUP = [""]  # the group the keys declared next belong to (set by group() in Config's body)


def group(title):
    """In Config's body: the keys declared after this belong to the group `title` (--help and
    default_config.yaml show them under it)."""
    _GROUP[0] = title


def key(default, help, choices=None, check=None):
    """A Config field: its default, its help text, the values it may take, its check
    ("positive", "not_negative" or "fraction", i.e. in [0, 1)) and its group."""
    return field(default=default, metadata={"help": help, "choices": choices, "check": check,
                                            "group": _GROUP[0]})

def reads(script, name, group):
    """Whether script reads key name of group (a script that is none of the entry scripts
    reads every key)."""
    return script not in SCRIPTS or script in KEY_READERS.get(name, READERS.get(group, SCRIPTS))


def _parse_bool(text):
    lowered = str(text).strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise ValueError(text)


def coerce(name, value, kind, example):
    """Turn a YAML or command-line value into the field's type (example: a valid value to
    show in the message), or raise UserError."""
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
                raise UserError(f"config key '{name}' must be a finite number, got {value!r}; "
                                f"pass e.g. --{name} {example}")
            return number
        return "" if value is None else str(value)
    except (TypeError, ValueError):
        raise UserError(f"config key '{name}' must be {kind.__name__}, got {value!r}; pass e.g. "
                        f"--{name} {example}") from None


class _TwiceSet(Exception):
    def __init__(self, name, line):
        super().__init__(name)
        self.name, self.line = name, line


class _StrictLoader(yaml.SafeLoader):
    """yaml.safe_load that refuses a key set twice in one mapping (YAML keeps the last)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            name = self.construct_object(key_node, deep=deep)
            if isinstance(name, str) and name in seen:
                raise _TwiceSet(name, key_node.start_mark.line + 1)
            seen.add(name if isinstance(name, str) else id(key_node))
        return super().construct_mapping(node, deep)


def read_yaml(path):
    try:
        with open(path, encoding="utf-8") as stream:
            content = yaml.load(stream, Loader=_StrictLoader)
    except FileNotFoundError:
        raise UserError(f"config file {path} not found; pass --config_path to an existing "
                        f"YAML file such as default_config.yaml") from None
    except IsADirectoryError:
        raise UserError(f"config file {path} is a folder; pass --config_path to a YAML file "
                        f"such as default_config.yaml or RUN_DIR/config.yaml") from None
    except PermissionError:
        raise UserError(f"config file {path} cannot be read (permission denied); pass "
                        f"--config_path to a readable YAML file") from None
    except _TwiceSet as twice:
        raise UserError(f"config file {path} sets '{twice.name}' twice (again at line "
                        f"{twice.line}); keep one of the two lines") from None
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


def parse_command_line(argv, default_path):
    """Split argv into the config path and a dict of raw `--key value` overrides."""
    overrides = {}
    args = list(argv)
    while args:
        flag = args.pop(0)
        if not flag.startswith("--") or len(flag) < 3:
            raise UserError(f"unexpected argument '{flag}'; use --key value")
        name, equals, value = flag[2:].partition("=")
        if not equals:
            if not args or args[0].startswith("--"):
                raise UserError(f"--{name} needs a value; pass --{name} VALUE")
            value = args.pop(0)
        overrides[name] = value
    config_path = overrides.pop("config_path", str(default_path))
    return config_path, overrides


def shown(value):
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def _help_of(f):
    choices = f.metadata.get("choices")
    return f.metadata["help"] + (f" [{' | '.join(choices)}]" if choices else "")


def help_text(fields, script):
    """The --help text: usage, then the keys script reads by group with their default and help."""
    lines = [f"usage: {script} {SHIPPED.get(script, '')}[--config_path FILE] [--KEY VALUE ...]",
             "Values come from default_config.yaml (or --config_path FILE), then --KEY VALUE "
             "words."]
    shown_group = None
    for f in fields:
        group = f.metadata["group"]
        if not reads(script, f.name, group):
            continue
        if group != shown_group:
            lines += ["", f"{group}:"]
            shown_group = group
        head = f"  --{f.name} {shown(f.default)}"
        body = textwrap.wrap(_help_of(f), 62)
        lines.append(f"{head:<34}{body[0]}" if len(head) < 34 else head)
        lines += [" " * 34 + line for line in body[1 if len(head) < 34 else 0:]]
    return "\n".join(lines)


def yaml_text(fields):
    """The text of default_config.yaml: every key with its default, its help as a comment."""
    lines = ["# lstm-sentiment: every config key with its default (CPU/GPU). Generated from the",
             "# fields of src/core/config.py: python -m src.core.config > default_config.yaml",
             "# Other YAML files list only what they change; --KEY VALUE overrides any key."]
    group = None
    for f in fields:
        if f.metadata["group"] != group:
            group = f.metadata["group"]
            lines += ["", f"# --- {group} ---"]
        lines += [f"# {line}" for line in textwrap.wrap(_help_of(f), 88)]
        lines.append(f"{f.name}: {shown(f.default)}")
    return "\n".join(lines) + "\n"
