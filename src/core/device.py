"""Where MindSpore runs: device, graph mode, seeds and the host's allocator, set once per
process."""
import ctypes
import sys

import mindspore as ms

from .errors import UserError

__all__ = ["init_device", "init_allocator", "keep_freed_memory", "buffers_handed_back"]

M_TRIM_THRESHOLD, M_MMAP_MAX, M_ARENA_MAX = -1, -4, -8  # glibc's mallopt options
GLIBC_MMAP_CEILING = 32 << 20  # glibc hands back every freed block above this size
LSTM_BUFFER_BYTES = 16  # per token and hidden unit: CPU LSTM buffers (4,176 B a token at 256)


def _select(target, device_id):
    try:
        ms.set_device(target, device_id)
    except RuntimeError as err:
        # The runtime is already up (an earlier job in this process): fine if it is the same.
        if ms.get_context("device_target") != target:
            raise UserError(f"device_target {target} cannot be used here "
                            f"({str(err).splitlines()[0][:100]}); pass --device_target "
                            f"{ms.get_context('device_target')}") from None


def keep_freed_memory():
    """Let glibc's malloc keep what is freed: one arena, no block of its own mapping, no
    trimming below 2 GB. With one graph for every batch shape, MindSpore's CPU LSTM kernels
    reallocate buffers of 40-100 MB at each new shape; handed back to the system, they were
    faulted in again page by page: ~73,000 faults and ~10 % of a full run's step."""
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None) if sys.platform == "linux" else None
    if mallopt is None:  # another C library: it keeps its own policy
        return
    for option, value in ((M_ARENA_MAX, 1), (M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, 2**31 - 1)):
        mallopt(option, value)


def buffers_handed_back(config):
    """Whether training with config reallocates LSTM buffers that glibc would hand back at
    each new batch shape: one graph for every shape, its largest batch over the ceiling."""
    tokens = config.batch_size * config.max_len
    if config.batch_tokens:
        tokens = min(tokens, config.batch_tokens)
    return (config.dynamic_shapes and config.device_target == "CPU"
            and tokens * config.num_hiddens * LSTM_BUFFER_BYTES > GLIBC_MMAP_CEILING)


def init_allocator(config):
    """keep_freed_memory() for a training run whose buffers would be handed back. Small
    networks gain nothing from it: one malloc arena for every thread only adds waiting (4 %
    on the sample's 32-unit network, 14 % for three test workers on two cores)."""
    if config.keep_freed_memory and buffers_handed_back(config):
        keep_freed_memory()


def init_device(config):
    """Select config.device_target (and device_id), GRAPH_MODE, and seed every RNG."""
    _select(config.device_target, config.device_id)
    ms.set_context(mode=ms.GRAPH_MODE)
    ms.set_seed(config.seed)
