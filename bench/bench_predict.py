"""Inference speed on CPU: predict.py's single-review latency and batched throughput, on
MindSpore and with --backend onnxruntime (the same checkpoint as an ONNX graph; also with
--quantize int8), against the PyTorch twin of the same network (same shapes, same batches,
same run; float32 and PyTorch's own dynamic int8), and 200 concurrent requests to the Gradio
page on loopback. Each predictor's accuracy on the reviews it timed is reported next to it.

    make demo                      # the model measured: demo/run (and demo/lstm.mindir)
    make bench-venv                # the PyTorch peer's interpreter: .bench-venv/bin/python
    .venv/bin/python bench/bench_predict.py [--run_dir demo/run] [--mindir demo/lstm.mindir]
        [--peer_python .bench-venv/bin/python] [--requests 200] [--page_backend onnxruntime]
        [--reviews data/aclImdb_sample] [--accuracy_reviews aclImdb]

--run_dir may be any training run, e.g. a full-data default run of bench/bench_recipes.py
(bench/work/recipes/default-seed1); the reviews are the test reviews of --reviews. The PyTorch
twin is bench/torch_peer.py predict, run with --peer_python.

Prints a table and writes bench/results/predict.json (with the machine's load at the time:
timings on a shared 2-core machine are noisy).
"""
import argparse
import concurrent.futures
import dataclasses
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from src.core.config import UserError, load_config  # noqa: E402
from src.data.readers.aclimdb import read_aclimdb  # noqa: E402
from src.inference.predict_io import with_run_config  # noqa: E402
from src.inference.predictor import load_predictor  # noqa: E402
from src.data.text import tokenize  # noqa: E402
from benchlib import PEER_PYTHON, load_average, peer_python, write_result  # noqa: E402



def _percentiles(times_ms):
    ordered = sorted(times_ms)
    return round(statistics.median(ordered), 3), round(ordered[int(0.99 * (len(ordered) - 1))], 3)


def _latency(predictor, text, runs):
    predictor.predict([text])
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        predictor.predict([text])
        times.append(1000 * (time.perf_counter() - started))
    return _percentiles(times)


def _throughput(predictor, texts, repeats):
    """(end-to-end reviews/s incl. tokenizing, model-only reviews/s, the batches run)."""
    batches = []
    forward = predictor.forward

    def recording(ids, length):
        batches.append((ids.copy(), length.copy()))
        return forward(ids, length)
    predictor.forward = recording
    predictor.predict(texts)  # compiles every batch shape once
    predictor.forward = forward
    encoded = predictor.encode(texts)
    best_total = best_model = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        predictor.predict(texts)
        best_total = min(best_total, time.perf_counter() - started)
        started = time.perf_counter()
        predictor.logits(encoded)
        best_model = min(best_model, time.perf_counter() - started)
    return round(len(texts) / best_total, 1), round(len(texts) / best_model, 1), batches


def _torch_peer(torch_python, config, predictor, batches, typical, repeats):
    single = predictor.encode([typical])[0]
    with tempfile.TemporaryDirectory() as folder:
        arrays = {"single_ids": single[None], "single_length": np.int32([len(single)])}
        for i, (ids, length) in enumerate(batches):
            arrays[f"ids_{i}"], arrays[f"length_{i}"] = ids, length
        np.savez(Path(folder) / "batches.npz", **arrays)
        shape = {"vocab": len(predictor.vocab), "embed": config.embed_size,
                 "hidden": config.num_hiddens, "layers": config.num_layers,
                 "repeats": repeats, "latency_runs": 200}
        done = subprocess.run([str(torch_python), str(ROOT / "bench" / "torch_peer.py"),
                               "predict", str(Path(folder) / "batches.npz"), json.dumps(shape)],
                              capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve_empty_page(port):
    """A Gradio page with the real one's API and outputs that does no work (the same label
    and highlighted words for every review): what Gradio and the client cost alone."""
    import gradio as gr
    with gr.Blocks() as page:
        review, button = gr.Textbox(), gr.Button()
        outputs = [gr.Label(), gr.HighlightedText(), gr.Markdown()]
        button.click(lambda texts: ([{"Positive": 0.9, "Negative": 0.1}] * len(texts),
                                    [[("word ", 0.5)] * 230] * len(texts), [""] * len(texts)),
                     review, outputs, api_name="classify", batch=True, max_batch_size=64)
    page.queue(max_size=1024, default_concurrency_limit=1)
    page.launch(server_name="127.0.0.1", server_port=port, quiet=True, ssr_mode=False)


def _http_call(url):
    """One request through the page's HTTP API (what curl does: POST the review, then read
    the answer's event stream): text -> (ms, error or None)."""
    endpoint = url + "gradio_api/call/classify"

    def one(text):
        started = time.perf_counter()
        try:
            request = urllib.request.Request(endpoint, json.dumps({"data": [text]}).encode(),
                                             {"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=600) as answer:
                event = json.loads(answer.read())["event_id"]
            with urllib.request.urlopen(f"{endpoint}/{event}", timeout=600) as answer:
                stream = answer.read().decode()
            data = stream.split("event: complete\ndata: ", 1)[1].split("\n", 1)[0]
            label = json.loads(data)[0]
            ok = bool(label) and label.get("label") in ("Positive", "Negative")
        except Exception as err:  # every failure counts, whatever its kind
            return 1000 * (time.perf_counter() - started), repr(err)[:200]
        return 1000 * (time.perf_counter() - started), None if ok else f"bad answer {label}"
    return one


def _client_call(url):
    """One request through gradio_client (Python; its own work shares the 2 cores)."""
    from gradio_client import Client
    client = Client(url, verbose=False)

    def one(text):
        started = time.perf_counter()
        try:
            label, _words, _message = client.predict(text, api_name="/classify")
            ok = bool(label) and label.get("label") in ("Positive", "Negative")
        except Exception as err:  # every failure counts, whatever its kind
            return 1000 * (time.perf_counter() - started), repr(err)[:200]
        return 1000 * (time.perf_counter() - started), None if ok else f"bad answer {label}"
    return one


CLIENTS = {"http": _http_call, "gradio_client": _client_call}


def _page_load(run_dir, texts, requests, backend, method="decomposition", singles=50,
               empty=False):
    """Start app.py (explaining by `method`), or the empty page; for each client,
    `singles` requests one after another (one request on a quiet page), then two bursts of
    `requests` concurrent ones (cold, then warm)."""
    port = _free_port()
    command = ([sys.executable, __file__, "--serve_empty_page", str(port)] if empty else
               [sys.executable, str(ROOT / "app.py"), "--run_dir", str(run_dir),
                "--serve_port", str(port), "--backend", backend, "--explain_method", method])
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL,
                              env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"})
    url = f"http://127.0.0.1:{port}/"
    result = {"explain_method": None if empty else method}
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(url, timeout=5)
                break
            except OSError:
                time.sleep(1)
        for name, make in CLIENTS.items():
            one = make(url)
            one(texts[0])
            alone = [one(texts[i % len(texts)]) for i in range(singles)]
            p50, p99 = _percentiles([ms for ms, _ in alone])
            result[name] = {"one_at_a_time": {
                "requests": singles, "p50_ms": p50, "p99_ms": p99,
                "errors": sum(1 for _, err in alone if err)}}
            result[name]["cold"], result[name]["warm"] = (_burst(one, texts, requests)
                                                          for _ in range(2))
    finally:
        server.terminate()
        server.wait(timeout=30)
    return result


def _burst(one, texts, requests):
    """`requests` calls at once; the first burst also compiles the batch shapes it meets."""
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(requests) as pool:
        results = list(pool.map(one, [texts[i % len(texts)] for i in range(requests)]))
    wall = time.perf_counter() - started
    p50, p99 = _percentiles([ms for ms, _ in results])
    errors = [err for _, err in results if err]
    return {"requests": requests, "concurrent": requests, "p50_ms": p50, "p99_ms": p99,
            "max_ms": round(max(ms for ms, _ in results), 3), "wall_s": round(wall, 2),
            "errors": len(errors), "first_errors": errors[:3]}


def _machine_load():
    """The load averages and this project's own busy processes (bench/benchlib.py)."""
    return {**load_average(), "cpus": os.cpu_count()}


PREDICTORS = {"mindspore": "MindSpore checkpoint (predict.py)",
              "onnxruntime": "--backend onnxruntime (predict.py)",
              "onnxruntime_int8": "--backend onnxruntime --quantize int8",
              "mindir": "MindSpore MINDIR (fixed batch)"}
# which PyTorch rows each of ours is compared with: float32 with float32, int8 with int8
TORCH_PEERS = {"onnxruntime_int8": ("int8",)}


def _measure(predictor, typical, reviews, latency_runs, repeats):
    texts = [review.text for review in reviews]
    p50, p99 = _latency(predictor, typical, latency_runs)
    total, model, batches = _throughput(predictor, texts, repeats)
    return {"single_p50_ms": p50, "single_p99_ms": p99, "end_to_end_reviews_per_s": total,
            "model_reviews_per_s": model, "accuracy": _accuracy(predictor, reviews)}, batches


def _accuracy(predictor, reviews):
    predicted = predictor.predict([review.text for review in reviews])
    right = sum(p.label == predictor.labels[r.label] for p, r in zip(predicted, reviews))
    return round(right / len(reviews), 4)


def _ratios(result, same_precision=True):
    """Our model reviews/s over the best PyTorch row of the same precision (or of any)."""
    ratios = {}
    for key in PREDICTORS:
        kinds = TORCH_PEERS.get(key, ("padded", "packed")) if same_precision else ("",)
        peers = [peer["reviews_per_s"] for name, peer in result["torch"].items()
                 if isinstance(peer, dict) and name.startswith(kinds)]
        if key in result and peers:
            ratios[key] = round(result[key]["model_reviews_per_s"] / max(peers), 2)
    return ratios


def _accuracies(predictors, folder):
    reviews = read_aclimdb(folder)["test"]
    accuracy = {"reviews_from": folder, "reviews": len(reviews)}
    for key, predictor in predictors.items():
        accuracy[key] = _accuracy(predictor, reviews)
    return accuracy


def _table(result):
    rows = [(title, result[key]["single_p50_ms"], result[key]["single_p99_ms"],
             result[key]["model_reviews_per_s"], result[key]["end_to_end_reviews_per_s"],
             result[key]["accuracy"])
            for key, title in PREDICTORS.items() if key in result]
    for name, peer in result["torch"].items():
        if isinstance(peer, dict):
            rows.append((f"PyTorch {name.replace('_', ' ')}", peer["single_p50_ms"],
                         peer["single_p99_ms"], peer["reviews_per_s"], "-", "-"))
    print(f"{'':38} {'1 review p50 ms':>16} {'p99 ms':>8} {'model rev/s':>12} {'e2e rev/s':>10} "
          f"{'accuracy':>9}")
    for name, p50, p99, model, total, accuracy in rows:
        print(f"{name:38} {p50:>16} {p99:>8} {model:>12} {total:>10} {accuracy:>9}")
    for key, ratio in result.get("throughput_ratio_vs_best_torch", {}).items():
        precision = "int8" if key in TORCH_PEERS else "float32"
        print(f"batched throughput, {PREDICTORS[key]}: {ratio}x the best {precision} PyTorch "
              f"row, {result['throughput_ratio_vs_best_torch_any_precision'][key]}x the best "
              f"of all PyTorch rows")
    if "accuracy_on" in result:
        print(f"accuracy on {result['accuracy_on']['reviews']} test reviews of "
              f"{result['accuracy_on']['reviews_from']}: " + ", ".join(
                  f"{key} {value}" for key, value in result["accuracy_on"].items()
                  if key in PREDICTORS))
    for title, page in (("page", result.get("page")), ("empty page", result.get("empty_page"))):
        for client in CLIENTS:
            if not page or client not in page:
                continue
            method = f" ({page['explain_method']})" if page["explain_method"] else ""
            what = f"{title}{method}, {client}"
            alone = page[client]["one_at_a_time"]
            print(f"{what}: one request at a time: p50 {alone['p50_ms']} ms, p99 "
                  f"{alone['p99_ms']} ms, {alone['errors']} errors")
            for name in ("cold", "warm"):
                burst = page[client][name]
                print(f"{what}, {name}: {burst['requests']} concurrent requests: p50 "
                      f"{burst['p50_ms']} ms, p99 {burst['p99_ms']} ms, the last "
                      f"{burst['max_ms']} ms, {burst['errors']} errors, {burst['wall_s']} s")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run_dir", default=str(ROOT / "demo" / "run"))
    parser.add_argument("--mindir", default="",
                        help="an exported MINDIR of --run_dir to time too (default: "
                             "demo/lstm.mindir with the default --run_dir, else none)")
    parser.add_argument("--peer_python", "--torch_python", type=Path, default=PEER_PYTHON,
                        help="the PyTorch peer's interpreter (default: .bench-venv/bin/python, "
                             "built by make bench-venv); --page_only needs none")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--latency_runs", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--reviews", default=str(ROOT / "data" / "aclImdb_sample"),
                        help="aclImdb folder whose test reviews are classified (default: the "
                             "bundled sample's 500)")
    parser.add_argument("--page_backend", default="onnxruntime",
                        choices=("mindspore", "onnxruntime"))
    parser.add_argument("--explain_method", default="decomposition",
                        choices=("decomposition", "occlusion"),
                        help="how the page explains each answer")
    parser.add_argument("--singles", type=int, default=50,
                        help="page requests sent one at a time before the bursts")
    parser.add_argument("--serve_empty_page", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--accuracy_reviews", default="",
                        help="also the accuracy of each checkpoint predictor on this aclImdb "
                             "folder's test reviews (e.g. the full 25,000), untimed")
    parser.add_argument("--page_only", action="store_true",
                        help="only the concurrent page requests (each answered with its "
                             "explanation), into bench/results/page.json")
    args = parser.parse_args(argv)
    if args.serve_empty_page:
        return _serve_empty_page(args.serve_empty_page)
    if not (Path(args.run_dir) / "config.yaml").exists():
        sys.exit(f"error: no trained run in {args.run_dir}; run `make demo` or pass --run_dir")
    demo_mindir = ROOT / "demo" / "lstm.mindir"
    if not args.mindir and Path(args.run_dir).resolve() == (ROOT / "demo" / "run").resolve() \
            and demo_mindir.exists():
        args.mindir = str(demo_mindir)
    try:
        _bench(args)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


def _bench_page(args, config):
    texts = [review.text for review in read_aclimdb(args.reviews)["test"]]
    result = {"run_dir": args.run_dir, "reviews_from": args.reviews,
              "explain_tokens": config.explain_tokens,
              "max_review_chars": config.max_review_chars, "page_backend": args.page_backend,
              "command": " ".join(sys.argv), "load_before": _machine_load()}
    result["page"] = _page_load(args.run_dir, texts, args.requests, args.page_backend,
                                args.explain_method, args.singles)
    result["empty_page"] = _page_load(args.run_dir, texts, args.requests, args.page_backend,
                                      singles=args.singles, empty=True)
    result["load_after"] = _machine_load()
    _table({**result, "torch": {}})
    name = "page" if args.explain_method == "decomposition" else f"page_{args.explain_method}"
    print(f"wrote {write_result(name, result)}")


def _bench(args):
    config = load_config(with_run_config(["--run_dir", args.run_dir]))
    if args.page_only:
        return _bench_page(args, config)
    # the MINDIR first: one that does not fit the run is refused before minutes of timing
    graph = load_predictor(dataclasses.replace(config, mindir_path=args.mindir)) \
        if args.mindir else None
    peer_python(args.peer_python)  # and a missing peer before them too
    reviews = read_aclimdb(args.reviews)["test"]
    texts = [review.text for review in reviews]
    typical = sorted(texts, key=lambda text: len(tokenize(text)))[len(texts) // 2]
    result = {"run_dir": args.run_dir, "reviews": len(texts), "reviews_from": args.reviews,
              "typical_review_tokens": min(len(tokenize(typical)), config.max_len),
              "batch_size": config.batch_size, "max_len": config.max_len,
              "bucket_width": config.bucket_width, "load_before": _machine_load()}
    predictors = {"mindspore": load_predictor(config)}
    result["mindspore"], batches = _measure(predictors["mindspore"], typical, reviews,
                                            args.latency_runs, args.repeats)
    for key, quantize in (("onnxruntime", "none"), ("onnxruntime_int8", "int8")):
        predictors[key] = load_predictor(dataclasses.replace(config, backend="onnxruntime",
                                                             quantize=quantize))
        result[key], _ = _measure(predictors[key], typical, reviews, args.latency_runs,
                                  args.repeats)
    if graph is not None:
        result["mindir"], _ = _measure(graph, typical, reviews,
                                       max(args.latency_runs // 10, 5), 1)
    result["torch"] = _torch_peer(args.peer_python, config, predictors["mindspore"], batches,
                                  typical, args.repeats)
    result["throughput_ratio_vs_best_torch"] = _ratios(result)
    result["throughput_ratio_vs_best_torch_any_precision"] = _ratios(result, False)
    result["page_backend"] = args.page_backend
    result["page"] = _page_load(args.run_dir, texts, args.requests, args.page_backend,
                                args.explain_method, args.singles)
    result["load_after"] = _machine_load()
    if args.accuracy_reviews:
        result["accuracy_on"] = _accuracies(predictors, args.accuracy_reviews)
    _table(result)
    print(f"wrote {write_result('predict', result)}")


if __name__ == "__main__":
    main()
