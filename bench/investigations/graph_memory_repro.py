"""The smallest reproduction of training memory growing with every compiled shape (CPU).

An embedding, a forward and a backward nn.LSTM (256 units), mean pooling and a dense layer,
trained with Adam through TrainOneStepCell in GRAPH_MODE on random batches of 12 padded
lengths (at most 32,000 tokens a batch, as src/data/mindrecord.py's buckets). After each new shape it
prints the peak and the current resident memory and the number of compiled graphs.

    .venv/bin/python bench/investigations/graph_memory_repro.py --rounds 1   # a graph per shape
    .venv/bin/python bench/investigations/graph_memory_repro.py --rounds 1 --dynamic  # one graph
    (also --release, --recycle, --mem_level O1, --pool 0.5GB,0.5GB, --jit_level O1,
    --pynative [--jit], --tokens N: other settings, one per process)

Measured results are in bench/README.md (Memory). Each static graph's LSTM kernels keep their
work memory (about 34 KB per token of the batch) until the process ends.
"""
import argparse
import gc
import resource
import time

import numpy as np


def rss_mb():
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux
    current = 0.0
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                current = int(line.split()[1]) / 1024
    return peak, current


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lengths", default="50,100,150,200,250,300,350,400,450,500,1000,2000")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--tokens", type=int, default=32000,
                        help="cap on T*B per batch (the project's reviews_per_batch does the same)")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--embed", type=int, default=100)
    parser.add_argument("--vocab", type=int, default=50000)
    parser.add_argument("--rounds", type=int, default=2, help="passes over all lengths")
    parser.add_argument("--steps", type=int, default=2, help="steps per length per round")
    parser.add_argument("--dynamic", action="store_true", help="set_inputs with None dims")
    parser.add_argument("--release", action="store_true",
                        help="delete the compiled graph of a shape after its steps")
    parser.add_argument("--recycle", action="store_true", help="ms.ms_memory_recycle() per round")
    parser.add_argument("--mem_level", choices=["O0", "O1"], default=None)
    parser.add_argument("--pool", default=None, help="init_size,increase_size e.g. 0.5GB,0.5GB")
    parser.add_argument("--jit_level", choices=["O0", "O1"], default=None)
    parser.add_argument("--pynative", action="store_true")
    parser.add_argument("--jit", action="store_true", help="with --pynative: the step in ms.jit")
    args = parser.parse_args()

    t0 = time.time()
    import mindspore as ms
    from mindspore import nn, ops
    peak, current = rss_mb()
    print(f"import mindspore {ms.__version__}: rss peak/current {peak:.0f}/{current:.0f} MB")

    ms.set_device("CPU")
    ms.set_context(mode=ms.PYNATIVE_MODE if args.pynative else ms.GRAPH_MODE)
    if args.jit_level:
        ms.set_context(jit_config={"jit_level": args.jit_level})
    if args.mem_level or args.pool:
        init, increase = (args.pool or "2GB,2GB").split(",")
        ms.runtime.set_memory(init_size=init, increase_size=increase,
                              optimize_level=args.mem_level or "O0")
    ms.set_seed(1)

    class Net(nn.Cell):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(args.vocab, args.embed)
            self.forward_lstm = nn.LSTM(args.embed, args.hidden)
            self.backward_lstm = nn.LSTM(args.embed, args.hidden)
            self.dense = nn.Dense(2 * args.hidden, 2)

        def construct(self, ids, length):
            x = self.embedding(ids.transpose(1, 0))  # [T, B, E]
            forward, _ = self.forward_lstm(x)
            backward, _ = self.backward_lstm(ops.flip(x, (0,)))
            states = ops.concat((forward, ops.flip(backward, (0,))), axis=2)
            steps = states.shape[0]
            mask = (ops.arange(steps, dtype=ms.int32).reshape(steps, 1)
                    < length.reshape(1, -1)).astype(states.dtype).expand_dims(2)
            pooled = (states * mask).sum(axis=0) / length.astype(states.dtype).reshape(-1, 1)
            return self.dense(pooled)

    class WithLoss(nn.Cell):
        def __init__(self, net):
            super().__init__(auto_prefix=False)
            self.net = net
            self.loss = nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean")

        def construct(self, ids, length, label):
            return self.loss(self.net(ids, length), label)

    net = Net()
    step = nn.TrainOneStepCell(WithLoss(net), nn.Adam(net.trainable_params(), 1e-3))
    step.set_train()
    if args.dynamic:
        step.set_inputs(ms.Tensor(shape=[None, None], dtype=ms.int32),
                        ms.Tensor(shape=[None], dtype=ms.int32),
                        ms.Tensor(shape=[None], dtype=ms.int32))

    run_step = ms.jit(step.construct) if args.jit else step
    graph_executor = None
    if args.release:
        try:
            from mindspore.graph.api import _cell_graph_executor as graph_executor
        except ImportError:
            from mindspore.common.api import _cell_graph_executor as graph_executor

    rng = np.random.default_rng(0)
    lengths = [int(v) for v in args.lengths.split(",")]
    seen = set()
    for round_ in range(args.rounds):
        for length in lengths:
            batch = max(1, min(args.batch, args.tokens // length))
            for _ in range(args.steps):
                ids = ms.Tensor(rng.integers(1, args.vocab, (batch, length)), ms.int32)
                true_len = ms.Tensor(rng.integers(1, length + 1, batch), ms.int32)
                label = ms.Tensor(rng.integers(0, 2, batch), ms.int32)
                loss = run_step(ids, true_len, label).asnumpy()
            peak, current = rss_mb()
            tag = "new" if (length, batch) not in seen else "old"
            seen.add((length, batch))
            print(f"round {round_} T={length:5d} B={batch:3d} T*B={length * batch:6d} {tag} "
                  f"loss {float(loss):.3f}  rss peak {peak:7.0f} MB  current {current:7.0f} MB  "
                  f"graphs {len(step.compile_cache)}  {time.time() - t0:6.1f}s", flush=True)
            if args.release:
                phases = set(step.compile_cache)
                graph_executor.del_net_res(step, phases)
                step.compile_cache.clear()
                gc.collect()
                print(f"    released {len(phases)} graph(s): rss current {rss_mb()[1]:7.0f} MB",
                      flush=True)
        if args.recycle:
            ms.ms_memory_recycle()
            gc.collect()
            print(f"  ms_memory_recycle: rss current {rss_mb()[1]:7.0f} MB", flush=True)


if __name__ == "__main__":
    main()
