"""PyTorch twin of SentimentNet: the peer of bench_train_speed.py (training) and of
bench_predict.py (inference), timed on the batches they hand it.

Runs with the peers' interpreter (torch is not a project dependency; `make bench-venv` builds
.bench-venv from requirements-bench.txt):
    .bench-venv/bin/python bench/torch_peer.py train BATCHES.npz SHAPE_JSON
    .bench-venv/bin/python bench/torch_peer.py predict BATCHES.npz SHAPE_JSON

The network: embedding -> BiLSTM layers -> masked mean+max pooling -> dropout -> Linear, with
our shapes. "padded" runs plain nn.LSTM over the padded batch (what a PyTorch LSTM without
length handling does), "packed" skips the padding with pack_padded_sequence (the same result
as our length-aware network).

train: BATCHES.npz holds ids_0, length_0, label_0, ids_1, ... (one triple per batch);
SHAPE_JSON gives vocab, embed, hidden, layers, dropout, lr, warmup (batches run before timing)
and mode ("padded" or "packed"). Adam steps over the batches. Prints one JSON line: steps,
samples, seconds, samples_per_s, process CPU seconds, samples_per_cpu_s, threads, torch version.

predict: BATCHES.npz holds ids_0, length_0, ids_1, ... (the padded batches bench_predict.py's
predictor ran) and single_ids, single_length (one typical review); SHAPE_JSON: vocab, embed,
hidden, layers, repeats, latency_runs. Softmax over the network in eval mode, in each of
"padded", "packed" and "int8" ("padded" after PyTorch's dynamic quantization of the LSTM and
Linear weights, the peer of our --quantize int8), each with 1 thread and with one thread per
core. Prints one JSON line: reviews_per_s, single_p50_ms, single_p99_ms per mode and threads.
"""
import json
import os
import statistics
import sys
import time
import warnings

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class Net(nn.Module):
    """Embedding -> BiLSTM layers -> masked mean+max pooling -> dropout -> Linear (logits)."""

    def __init__(self, shape, packed):
        super().__init__()
        self.packed = packed
        dropout = shape.get("dropout", 0.0)
        self.embedding = nn.Embedding(shape["vocab"], shape["embed"], padding_idx=0)
        self.lstm = nn.LSTM(shape["embed"], shape["hidden"], shape["layers"], batch_first=True,
                            bidirectional=True, dropout=dropout if shape["layers"] > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.decoder = nn.Linear(4 * shape["hidden"], 2)

    def forward(self, ids, length):
        x = self.embedding(ids)
        if self.packed:
            packed = pack_padded_sequence(x, length, batch_first=True, enforce_sorted=False)
            out, _ = pad_packed_sequence(self.lstm(packed)[0], batch_first=True,
                                         total_length=ids.shape[1])
        else:
            out, _ = self.lstm(x)
        mask = (torch.arange(ids.shape[1]).unsqueeze(0) < length.unsqueeze(1)).unsqueeze(2)
        mean = (out * mask).sum(1) / length.unsqueeze(1).to(out.dtype)
        maximum = out.masked_fill(~mask, -1e9).max(1).values
        return self.decoder(self.dropout(torch.cat((mean, maximum), 1)))


class Probabilities(nn.Module):
    """The network's softmax, as a predictor returns it."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, ids, length):
        return torch.softmax(self.net(ids, length), 1)


def _tensors(batches, key, count):
    return [torch.from_numpy(batches[f"{key}_{i}"]).long() for i in range(count)]


# ---------------------------------------------------------------- train
def train(batches, shape):
    """Adam steps over the batches, the first shape["warmup"] untimed; the result's dict."""
    count = len([k for k in batches.files if k.startswith("ids_")])
    data = list(zip(*(_tensors(batches, key, count) for key in ("ids", "length", "label"))))
    torch.manual_seed(0)
    net = Net(shape, shape["mode"] == "packed")
    optimizer = torch.optim.Adam(net.parameters(), lr=shape["lr"])
    loss_fn = nn.CrossEntropyLoss()

    def step(ids, length, label):
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(net(ids, length), label)
        loss.backward()
        optimizer.step()

    for batch in data[:shape["warmup"]]:
        step(*batch)
    started, cpu = time.perf_counter(), time.process_time()
    samples = 0
    for batch in data[shape["warmup"]:]:
        step(*batch)
        samples += batch[0].shape[0]
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"framework": "torch " + torch.__version__, "threads": torch.get_num_threads(),
            "mode": shape["mode"], "steps": count - shape["warmup"], "samples": samples,
            "seconds": round(seconds, 3), "samples_per_s": round(samples / seconds, 1),
            "cpu_s": round(cpu, 2), "samples_per_cpu_s": round(samples / cpu, 1)}


# ---------------------------------------------------------------- predict
def _time(net, batches, repeats):
    with torch.inference_mode():
        for ids, length in batches[:2]:
            net(ids, length)
        best = float("inf")
        for _ in range(repeats):
            started = time.perf_counter()
            for ids, length in batches:
                net(ids, length)
            best = min(best, time.perf_counter() - started)
    return best


def _latencies(net, ids, length, count):
    with torch.inference_mode():
        for _ in range(5):
            net(ids, length)
        times = []
        for _ in range(count):
            started = time.perf_counter()
            net(ids, length)
            times.append(1000 * (time.perf_counter() - started))
    times.sort()
    return statistics.median(times), times[int(0.99 * (len(times) - 1))]


def predict(batches_file, shape):
    """Throughput and single-review latency of each mode and thread count; the result's dict."""
    count = len([key for key in batches_file.files if key.startswith("ids_")])
    batches = list(zip(*(_tensors(batches_file, key, count) for key in ("ids", "length"))))
    reviews = sum(int(ids.shape[0]) for ids, _ in batches)
    single = (torch.from_numpy(batches_file["single_ids"]).long(),
              torch.from_numpy(batches_file["single_length"]).long())
    torch.manual_seed(0)
    warnings.filterwarnings("ignore")  # quantize_dynamic's deprecation notice
    result = {"framework": "torch " + torch.__version__}
    for threads in sorted({1, len(os.sched_getaffinity(0))}):
        torch.set_num_threads(threads)
        for mode in ("padded", "packed", "int8"):
            net = Probabilities(Net(shape, mode == "packed")).eval()
            if mode == "int8":
                net = torch.ao.quantization.quantize_dynamic(net, {nn.LSTM, nn.Linear},
                                                             dtype=torch.qint8)
            seconds = _time(net, batches, shape["repeats"])
            p50, p99 = _latencies(net, *single, shape["latency_runs"])
            result[f"{mode}_{threads}_threads"] = {
                "reviews_per_s": round(reviews / seconds, 1), "single_p50_ms": round(p50, 3),
                "single_p99_ms": round(p99, 3)}
    return result


COMMANDS = {"train": train, "predict": predict}


def main(argv):
    if len(argv) != 3 or argv[0] not in COMMANDS:
        print("usage: torch_peer.py train|predict BATCHES.npz SHAPE_JSON", file=sys.stderr)
        sys.exit(2)
    print(json.dumps(COMMANDS[argv[0]](np.load(argv[1]), json.loads(argv[2]))))


if __name__ == "__main__":
    main(sys.argv[1:])
