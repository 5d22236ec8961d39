"""Test accuracy and time on the full aclImdb: default config, embeddings, the original recipe.

Usage: .venv/bin/python bench/bench_accuracy.py [--runs default,glove,random,original]
           [--seeds 1,2] [--original_epochs 20] [--curve] [--source PATH] [--unsup DIR]
           [--workdir DIR] [--fresh] [-- --KEY VALUE ...overrides for every run]

Runs (each trains with src.training.loop.train, picks lstm-best.ckpt by validation accuracy and only
then reads the test split once):
- default:  the shipped default_config.yaml, word2vec trained on train + the 50,000 unlabelled
            reviews (--unsup), once per seed in --seeds (mean and spread are printed);
- glove:    the same with GloVe 6B 50-d (../shared/data/glove.6B.50d.imdb.txt.gz);
- random:   the same with a random embedding;
- original: config_original.yaml (the model zoo's recipe), --original_epochs of its 20.
--curve also scores the test split after every epoch of the first default run (from the
epoch-end checkpoints, never used to choose anything) to find the time to reach 88 %: elapsed
time from the start of preprocessing (--fresh empties the cache first) to the end of the
first epoch at or above 88 %. Timings are wall seconds; the load average before and after
and the busiest processes are recorded, as other jobs may share the cores.
Writes bench/results/accuracy.json (rows of earlier invocations with other runs are kept).
"""
import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.benchlib import DATA, RESULTS, ROOT, load_average, machine, print_table, write_result  # noqa: E402

GLOVE = DATA / "glove.6B.50d.imdb.txt.gz"
TARGET = 0.88
RUNS = {"default": [], "glove": ["--embedding", "glove", "--glove_path", str(GLOVE)],
        "random": ["--embedding", "random"],
        "original": ["--config_path", str(ROOT / "config_original.yaml"),
                     "--glove_path", str(GLOVE)]}


def _cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _quiet(*_):
    pass


def _epoch_checkpoints(run_dir):
    """{epoch: path} of the checkpoint written at each epoch's end (its highest step)."""
    from src.model.checkpoint import checkpoint_step
    last = {}
    for path in Path(run_dir).glob("lstm-*_*.ckpt"):
        epoch, step = checkpoint_step(path) or (None, 0)
        if epoch and step > last.get(epoch, (0, None))[0]:
            last[epoch] = (step, path)
    return {epoch: path for epoch, (_, path) in sorted(last.items())}


def _epoch_metrics(run_dir):
    """Validation accuracy per epoch and the mean step time, from metrics.jsonl."""
    valid, steps = {}, []
    for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        if "valid_acc" in record:
            valid[record["epoch"]] = record["valid_acc"]
        elif "step_s" in record:
            steps.append(record["step_s"])
    return valid, steps


class TestScorer:
    """Test accuracy of checkpoints of one run, through one network compiled once.

    The same arithmetic as eval.py, but with dynamic input shapes: eval.py compiles each of
    the ~10 bucket shapes anew per call, which costs minutes per checkpoint on a busy CPU.
    """

    def __init__(self, config, checkpoint):
        import mindspore as ms
        from src.data.mindrecord import create_dataset, prepare
        from src.model.checkpoint import load_network
        from src.model.network import NetWithEval, any_batch_shape
        self.network = load_network(config, checkpoint)
        self.evaluator = any_batch_shape(NetWithEval(self.network))
        dataset = create_dataset(prepare(config, _quiet).mindrecord("test"), config.batch_size,
                                 config.max_len, config.bucket_width)
        self.batches = [tuple(ms.Tensor(column) for column in row)
                        for row in dataset.create_tuple_iterator(output_numpy=True)]

    def accuracy(self, checkpoint):
        from src.model.checkpoint import load_into, load_params
        load_into(self.network, load_params(checkpoint), checkpoint)
        self.network.set_train(False)
        right = total = 0
        for ids, length, label in self.batches:
            _, logits, _ = self.evaluator(ids, length, label)
            right += int((logits.asnumpy().argmax(1) == label.asnumpy()).sum())
            total += len(label)
        return right / total


def test_curve(scorer, run_dir, started):
    """Test accuracy at each epoch end, with seconds since `started` (checkpoint mtimes)."""
    return [{"epoch": epoch, "elapsed_s": round(path.stat().st_mtime - started, 1),
             "test_acc": round(scorer.accuracy(path), 4)}
            for epoch, path in _epoch_checkpoints(run_dir).items()]


def run(name, seed, options, curve):
    """Train one configuration, evaluate its best checkpoint on test; returns a result row."""
    from src.core.config import load_config
    from src.data.mindrecord import prepare
    from src.data.embeddings import build_embedding
    from train import main as train
    run_dir = options.workdir / f"{name}-seed{seed}"
    shutil.rmtree(run_dir, ignore_errors=True)
    args = [*RUNS[name], "--aclimdb_path", str(options.source), "--seed", str(seed),
            "--preprocess_path", str(options.workdir / "preprocess"), "--ckpt_path", str(run_dir),
            "--unlabelled_path", str(options.unsup), *options.overrides]
    if name == "original" and options.original_epochs:
        args += ["--num_epochs", str(options.original_epochs)]
    if curve:
        args += ["--keep_checkpoint_max", "100"]
    config = load_config(args)
    started, cpu = time.time(), _cpu_seconds()
    lines = []
    prepared = prepare(config, lines.append)
    prepared_at = time.time()
    build_embedding(config, prepared, lines.append)
    embedded_at = time.time()
    train(config, _quiet)
    trained_at = time.time()
    cpu = _cpu_seconds() - cpu
    valid, steps = _epoch_metrics(run_dir)
    scorer = TestScorer(config, run_dir / "lstm-best.ckpt")
    test = {"accuracy": scorer.accuracy(run_dir / "lstm-best.ckpt")}
    best_epoch = max(valid, key=valid.get) if valid else None
    epoch_times = [round(b.stat().st_mtime - a.stat().st_mtime, 1) for a, b in
                   zip(list(_epoch_checkpoints(run_dir).values()),
                       list(_epoch_checkpoints(run_dir).values())[1:])]
    row = {"run": name, "seed": seed, "embedding": config.embedding,
           "epochs_run": len(valid), "epochs_config": config.num_epochs, "best_epoch": best_epoch,
           "valid_acc": valid.get(best_epoch), "test_acc": round(test["accuracy"], 4),
           "preprocess_s": round(prepared_at - started, 1),
           "embedding_s": round(embedded_at - prepared_at, 1),
           "train_s": round(trained_at - embedded_at, 1),
           "total_s": round(trained_at - started, 1), "process_cpu_s": round(cpu, 1),
           "epoch_s": epoch_times, "mean_step_s": round(statistics.mean(steps), 3),
           "cache_reused": [line for line in lines if line.startswith("reusing")],
           "valid_by_epoch": valid, "config_args": args}
    if curve:
        row["test_curve"] = test_curve(scorer, run_dir, started)
        reached = [point for point in row["test_curve"] if point["test_acc"] >= TARGET]
        row["time_to_88_s"] = reached[0]["elapsed_s"] if reached else None
    print(f"{name} seed {seed}: test {row['test_acc']:.4f} valid {row['valid_acc']} "
          f"({row['epochs_run']} epochs, {row['total_s']} s)", flush=True)
    return row


def summarize(rows):
    """Mean and spread (max - min, and sample std) of test accuracy per run name."""
    summary = {}
    for name in dict.fromkeys(row["run"] for row in rows):
        accs = [row["test_acc"] for row in rows if row["run"] == name]
        summary[name] = {"seeds": [row["seed"] for row in rows if row["run"] == name],
                         "test_acc_mean": round(statistics.mean(accs), 4),
                         "test_acc_spread": round(max(accs) - min(accs), 4),
                         "test_acc_std": round(statistics.stdev(accs), 4) if len(accs) > 1
                         else None}
    return summary


def _merge(row):
    """Add row to bench/results/accuracy.json, replacing an earlier row of the same run and
    seed (several invocations may run side by side, each adding its own rows)."""
    path = RESULTS / "accuracy.json"
    earlier = json.loads(path.read_text()) if path.exists() else {}
    rows = [r for r in earlier.get("rows", [])
            if (r["run"], r["seed"]) != (row["run"], row["seed"])]
    rows.append(row)
    write_result("accuracy", {"summary": summarize(rows), "rows": rows, "machine": machine(),
                              "note": f"{os.cpu_count()} cores shared with other jobs; see each "
                                      f"row's load_before/load_after"})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="default,glove,random,original")
    parser.add_argument("--seeds", default="1,2", help="seeds of the default run")
    parser.add_argument("--original_epochs", type=int, default=0,
                        help="epochs of the original recipe (0: its 20)")
    parser.add_argument("--curve", action="store_true",
                        help="test accuracy per epoch of the first default run (time to 88 %%)")
    unpacked = Path("/tmp/data/aclImdb")
    parser.add_argument("--source", type=Path, default=unpacked if unpacked.is_dir()
                        else DATA / "aclImdb_v1.tar.gz")
    parser.add_argument("--unsup", type=Path, default=Path("/tmp/data/aclImdb/train/unsup"),
                        help="unlabelled reviews for word2vec (tar xzf "
                             "../shared/data/aclImdb_v1_unsup.tar.gz -C /tmp/data)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench_accuracy"))
    parser.add_argument("--fresh", action="store_true", help="empty the preprocessing cache")
    parser.add_argument("overrides", nargs="*", help="config overrides, after --")
    options = parser.parse_args()
    if not options.unsup.is_dir():
        sys.exit(f"error: {options.unsup} not found; tar xzf {DATA}/aclImdb_v1_unsup.tar.gz "
                 f"-C /tmp/data, or pass --unsup")
    if options.fresh:
        shutil.rmtree(options.workdir / "preprocess", ignore_errors=True)
    load_before = load_average()
    rows = []
    for name in options.runs.split(","):
        seeds = [int(s) for s in options.seeds.split(",")] if name == "default" else [1]
        for i, seed in enumerate(seeds):
            rows.append(run(name, seed, options, options.curve and name == "default" and i == 0))
            rows[-1].update(command=" ".join(["bench/bench_accuracy.py", *sys.argv[1:]]),
                            load_before=load_before, load_after=load_average())
            _merge(rows[-1])
    print_table(rows, ["run", "seed", "embedding", "epochs_run", "best_epoch", "valid_acc",
                       "test_acc", "preprocess_s", "embedding_s", "train_s", "mean_step_s"])
    for name, stats in summarize(rows).items():
        print(f"{name}: test accuracy mean {stats['test_acc_mean']:.4f}, spread "
              f"{stats['test_acc_spread']:.4f} over seeds {stats['seeds']}")
    for row in rows:
        if "test_curve" in row:
            print(f"time to {TARGET:.0%} test accuracy ({row['run']} seed {row['seed']}): "
                  f"{row['time_to_88_s']} s; curve {row['test_curve']}")
    written = (RESULTS / "accuracy.json").relative_to(ROOT)
    print(f"wrote {written} (load average {load_before['load_1min']} before, "
          f"{load_average()['load_1min']} after)")


if __name__ == "__main__":
    main()
