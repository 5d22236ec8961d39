"""Peak resident memory of training and serving, setting by setting, with speed and accuracy.

Usage: .venv/bin/python bench/bench_memory.py [--rows all] [--workdir DIR]

Each row runs an entry script in a child process of its own (MindSpore's memory only grows
within a process) and records the child's peak resident memory (getrusage), its wall time,
the median training samples/s of its logged steps and the best validation accuracy. Rows:
- train on the bundled 1,000-review sample (`--max_len 300 --num_epochs 2 --batch_size 32`,
  from scratch, random embedding, no linear part), with one graph per bucket shape
  (`--dynamic_shapes false`) or one for all, at bucket widths 0 (1 shape), 100 and 25;
- the same sample read whole (`--max_len 3000 --truncate head`, the default network);
- `make demo`'s training (the default flow from the shipped encoder);
- predict.py on the sample's 200 longest test reviews with model/, on both backends, and
  eval.py of model/ on the sample's 500 test reviews;
- MindSpore's own settings (`--rows settings`): investigations/graph_memory_repro.py over its
  12 shapes (one training step cell, 256-unit BiLSTM) with one graph per shape and each
  setting (its runtime memory pool, memory_optimize_level O1, jit_level O1, freeing each
  shape's graph, ms_memory_recycle, PyNative, PyNative with the step in ms.jit), against one
  dynamic graph.
  MindSpore 2.10's PyNative mode fails to import numpy 2 ("Numpy init failed"): its rows run
  with --pynative_python, an interpreter whose venv has mindspore==2.10.0 and numpy<2.
Full-data rows (the default recipe, 2 seeds) are bench_recipes.py's `peak_rss_gb`.
Writes bench/results/memory.json.
"""
import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.benchlib import (PEAK, RESULTS, ROOT, load_average, machine,  # noqa: E402
                            model_eval_args, print_table, write_result)

SAMPLE = ROOT / "data" / "aclImdb_sample"
INVESTIGATIONS = ROOT / "bench" / "investigations"
SCRATCH = ["--encoder_checkpoint", "none", "--embedding", "random", "--wide", "false",
           "--max_len", "300", "--num_epochs", "2", "--batch_size", "32"]
DEMO = ["--num_epochs", "8", "--learning_rate", "0.003", "--max_len", "300",
        "--bucket_width", "100", "--batch_size", "32"]  # the Makefile's DEMO_ARGS


def _train_rows():
    rows = {}
    for dynamic in ("false", "true"):
        for width in ("0", "100", "25"):
            rows[f"sample, bucket_width {width}, dynamic_shapes {dynamic}"] = [
                *SCRATCH, "--bucket_width", width, "--dynamic_shapes", dynamic]
        rows[f"sample whole (max_len 3000), dynamic_shapes {dynamic}"] = [
            *SCRATCH, "--max_len", "3000", "--truncate", "head", "--num_epochs", "1",
            "--dynamic_shapes", dynamic]
    rows["make demo's training (default flow)"] = DEMO
    return rows


def _child(script, args):
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PEAK, str(ROOT / script), *map(str, args)],
                          cwd=ROOT, capture_output=True, text=True)
    seconds = round(time.perf_counter() - started, 1)
    peak = [line for line in done.stderr.splitlines() if line.startswith("peak_kb ")]
    if done.returncode != 0 or not peak:
        sys.exit(f"error: {script} failed: {done.stderr.strip().splitlines()[-1:]}")
    return {"peak_rss_gb": round(int(peak[-1].split()[1]) / 1e6, 2), "wall_s": seconds}


def _training(name, args, workdir):
    run = workdir / name.replace(" ", "_").replace(",", "")
    row = {"row": name, **_child("train.py", [
        "--aclimdb_path", SAMPLE, "--preprocess_path", workdir / "preprocess",
        "--run_dir", run, "--overwrite_run", "true", *args])}
    records = [json.loads(line) for line in (run / "metrics.jsonl").open()]
    speeds = [r["samples_per_s"] for r in records if "samples_per_s" in r]
    row["samples_per_s"] = round(statistics.median(speeds), 1) if speeds else None
    row["valid_acc"] = max(r["valid_acc"] for r in records if "valid_acc" in r)
    return row


def _serving(workdir):
    reviews = sorted((p.read_text(encoding="utf-8") for p in (SAMPLE / "test").glob("*/*.txt")),
                     key=len)[-200:]
    path = workdir / "longest.txt"
    path.write_text("".join(" ".join(r.split()) + "\n" for r in reviews), encoding="utf-8")
    rows = [{"row": f"predict.py, 200 longest sample reviews, {backend}",
             **_child("predict.py", ["--input_file", path, "--backend", backend])}
            for backend in ("onnxruntime", "mindspore")]
    rows.append({"row": "eval.py, model/ on the sample's 500 test reviews",
                 **_child("eval.py", model_eval_args(workdir, SAMPLE))})
    return rows


# graph_memory_repro.py's flags, one process each: MindSpore's settings against one graph
SETTINGS = {"one graph per shape (static)": [], "one graph for all (dynamic)": ["--dynamic"],
            "static, runtime pool 0.5 GB + 0.5 GB": ["--pool", "0.5GB,0.5GB"],
            "static, memory_optimize_level O1": ["--mem_level", "O1"],
            "static, jit_level O1": ["--jit_level", "O1"],
            "static, each shape's graph freed after its steps": ["--release"],
            "static, ms_memory_recycle after the shapes": ["--recycle"],
            "PyNative (no graph)": ["--pynative"],
            "PyNative, the step in ms.jit": ["--pynative", "--jit"]}


def _settings_rows(pynative_python):
    rows = []
    for name, flags in SETTINGS.items():
        python = pynative_python if "--pynative" in flags else sys.executable
        if python is None:
            rows.append({"row": f"12 shapes: {name}", "peak_rss_gb": None, "wall_s": None,
                         "note": "not run: MindSpore 2.10's PyNative mode fails to import "
                                 "numpy 2 (--pynative_python: a venv with numpy<2)"})
            continue
        started = time.perf_counter()
        done = subprocess.run([str(python), str(INVESTIGATIONS / "graph_memory_repro.py"),
                               "--rounds", "1", *flags], cwd=ROOT, capture_output=True, text=True)
        steps = [line for line in done.stdout.splitlines() if line.startswith("round ")]
        if done.returncode != 0 or not steps:
            sys.exit(f"error: graph_memory_repro.py {' '.join(flags)} failed: "
                     f"{done.stderr.strip().splitlines()[-1:]}")
        peak = float(steps[-1].split("rss peak")[1].split()[0]) * 2 ** 20 / 1e9  # MiB to GB
        rows.append({"row": f"12 shapes: {name}", "peak_rss_gb": round(peak, 2),
                     "wall_s": round(time.perf_counter() - started, 1)})
        print(rows[-1], flush=True)
    return rows


def _kept_rows(rows):
    """rows after the earlier memory.json's rows of the part not measured again."""
    earlier = RESULTS / "memory.json"
    if not earlier.exists():
        return rows
    measured = {row["row"] for row in rows}
    return [r for r in json.loads(earlier.read_text())["rows"] if r["row"] not in measured] + rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="all", choices=["all", "train", "serve", "settings"],
                        help="train, serve (predict.py, eval.py), settings (MindSpore's) or all")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--pynative_python", type=Path, default=None,
                        help="the interpreter of the settings' PyNative rows: MindSpore 2.10 "
                             "with numpy<2 (its PyNative mode fails on numpy 2); else not run")
    options = parser.parse_args()
    load_before = load_average()
    with tempfile.TemporaryDirectory() as scratch:
        workdir = options.workdir or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        rows = []
        if options.rows in ("all", "train"):
            for name, args in _train_rows().items():
                rows.append(_training(name, args, workdir))
                print(rows[-1], flush=True)
        if options.rows in ("all", "serve"):
            rows += _serving(workdir)
        if options.rows in ("all", "settings"):
            rows += _settings_rows(options.pynative_python)
    rows = _kept_rows(rows) if options.rows != "all" else rows
    path = write_result("memory", {"command": sys.argv, "rows": rows, "machine": machine(),
                                   "load_before": load_before, "load_after": load_average()})
    print_table(rows, ["row", "peak_rss_gb", "wall_s", "samples_per_s", "valid_acc"])
    print(f"written to {path}")


if __name__ == "__main__":
    main()
