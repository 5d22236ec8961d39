"""Export a checkpoint to MINDIR, AIR (Ascend only) or ONNX for offline inference.

A MINDIR runs on the device it was exported on (nn.LSTM builds a kernel per device), with the
vocabulary of the run it came from: both, with the input shape and the network's shape, are
written into the file (src/inference/mindir.py) and checked by everything that loads it.
"""
import contextlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import mindspore as ms
import numpy as np

from ..model.checkpoint import load_network
from ..core.device import init_device
from ..core.errors import UserError
from ..core.files import TEMP_MARK, atomic_path, write_json
from .mindir import RECORD_KEY, export_record
from ..core.run_folder import VOCAB, checkpoint_of, run_folder
from ..data.readers.labelled_text import label_names
from ..data.text import Vocab, tokenizer_rules

__all__ = ["export_model"]

# the file names ms.export takes (its Validator.check_file_name_by_regular): no spaces, no
# letters beyond ASCII
_EXPORTABLE = re.compile(r"[0-9a-zA-Z@_\-.:/\\]+")


def export_model(config, log=print):
    """Write config.file_name + .mindir/.air/.onnx with inputs ids [batch, max_len], length [batch].

    Returns:
        Path of the exported file.
    """
    if config.file_format == "AIR" and config.device_target != "Ascend":
        raise UserError(f"AIR export needs device_target Ascend (MindSpore writes AIR only on "
                        f"Ascend); use --file_format MINDIR on {config.device_target}")
    init_device(config)
    checkpoint = checkpoint_of(config)
    vocab = Vocab.load(run_folder(config) / VOCAB)
    network = load_network(config.model, checkpoint, vocab, run_folder(config) / VOCAB)
    ids = ms.Tensor(np.zeros((config.batch_size, config.max_len), np.int32))
    length = ms.Tensor(np.full((config.batch_size,), config.max_len, np.int32))
    target = Path(f"{config.file_name}.{config.file_format.lower()}")
    if config.file_format == "ONNX":
        return _export_for_service(network, vocab, config, target, log)
    record = export_record(config, vocab, checkpoint)
    _export_atomically(network, (ids, length), target, config.file_format, record)
    log(f"exported {target} for {config.device_target}")
    return target


def _export_for_service(network, vocab, config, target, log):
    """The network as one ONNX graph with free batch and length axes, inputs ids and length,
    outputs logits and probabilities; beside it FILE.vocab.json and FILE.tokenizer.json, so
    that a program with onnxruntime alone turns raw text into the same probabilities."""
    import onnx
    from ..model.onnx_graph import build_onnx_model
    model = build_onnx_model(network, for_service=True)
    beside = {f"{config.file_name}.vocab.json": {"tokens": vocab.tokens},
              f"{config.file_name}.tokenizer.json": {**tokenizer_rules(),
                                                     "max_len": config.max_len,
                                                     "truncate": config.truncate,
                                                     "labels": list(label_names(config))}}
    for name, content in beside.items():
        write_json(Path(name), content, what="--file_name")
    with atomic_path(target, suffix=target.suffix, what="--file_name") as tmp:
        onnx.save(model, str(tmp))
    log(f"exported {target} with {', '.join(beside)} (inputs ids [batch, length] int32 and "
        f"length [batch] int32; outputs logits and probabilities)")
    return target


def _export_atomically(cell, inputs, target, file_format, record):
    """ms.export cell to target (its suffix is the format's) under a temporary name, then
    rename: a killed or failed export never leaves a partial target. The temporary name is
    one ms.export takes (_exportable_folder), whatever target's. A MINDIR gets record in its
    user_info."""
    extra = {}
    if file_format == "MINDIR":
        def write_record(model):
            model.user_info[RECORD_KEY] = json.dumps(record)
        extra["custom_func"] = write_record
    with atomic_path(target, suffix=target.suffix, what="--file_name") as tmp, \
            _exportable_folder(target) as folder:
        # ms.export adds the format's suffix to file_name itself
        ms.export(cell, *inputs, file_name=str(folder / "network"), file_format=file_format,
                  **extra)
        shutil.move(folder / f"network{target.suffix}", tmp)


@contextlib.contextmanager
def _exportable_folder(target):
    """A new empty folder whose path ms.export takes, removed after: in target's folder if
    that path is plain ASCII (the move to target is then a rename), else in the system's
    temporary folder (the move may copy). Named .export-XXXX.tmp-PID, like every temporary
    name of src/core/files.py, which remove_temp_files knows."""
    places = [target.parent.resolve(), Path(tempfile.gettempdir()).resolve()]
    place = next((p for p in places if _EXPORTABLE.fullmatch(str(p))), None)
    if place is None:
        raise UserError(f"MindSpore exports only to paths of ASCII letters, digits and "
                        f"-_.@:/, and neither the folder of --file_name {target} nor the "
                        f"temporary folder {places[1]} is one; set TMPDIR to such a folder")
    folder = Path(tempfile.mkdtemp(prefix=".export-", suffix=f"{TEMP_MARK}{os.getpid()}",
                                   dir=place))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
