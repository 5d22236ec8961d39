"""Pooling over real steps in a static and in a dynamic-shape graph (CPU): masked arithmetic
against the gathers SentimentNet uses.

Usage: .venv/bin/python bench/investigations/bench_pooling.py [--steps 250] [--batch 64]
           [--repeats 20] [--profile]

Times the forward and backward pass of mean_max pooling over LSTM states [T, B, 512] with
random true lengths, one process per (formulation, graph):
- masked: the states multiplied by the 0/1 mask for the mean, the mask's -1e9 added for the
  maximum (SentimentNet's pooling before; element-wise kernels over [T, B, C]);
- gathers: SentimentNet._pool as it is (padding steps replaced by gathered zeros or copies);
- a same-shape multiplication x * x, for scale.
In a dynamic-shape graph (set_inputs with None dimensions, what dynamic_shapes compiles)
MindSpore 2.10's CPU element-wise kernels run several times slower than in a static graph;
gathers do not. --profile adds, per graph, MindSpore's profiler's time by operator type over
5 training steps of the default network (SentimentNet as default_config.yaml shapes it) on
[batch, steps] random ids. Writes bench/investigations/results/pooling.json.
"""
import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))  # the checkout: src and bench.benchlib

from bench.benchlib import (child_json, default_train_step, load_average, machine,  # noqa: E402
                            operator_ms, print_table, write_result)

FORMULATIONS = ("masked", "gathers", "x * x")


def _cell(formulation, channels):
    """(states [T, B, C], length [B]) -> a scalar, the pooled values summed."""
    import mindspore as ms
    import numpy as np
    from mindspore import nn, ops
    from src.model.network import SentimentNet

    network = SentimentNet(np.zeros((4, 4), np.float32), channels // 2, 1, True, 2,
                           pooling="mean_max")

    class Pooled(nn.Cell):
        def __init__(self):
            super().__init__()
            self.network = network

        def construct(self, x, length):
            steps, batch, _ = x.shape
            if formulation == "x * x":
                return (x * x).sum()
            if formulation == "gathers":
                last = ((length - 1) * batch + ops.arange(batch, dtype=ms.int32)).reshape(-1)
                return self.network._pool(x, length, last).sum()
            positions = ops.arange(steps, dtype=ms.int32).reshape(steps, 1)
            weights = (positions < length.reshape(1, batch)).astype(x.dtype).expand_dims(2)
            mean = (x * weights).sum(axis=0) / length.astype(x.dtype).reshape(batch, 1)
            maximum = (x + (weights - 1) * 1e9).max(axis=0)
            return ops.concat((mean, maximum), axis=1).sum()

    class WithGradient(nn.Cell):
        def __init__(self):
            super().__init__()
            self.pooled, self.gradient = Pooled(), ops.GradOperation()

        def construct(self, x, length):
            return self.pooled(x, length), self.gradient(self.pooled)(x, length)

    return WithGradient()


def time_one(formulation, dynamic, steps, batch, repeats, channels=512):
    """Milliseconds of one forward + backward pass, the mean over repeats after 3
    warm-up passes (the first compiles)."""
    import mindspore as ms
    import numpy as np
    ms.set_device("CPU")
    ms.set_context(mode=ms.GRAPH_MODE)
    cell = _cell(formulation, channels)
    if dynamic:
        cell.set_inputs(ms.Tensor(shape=[None, None, None], dtype=ms.float32),
                        ms.Tensor(shape=[None], dtype=ms.int32))
    rng = np.random.default_rng(0)
    x = ms.Tensor(rng.uniform(-1, 1, (steps, batch, channels)).astype(np.float32))
    length = ms.Tensor(rng.integers(1, steps + 1, batch).astype(np.int32))
    for _ in range(3):
        cell(x, length)[1].asnumpy()
    started = time.perf_counter()
    for _ in range(repeats):
        cell(x, length)[1].asnumpy()
    return (time.perf_counter() - started) / repeats * 1000


def profile_step(dynamic, steps, batch, vocab=35000):
    """{operator type: ms} over 5 training steps of the default network, and s per step."""
    import mindspore as ms
    import numpy as np
    step = default_train_step(dynamic, vocab)
    rng = np.random.default_rng(0)
    batches = [(ms.Tensor(rng.integers(1, vocab, (batch, steps)), ms.int32),
                ms.Tensor(rng.integers(steps // 2, steps + 1, batch), ms.int32),
                ms.Tensor(np.eye(2, dtype=np.float32)[rng.integers(0, 2, batch)]))
               for _ in range(7)]
    for tensors in batches[:2]:
        step(*tensors).asnumpy()
    timed = []

    def steps_timed():
        started = time.perf_counter()
        for tensors in batches[2:]:
            step(*tensors).asnumpy()
        timed.append((time.perf_counter() - started) / 5)

    spent = {name: round(ms_) for name, ms_ in operator_ms(steps_timed).items()}
    seconds = timed[0]
    top = dict(sorted(spent.items(), key=lambda item: -item[1])[:8])
    return {"s_per_step": round(seconds, 3), "op_ms": top, "all_ops_ms": sum(spent.values())}


def _child(args, *what):
    return child_json([sys.executable, __file__, "--steps", args.steps, "--batch", args.batch,
                       "--repeats", args.repeats, *what])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=250)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--profile", action="store_true", help="also profile a training step")
    parser.add_argument("--one", nargs=2, metavar=("FORMULATION", "GRAPH"), help=argparse.SUPPRESS)
    parser.add_argument("--one_profile", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:  # a child process: one row
        print(json.dumps(time_one(args.one[0], args.one[1] == "dynamic", args.steps, args.batch,
                                  args.repeats)))
        return
    if args.one_profile:
        print(json.dumps(profile_step(args.one_profile == "dynamic", args.steps, args.batch)))
        return
    load_before, rows = load_average(), []
    for formulation in FORMULATIONS:
        row = {"formulation": formulation}
        for graph in ("static", "dynamic"):
            row[f"{graph}_ms"] = round(_child(args, "--one", formulation, graph), 1)
        row["dynamic_over_static"] = round(row["dynamic_ms"] / row["static_ms"], 2)
        rows.append(row)
    print(f"forward + backward over [{args.steps}, {args.batch}, 512] states, ms per pass:")
    print_table(rows, ["formulation", "static_ms", "dynamic_ms", "dynamic_over_static"])
    profiles = {}
    if args.profile:
        for graph in ("static", "dynamic"):
            profiles[graph] = _child(args, "--one_profile", graph)
            print(f"training step, {graph} graph: {profiles[graph]}")
    path = write_result("pooling", {"machine": machine(), "shape": [args.steps, args.batch, 512],
                                    "repeats": args.repeats, "rows": rows,
                                    "training_step_profile": profiles,
                                    "load_before": load_before, "load_after": load_average()},
                        HERE / "results")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
