"""Checkpoint files: atomic saves, the last K kept, loading with clear errors, and the
network a checkpoint holds.

Every checkpoint written here ends in MindSpore's CRC32 trailer (save_checkpoint(crc_check=
True): the bytes b"crc_num" and the CRC32 of every byte before them, 10 bytes big-endian),
checked before any load: a damaged file is one UserError. Files without the trailer (written
before it was added) load as they always did, unchecked.
"""
import contextlib
import hashlib
import logging
import os
import re
import zlib
from pathlib import Path

import mindspore as ms
import numpy as np

from ..core.errors import UserError, first_line
from ..core.files import atomic_path
from .network import build_network

__all__ = ["save_atomic", "load_params", "load_into", "resume_latest", "load_network",
           "load_encoder", "latest_checkpoint", "CheckpointRing", "weights_finite",
           "weights_digest", "check_crc", "CRC_MARK"]

_NAME = re.compile(r"^(?P<prefix>.+)-(?P<epoch>\d+)_(?P<step>\d+)\.ckpt$")
CRC_MARK = b"crc_num"  # MindSpore's trailer: CRC_MARK, then the CRC32 in 10 bytes big-endian
_TRAILER = len(CRC_MARK) + 10


@contextlib.contextmanager
def _mindspore_quiet():
    """Mute MindSpore's own log line for a failure that we report in one line ourselves."""
    logger = logging.getLogger(f"ME.mindspore.log.{os.getpid()}")
    was = logger.disabled
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = was


def save_atomic(cell, path, state=None):
    """Save cell (and the ints in state) to path via a temp file and rename.

    A kill at any moment leaves either the old file or the complete new one under path, plus
    at most a hidden temp file that files.remove_temp_files() clears.
    """
    with atomic_path(path, suffix=".ckpt", kind="checkpoint") as tmp:  # MindSpore wants the .ckpt suffix
        with _mindspore_quiet():
            ms.save_checkpoint(cell, str(tmp), append_dict=dict(state or {}), crc_check=True)


def check_crc(path):
    """True if the checkpoint at path ends in MindSpore's CRC32 trailer and its bytes match it;
    False if it has no trailer (written before checkpoints carried one); a UserError if they
    do not match (a damaged file)."""
    path = Path(path)
    try:
        with path.open("rb") as stream:
            size = os.fstat(stream.fileno()).st_size
            if size < _TRAILER:
                return False
            stream.seek(size - _TRAILER)
            trailer = stream.read(_TRAILER)
            if trailer[:len(CRC_MARK)] != CRC_MARK:
                return False
            stream.seek(0)
            crc, left = 0, size - _TRAILER
            while left > 0 and (chunk := stream.read(min(left, 1 << 22))):
                crc, left = zlib.crc32(chunk, crc), left - len(chunk)
    except OSError as err:
        raise UserError(f"cannot read checkpoint {path} ({err.strerror}); check its "
                        f"permissions or use another .ckpt file") from None
    if left or crc != int.from_bytes(trailer[len(CRC_MARK):], "big"):
        raise UserError(f"checkpoint {path} is damaged: its bytes do not match the CRC32 saved "
                        f"in it; use another .ckpt file (an earlier lstm-EPOCH_STEP.ckpt of its "
                        f"run, or a fresh copy)")
    return True


def load_params(path):
    """{name: Parameter} from a checkpoint file, or UserError if missing, unreadable or
    damaged (its CRC32 trailer does not match; see check_crc)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint {path} not found; pass --checkpoint_file to a .ckpt file "
                        f"written by train.py")
    check_crc(path)
    try:
        with _mindspore_quiet():
            return ms.load_checkpoint(str(path))
    except (ValueError, RuntimeError, OSError, TypeError) as err:
        raise UserError(f"checkpoint {path} is damaged or not a MindSpore checkpoint "
                        f"({first_line(err)}); use another .ckpt file") from None


def load_into(cell, params, path):
    """Load params into cell; any missing or mis-shaped weight becomes one UserError."""
    for name, param in cell.parameters_and_names():
        if param.name not in params:
            continue
        if tuple(params[param.name].shape) != tuple(param.shape):
            raise UserError(f"checkpoint {path} does not match this model: {param.name} is "
                            f"{tuple(params[param.name].shape)} there but "
                            f"{tuple(param.shape)} here; use the config and vocabulary of the "
                            f"run that wrote it")
    missing, _ = ms.load_param_into_net(cell, params, strict_load=False)
    missing = [name for name in missing if not name.startswith(("global_step", "learning_rate"))]
    if missing:
        raise UserError(f"checkpoint {path} does not match this model: it has no "
                        f"{missing[0]} (and {len(missing) - 1} more); use the config of the run "
                        f"that wrote it")


def load_network(model, checkpoint_file, vocab=None, vocab_source=""):
    """SentimentNet shaped by model (a ModelConfig: Config.model) with the weights of
    checkpoint_file (eval mode); with vocab, once the checkpoint is known to be trained on it
    (vocab_source names it in the error)."""
    params = load_params(checkpoint_file)
    if "embedding.embedding_table" not in params:
        raise UserError(f"checkpoint {checkpoint_file} holds no SentimentNet embedding; use a "
                        f"checkpoint written by train.py")
    if vocab is not None:
        _check_vocabulary(params, checkpoint_file, vocab, vocab_source)
    table = np.zeros(params["embedding.embedding_table"].shape, np.float32)
    network = build_network(model, table, wide="wide.table" in params)
    load_into(network, params, checkpoint_file)
    network.set_train(False)
    return network


def _check_vocabulary(params, path, vocab, source):
    """The checkpoint's vocabulary digest (size only, for files written before digests) must
    be vocab's: another vocabulary of the same size would give wrong labels without a word."""
    rows = params["embedding.embedding_table"].shape[0]
    digest = params.get("vocab_digest")
    if rows == len(vocab) and digest in (None, vocab.digest()):
        return
    differs = f"{rows} words there, {len(vocab)} here" if rows != len(vocab) else \
        "the same size, other words"
    raise UserError(f"checkpoint {path} was trained with another vocabulary than {source} "
                    f"({differs}); use the run that wrote it: --run_dir RUN_DIR (its "
                    f"config.yaml and vocab.json)")


def load_encoder(network, path, vocab):
    """Load an encoder.ckpt of pretrain.py (embedding, first LSTM layer of each direction)
    into network; the rest keeps its initial weights. Returns the names loaded."""
    params = load_params(path)
    if "lm_step" not in params:  # what pretrain.py records; train.py's checkpoints lack it
        raise UserError(f"{path} is not an encoder written by pretrain.py; pass its "
                        f"PRETRAIN_PATH/encoder.ckpt")
    if params["vocab_digest"] != vocab.digest():
        raise UserError(f"encoder {path} was pretrained with another vocabulary; pretrain "
                        f"with this run's data settings (the same --aclimdb_path, min_freq, "
                        f"vocab_size, seed ...)")
    own = {param.name: param for param in network.get_parameters()}
    weights = {name: value for name, value in params.items() if name in own}
    for name, value in weights.items():
        if tuple(value.shape) != tuple(own[name].shape):
            raise UserError(f"encoder {path} does not fit this network: {name} is "
                            f"{tuple(value.shape)} there but {tuple(own[name].shape)} here; "
                            f"pass the embed_size and num_hiddens it was pretrained with")
    ms.load_param_into_net(network, weights, strict_load=False)
    return sorted(weights)


def weights_finite(cell):
    """True when no trainable parameter of cell holds NaN or infinity."""
    return all(np.isfinite(param.asnumpy()).all() for param in cell.trainable_params())


def weights_digest(network):
    """A short hash of every parameter's bytes: equal on all ranks when they stayed in step."""
    digest = hashlib.sha256()
    for param in sorted(network.get_parameters(), key=lambda p: p.name):
        digest.update(param.name.encode())
        digest.update(param.asnumpy().tobytes())
    return digest.hexdigest()[:16]


def checkpoint_step(path):
    """(epoch, step in epoch) parsed from a name like lstm-3_390.ckpt."""
    match = _NAME.match(Path(path).name)
    return (int(match["epoch"]), int(match["step"])) if match else None


def latest_checkpoint(folder, prefix):
    """The checkpoint of the furthest (epoch, step) in folder, or None."""
    found = [p for p in Path(folder).glob(f"{prefix}-*_*.ckpt") if checkpoint_step(p)]
    return max(found, key=checkpoint_step, default=None)


def resume_latest(cell, folder, prefix, script, folder_flag):
    """Load the newest prefix-EPOCH_STEP.ckpt of folder into cell for --resume; returns
    (its path, its params with the state saved beside the weights)."""
    path = latest_checkpoint(folder, prefix)
    if path is None:
        raise UserError(f"--resume: no {prefix}-EPOCH_STEP.ckpt in {folder}; {script} "
                        f"without --resume first, or pass the run's {folder_flag}")
    params = load_params(path)
    # the learning rates are the config's: a resumed run may be given more epochs to decay over
    load_into(cell, {name: value for name, value in params.items()
                     if not name.startswith("learning_rate")}, path)
    return path, params


class CheckpointRing:
    """Saves prefix-EPOCH_STEP.ckpt files into folder, deleting all but the newest `keep`."""

    def __init__(self, folder, prefix, keep):
        self.folder, self.prefix, self.keep = Path(folder), prefix, keep

    def save(self, cell, epoch, step, state):
        path = self.folder / f"{self.prefix}-{epoch}_{step}.ckpt"
        save_atomic(cell, path, state)
        ring = sorted((p for p in self.folder.glob(f"{self.prefix}-*_*.ckpt")
                       if checkpoint_step(p)), key=checkpoint_step)
        for old in ring[:-self.keep]:
            old.unlink(missing_ok=True)
        return path

