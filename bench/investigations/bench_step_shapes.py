"""Training steps over changing bucket shapes, a static graph per shape against one dynamic
graph: wall time per step, the process's CPU time (user and system), minor page faults and
peak memory.

Usage: .venv/bin/python bench/investigations/bench_step_shapes.py [--rounds 5] [--cycles 3]

The default network (default_config.yaml's shapes, random weights, no linear part) trains on
random ids in the bucket shapes of a full-data run, [64 x 150], [64 x 250], [64 x 350] and
[48 x 500] reviews x tokens, cycled --cycles times after one warm-up cycle (which compiles).
Each (graph, allocator setting) runs in its own process, and the rows alternate --rounds times
so that a busy minute of the machine falls on both graphs. The "freed memory kept" rows call
src.core.device.keep_freed_memory (config key keep_freed_memory, on by default): glibc's malloc
keeps what the kernels free instead of handing it back to the system, to be faulted in again;
the other rows leave glibc's defaults, as train.py --keep_freed_memory false does.
Writes bench/investigations/results/step_shapes.json.
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))  # the checkout: src and bench.benchlib

from bench.benchlib import (child_json, default_train_step, load_average, machine,  # noqa: E402
                            print_table, write_result)

SHAPES = [(64, 150), (64, 250), (64, 350), (48, 500)]
VARIANTS = {"static": ("static", False), "dynamic": ("dynamic", False),
            "static, freed memory kept": ("static", True),
            "dynamic, freed memory kept": ("dynamic", True)}


def measure(dynamic, keep, cycles, vocab=35000):
    """{s_per_step, user_s, sys_s, minor_faults, peak_gb} over cycles x SHAPES timed steps."""
    import mindspore as ms
    import numpy as np
    from src.core.device import keep_freed_memory
    if keep:
        keep_freed_memory()
    step = default_train_step(dynamic, vocab)
    rng = np.random.default_rng(0)
    batches = [(ms.Tensor(rng.integers(1, vocab, (reviews, tokens)), ms.int32),
                ms.Tensor(rng.integers(tokens - 49, tokens + 1, reviews), ms.int32),
                ms.Tensor(np.eye(2, dtype=np.float32)[rng.integers(0, 2, reviews)])) for reviews, tokens in SHAPES]
    for tensors in batches:  # the warm-up cycle: every static graph compiles here
        step(*tensors).asnumpy()
    before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    for _ in range(cycles):
        for tensors in batches:
            step(*tensors).asnumpy()
    wall, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_SELF)
    steps = cycles * len(SHAPES)
    return {"s_per_step": round(wall / steps, 3),
            "user_s_per_step": round((after.ru_utime - before.ru_utime) / steps, 3),
            "sys_s_per_step": round((after.ru_stime - before.ru_stime) / steps, 3),
            "minor_faults_per_step": (after.ru_minflt - before.ru_minflt) // steps,
            "peak_gb": round(after.ru_maxrss / 1e6, 2)}


def _child(graph, keep, cycles):
    keep_flag = ["--keep_freed_memory"] if keep else []
    return child_json([sys.executable, __file__, "--one", graph, "--cycles", cycles,
                       *keep_flag], os.environ)


def _paired_ratio(runs, baseline_runs):
    """The median over rounds of a run's step time over the baseline's in the same round."""
    return round(statistics.median(run["s_per_step"] / base["s_per_step"]
                                   for run, base in zip(runs, baseline_runs)), 3)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--one", choices=["static", "dynamic"], help=argparse.SUPPRESS)
    parser.add_argument("--keep_freed_memory", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:  # a child process: one measurement
        print(json.dumps(measure(args.one == "dynamic", args.keep_freed_memory, args.cycles)))
        return
    load_before = load_average()
    runs = {name: [] for name in VARIANTS}
    for _ in range(args.rounds):
        for name, (graph, keep) in VARIANTS.items():
            runs[name].append(_child(graph, keep, args.cycles))
    rows = [{"run": name, "rounds": len(found),
             **{key: statistics.median(r[key] for r in found) for key in found[0]}}
            for name, found in runs.items()]
    for row in rows:  # ratios within a round, then their median: the machine's drift cancels
        row["s_per_step_over_static"] = _paired_ratio(runs[row["run"]], runs["static"])
        graph, keep = VARIANTS[row["run"]]
        if keep:
            row["over_memory_returned"] = _paired_ratio(runs[row["run"]], runs[graph])
    print(f"training steps over {SHAPES} (reviews x tokens), medians of {args.rounds} rounds:")
    print_table(rows, ["run", "s_per_step", "s_per_step_over_static", "over_memory_returned",
                       "user_s_per_step", "sys_s_per_step", "minor_faults_per_step",
                       "peak_gb"])
    path = write_result("step_shapes", {"machine": machine(), "shapes": SHAPES,
                                        "cycles": args.cycles, "rows": rows, "runs": runs,
                                        "load_before": load_before,
                                        "load_after": load_average()},
                        HERE / "results")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
