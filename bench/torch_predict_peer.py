"""PyTorch twin of SentimentNet for inference timing (runs in its own venv, torch is optional).

    /tmp/torchvenv/bin/python bench/torch_predict_peer.py BATCHES.npz SHAPE_JSON

BATCHES.npz holds ids_0, length_0, ids_1, ... (the padded batches bench_predict.py's predictor
ran) and single_ids, single_length (one typical review). SHAPE_JSON: vocab, embed, hidden,
layers, repeats, latency_runs. The network is ../shared/bench/peer_torch_lstm.py's BiLSTM with
our shapes and mean+max pooling; "padded" runs nn.LSTM over the padded batch, "packed" skips the
padding with pack_padded_sequence (the same result as our length-aware network), "int8" is
"padded" after PyTorch's dynamic quantization of the LSTM and Linear weights (the peer of our
--quantize int8). Each mode is timed with 1 thread and with one thread per core. Prints one
JSON line.
"""
import json
import os
import warnings
import statistics
import sys
import time

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class Net(nn.Module):
    """Embedding -> BiLSTM -> masked mean+max pooling -> Linear, in eval mode."""

    def __init__(self, shape, packed):
        super().__init__()
        self.packed = packed
        self.embedding = nn.Embedding(shape["vocab"], shape["embed"], padding_idx=0)
        self.lstm = nn.LSTM(shape["embed"], shape["hidden"], shape["layers"], batch_first=True,
                            bidirectional=True)
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
        return torch.softmax(self.decoder(torch.cat((mean, maximum), 1)), 1)


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


def main():
    batches_file = np.load(sys.argv[1])
    shape = json.loads(sys.argv[2])
    count = len([key for key in batches_file.files if key.startswith("ids_")])
    batches = [(torch.from_numpy(batches_file[f"ids_{i}"]).long(),
                torch.from_numpy(batches_file[f"length_{i}"]).long()) for i in range(count)]
    reviews = sum(int(ids.shape[0]) for ids, _ in batches)
    single = (torch.from_numpy(batches_file["single_ids"]).long(),
              torch.from_numpy(batches_file["single_length"]).long())
    torch.manual_seed(0)
    warnings.filterwarnings("ignore")  # quantize_dynamic's deprecation notice
    result = {"framework": "torch " + torch.__version__}
    for threads in sorted({1, len(os.sched_getaffinity(0))}):
        torch.set_num_threads(threads)
        for mode in ("padded", "packed", "int8"):
            net = Net(shape, mode == "packed").eval()
            if mode == "int8":
                net = torch.ao.quantization.quantize_dynamic(net, {nn.LSTM, nn.Linear},
                                                             dtype=torch.qint8)
            seconds = _time(net, batches, shape["repeats"])
            p50, p99 = _latencies(net, *single, shape["latency_runs"])
            result[f"{mode}_{threads}_threads"] = {
                "reviews_per_s": round(reviews / seconds, 1), "single_p50_ms": round(p50, 3),
                "single_p99_ms": round(p99, 3)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
