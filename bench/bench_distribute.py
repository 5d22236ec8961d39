"""Data parallel on one 2-core host: 1 worker vs 2 msrun workers at the same global batch.

    .venv/bin/python bench/bench_distribute.py --data aclImdb [--per_label 2000] [--workdir DIR]

Cuts a balanced subset of aclImdb (per_label train reviews per label, half as many test
reviews per label; symlinks, nothing copied), then trains the same network from the same seed
  - with 1 worker, batch B, and
  - with 2 workers under msrun (scripts/run_distribute_train_cpu.sh), batch B/2 each,
for each seed, and evaluates every rank-0 lstm-best.ckpt on the subset's test reviews.
Prints a table and writes bench/results/distribute.json: steady-state samples/s (epochs after
the first, graph compiles excluded), wall time, and test accuracy (mean and spread over seeds).
"""
import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchlib import WORK, print_table, write_result

ROOT = Path(__file__).resolve().parent.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
NETWORK = ["--max_len", "200", "--bucket_width", "50", "--embedding", "random",
           "--embed_size", "64", "--num_hiddens", "64", "--num_layers", "1",
           "--pooling", "mean_max", "--optimizer", "adam", "--learning_rate", "0.003",
           "--lr_schedule", "cosine", "--warmup_epochs", "0.2", "--dropout", "0.2",
           "--early_stop_patience", "0", "--save_checkpoint_steps", "1000"]


def make_subset(source, target, per_label):
    """A balanced aclImdb subset of symlinks: per_label train and per_label/2 test per label."""
    for split, count in (("train", per_label), ("test", per_label // 2)):
        for label in ("pos", "neg"):
            folder = target / split / label
            folder.mkdir(parents=True, exist_ok=True)
            names = sorted(p.name for p in (source / split / label).glob("*.txt"))
            for name in random.Random(f"{split}{label}").sample(names, count):
                link = folder / name
                if not link.exists():
                    link.symlink_to((source / split / label / name).resolve())
    return target


def run(command, env=None):
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        sys.exit(f"failed: {' '.join(map(str, command))}\n{result.stderr[-3000:]}")
    return time.perf_counter() - started


def steady_throughput(run_dir):
    """Global samples/s over every step after the first epoch (no graph compiles in there)."""
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").open()]
    steps = [r for r in records if "loss" in r and r["epoch"] > 1]
    samples = sum(r["samples_per_s"] * r["step_s"] for r in steps)
    return samples / sum(r["step_s"] for r in steps)


def train_and_eval(workers, seed, common, workdir, batch):
    run_dir = workdir / f"w{workers}-seed{seed}"
    args = common + ["--seed", str(seed), "--run_dir", str(run_dir), "--overwrite_run", "true",
                     "--batch_size", str(batch // workers)]
    if workers == 1:
        seconds = run([str(PYTHON), "train.py", *args])
    else:
        env = dict(os.environ, PYTHON=str(PYTHON), RUN_DIR=str(run_dir))
        script = ROOT / "scripts" / "run_distribute_train_cpu.sh"
        positional = [str(workers), args[args.index("--aclimdb_path") + 1]]
        seconds = run(["bash", str(script), *positional, *args], env=env)
    run([str(PYTHON), "eval.py", *args, "--checkpoint_file", str(run_dir / "lstm-best.ckpt")])
    accuracy = json.loads((run_dir / "eval.json").read_text())["accuracy"]
    return {"workers": workers, "seed": seed, "batch_per_worker": batch // workers,
            "global_batch": batch, "wall_s": round(seconds, 1),
            "samples_per_s": round(steady_throughput(run_dir), 1),
            "test_acc": round(accuracy, 4)}


def summarize(rows):
    summary = []
    for workers in sorted({r["workers"] for r in rows}):
        mine = [r for r in rows if r["workers"] == workers]
        accs = [r["test_acc"] for r in mine]
        summary.append({
            "workers": workers, "global_batch": mine[0]["global_batch"],
            "samples_per_s": round(statistics.mean(r["samples_per_s"] for r in mine), 1),
            "wall_s": round(statistics.mean(r["wall_s"] for r in mine), 1),
            "test_acc_mean": round(statistics.mean(accs), 4),
            "test_acc_spread": round(max(accs) - min(accs), 4), "seeds": len(mine)})
    return summary


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, type=Path,
                        help="the unpacked aclImdb folder (aclImdb_v1.tar.gz from "
                             "https://ai.stanford.edu/~amaas/data/sentiment/, tar xzf; the "
                             "subset links to its files; data/aclImdb_sample is too small for "
                             "the default --per_label)")
    parser.add_argument("--per_label", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64, help="global batch")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--workdir", type=Path, default=WORK / "distribute",
                        help="the subset, caches and runs (default: bench/work/distribute)")
    options = parser.parse_args()
    subset = make_subset(options.data, options.workdir / "aclImdb_subset", options.per_label)
    common = ["--aclimdb_path", str(subset), "--preprocess_path",
              str(options.workdir / "preprocess"), "--num_epochs", str(options.epochs), *NETWORK]
    load_before = os.getloadavg()[0]
    rows = [train_and_eval(workers, seed, common, options.workdir, options.batch)
            for seed in options.seeds for workers in (1, 2)]
    summary = summarize(rows)
    print_table(rows, ["workers", "seed", "batch_per_worker", "global_batch", "wall_s",
                       "samples_per_s", "test_acc"])
    print()
    print_table(summary, ["workers", "global_batch", "samples_per_s", "wall_s",
                          "test_acc_mean", "test_acc_spread", "seeds"])
    import mindspore
    result = {"bench": "distribute", "data": f"aclImdb subset: {options.per_label} train "
              f"+ {options.per_label // 2} test reviews per label", "epochs": options.epochs,
              "network_args": NETWORK, "runs": rows, "summary": summary,
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "mindspore": mindspore.__version__,
                          "load_1min_before": round(load_before, 2),
                          "load_1min_after": round(os.getloadavg()[0], 2)},
              "time": time.strftime("%Y-%m-%d %H:%M:%S")}
    print(f"\nwritten {write_result('distribute', result)}")


if __name__ == "__main__":
    main()
