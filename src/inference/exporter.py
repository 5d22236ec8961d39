"""Export a checkpoint to MINDIR, AIR (Ascend only) or ONNX for offline inference.

A MINDIR runs on the device it was exported on (nn.LSTM builds a kernel per device), with the
vocabulary of the run it came from: both, with the input shape and the network's shape, are
written into the file (src/inference/mindir.py) and checked by everything that loads it.
"""
import json
from pathlib import Path

import mindspore as ms
import numpy as np

from ..model.checkpoint import load_network
from ..core.device import init_device
from ..core.errors import UserError
from ..core.files import atomic_path
from .mindir import RECORD_KEY, export_record
from ..core.run_folder import VOCAB, run_folder
from ..data.text import Vocab

__all__ = ["export_model"]


def export_model(config, log=print):
    """Write config.file_name + .mindir/.air/.onnx with inputs ids [batch, max_len], length [batch].

    Returns:
        Path of the exported file.
    """
    if config.file_format == "AIR" and config.device_target != "Ascend":
        raise UserError(f"AIR export needs device_target Ascend (MindSpore writes AIR only on "
                        f"Ascend); use --file_format MINDIR on {config.device_target}")
    init_device(config)
    if not config.checkpoint_path:
        raise UserError("no checkpoint to export; pass --checkpoint_path FILE.ckpt, e.g. "
                        "RUN_DIR/lstm-best.ckpt")
    vocab = Vocab.load(run_folder(config) / VOCAB)
    network = load_network(config, config.checkpoint_path, vocab, run_folder(config) / VOCAB)
    ids = ms.Tensor(np.zeros((config.batch_size, config.max_len), np.int32))
    length = ms.Tensor(np.full((config.batch_size,), config.max_len, np.int32))
    target = Path(f"{config.file_name}.{config.file_format.lower()}")
    record = export_record(config, vocab, config.checkpoint_path)
    _export_atomically(network, (ids, length), target, config.file_format, record)
    log(f"exported {target} for {config.device_target}")
    return target


def _export_atomically(cell, inputs, target, file_format, record):
    """ms.export cell to target (its suffix is the format's) under a temporary name, then
    rename: a killed or failed export never leaves a partial target. A MINDIR gets record in
    its user_info."""
    extra = {}
    if file_format == "MINDIR":
        def write_record(model):
            model.user_info[RECORD_KEY] = json.dumps(record)
        extra["custom_func"] = write_record
    with atomic_path(target, suffix=target.suffix, what="--file_name") as tmp:
        # ms.export adds the format's suffix to file_name itself
        ms.export(cell, *inputs, file_name=str(tmp.with_suffix("")), file_format=file_format,
                  **extra)
