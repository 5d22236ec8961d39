"""Data-parallel training: one process per device, started by msrun (or a RANK_TABLE on Ascend).

Each worker reads its own shard of the training MindRecord, gradients are averaged over all
workers (DATA_PARALLEL, gradients_mean), and every worker starts from the same weights: the seed
is set before the network is built (init_device does that) and `broadcast_weights` copies rank
0's weights to the others once, before the first step.

MindSpore's own `parameter_broadcast=True` is off on purpose: MindSpore 2.10 broadcasts after
*every* new graph compile, and with length buckets the workers meet new shapes at different
steps, so one worker's broadcast would meet another's gradient all-reduce (wrong weights, or
a crash in a Gather).

Rank 0 alone writes checkpoints, metrics and lstm-best.ckpt into run_dir; rank N logs into
run_dir/rank_N.
"""
import dataclasses
import os
from dataclasses import dataclass

from .errors import UserError

__all__ = ["Rank", "for_worker", "init_distribute", "worker_env", "common_steps",
           "broadcast_weights", "serve_as_scheduler"]

# Launchers set these; without any of them communication.init() would wait for peers forever.
_LAUNCH_VARS = ("MS_ROLE", "RANK_TABLE_FILE", "OMPI_COMM_WORLD_SIZE")


@dataclass(frozen=True)
class Rank:
    """This process's place in the job: id in [0, size)."""
    id: int = 0
    size: int = 1

    @property
    def is_main(self):
        return self.id == 0

    @property
    def sharded(self):
        return self.size > 1

    def shard(self):
        """(num_shards, shard_id) for create_dataset: None, None with one worker."""
        return (self.size, self.id) if self.sharded else (None, None)


def worker_env():
    """The rank a launcher gave this process from its environment (before init), else 0."""
    for name in ("RANK_ID", "MS_NODE_ID", "OMPI_COMM_WORLD_RANK"):
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return 0


def for_worker(config):
    """The config with this worker's device_id: launchers export DEVICE_ID per worker.

    On CPU every worker shares the host, so device_id stays as configured.
    """
    device = os.environ.get("DEVICE_ID", "")
    if config.run_distribute and config.device_target != "CPU" and device.isdigit():
        return dataclasses.replace(config, device_id=int(device))
    return config


def serve_as_scheduler():
    """The msrun scheduler's whole job: run the cluster until the workers finish.

    Only node 0's scheduler serves. When several msrun processes share one host (nodes
    simulated on one machine), each would start a scheduler on the same port; the one of a
    node with NODE_RANK > 0 steps aside at once. Returns the exit code, 0.
    """
    if os.environ.get("NODE_RANK", "0").isdigit() and int(os.environ.get("NODE_RANK", "0")) > 0:
        return 0
    from mindspore.communication import init
    init()
    return 0


def init_distribute(config):
    """Join the job when config.run_distribute; returns this process's Rank.

    Call after init_device (which selects the device and sets the seed). Raises UserError
    when run_distribute is set but no launcher started the process.
    """
    if not config.run_distribute:
        return Rank()
    if not any(name in os.environ for name in _LAUNCH_VARS):
        raise UserError("run_distribute is true but no launcher started this process; use "
                        "scripts/run_distribute_train_cpu.sh (msrun), or --run_distribute false")
    import mindspore as ms
    from mindspore.communication import get_group_size, get_rank, init
    init()
    rank = Rank(get_rank(), get_group_size())
    ms.reset_auto_parallel_context()
    ms.set_auto_parallel_context(parallel_mode=ms.ParallelMode.DATA_PARALLEL,
                                 gradients_mean=True, device_num=rank.size,
                                 parameter_broadcast=False)
    return rank


def broadcast_weights(network, rank):
    """Give every rank rank 0's parameter values, once (a no-op with one worker)."""
    if not rank.sharded:
        return
    import mindspore as ms
    from mindspore import nn, ops

    class _Broadcast(nn.Cell):
        def __init__(self):
            super().__init__()
            self.broadcast = ops.Broadcast(0)

        def construct(self, *tensors):
            return self.broadcast(tensors)

    params = list(network.get_parameters())
    copies = _Broadcast()(*(ms.Tensor(param.asnumpy()) for param in params))
    for param, value in zip(params, copies):
        param.set_data(value)


def common_steps(count_batches, rank):
    """Batches every rank can run in one epoch: the fewest of any shard.

    All workers must take the same number of steps (each step all-reduces gradients); with
    length buckets and drop_remainder the shards may differ by a batch or more, so every rank
    counts all shards (same seed, same answer) and trains on that many batches.

    Args:
        count_batches: function (num_shards, shard_id) -> batches of one epoch of that shard.
        rank: this process's Rank.
    """
    return min(count_batches(rank.size, shard) for shard in range(rank.size))
