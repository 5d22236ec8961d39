"""Export a checkpoint to MINDIR (any device), AIR (Ascend only) or ONNX for offline inference."""
import contextlib
import os
from pathlib import Path

import mindspore as ms
import numpy as np

from src.config import UserError
from src.device import init_device
from src.eval import load_network

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
    network = load_network(config, config.checkpoint_path)
    ids = ms.Tensor(np.zeros((config.batch_size, config.max_len), np.int32))
    length = ms.Tensor(np.full((config.batch_size,), config.max_len, np.int32))
    target = Path(f"{config.file_name}.{config.file_format.lower()}")
    _export_atomically(network, (ids, length), target, config.file_format)
    log(f"exported {target}")
    return target


def _export_atomically(cell, inputs, target, file_format):
    """ms.export cell to target (its suffix is the format's) under a temporary name, then
    rename: a killed or failed export never leaves a partial target. An OSError becomes one
    UserError line."""
    tmp_stem = target.with_name(f".{target.stem}.tmp-{os.getpid()}")
    written = Path(f"{tmp_stem}{target.suffix}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        ms.export(cell, *inputs, file_name=str(tmp_stem), file_format=file_format)
        written.replace(target)
    except OSError as err:
        raise UserError(f"cannot write {target} ({err.strerror}); pass --file_name in a "
                        f"writable folder") from None
    finally:
        with contextlib.suppress(OSError):
            written.unlink(missing_ok=True)
