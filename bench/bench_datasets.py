"""Accuracy on the other datasets: Kaggle phrases (5 classes), SST-5 and SST-2.

Runs: phrases, sst5, sst2 (sentence-level training), sst5_phrases, sst2_phrases (trained on
every labelled phrase of the train trees; validation and test stay sentence-level), and each
of them from the shipped encoder instead of GloVe (phrases_encoder, sst5_encoder, ...), and
those with the wide part mixed in (phrases_encoder_wide, ...).

Usage: .venv/bin/python bench/bench_datasets.py --data_dir DIR [--runs phrases,sst5,sst2,...]
           [--workdir DIR] [--results FILE] [-- --num_epochs 3 ...]
Trains each run with its config (config_phrases.yaml, config_sst.yaml) on the full data in
--data_dir, evaluates the best checkpoint (by validation accuracy) on the validation and
test splits, prints a table and merges the rows into bench/results/datasets.json.
--data_dir holds the archives as published: kaggle_sentiment-analysis-on-movie-reviews.tar.gz
(train.tsv and test.tsv of https://www.kaggle.com/c/sentiment-analysis-on-movie-reviews),
sst_trainDevTestTrees_PTB.tar.gz (trainDevTestTrees_PTB.zip of
https://nlp.stanford.edu/sentiment/, repacked) and glove.6B.50d.imdb.txt.gz (glove.6B.50d.txt
of glove.6B.zip from https://nlp.stanford.edu/projects/glove/, gzipped under this name; the
runs from the shipped encoder do not read it).
Kaggle phrases: test is a held-out share of train.tsv cut by SentenceId (test.tsv has no labels).
"""
import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.benchlib import WORK  # noqa: E402
from src.core.config import load_config  # noqa: E402
from src.training.evaluate import evaluate  # noqa: E402
from train import main as train  # noqa: E402

RUNS = {
    "phrases": ["--config_path", ROOT / "config_phrases.yaml",
                "--data_path", "kaggle_sentiment-analysis-on-movie-reviews.tar.gz"],
    "sst5": ["--config_path", ROOT / "config_sst.yaml",
             "--data_path", "sst_trainDevTestTrees_PTB.tar.gz"],
    "sst2": ["--config_path", ROOT / "config_sst.yaml", "--sst_classes", "2", "--num_classes", "2",
             "--data_path", "sst_trainDevTestTrees_PTB.tar.gz"],
    # trained on every labelled phrase of the train trees (as published LSTM baselines are)
    "sst5_phrases": ["--config_path", ROOT / "config_sst.yaml", "--sst_phrases", "true",
                     "--num_epochs", "2", "--batch_size", "128",
                     "--data_path", "sst_trainDevTestTrees_PTB.tar.gz"],
    "sst2_phrases": ["--config_path", ROOT / "config_sst.yaml", "--sst_phrases", "true",
                     "--sst_classes", "2", "--num_classes", "2", "--num_epochs", "2",
                     "--batch_size", "128", "--data_path", "sst_trainDevTestTrees_PTB.tar.gz"],
}
# the same runs from the shipped encoder (model/encoder: its shapes and vocabulary)
ENCODER = ["--encoder_checkpoint", ROOT / "model" / "encoder" / "encoder.ckpt",
           "--num_layers", "1", "--num_hiddens", "256", "--embed_size", "100",
           "--embedding", "random"]
RUNS.update({f"{name}_encoder": [*args, *ENCODER] for name, args in list(RUNS.items())})
# and with the wide part (src/model/wide.py) mixed in on validation
RUNS.update({f"{name}_wide": [*args, "--wide", "true"] for name, args in list(RUNS.items())
             if name.endswith("_encoder")})
GLOVE = "glove.6B.50d.imdb.txt.gz"
ARCHIVES = {"kaggle_sentiment-analysis-on-movie-reviews.tar.gz", "sst_trainDevTestTrees_PTB.tar.gz",
            GLOVE}
SHOWN = ("sst_classes", "sst_phrases", "max_len", "batch_size", "num_epochs", "embedding",
         "embed_size", "num_hiddens", "num_layers", "pooling", "optimizer", "learning_rate",
         "wide")


def run(name, options):
    """Train and evaluate one run; returns its result row."""
    args = [str(a) for a in RUNS[name]]
    where = args.index("--data_path") + 1
    args[where] = str(options.data_dir / args[where])
    args += ["--glove_path", str(options.data_dir / GLOVE),
             "--preprocess_path", str(options.workdir / "preprocess"),
             "--run_dir", str(options.workdir / name)] + options.extra
    config = load_config(args)
    started = time.perf_counter()
    train(config)
    seconds = time.perf_counter() - started
    quiet = lambda *_: None  # noqa: E731
    valid = evaluate(config, "valid", quiet)
    test = evaluate(config, "test", quiet)
    return {"run": name, "dataset": config.dataset, "num_classes": config.num_classes,
            "valid_accuracy": round(valid["accuracy"], 4), "valid_rows": valid["reviews"],
            "test_accuracy": round(test["accuracy"], 4), "test_rows": test["reviews"],
            "train_seconds": round(seconds, 1), "epochs": config.num_epochs,
            "command": f"bench/bench_datasets.py --runs {name} -- {' '.join(options.extra)}",
            "settings": {key: getattr(config, key) for key in SHOWN}}


def _save(rows, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    merged = json.loads(path.read_text()) if path.exists() else {}
    merged.setdefault("runs", {}).update({row["run"]: row for row in rows})
    merged["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version()}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(merged, indent=2))
    tmp.replace(path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="phrases,sst5,sst2,sst5_phrases,sst2_phrases")
    parser.add_argument("--workdir", default=WORK / "datasets", type=Path,
                        help="preprocessing caches and runs (default: bench/work/datasets)")
    parser.add_argument("--data_dir", required=True, type=Path,
                        help=f"the folder of the archives (this script's usage says which and "
                             f"where they come from): {', '.join(sorted(ARCHIVES))}")
    parser.add_argument("--results", default=ROOT / "bench" / "results" / "datasets.json",
                        type=Path)
    parser.add_argument("extra", nargs="*", help="config overrides for every run, e.g. "
                                                 "-- --num_epochs 2")
    options = parser.parse_args()
    rows = []
    for name in options.runs.split(","):
        rows.append(run(name, options))
        _save(rows, options.results)
    print(f"\n{'run':8} {'classes':>7} {'valid acc':>9} {'test acc':>8} {'rows (test)':>11} "
          f"{'train s':>8}")
    for row in rows:
        print(f"{row['run']:8} {row['num_classes']:7} {row['valid_accuracy']:9.4f} "
              f"{row['test_accuracy']:8.4f} {row['test_rows']:11} {row['train_seconds']:8.1f}")


if __name__ == "__main__":
    main()
