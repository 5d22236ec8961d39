"""Recipes on the full aclImdb beside the linear peers: test accuracy, time and memory.

Test accuracy overall and per length quartile, time (pretraining included) and peak memory.

Usage: .venv/bin/python bench/bench_recipes.py --source PATH [--unsup DIR] [--glove FILE]
           [--recipes best,fast,no_pretraining,default_v1,tfidf] [--seeds 1,2]
           [--curve 10,20,40] [--curve_recipe best] [--epoch_curve] [--original_epochs N]
           [--fresh] [--workdir DIR] [--peer_python .bench-venv/bin/python]
           [--result_name recipes] [-- --KEY VALUE ...overrides for every run]

Recipes (RECIPES below): a pretraining stage (pretrain.py's flow; run once, cached in
--workdir and reused by every seed: its time is reported once) and the classifier's training
(train.py's flow, once per seed). The checkpoint is chosen on validation; the test split is
read only to report, through the onnxruntime backend (the same probabilities as MindSpore).
Several recipes or seeds run one child process each (MindSpore's memory only grows within
a process). Quartiles are by the words of each test review (text.split()), fixed over all recipes.
Besides today's default (default, default_static) and the pretrained recipes (best, fast,
no_pretraining), the earlier defaults: default_v1 (word2vec trained on the training and the
50,000 unlabelled reviews, --unsup), default_v1_glove (the same with GloVe 6B 50-d, --glove),
default_v1_random (a random embedding) and original (config_original.yaml, the model zoo's
recipe, with --glove; --original_epochs of its 20).
tfidf and nbsvm run bench/sklearn_peer.py with --peer_python (scikit-learn lives in the venv
`make bench-venv` builds from requirements-bench.txt, not in the project) on all 25,000
training reviews. --curve fine-tunes --curve_recipe (seed 1) from the pretraining snapshots
taken after those minutes (0: no pretraining), so test accuracy against pretraining time is on
record; --recipes '' runs the curve alone. --epoch_curve also scores the test split after every
epoch of each recipe's first seed (from the epoch-end checkpoints, never used to choose
anything): test_curve and time_to_88_s, the seconds from the run's start (--fresh empties the
preprocessing cache first, so that preprocessing counts) to the end of the first epoch at or
above 88 %. Writes bench/results/recipes.json (--result_name: another name, e.g. for a run on
the bundled sample; rows of earlier invocations are kept) with each recipe's mean and spread
over its seeds and the whole curve: no_pretraining (0 minutes), fast (5), the curve's rows and
best (60), seed 1, redrawn only when best or --curve runs (a later no_pretraining row, of a
later flow, leaves it as it was). bench/results/accuracy.json holds the earlier defaults'
rows of 2026-11-23, from bench_accuracy.py, which this script replaces.
The rows of recipes kept only as negative results are bench/investigations/recipe_variants.py's.
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

from bench.benchlib import (ACLIMDB_HELP, GLOVE_HELP, PEER_PYTHON, RESULTS, ROOT,  # noqa: E402
                            UNSUP_HELP, WORK, child_json, load_average, machine, peak_rss_gb,
                            peer_python, print_table, write_result)

# --pretrain: the keys of pretrain.py's run (None: no pretraining); --train: train.py's.
ENCODER = ["--num_layers", "1", "--num_hiddens", "256", "--embed_size", "100",
           "--embedding", "random"]
WHOLE_REVIEWS = [*ENCODER, "--max_len", "3000", "--truncate", "head", "--num_epochs", "2",
                 "--learning_rate", "0.001"]
GLOVE = "{glove}"  # in a recipe's flags: the --glove file
SST = "{sst}"  # in a recipe's flags: the --sst trees
V1 = ["--num_layers", "2", "--num_hiddens", "100", "--embed_size", "50", "--max_len", "500",
      "--truncate", "head_tail", "--num_epochs", "4", "--learning_rate", "0.002",
      "--encoder_checkpoint", "none", "--wide", "false"]
# "needs": the data options a recipe reads besides --source (unsup: its pretraining or word2vec)
RECIPES = {
    # default_config.yaml as it is: from the shipped encoder (model/encoder), with --wide
    "default": {"pretrain": None, "encoder": "shipped", "train": []},
    # the shipped model's: the default, with SST's train sentences and 40,000 of its phrases
    # mixed in (their grades as soft targets) and identity words swapped in the training text
    "sentences": {"pretrain": None, "encoder": "shipped",
                  "train": ["--mix_sst_path", SST, "--identity_swaps", "true"],
                  "needs": {"sst"}},
    # the same with one compiled graph per bucket shape (the default before dynamic_shapes)
    "default_static": {"pretrain": None, "encoder": "shipped",
                       "train": ["--dynamic_shapes", "false"]},
    "best": {"pretrain": [*ENCODER, "--pretrain_minutes", "60", "--pretrain_epochs", "10",
                          "--pretrain_save_minutes", "5"],
             "train": WHOLE_REVIEWS, "needs": {"unsup"}},
    # The learning-rate schedule spans pretrain_epochs passes, not the minutes, so a run
    # budgeted to 5 minutes writes the encoder best's run snapshots at 5 minutes: reused.
    "fast": {"pretrain": None, "snapshot": ("best", 5), "train": WHOLE_REVIEWS,
             "needs": {"unsup"}},
    "no_pretraining": {"pretrain": None, "train": WHOLE_REVIEWS},
    # the default before pretraining: word2vec on the training and unlabelled reviews, 2 layers
    "default_v1": {"pretrain": None, "train": ["--embedding", "word2vec", *V1],
                   "needs": {"unsup"}},
    "default_v1_glove": {"pretrain": None,
                         "train": ["--embedding", "glove", "--glove_path", GLOVE, *V1],
                         "needs": {"glove"}},
    "default_v1_random": {"pretrain": None, "train": ["--embedding", "random", *V1]},
    # the model zoo's recipe (frozen GloVe, Momentum, 20 epochs) on its own validation split
    "original": {"pretrain": None,
                 "train": ["--config_path", str(ROOT / "config_original.yaml"),
                           "--split_seed", "-1", "--glove_path", GLOVE],
                 "needs": {"glove"}},
}
TARGET = 0.88  # --epoch_curve: the time to this test accuracy


def _quiet(*_):
    pass


def _common(options, seed):
    unsup = ["--unlabelled_path", str(options.unsup)] if options.unsup else []
    return ["--aclimdb_path", str(options.source), *unsup,
            "--preprocess_path", str(options.workdir / "preprocess"), "--seed", str(seed),
            "--split_seed", "1"]  # one split, one vocabulary: every seed reuses one encoder


def _flags(flags, options):
    """A recipe's flags with GLOVE and SST replaced by the --glove and --sst files."""
    files = {GLOVE: options.glove, SST: options.sst}
    return [str(files[flag]) if flag in files else flag for flag in flags]


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


def _predict(config, run_dir, reviews, checkpoint="lstm-best.ckpt"):
    import dataclasses
    from src.inference.predictor import load_predictor
    predictor = load_predictor(dataclasses.replace(
        config, run_dir=str(run_dir), checkpoint_file=str(run_dir / checkpoint),
        backend="onnxruntime"))
    return predictor.logits(predictor.encode([r.text for r in reviews])).argmax(axis=1)


def _epoch_checkpoints(run_dir):
    """{epoch: path} of the checkpoint written at each epoch's end (its highest step)."""
    from src.model.checkpoint import checkpoint_step
    last = {}
    for path in Path(run_dir).glob("lstm-*_*.ckpt"):
        epoch, step = checkpoint_step(path) or (None, 0)
        if epoch and step > last.get(epoch, (0, None))[0]:
            last[epoch] = (step, path)
    return {epoch: path for epoch, (_, path) in sorted(last.items())}


def _test_curve(config, run_dir, reviews, started):
    """Test accuracy at each epoch's end, with the seconds since started (checkpoint mtimes);
    and the seconds to the first epoch at or above TARGET (None: never)."""
    curve = []
    for epoch, path in _epoch_checkpoints(run_dir).items():
        predicted = _predict(config, run_dir, reviews, path.name)
        right = sum(int(p) == r.label for p, r in zip(predicted, reviews))
        curve.append({"epoch": epoch, "elapsed_s": round(path.stat().st_mtime - started, 1),
                      "test_acc": round(right / len(reviews), 4)})
    reached = [point["elapsed_s"] for point in curve if point["test_acc"] >= TARGET]
    return curve, reached[0] if reached else None


def _pretrained(name, options, log):
    """(encoder.ckpt, one-off seconds, snapshot folder) of the recipe's pretraining, cached."""
    from src.core.config import load_config
    import pretrain
    folder = options.workdir / f"pretrain-{name}"
    config = load_config([*_common(options, 1), *_flags(options.table[name]["pretrain"], options),
                          "--pretrain_dir", str(folder), *options.overrides])
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


def run(name, seed, options, reviews, quartile_of, encoder="recipe", folder=None,
        curve=False):
    """Train one recipe and seed; returns its row (times, validation, test, quartiles).

    encoder: "recipe" (the recipe's own pretraining, built once, or the shipped encoder),
    None (no pretraining) or the path of an encoder snapshot. curve: also the test accuracy
    after every epoch (--epoch_curve).
    """
    from src.core.config import load_config
    import train
    recipe = options.table[name]
    run_dir = options.workdir / (folder or f"{name}-seed{seed}")
    shutil.rmtree(run_dir, ignore_errors=True)
    args = [*_common(options, seed), *_flags(recipe["train"], options), "--run_dir",
            str(run_dir)]
    if name == "original" and options.original_epochs:
        args += ["--num_epochs", str(options.original_epochs)]
    if curve:
        args += ["--keep_checkpoint_max", "100"]  # every epoch's last checkpoint stays
    args += options.overrides
    pretrain_s = None
    if encoder == "recipe" and recipe["pretrain"] is not None:
        encoder, pretrain_s, _ = _pretrained(name, options, print)
    elif encoder == "recipe" and "snapshot" in recipe:
        source, minutes = recipe["snapshot"]
        encoder = _pretrained(source, options, print)[2] / f"encoder-{minutes:g}min.ckpt"
        pretrain_s = minutes * 60
    elif encoder == "recipe" and recipe.get("encoder") == "shipped":
        encoder = "shipped"  # the config's own encoder_checkpoint
    if encoder is None or encoder == "recipe":
        args += ["--encoder_checkpoint", "none"]
    elif encoder != "shipped":
        args += ["--encoder_checkpoint", str(encoder)]
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
    if curve:
        row["test_curve"], row["time_to_88_s"] = _test_curve(config, run_dir, reviews, started)
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


def _results(options):
    return options.folder / f"{options.result_name}.json"


def _merge(new_rows, extra, options):
    path = _results(options)
    earlier = json.loads(path.read_text()) if path.exists() else {}
    keys = {(r["recipe"], r["seed"], r.get("pretrain_minutes")) for r in new_rows}
    rows = [r for r in earlier.get("rows", [])
            if (r["recipe"], r["seed"], r.get("pretrain_minutes")) not in keys] + new_rows
    return write_result(options.result_name, {**earlier, **extra, "rows": rows,
                                              "summary": summarize(rows), "machine": machine()},
                        options.folder)


def summarize(rows):
    """Mean and spread (max - min, and sample std) of test accuracy per recipe over its seeds
    (the recipes' own rows: no curve points)."""
    summary = {}
    for name in dict.fromkeys(r["recipe"] for r in rows if r.get("pretrain_minutes") is None):
        found = [r for r in rows if r["recipe"] == name and r.get("pretrain_minutes") is None]
        accs = [r["test_acc"] for r in found]
        summary[name] = {"seeds": [r["seed"] for r in found],
                         "test_acc_mean": round(statistics.mean(accs), 4),
                         "test_acc_spread": round(max(accs) - min(accs), 4),
                         "test_acc_std": round(statistics.stdev(accs), 4) if len(accs) > 1
                         else None}
    return summary


def _whole_curve(rows, table):
    """(pretraining minutes, test accuracy) of seed 1 over the rows that lie on best's curve."""
    best = table["best"]["pretrain"]
    minutes = {"no_pretraining": 0, "fast": table["fast"]["snapshot"][1],
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
    first = seed == int(options.seeds.split(",")[0])
    optional = [*(["--unsup", options.unsup] if options.unsup else []),
                *(["--glove", options.glove] if options.glove else []),
                *(["--sst", options.sst] if options.sst else []),
                *(["--epoch_curve"] if options.epoch_curve and first else [])]
    command = [sys.executable, options.script, "--recipes", name, "--seeds", seed,
               "--source", options.source, "--workdir", options.workdir,
               "--peer_python", options.peer_python, "--result_name", options.result_name,
               "--original_epochs", options.original_epochs, *optional,
               "--", *options.overrides]
    subprocess.run([str(word) for word in command], check=True)
    rows = json.loads(_results(options).read_text())["rows"]
    return next(r for r in rows if (r["recipe"], r["seed"]) == (name, seed)
                and r.get("pretrain_minutes") is None)


def _needs(names, options, table):
    """An error line for the first data option the runs need and lack, or None."""
    for what, flag in (("unsup", "--unsup"), ("glove", "--glove"), ("sst", "--sst")):
        needing = [name for name in names if what in table[name].get("needs", set())]
        if what == "unsup" and options.curve:
            needing.append("--curve")  # the curve's recipe pretrains
        if needing and getattr(options, what) is None:
            return f"{flag} is required for {', '.join(needing)}"
    return None


def parse(argv, table, result_name, defaults):
    parser = argparse.ArgumentParser(description=defaults.get("description",
                                                              __doc__.splitlines()[0]))
    parser.add_argument("--recipes", default=defaults.get("recipes", DEFAULT_RECIPES),
                        help=f"comma-separated, among {','.join([*table, *PEERS])} (default: "
                             f"%(default)s)")
    parser.add_argument("--seeds", default=defaults.get("seeds", "1,2"),
                        help="default: %(default)s")
    parser.add_argument("--curve", default="", help="pretraining minutes, e.g. 0,10,20,40,60")
    parser.add_argument("--curve_recipe", default="best", help="whose snapshots --curve reads")
    parser.add_argument("--epoch_curve", action="store_true",
                        help="test accuracy after every epoch of each recipe's first seed, and "
                             "the time to 88 %%")
    parser.add_argument("--original_epochs", type=int, default=0,
                        help="epochs of the original recipe (0: its 20)")
    parser.add_argument("--fresh", action="store_true",
                        help="empty the preprocessing cache in --workdir first")
    parser.add_argument("--source", type=Path, help=f"required: {ACLIMDB_HELP}")
    parser.add_argument("--unsup", type=Path,
                        help=f"{UNSUP_HELP}; required for the recipes that pretrain or train "
                             f"word2vec (best, fast, default_v1, --curve)")
    parser.add_argument("--glove", type=Path,
                        help=f"{GLOVE_HELP}; required for default_v1_glove and original")
    parser.add_argument("--sst", type=Path,
                        help="the Stanford Sentiment Treebank's trees (trainDevTestTrees_PTB "
                             "folder or .tar.gz, from https://nlp.stanford.edu/sentiment/; only "
                             "train.txt is read); required for sentences")
    parser.add_argument("--workdir", type=Path, default=WORK / "recipes",
                        help="preprocessing cache, pretrained encoders and runs (default: "
                             "bench/work/recipes)")
    parser.add_argument("--peer_python", type=Path, default=PEER_PYTHON,
                        help="the peers' interpreter (default: .bench-venv/bin/python, built by "
                             "make bench-venv)")
    parser.add_argument("--result_name", default=result_name,
                        help=f"the results file's name (default: {result_name})")
    parser.add_argument("overrides", nargs="*", help="config overrides, after --")
    options = parser.parse_args(argv)
    names = list(filter(None, options.recipes.split(",")))
    if not names and not options.curve:  # nothing measured: the results stay as they are
        print("bench_recipes.py: nothing to run; pass --recipes NAMES or --curve MINUTES",
              file=sys.stderr)
        sys.exit(2)
    unknown = [name for name in names if name not in table and name not in PEERS]
    if unknown:
        parser.error(f"--recipes: no recipe {', '.join(unknown)}; choose among "
                     f"{','.join([*table, *PEERS])}")
    if options.source is None:
        parser.error(f"--source is required: {ACLIMDB_HELP}")
    missing = _needs([name for name in names if name not in PEERS], options, table)
    if missing:
        parser.error(missing)
    if any(name in PEERS for name in names):
        peer_python(options.peer_python)
    return options, names


DEFAULT_RECIPES = "best,fast,no_pretraining,default_v1,tfidf"


def main(argv=None, table=RECIPES, folder=RESULTS, script=__file__, result_name="recipes",
         **defaults):
    """Run the recipes of table (RECIPES; bench/investigations/recipe_variants.py passes its
    own), writing folder/RESULT_NAME.json; script is the file each child process runs;
    defaults: the parser's description, and the defaults of --recipes and --seeds."""
    options, names = parse(argv, table, result_name, defaults)
    options.table, options.folder, options.script = table, Path(folder), script
    if options.fresh:
        shutil.rmtree(options.workdir / "preprocess", ignore_errors=True)
    reviews = _test_reviews(options)
    bounds, quartile_of = _quartiles(reviews)
    rows = []
    seeds = [int(seed) for seed in options.seeds.split(",")]
    runs = [(name, seed) for name in names if name not in PEERS for seed in seeds]
    for name, seed in runs:
        if len(runs) == 1:
            rows.append(run(name, seed, options, reviews, quartile_of,
                            curve=options.epoch_curve))
            _merge(rows, {"quartile_word_bounds": bounds}, options)
        else:
            rows.append(_in_own_process(name, seed, options))
    for name in filter(PEERS.__contains__, names):
        rows.append(peer(options, reviews, quartile_of, name))
        _merge(rows, {"quartile_word_bounds": bounds}, options)
    if options.curve:
        rows += _curve(options, reviews, quartile_of, [float(m) for m in options.curve.split(",")])
        _merge(rows, {"quartile_word_bounds": bounds}, options)
    merged = json.loads(_results(options).read_text())
    if ("best" in names or options.curve) and "best" in table:
        merged["curve_minutes_vs_test_acc"] = _whole_curve(merged["rows"], table)
    curve = merged.get("curve_minutes_vs_test_acc", [])
    write_result(options.result_name, merged, options.folder)
    if curve:
        print("test accuracy against pretraining minutes (seed 1): " +
              ", ".join(f"{m:g} min {100 * acc:.2f} %" for m, acc in curve))
    print(f"length quartiles by words: <= {bounds[0]}, <= {bounds[1]}, <= {bounds[2]}, more")
    print_table(rows, ["recipe", "seed", "pretrain_minutes", "pretrain_s", "train_s",
                       "train_reviews_per_step_s", "train_peak_rss_gb", "test_acc",
                       "test_acc_by_length_quartile", "time_to_88_s"])
    for name, stats in summarize(rows).items():
        if len(stats["seeds"]) > 1:
            print(f"{name}: test accuracy mean {stats['test_acc_mean']:.4f}, spread "
                  f"{stats['test_acc_spread']:.4f} over seeds {stats['seeds']}")
    print(f"wrote {_results(options).relative_to(ROOT)}")


if __name__ == "__main__":
    main()
