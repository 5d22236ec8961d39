"""Where MindSpore runs: device, graph mode and seeds, set once per process."""
import mindspore as ms

from src.errors import UserError

__all__ = ["init_device"]


def _select(target, device_id):
    try:
        ms.set_device(target, device_id)
    except RuntimeError as err:
        # The runtime is already up (an earlier job in this process): fine if it is the same.
        if ms.get_context("device_target") != target:
            raise UserError(f"device_target {target} cannot be used here "
                            f"({str(err).splitlines()[0][:100]}); pass --device_target "
                            f"{ms.get_context('device_target')}") from None


def init_device(config):
    """Select config.device_target (and device_id), GRAPH_MODE, and seed every RNG."""
    _select(config.device_target, config.device_id)
    ms.set_context(mode=ms.GRAPH_MODE)
    ms.set_seed(config.seed)
