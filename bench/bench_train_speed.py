"""Training throughput: this project's MindSpore network against its PyTorch twin, same run.

Usage: .venv/bin/python bench/bench_train_speed.py --source PATH [--steps 12]
           [--peer_python .bench-venv/bin/python] [--workdir DIR] [-- --KEY VALUE ...overrides]

Both frameworks train the same network (the shipped default config: embedding, 2-layer BiLSTM,
masked mean+max pooling, Adam) on the same batches, one after the other in this process's run:
- padded: random ids, every batch [batch_size, max_len] with all reviews full length, so both do
  exactly the same arithmetic (equal shapes: the framework against the framework);
- bucketed: real training batches of the full aclImdb as our pipeline makes them (length
  bucketing, padding only to the bucket boundary). MindSpore runs them through SentimentNet,
  PyTorch through pack_padded_sequence (its own way to skip padding), and the PyTorch peer's
  way without length handling (every batch padded to max_len) is the padded row.
Graph compilation (once per new shape in GRAPH_MODE) is timed separately, not in samples/s.
MindSpore runs static shapes as train.py does (the ratios use those rows) and, for reference,
one dynamic-shape graph for all shapes (src.lstm.any_batch_shape). MindSpore's profiler then
measures the share of a padded step spent in the LSTM kernels (forward and backward); the
"ceiling" row divides the padded row by it: the speed with everything but those kernels free,
which no network built on nn.LSTM can pass on this machine. Each row also reports
samples per process CPU second, which a busy machine distorts less than wall time.
PyTorch (bench/torch_peer.py train) runs with --peer_python, the interpreter of the venv
`make bench-venv` builds from requirements-bench.txt (torch is not a project dependency);
without it the script stops at once and says so. Writes bench/results/train_speed.json.
"""
import argparse
import dataclasses
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from bench.benchlib import (ACLIMDB_HELP, PEER_PYTHON, ROOT, WORK, child_json,  # noqa: E402
                            load_average, machine, operator_ms, peer_python, print_table,
                            write_result)


def real_batches(config, prepared, count):
    """The first `count` bucketed training batches of epoch 1, as numpy triples."""
    from src.data.mindrecord import create_dataset
    dataset = create_dataset(prepared.mindrecord("train"), config.batch_size, config.max_len,
                             config.bucket_width, shuffle=True, seed=config.seed,
                             drop_remainder=True)
    batches = []
    for row in dataset.create_tuple_iterator(output_numpy=True):
        batches.append(tuple(np.asarray(column, np.int32) for column in row))
        if len(batches) == count:
            break
    return batches


def padded_batches(config, vocab_size, count):
    rng = np.random.default_rng(0)
    shape = (config.batch_size, config.max_len)
    return [(rng.integers(2, vocab_size, shape, dtype=np.int32),
             np.full(config.batch_size, config.max_len, np.int32),
             rng.integers(0, 2, config.batch_size, dtype=np.int32)) for _ in range(count)]


def _cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def time_mindspore(config, vocab_size, batches, dynamic=False):
    """Train SentimentNet on the batches; compile each new shape first, untimed.

    dynamic: one graph for any shape (src.lstm.any_batch_shape), else one graph per shape
    (as train.py does; the ratios use these rows)."""
    step, tensors = _train_step(config, vocab_size, batches, dynamic)
    started = time.perf_counter()
    seen = set()
    for batch in tensors:
        if batch[0].shape not in seen:
            seen.add(batch[0].shape)
            step(*batch).asnumpy()
    compile_seconds = time.perf_counter() - started
    timed = _timed(lambda batch: step(*batch).asnumpy(), tensors,
                   samples=sum(len(batch[1]) for batch in batches))
    return {**timed, "shapes": len(seen), "first_step_per_shape_s": round(compile_seconds, 1)}


def _train_step(config, vocab_size, batches, dynamic=False):
    """(TrainOneStepCell of the config's network and optimizer, the batches as tensors)."""
    import mindspore as ms
    from mindspore import nn
    from src.model.network import NetWithLoss, any_batch_shape, build_network
    from src.training.loop import build_optimizer
    ms.set_seed(config.seed)
    table = np.random.default_rng(0).normal(0, 0.1, (vocab_size, config.embed_size))
    network = build_network(config.model, table.astype(np.float32))
    optimizer, _ = build_optimizer(config, network, max(len(batches), 1))
    step = nn.TrainOneStepCell(NetWithLoss(network), optimizer)
    if dynamic:
        any_batch_shape(step, targets=True)
    step.set_train()
    one_hot = np.eye(config.num_classes, dtype=np.float32)
    return step, [(ms.Tensor(ids), ms.Tensor(length), ms.Tensor(one_hot[label]))
                  for ids, length, label in batches]


def _timed(run_step, inputs, samples):
    """Wall and process CPU time of run_step over every input; samples/s of both."""
    started, cpu = time.perf_counter(), _cpu_seconds()
    for one in inputs:
        run_step(one)
    seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
    return {"steps": len(inputs), "samples": samples, "seconds": round(seconds, 3),
            "samples_per_s": round(samples / seconds, 1), "cpu_s": round(cpu, 2),
            "samples_per_cpu_s": round(samples / cpu, 1)}


def lstm_kernel_share(config, vocab_size, batches):
    """Share of a padded training step spent inside MindSpore's LSTM and LSTMGrad kernels,
    from MindSpore's profiler. Were everything else free, samples/s could grow by 1 / share
    and no more: the ceiling of the equal-shape ratio for any network built on nn.LSTM."""
    step, tensors = _train_step(config, vocab_size, batches)
    step(*tensors[0]).asnumpy()  # compiles
    milliseconds = operator_ms(lambda: [step(*batch).asnumpy() for batch in tensors])
    return (milliseconds.get("LSTM", 0) + milliseconds.get("LSTMGrad", 0)) / sum(
        milliseconds.values())


def time_torch(python, config, vocab_size, batches, mode, workdir):
    """Run bench/torch_peer.py train on the same batches; the first two are warm-up."""
    path = Path(workdir) / f"batches-{mode}.npz"
    arrays = {}
    for i, (ids, length, label) in enumerate(batches[:2] + batches):
        arrays.update({f"ids_{i}": ids, f"length_{i}": length, f"label_{i}": label})
    np.savez(path, **arrays)
    shape = {"vocab": vocab_size, "embed": config.embed_size, "hidden": config.num_hiddens,
             "layers": config.num_layers, "dropout": config.dropout, "lr": config.learning_rate,
             "warmup": 2, "mode": mode}
    # Importing mindspore sets OMP_NUM_THREADS=1, which a child would inherit: give PyTorch
    # every core, as MindSpore has.
    env = {**os.environ, "OMP_NUM_THREADS": str(os.cpu_count())}
    return child_json([python, ROOT / "bench" / "torch_peer.py", "train", path,
                       json.dumps(shape)], env)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12, help="timed batches per row")
    parser.add_argument("--peer_python", "--torch_python", type=Path, default=PEER_PYTHON,
                        help="the PyTorch peer's interpreter (default: .bench-venv/bin/python, "
                             "built by make bench-venv)")
    parser.add_argument("--workdir", default=WORK / "train_speed", type=Path,
                        help="its preprocess/ folder caches the MindRecord files (default: "
                             "bench/work/train_speed)")
    parser.add_argument("--source", required=True,
                        help=f"{ACLIMDB_HELP}: the bucketed rows' training batches")
    parser.add_argument("overrides", nargs="*", help="config overrides, after --")
    options = parser.parse_args()
    python = peer_python(options.peer_python)  # before minutes of MindSpore rows

    from src.core.config import load_config
    from src.data.mindrecord import prepare
    from src.core.device import init_device
    config = load_config(["--aclimdb_path", options.source,
                          "--preprocess_path", str(options.workdir / "preprocess"),
                          *options.overrides])
    load_before = load_average()
    init_device(config)
    prepared = prepare(config, lambda *_: None)
    vocab_size = len(prepared.vocab)
    bucketed = real_batches(config, prepared, options.steps)
    padded = padded_batches(config, vocab_size, options.steps)

    rows = []
    for name, batches, dynamic in (("padded", padded, False), ("bucketed", bucketed, False),
                                   ("padded", padded, True), ("bucketed", bucketed, True)):
        result = time_mindspore(config, vocab_size, batches, dynamic)
        rows.append({"framework": "mindspore", "batches": name,
                     "graph": "dynamic shape" if dynamic else "static shape", **result,
                     "mean_padded_len": round(float(np.mean([b[0].shape[1] for b in batches])))})
    share = lstm_kernel_share(config, vocab_size, padded)
    padded_row = next(r for r in rows if (r["batches"], r["graph"]) == ("padded", "static shape"))
    rows.append({"framework": "mindspore", "batches": "padded",
                 "graph": f"ceiling: LSTM kernels only ({share:.0%} of the step)",
                 "samples_per_s": round(padded_row["samples_per_s"] / share, 1),
                 "samples_per_cpu_s": round(padded_row["samples_per_cpu_s"] / share, 1),
                 "lstm_kernel_share": round(share, 3), "mean_padded_len": config.max_len})
    with tempfile.TemporaryDirectory() as workdir:
        for name, batches, mode in (("padded", padded, "padded"),
                                    ("bucketed", bucketed, "packed")):
            result = time_torch(python, config, vocab_size, batches, mode, workdir)
            rows.append({"framework": result.pop("framework"), "batches": name,
                         "torch_mode": mode, **result, "mean_padded_len": round(float(
                             np.mean([b[0].shape[1] for b in batches])))})
    load_after = load_average()

    ratios = {}
    for measure in ("samples_per_s", "samples_per_cpu_s"):
        by = {(r["framework"].split()[0], r["batches"]): r[measure] for r in rows
              if r.get("graph") in (None, "static shape")}
        ceiling = next(r[measure] for r in rows if "lstm_kernel_share" in r)
        ratios[measure] = {
            "equal_padded_shapes": round(by["mindspore", "padded"] / by["torch", "padded"], 2),
            "ceiling_lstm_kernels_only_vs_torch_padded":
                round(ceiling / by["torch", "padded"], 2),
            "our_bucketed_vs_torch_padded_peer":
                round(by["mindspore", "bucketed"] / by["torch", "padded"], 2),
            "our_bucketed_vs_torch_packed_same_batches":
                round(by["mindspore", "bucketed"] / by["torch", "bucketed"], 2)}
    print_table(rows, ["framework", "batches", "graph", "mean_padded_len", "steps",
                       "samples_per_s", "samples_per_cpu_s", "seconds", "shapes",
                       "first_step_per_shape_s", "threads"])
    for measure, values in ratios.items():
        for key, value in values.items():
            print(f"ratio mindspore/pytorch {measure}, {key}: {value}x")
    shape = {**dataclasses.asdict(config.model),
             **{k: getattr(config, k) for k in ("batch_size", "max_len", "bucket_width",
                                                "optimizer")}}
    path = write_result("train_speed", {
        "rows": rows, "ratios": ratios, "network": {**shape, "vocab": vocab_size},
        "command": " ".join(["bench/bench_train_speed.py", *sys.argv[1:]]),
        "machine": machine(), "load_before": load_before, "load_after": load_after})
    print(f"wrote {path.relative_to(ROOT)} (load average {load_before['load_1min']} before, "
          f"{load_after['load_1min']} after)")


if __name__ == "__main__":
    main()
