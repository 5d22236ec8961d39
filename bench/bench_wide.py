"""The wide part (--wide, src/model/wide.py) fitted beside a trained run, against the linear peers.

Usage: .venv/bin/python bench/bench_wide.py --source PATH [--run_dir model] [--workdir DIR]
           [--peer_python .bench-venv/bin/python] [--peers tfidf,nbsvm]

A copy of --run_dir (the shipped model by default) gets the wide part exactly as
`train.py --wide true` fits it (src/training/wide_fit.py: the table on the train split, the scale on
validation), on the run's own data settings and vocabulary. Test accuracy,
overall and per length quartile, of the run as it is, of the same run with the wide part, and
of bench/sklearn_peer.py's TF-IDF and NBSVM peers on all 25,000 training reviews, all in one
invocation; the test split is read only to report, through the onnxruntime backend. The peers
run with --peer_python, the interpreter `make bench-venv` builds from requirements-bench.txt
(--peers none: no peers). Writes bench/results/wide.json.
"""
import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_recipes import _predict, _quartiles, _scores, _test_reviews, peer  # noqa: E402
from bench.benchlib import (ACLIMDB_HELP, PEER_PYTHON, ROOT, WORK, load_average,  # noqa: E402
                            machine, peer_python, print_table, write_result)


def _with_wide(options, copy):
    """Fit the wide part into copy (a copy of run_dir); returns (its config, fit record)."""
    from src.core.config import load_config
    from src.data.mindrecord import prepare
    from src.core.device import init_device
    from src.core.run_folder import run_config_first
    from src.data.text import Vocab
    from src.training.wide_fit import attach_wide
    config = load_config(run_config_first([
        "--run_dir", str(copy), "--aclimdb_path", str(options.source),
        "--preprocess_path", str(options.workdir / "preprocess"), "--wide", "true"]))
    init_device(config)
    prepared = prepare(config, print)
    if prepared.vocab.tokens != Vocab.load(copy / "vocab.json").tokens:
        sys.exit(f"error: {options.run_dir}'s data settings give another vocabulary than its "
                 f"vocab.json; pass the aclImdb it was trained on")
    return config, attach_wide(config, prepared, copy, print)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run_dir", type=Path, default=ROOT / "model")
    parser.add_argument("--source", type=Path, required=True,
                        help=f"{ACLIMDB_HELP}; the data --run_dir was trained on (the full "
                             f"aclImdb for model/)")
    parser.add_argument("--workdir", type=Path, default=WORK / "wide",
                        help="the run's copy and the preprocessing cache (default: "
                             "bench/work/wide)")
    parser.add_argument("--peer_python", type=Path, default=PEER_PYTHON,
                        help="the peers' interpreter (default: .bench-venv/bin/python, built by "
                             "make bench-venv)")
    parser.add_argument("--peers", default="tfidf,nbsvm", help="tfidf, nbsvm, both or none")
    options = parser.parse_args()
    options.peers = "" if options.peers == "none" else options.peers
    if options.peers:
        peer_python(options.peer_python)
    load_before = load_average()
    copy = options.workdir / "run_wide"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(options.run_dir, copy)
    config, fitted = _with_wide(options, copy)
    reviews = _test_reviews(options)
    bounds, quartile_of = _quartiles(reviews)
    rows = []
    for name, folder in ((f"{options.run_dir.name}", options.run_dir),
                         (f"{options.run_dir.name} + wide", copy)):
        started = time.perf_counter()
        rows.append({"model": name, **_scores(_predict(config, folder, reviews), reviews,
                                              quartile_of),
                     "test_s": round(time.perf_counter() - started, 1)})
    rows[1].update({"valid_acc": fitted["valid_acc"], "wide_scale": fitted["wide_scale"],
                    "fit_s": fitted["wide_seconds"]})
    rows[0]["valid_acc"] = fitted["valid_acc_deep"]
    for method in filter(None, options.peers.split(",")):
        row = peer(options, reviews, quartile_of, method)
        rows.append({"model": method, "fit_s": row["train_s"], **{
            k: row[k] for k in ("test_acc", "test_acc_by_length_quartile", "features")}})
    path = write_result("wide", {
        "command": sys.argv, "run_dir": str(options.run_dir), "fit": fitted,
        "quartile_word_bounds": bounds, "rows": rows, "machine": machine(),
        "load_before": load_before, "load_after": load_average()})
    print(f"length quartiles by words: <= {bounds[0]}, <= {bounds[1]}, <= {bounds[2]}, more")
    print_table(rows, ["model", "valid_acc", "wide_scale", "test_acc",
                       "test_acc_by_length_quartile", "fit_s", "test_s"])
    print(f"written to {path}")


if __name__ == "__main__":
    main()
