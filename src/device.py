"""Where MindSpore runs: device, graph mode and seeds, set once per process."""
import mindspore as ms

__all__ = ["init_device"]


def init_device(config):
    """Select config.device_target (and device_id), GRAPH_MODE, and seed every RNG."""
    ms.set_device(config.device_target, config.device_id)
    ms.set_context(mode=ms.GRAPH_MODE)
    ms.set_seed(config.seed)
