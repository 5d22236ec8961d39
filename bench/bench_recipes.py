"""Recipes on the full aclImdb, side by side with the TF-IDF peer: test accuracy (overall and
per length quartile) and time, pretraining included.

Usage: .venv/bin/python bench/bench_recipes.py [--recipes best,fast,no_pretraining,tfidf]
           [--seeds 1,2] [--curve 10,20,40] [--curve_recipe best] [--source PATH] [--unsup DIR]
           [--workdir DIR] [--peer_python PY] [-- --KEY VALUE ...overrides for every run]

Recipes (RECIPES below): a pretraining stage (pretrain.py's flow; run once, cached in
--workdir and reused by every seed: its time is reported once) and the classifier's training
(train.py's flow, once per seed). The checkpoint is chosen on validation; the test split is
read only to report, through the onnxruntime backend (the same probabilities as MindSpore).
Several recipes or seeds run one child process each (MindSpore's memory only grows within
a process). Quartiles are by the words of each test review (text.split()), fixed over all recipes.
tfidf runs bench/sklearn_peer.py with --peer_python (scikit-learn lives there, not in the
project) on all 25,000 training reviews. --curve fine-tunes --curve_recipe (seed 1) from the
pretraining snapshots taken after those minutes (0: no pretraining), so test accuracy against
pretraining time is on record; --recipes '' runs the curve alone. Writes
bench/results/recipes.json (rows of earlier invocations are kept) with the whole curve:
no_pretraining (0 minutes), fast (5), the curve's rows and best (60), seed 1, redrawn only
when best or --curve runs (a later no_pretraining row, of a later flow, leaves it as it was).
"""
import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.benchlib import (DATA, RESULTS, ROOT, child_json, load_average, machine,  # noqa: E402
                            peak_rss_gb, print_table, write_result)

# --pretrain: the keys of pretrain.py's run (None: no pretraining); --train: train.py's.
ENCODER = ["--num_layers", "1", "--num_hiddens", "256", "--embed_size", "100",
           "--embedding", "random"]
WHOLE_REVIEWS = [*ENCODER, "--max_len", "3000", "--truncate", "head", "--num_epochs", "2",
                 "--learning_rate", "0.001"]
RECIPES = {
    # default_config.yaml as it is: from the shipped encoder (model/encoder), with --wide
    "default": {"pretrain": None, "encoder": "shipped", "train": []},
    # the same with one compiled graph per bucket shape (the default before dynamic_shapes)
    "default_static": {"pretrain": None, "encoder": "shipped",
                       "train": ["--dynamic_shapes", "false"]},
    # the default with glibc's own policy: freed memory handed back (before keep_freed_memory)
    "default_memory_returned": {"pretrain": None, "encoder": "shipped",
                                "train": ["--keep_freed_memory", "false"]},
    # the default with adversarial training on the embeddings (Miyato et al. 2017)
    "default_adversarial": {"pretrain": None, "encoder": "shipped",
                            "train": ["--adversarial", "0.02"]},
    # ULMFiT's discriminative rates: the pretrained embedding and LSTM at 0.4 x the rate
    "default_encoder_lr": {"pretrain": None, "encoder": "shipped",
                           "train": ["--encoder_lr_scale", "0.4"]},
    "best": {"pretrain": [*ENCODER, "--pretrain_minutes", "60", "--pretrain_epochs", "10",
                          "--pretrain_save_minutes", "5"],
             "train": WHOLE_REVIEWS},
    # The learning-rate schedule spans pretrain_epochs passes, not the minutes, so a run
    # budgeted to 5 minutes writes the encoder best's run snapshots at 5 minutes: reused.
    "fast": {"pretrain": None, "snapshot": ("best", 5), "train": WHOLE_REVIEWS},
    "no_pretraining": {"pretrain": None, "train": WHOLE_REVIEWS},
    "default_v1": {"pretrain": None,  # the default before pretraining: word2vec, 2 layers
                   "train": ["--embedding", "word2vec", "--num_layers", "2",
                             "--num_hiddens", "100", "--embed_size", "50", "--max_len", "500",
                             "--truncate", "head_tail", "--num_epochs", "4",
                             "--learning_rate", "0.002", "--pretrained_encoder", "none",
                             "--wide", "false"]},
}


def _quiet(*_):
    pass


def _common(options, seed):
    return ["--aclimdb_path", str(options.source), "--unlabelled_path", str(options.unsup),
            "--preprocess_path", str(options.workdir / "preprocess"), "--seed", str(seed),
            "--split_seed", "1"]  # one split, one vocabulary: every seed reuses one encoder


def _test_reviews(options):
    from src.data.readers.aclimdb import read_aclimdb
    return read_aclimdb(options.source)["test"]


def _quartiles(reviews):
    """Word-count bounds of the test reviews' length quartiles, and each review's quartile."""
    words = sorted(len(r.text.split()) for r in reviews)
    bounds = [words[len(words) * q // 4] for q in (1, 2, 3)]
    return bounds, [sum(len(r.text.split()) > b for b in bounds) for r in reviews]


def _scores(predicted, reviews, quartile_of):
    right = [int(p) == r.label for p, r in zip(predicted, reviews)]
    by_quartile = [statistics.mean(ok for ok, q in zip(right, quartile_of) if q == quarter)
                   for quarter in range(4)]
    return {"test_acc": round(statistics.mean(right), 4),
            "test_acc_by_length_quartile": [round(a, 4) for a in by_quartile]}


def _predict(config, run_dir, reviews):
    import dataclasses
    from src.inference.predictor import load_predictor
    predictor = load_predictor(dataclasses.replace(
        config, ckpt_path=str(run_dir), checkpoint_path=str(run_dir / "lstm-best.ckpt"),
        backend="onnxruntime"))
    return predictor.logits(predictor.encode([r.text for r in reviews])).argmax(axis=1)


def _pretrained(name, options, log):
    """(encoder.ckpt, one-off seconds, snapshot folder) of the recipe's pretraining, cached."""
    from src.core.config import load_config
    import pretrain
    folder = options.workdir / f"pretrain-{name}"
    config = load_config([*_common(options, 1), *RECIPES[name]["pretrain"],
                          "--pretrain_path", str(folder), *options.overrides])
    done = folder / "encoder.ckpt"
    record = folder / "bench.json"
    if done.exists() and record.exists():
        seconds = json.loads(record.read_text())["seconds"]
        log(f"{name}: reusing the pretrained encoder in {folder} ({seconds} s when built)")
        return done, seconds, folder
    started = time.time()
    pretrain.main(config, _quiet)
    seconds = round(time.time() - started, 1)
    record.write_text(json.dumps({"seconds": seconds}))
    return done, seconds, folder


def run(name, seed, options, reviews, quartile_of, encoder="recipe", folder=None):
    """Train one recipe and seed; returns its row (times, validation, test, quartiles).

    encoder: "recipe" (the recipe's own pretraining, built once, or the shipped encoder),
    None (no pretraining) or the path of an encoder snapshot.
    """
    from src.core.config import load_config
    import train
    recipe = RECIPES[name]
    run_dir = options.workdir / (folder or f"{name}-seed{seed}")
    shutil.rmtree(run_dir, ignore_errors=True)
    args = [*_common(options, seed), *recipe["train"], "--ckpt_path", str(run_dir),
            *options.overrides]
    pretrain_s = None
    if encoder == "recipe" and recipe["pretrain"] is not None:
        encoder, pretrain_s, _ = _pretrained(name, options, print)
    elif encoder == "recipe" and "snapshot" in recipe:
        source, minutes = recipe["snapshot"]
        encoder = _pretrained(source, options, print)[2] / f"encoder-{minutes:g}min.ckpt"
        pretrain_s = minutes * 60
    elif encoder == "recipe" and recipe.get("encoder") == "shipped":
        encoder = "shipped"  # the config's own pretrained_encoder
    if encoder is None or encoder == "recipe":
        args += ["--pretrained_encoder", "none"]
    elif encoder != "shipped":
        args += ["--pretrained_encoder", str(encoder)]
    config = load_config(args)
    load_before, started = load_average(), time.time()
    train.main(config, _quiet)
    seconds, train_peak = round(time.time() - started, 1), peak_rss_gb()
    valid = [json.loads(line) for line in (run_dir / "metrics.jsonl").open()]
    steps = [r for r in valid if "step_s" in r]
    row = {"recipe": name, "seed": seed,
           "encoder": Path(encoder).name if encoder not in (None, "recipe", "shipped") else encoder,
           "pretrain_s": pretrain_s, "train_s": seconds,
           "valid_by_epoch": [r["valid_acc"] for r in valid if "valid_acc" in r],
           **_scores(_predict(config, run_dir, reviews), reviews, quartile_of),
           # training (preprocessing and the wide part included), then with the test pass
           "train_peak_rss_gb": train_peak, "peak_rss_gb": peak_rss_gb(),
           "steps": len(steps), "step_s_total": round(sum(r["step_s"] for r in steps), 1),
           "train_reviews_per_step_s": _reviews_per_second(config, steps),
           "config_args": args, "load_before": load_before, "load_after": load_average()}
    print(f"{name} seed {seed}: test {row['test_acc']:.4f} quartiles "
          f"{row['test_acc_by_length_quartile']} ({seconds} s training)", flush=True)
    return row


def _reviews_per_second(config, steps):
    """Training reviews read per second of step time (each epoch reads the training split
    once, less the few reviews of each bucket's dropped remainder)."""
    from src.data.mindrecord import prepare
    train_reviews = len(prepare(config, _quiet).token_lists("train"))
    epochs = len({r["epoch"] for r in steps})
    return round(epochs * train_reviews / sum(r["step_s"] for r in steps), 1)


def peer(options, reviews, quartile_of, method="tfidf"):
    """A linear peer of bench/sklearn_peer.py (tfidf or nbsvm): its row."""
    from src.data.readers.aclimdb import read_aclimdb
    train = read_aclimdb(options.source)["train"]  # all 25,000: the peer needs no validation
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "reviews.json"
        path.write_text(json.dumps({"train": [[r.text, r.label] for r in train],
                                    "test": [[r.text, r.label] for r in reviews]}))
        result = child_json([options.peer_python, ROOT / "bench" / "sklearn_peer.py", path,
                             method])
    return {"recipe": method, "seed": 0, "train_s": result["seconds"],
            "features": result["features"], "train_reviews": len(train),
            **_scores(result["predicted"], reviews, quartile_of)}


def _curve(options, reviews, quartile_of, minutes):
    """Test accuracy of the first recipe (seed 1) from each pretraining snapshot."""
    name = options.curve_recipe
    _, _, folder = _pretrained(name, options, print)
    rows = []
    for mark in minutes:
        snapshot = folder / f"encoder-{mark:g}min.ckpt" if mark else None
        row = run(name, 1, options, reviews, quartile_of, encoder=snapshot,
                  folder=f"{name}-curve{mark:g}min-seed1")  # the recipe's own run stays
        rows.append({**row, "recipe": f"{name}_curve", "pretrain_minutes": mark})
    return rows


def _merge(new_rows, extra):
    path = RESULTS / "recipes.json"
    earlier = json.loads(path.read_text()) if path.exists() else {}
    keys = {(r["recipe"], r["seed"], r.get("pretrain_minutes")) for r in new_rows}
    rows = [r for r in earlier.get("rows", [])
            if (r["recipe"], r["seed"], r.get("pretrain_minutes")) not in keys] + new_rows
    return write_result("recipes", {**earlier, **extra, "rows": rows, "machine": machine()})


def _whole_curve(rows):
    """(pretraining minutes, test accuracy) of seed 1 over the rows that lie on best's curve."""
    best = RECIPES["best"]["pretrain"]
    minutes = {"no_pretraining": 0, "fast": RECIPES["fast"]["snapshot"][1],
               "best": float(best[best.index("--pretrain_minutes") + 1])}
    points = [(minutes[r["recipe"]], r["test_acc"]) for r in rows
              if r["recipe"] in minutes and r["seed"] == 1]
    points += [(r["pretrain_minutes"], r["test_acc"]) for r in rows
               if r["recipe"] == "best_curve"]
    return sorted(points)


PEERS = ("tfidf", "nbsvm")


def _in_own_process(name, seed, options):
    """One recipe and seed by this script in a child process; returns its row. MindSpore keeps
    every compiled graph's memory until the process ends: two full-data runs of the default
    in one process were killed at 24 GB."""
    subprocess.run([sys.executable, __file__, "--recipes", name, "--seeds", str(seed),
                    "--source", str(options.source), "--unsup", str(options.unsup),
                    "--workdir", str(options.workdir), "--peer_python", str(options.peer_python),
                    "--", *options.overrides], check=True)
    rows = json.loads((RESULTS / "recipes.json").read_text())["rows"]
    return next(r for r in rows if (r["recipe"], r["seed"]) == (name, seed)
                and r.get("pretrain_minutes") is None)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", default="best,fast,no_pretraining,default_v1,tfidf")
    parser.add_argument("--seeds", default="1,2")
    parser.add_argument("--curve", default="", help="pretraining minutes, e.g. 0,10,20,40,60")
    parser.add_argument("--curve_recipe", default="best", help="whose snapshots --curve reads")
    parser.add_argument("--source", type=Path, default=DATA / "aclImdb_v1.tar.gz")
    parser.add_argument("--unsup", type=Path, default=Path("/tmp/data/aclImdb/train/unsup"))
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench_recipes"))
    parser.add_argument("--peer_python", type=Path, default=Path("/tmp/torchvenv/bin/python"))
    parser.add_argument("overrides", nargs="*", help="config overrides, after --")
    options = parser.parse_args()
    names = list(filter(None, options.recipes.split(",")))
    if not names and not options.curve:  # nothing measured: recipes.json stays as it is
        print("bench_recipes.py: nothing to run; pass --recipes NAMES or --curve MINUTES",
              file=sys.stderr)
        sys.exit(2)
    reviews = _test_reviews(options)
    bounds, quartile_of = _quartiles(reviews)
    rows = []
    runs = [(name, int(seed)) for name in names if name not in PEERS
            for seed in options.seeds.split(",")]
    for name, seed in runs:
        if len(runs) == 1:
            rows.append(run(name, seed, options, reviews, quartile_of))
            _merge(rows, {"quartile_word_bounds": bounds})
        else:
            rows.append(_in_own_process(name, seed, options))
    for name in filter(PEERS.__contains__, names):
        rows.append(peer(options, reviews, quartile_of, name))
        _merge(rows, {"quartile_word_bounds": bounds})
    if options.curve:
        rows += _curve(options, reviews, quartile_of, [float(m) for m in options.curve.split(",")])
        _merge(rows, {"quartile_word_bounds": bounds})
    merged = json.loads((RESULTS / "recipes.json").read_text())
    if "best" in names or options.curve:  # one pretraining's curve: redrawn when it reruns
        merged["curve_minutes_vs_test_acc"] = _whole_curve(merged["rows"])
    curve = merged.get("curve_minutes_vs_test_acc", [])
    write_result("recipes", merged)
    print("test accuracy against pretraining minutes (seed 1): " +
          ", ".join(f"{m:g} min {100 * acc:.2f} %" for m, acc in curve))
    print(f"length quartiles by words: <= {bounds[0]}, <= {bounds[1]}, <= {bounds[2]}, more")
    print_table(rows, ["recipe", "seed", "pretrain_minutes", "pretrain_s", "train_s",
                       "train_reviews_per_step_s", "train_peak_rss_gb", "test_acc",
                       "test_acc_by_length_quartile"])


if __name__ == "__main__":
    main()
