"""Are the explanations faithful, and what does one cost? Methods side by side on test reviews.

Usage: .venv/bin/python bench/bench_explain.py --run_dir RUN_DIR --source PATH [--reviews 200]
           [--random_draws 3] [--cost_reviews 100]
           [--backends onnxruntime,mindspore] [--no_gradient]

Methods, all on the same N test reviews (a seeded sample of the test split, never trained on):
- decomposition: src/inference/explanations.py's default (the margin split over the tokens, one pass);
- occlusion: the drop of the label's probability when each token is deleted;
- positions: the decomposition's exact shares left at the positions that hold them, without
  carrying them back through the LSTM (what the decomposition would be without that step);
- gradient_x_input: the margin's gradient with respect to each token's embedding times the
  embedding, summed (MindSpore's autodiff; a candidate, measured here only);
- random: scores drawn at random, the floor every method must clear.
Faithfulness (the predicted label's probability p, on onnxruntime):
- the deletion curve: p's drop when the k top-scored tokens are deleted, k = 1..10, beside
  its drop for k random tokens (mean of --random_draws draws);
- ERASER (DeYoung et al. 2020), the top q = 5 / 10 / 20 % of the tokens (at least one):
  comprehensiveness, p's drop when they are deleted (higher is better), and sufficiency,
  p's drop when only they are kept, in order (lower is better).
Cost: ms per review, one review at a time (tokenizing included), mean and p99, of each
method and of the prediction alone, on each backend, after a warm-up pass over the same
reviews (MindSpore compiles a graph per shape); "passes" is the ratio of the means; the
decomposition once more with numpy's OpenBLAS on every core (src/inference/predictor.py sets one
thread). Also how far the decomposition's scores on the two backends lie apart.
Writes bench/results/explain.json.
"""
import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.benchlib import ACLIMDB_HELP, load_average, machine, print_table, write_result  # noqa: E402

KS = range(1, 11)
SHARES = (0.05, 0.1, 0.2)
BATCH = 16  # reviews per gradient batch


def _load(run_dir, backend):
    from src.core.config import load_config
    from src.inference.predict_io import with_run_config
    from src.inference.predictor import load_predictor
    return load_predictor(load_config(with_run_config(["--run_dir", str(run_dir),
                                                       "--backend", backend])))


def _direction(logits):
    """[classes]: +1 for the predicted label, -1 for the runner-up."""
    label, runner_up = np.argsort(-logits, kind="stable")[:2]
    direction = np.zeros(len(logits), np.float32)
    direction[[label, runner_up]] = 1.0, -1.0
    return direction


def _positions(predictor, encoded):
    """The decomposition's shares left with the positions (no LSTM step)."""
    from src.inference.explanations import token_shares
    logits, states = predictor.logits_and_states(encoded)
    return [token_shares(predictor.forward.readout, ids, held, _direction(row), False)[0]
            for ids, held, row in zip(encoded, states, logits)]


def _gradient_cell(network):
    import mindspore as ms
    from mindspore import nn, ops

    class Margin(nn.Cell):
        def __init__(self, net):
            super().__init__(auto_prefix=False)
            self.net = net

        def construct(self, x, ids, length, direction):
            return (self.net.classify(x, ids, length) * direction).sum()

    class GradientTimesInput(nn.Cell):
        """(ids [B, T], length, direction [B, classes]) -> [T, B]: each position's margin
        gradient with respect to its embedding, times the embedding, summed."""

        def __init__(self, net):
            super().__init__(auto_prefix=False)
            self.net, self.margin, self.grad = net, Margin(net), ops.GradOperation()

        def construct(self, ids, length, direction):
            x = self.net.embed(ids)
            return (self.grad(self.margin)(x, ids, length, direction) * x).sum(axis=2)
    cell = GradientTimesInput(network)
    cell.set_train(False)
    return cell, ms


def _gradient_scores(predictor, cell, ms, encoded, batch=BATCH):
    """gradient x input of each review, in length-sorted batches padded to bucket shapes."""
    from src.data.buckets import bucket_length
    config = predictor.config
    logits = predictor.logits(encoded)
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    scores = [None] * len(encoded)
    for start in range(0, len(order), batch):
        chosen = order[start:start + batch]
        steps = bucket_length(max(len(encoded[i]) for i in chosen), config.bucket_width,
                              config.max_len)
        ids = np.zeros((batch, steps), np.int32)
        length = np.ones(batch, np.int32)
        direction = np.zeros((batch, logits.shape[1]), np.float32)
        for row, i in enumerate(chosen):
            ids[row, :len(encoded[i])], length[row] = encoded[i], len(encoded[i])
            direction[row] = _direction(logits[i])
        found = cell(ms.Tensor(ids), ms.Tensor(length), ms.Tensor(direction)).asnumpy()
        for row, i in enumerate(chosen):
            scores[i] = found[:len(encoded[i]), row].astype(np.float64)
    return scores


def _faithfulness(predictor, encoded, scores_by_method, draws, rng):
    """{method: {measure: mean}} and the random-k deletion curve, from one batched run of
    every variant (the reviews with tokens deleted or kept) through the predictor."""
    from src.inference.predictor import softmax
    variants, where = [], []
    full = softmax(predictor.logits(encoded))
    labels = full.argmax(axis=1)
    for review, ids in enumerate(encoded):
        for method, scores in scores_by_method.items():
            order = np.argsort(-np.asarray(scores[review]), kind="stable")
            for k in KS:
                variants.append(np.delete(ids, order[:k]))
                where.append((method, f"delete_top_{k}", review))
            for share in SHARES:
                top = np.sort(order[:max(1, int(round(share * len(ids))))])
                variants += [np.delete(ids, top), ids[top]]
                where += [(method, f"comprehensiveness_{share}", review),
                          (method, f"sufficiency_{share}", review)]
        for k in KS:
            for _ in range(draws):
                variants.append(np.delete(ids, rng.choice(len(ids), min(k, len(ids)),
                                                          replace=False)))
                where.append(("random_k", f"delete_top_{k}", review))
    probability = softmax(predictor.logits([v if len(v) else ids[:1] for v in variants]))
    drops = {}
    for (method, measure, review), row in zip(where, probability):
        drops.setdefault(method, {}).setdefault(measure, []).append(
            full[review, labels[review]] - row[labels[review]])
    return {method: {measure: round(float(np.mean(values)), 4)
                     for measure, values in measures.items()}
            for method, measures in drops.items()}


def _timed(function, texts):
    """(mean ms, p99 ms) of function([text]) over texts, after one untimed pass."""
    for text in texts:
        function([text])
    times = []
    for text in texts:
        started = time.perf_counter()
        function([text])
        times.append(1000 * (time.perf_counter() - started))
    ordered = sorted(times)
    return round(statistics.mean(times), 2), round(ordered[int(0.99 * (len(ordered) - 1))], 2)


def _costs(predictors, texts, methods, gradient):
    from src.inference.explanations import explain
    rows = []
    for backend, predictor in predictors.items():
        predict = _timed(predictor.predict, texts)
        rows.append({"backend": backend, "method": "prediction alone", "mean_ms": predict[0],
                     "p99_ms": predict[1], "passes": 1.0, "passes_p99": 1.0})
        chosen = [(m, lambda batch, m=m: explain(predictor, batch, method=m)) for m in methods]
        if gradient and backend == "mindspore":
            cell, ms = _gradient_cell(predictor.forward.network)
            chosen.append(("gradient_x_input", lambda batch: _gradient_scores(
                predictor, cell, ms, predictor.encode(batch), batch=1)))
        for method, function in chosen:
            mean, p99 = _timed(function, texts)
            rows.append({"backend": backend, "method": method, "mean_ms": mean, "p99_ms": p99,
                         "passes": round(mean / predict[0], 2),
                         "passes_p99": round(p99 / predict[1], 2)})
    for backend, predictor in predictors.items():  # as it was before src/inference/predictor.py chose 1
        from src.inference.predictor import _openblas_threads
        _openblas_threads(len(os.sched_getaffinity(0)))
        try:
            mean, p99 = _timed(lambda batch: explain(predictor, batch), texts)
        finally:
            _openblas_threads(1)
        predict = next(r for r in rows if r["backend"] == backend)
        rows.append({"backend": backend, "method": "decomposition, OpenBLAS on every core",
                     "mean_ms": mean, "p99_ms": p99,
                     "passes": round(mean / predict["mean_ms"], 2),
                     "passes_p99": round(p99 / predict["p99_ms"], 2)})
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run_dir", type=Path, required=True)
    parser.add_argument("--reviews", type=int, default=200)
    parser.add_argument("--source", type=Path, required=True,
                        help=f"{ACLIMDB_HELP}: its test reviews are explained")
    parser.add_argument("--random_draws", type=int, default=3)
    parser.add_argument("--cost_reviews", type=int, default=100,
                        help="the first this many of the reviews are timed on each backend")
    parser.add_argument("--backends", default="onnxruntime,mindspore")
    parser.add_argument("--no_gradient", action="store_true",
                        help="leave out gradient x input (MindSpore; compiles a graph per shape)")
    options = parser.parse_args()
    from src.data.readers.aclimdb import read_aclimdb
    from src.inference.explanations import explain
    reviews = read_aclimdb(options.source)["test"]
    chosen = np.random.default_rng(0).choice(len(reviews), options.reviews, replace=False)
    texts = [reviews[i].text for i in chosen]
    load_before = load_average()
    backends = options.backends.split(",")
    predictors = {backend: _load(options.run_dir, backend) for backend in backends}
    judge = predictors.get("onnxruntime") or predictors[backends[0]]
    encoded = judge.encode(texts)
    rng = np.random.default_rng(1)
    scores = {"decomposition": [r.scores for r in explain(judge, texts)],
              "occlusion": [r.scores for r in explain(judge, texts, method="occlusion")],
              "positions": _positions(judge, encoded),
              "random": [rng.random(len(ids)) for ids in encoded]}
    if not options.no_gradient and "mindspore" in predictors:
        cell, ms = _gradient_cell(predictors["mindspore"].forward.network)
        scores["gradient_x_input"] = _gradient_scores(predictors["mindspore"], cell, ms, encoded)
    measures = _faithfulness(judge, encoded, scores, options.random_draws, rng)
    cost_texts = texts[:options.cost_reviews]
    costs = _costs(predictors, cost_texts, ("decomposition", "occlusion"),
                   not options.no_gradient)
    agreement = None
    if len(predictors) > 1:
        one, other = (explain(predictors[b], cost_texts) for b in backends[:2])
        agreement = float(max(np.abs(np.subtract(a.scores, b.scores)).max()
                              for a, b in zip(one, other)))
    _report(measures, costs, agreement, encoded, options)
    judged_on = "onnxruntime" if "onnxruntime" in predictors else backends[0]
    path = write_result("explain", {
        "run_dir": str(options.run_dir), "reviews": options.reviews,
        "reviews_from": str(options.source), "judged_on": judged_on,
        "mean_tokens": round(float(np.mean([len(e) for e in encoded])), 1),
        "faithfulness": measures, "cost": costs, "cost_reviews": len(cost_texts),
        "decomposition_scores_max_difference_between_backends": agreement,
        "command": " ".join(sys.argv), "machine": machine(), "load_before": load_before,
        "load_after": load_average()})
    print(f"wrote {path}")


def _report(measures, costs, agreement, encoded, options):
    methods = [m for m in ("decomposition", "occlusion", "gradient_x_input", "positions",
                           "random") if m in measures]
    print(f"{options.reviews} test reviews, {np.mean([len(e) for e in encoded]):.0f} tokens on "
          f"average; p = the predicted label's probability\n")
    rows = [{"method": m, **{f"comp {int(100 * q)}%": measures[m][f"comprehensiveness_{q}"]
                             for q in SHARES},
             **{f"suff {int(100 * q)}%": measures[m][f"sufficiency_{q}"] for q in SHARES}}
            for m in methods]
    print_table(rows, ["method"] + [f"comp {int(100 * q)}%" for q in SHARES]
                + [f"suff {int(100 * q)}%" for q in SHARES])
    print("\ndeletion curve: p's drop with the k top-scored tokens deleted (random_k: k random)")
    curve = [{"k": k, **{m: measures[m][f"delete_top_{k}"] for m in methods + ["random_k"]}}
             for k in KS]
    print_table(curve, ["k"] + methods + ["random_k"])
    print(f"\ncost per review, one at a time, the first {options.cost_reviews} reviews")
    print_table(costs, ["backend", "method", "mean_ms", "p99_ms", "passes", "passes_p99"])
    if agreement is not None:
        print(f"decomposition scores, onnxruntime against mindspore: at most {agreement:.2e} "
              f"apart")


if __name__ == "__main__":
    main()
