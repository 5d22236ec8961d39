"""The export record of a MINDIR: what the file was exported for, written into the file itself.

A MINDIR holds the network but not the text -> ids mapping, and nn.LSTM picks a device's
kernel variant when the network is built (the GPU variant keeps two bias vectors, the CPU one
sums them, Ascend builds DynamicRNN). So export.py writes, into the MINDIR's `user_info`, the
device target it was exported on, a digest of the vocabulary, the input shape and the
network's shape; every reader of a MINDIR (predict.py, app.py, the 310 flow, the benches)
calls `check_fits` first and refuses a file that does not fit, naming the export to make.

    python -m src.inference.mindir --mindir_path lstm.mindir [--run_dir RUN_DIR] [--device_target Ascend]

prints the record and exits 0 when the file fits that run and device (the 310 script uses it).
"""
import dataclasses
import json
from pathlib import Path

from ..core.errors import UserError
from ..core.run_folder import VOCAB, run_folder

__all__ = ["export_record", "read_mindir", "read_record", "check_fits", "RECORD_KEY"]

RECORD_KEY = "lstm_sentiment_export"
RECORD_VERSION = 1


def export_record(config, vocab, checkpoint):
    """What a MINDIR exported from checkpoint with this config and vocabulary needs."""
    return {"version": RECORD_VERSION, "device_target": config.device_target,
            "vocab_digest": vocab.digest(), "vocab_size": len(vocab),
            "batch_size": config.batch_size, "max_len": config.max_len,
            "truncate": config.truncate, "num_classes": config.num_classes,
            "network": dataclasses.asdict(config.model),
            "checkpoint": Path(checkpoint).name}


def read_mindir(path):
    """(export record or None, [(input name, shape)]) of the MINDIR at path, from the file."""
    from google.protobuf.message import DecodeError
    from mindspore.train import mind_ir_pb2
    model = mind_ir_pb2.ModelProto()
    try:
        model.ParseFromString(Path(path).read_bytes())
        inputs = [(item.name.rsplit(":", 1)[-1], tuple(item.tensor[0].dims))
                  for item in model.graph.input]
    except FileNotFoundError:
        raise UserError(f"MINDIR {path} not found; run export.py first or fix "
                        f"--mindir_path") from None
    except (OSError, ValueError, IndexError, DecodeError) as err:
        raise UserError(f"{path} is not a MINDIR file ({str(err)[:80]}); export one with "
                        f"export.py") from None
    text = model.user_info.get(RECORD_KEY)
    return (json.loads(text) if text else None), inputs


def read_record(path):
    """The export record inside the MINDIR at path, or None for a file written without one."""
    return read_mindir(path)[0]


def _export_command(config, device):
    return (f"python export.py --device_target {device} --run_dir {config.run_dir} "
            f"--checkpoint_file CHECKPOINT.ckpt --file_name NAME")


def check_fits(path, config, vocab, device=None):
    """Raise a one-line UserError unless the MINDIR at path was exported for this device
    (config.device_target, or device) and this vocabulary, classes and input length.

    Returns the record.
    """
    device = device or config.device_target
    record = read_record(path)
    if record is None:
        raise UserError(f"MINDIR {path} carries no export record (written by another tool or "
                        f"an older export.py), so its device and vocabulary are unknown; "
                        f"export it again: {_export_command(config, device)}")
    if record["device_target"] != device:
        raise UserError(f"MINDIR {path} was exported for {record['device_target']} and cannot "
                        f"run on {device} (nn.LSTM builds a kernel per device); export it on "
                        f"{device}: {_export_command(config, device)}")
    if record["vocab_digest"] != vocab.digest():
        raise UserError(f"MINDIR {path} was exported with another vocabulary "
                        f"({record['vocab_size']} words) than {run_folder(config)}/vocab.json "
                        f"({len(vocab)} words); pass the --run_dir of the run it was "
                        f"exported from, or export this run: {_export_command(config, device)}")
    for key in ("num_classes", "max_len", "truncate"):
        if record[key] != getattr(config, key):
            raise UserError(f"MINDIR {path} was exported with {key} {record[key]} but the run "
                            f"config has {getattr(config, key)}; pass the run's --config_path "
                            f"RUN_DIR/config.yaml, or export again: "
                            f"{_export_command(config, device)}")
    return record


def _check_command(config):
    from ..data.text import Vocab
    if not config.mindir_path:
        raise UserError("pass --mindir_path FILE.mindir (written by export.py)")
    vocab = Vocab.load(run_folder(config) / VOCAB)
    record = check_fits(config.mindir_path, config, vocab)
    print(f"{config.mindir_path} fits: exported for {record['device_target']} from "
          f"{record['checkpoint']}, vocabulary of {record['vocab_size']} words, input "
          f"[{record['batch_size']}, {record['max_len']}]")
    return 0


if __name__ == "__main__":
    from ..core.cli import run_main
    run_main(_check_command)
