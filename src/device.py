"""Where MindSpore runs: device, graph mode, seeds and the host's allocator, set once per
process."""
import ctypes
import sys

import mindspore as ms

from src.errors import UserError

__all__ = ["init_device", "keep_freed_memory"]

M_TRIM_THRESHOLD, M_MMAP_MAX, M_ARENA_MAX = -1, -4, -8  # glibc's mallopt options


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


def init_device(config):
    """Select config.device_target (and device_id), GRAPH_MODE, seed every RNG, and keep
    freed memory in the process when config.keep_freed_memory."""
    _select(config.device_target, config.device_id)
    ms.set_context(mode=ms.GRAPH_MODE)
    ms.set_seed(config.seed)
    if config.keep_freed_memory:
        keep_freed_memory()
