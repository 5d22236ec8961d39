"""The checks of single config values, of the dataset keys and of keys that must fit together,
for config.validate."""
from .errors import UserError

__all__ = ["CHECKS", "check_field", "check_dataset", "check_combinations"]

CHECKS = {"positive": ("be positive", lambda value: value > 0),
          "not_negative": ("not be negative", lambda value: value >= 0),
          "fraction": ("be in [0, 1)", lambda value: 0 <= value < 1),
          "port": ("be a TCP port, 1 to 65535", lambda value: 0 < value < 65536)}


def check_field(config, f):
    """The value of field f in config is one of its choices and passes its check."""
    value, name = getattr(config, f.name), f.name
    choices, check = f.metadata.get("choices"), f.metadata.get("check")
    if choices and value not in choices:
        raise UserError(f"config key '{name}' must be one of {', '.join(choices)}, got "
                        f"'{value}'; pass e.g. --{name} {choices[0]}")
    if check and not CHECKS[check][1](value):
        raise UserError(f"config key '{name}' must {CHECKS[check][0]}, got {value}; pass e.g. "
                        f"--{name} {f.default}")


def check_dataset(config):
    """The keys of non-aclImdb datasets fit together."""
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
    if config.delimiter not in ("", "\\t", "tab") and len(config.delimiter) != 1:
        raise UserError(f"config key 'delimiter' must be one character (or '\\t' for a tab), "
                        f"got {config.delimiter!r}; pass e.g. --delimiter ,")


def check_combinations(config):
    """Keys that each make sense alone but not together."""
    if not config.neutral_low <= config.neutral_high:
        raise UserError(f"the neutral band runs from neutral_low to neutral_high, but "
                        f"{config.neutral_low} > {config.neutral_high}; pass e.g. "
                        f"--neutral_low 0.4 --neutral_high 0.6")
    if config.mix_sst_path and config.num_classes != 2:
        raise UserError(f"--mix_sst_path grades SST phrases as p(positive), for two classes; "
                        f"num_classes is {config.num_classes}: pass --mix_sst_path \"\"")
    if config.init_checkpoint and config.encoder_checkpoint:
        raise UserError("--init_checkpoint loads a whole network and --encoder_checkpoint its "
                        "encoder; pass one of them")
    if config.resume and (config.init_checkpoint or config.overwrite_run):
        raise UserError(f"--resume continues a run from its own checkpoints; do not combine it "
                        f"with --{'init_checkpoint' if config.init_checkpoint else 'overwrite_run true'}")
