"""Do the explanations mean something? A deletion curve on test reviews, and what one costs.

Usage: .venv/bin/python bench/bench_explain.py --run_dir RUN_DIR [--reviews N]
           [--source PATH] [--backend onnxruntime] [--random_draws 3]

For each of N test reviews (a seeded sample of the test split, never used to train): the
explanation's scores (src/explain.py), then, for k = 1..10, the predicted class's probability
after deleting the k highest-scored tokens, and after deleting k tokens drawn at random
(mean of --random_draws draws). If the scores mean something, deleting the top-k lowers the
probability much more than deleting k random tokens. Also the seconds per explanation.
Writes bench/results/explain.json.
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.benchlib import DATA, load_average, machine, print_table, write_result  # noqa: E402

KS = range(1, 11)


def _probabilities(predictor, token_lists, label):
    from src.predictor import softmax
    encoded = [predictor.vocab.encode(tokens or ["<unk>"], predictor.config.max_len,
                                      predictor.config.truncate) for tokens in token_lists]
    return softmax(predictor.logits(encoded))[:, label]


def _without(tokens, positions):
    drop = set(positions)
    return [token for i, token in enumerate(tokens) if i not in drop]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run_dir", type=Path, required=True)
    parser.add_argument("--reviews", type=int, default=500)
    parser.add_argument("--source", type=Path, default=DATA / "aclImdb_v1.tar.gz")
    parser.add_argument("--backend", default="onnxruntime", choices=("mindspore", "onnxruntime"))
    parser.add_argument("--random_draws", type=int, default=3)
    options = parser.parse_args()
    from src.aclimdb import read_aclimdb
    from src.config import load_config
    from src.explain import explain
    from src.predict_io import with_run_config
    from src.predictor import load_predictor
    config = load_config(with_run_config(["--ckpt_path", str(options.run_dir), "--backend",
                                          options.backend]))
    predictor = load_predictor(config)
    reviews = read_aclimdb(options.source)["test"]
    chosen = np.random.default_rng(0).choice(len(reviews), options.reviews, replace=False)
    rng = np.random.default_rng(1)
    top, rand, seconds, lengths = {k: [] for k in KS}, {k: [] for k in KS}, [], []
    load_before = load_average()
    for index in chosen:
        text = reviews[index].text
        started = time.perf_counter()
        reason = explain(predictor, [text], config.explain_tokens)[0]
        seconds.append(time.perf_counter() - started)
        tokens, label = reason.tokens, predictor.labels.index(reason.label)
        lengths.append(len(tokens))
        order = np.argsort(-np.asarray(reason.scores), kind="stable")
        variants = [_without(tokens, order[:k]) for k in KS]
        variants += [_without(tokens, rng.choice(len(tokens), min(k, len(tokens)),
                                                 replace=False))
                     for k in KS for _ in range(options.random_draws)]
        p = _probabilities(predictor, variants, label)
        for i, k in enumerate(KS):
            top[k].append(float(reason.probability - p[i]))
            draws = p[len(KS) + i * options.random_draws: len(KS) + (i + 1) * options.random_draws]
            rand[k].append(reason.probability - float(np.mean(draws)))
    rows = [{"k": k, "drop_top_k": round(float(statistics.mean(top[k])), 4),
             "drop_random_k": round(float(statistics.mean(rand[k])), 4),
             "difference": round(float(statistics.mean(top[k]) - statistics.mean(rand[k])),
                                 4)}
            for k in KS]
    ordered = sorted(seconds)
    cost = {"mean_ms": round(1000 * statistics.mean(seconds), 1),
            "p50_ms": round(1000 * ordered[len(ordered) // 2], 1),
            "p99_ms": round(1000 * ordered[int(0.99 * (len(ordered) - 1))], 1),
            "mean_tokens": round(statistics.mean(lengths), 1),
            "budget_tokens": config.explain_tokens}
    print_table(rows, ["k", "drop_top_k", "drop_random_k", "difference"])
    print(f"cost per explanation ({options.backend}, {options.reviews} reviews of "
          f"{cost['mean_tokens']} tokens on average): mean {cost['mean_ms']} ms, p50 "
          f"{cost['p50_ms']} ms, p99 {cost['p99_ms']} ms")
    path = write_result("explain", {
        "run_dir": str(options.run_dir), "reviews": options.reviews, "backend": options.backend,
        "deletion_curve": rows, "cost": cost, "command": " ".join(sys.argv),
        "machine": machine(), "load_before": load_before, "load_after": load_average()})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
