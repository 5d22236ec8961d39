"""PyTorch twin of SentimentNet, timed on the batches bench_train_speed.py hands it.

Runs in its own venv (torch is not a project dependency):
    /tmp/torchvenv/bin/python bench/torch_peer.py BATCHES.npz SHAPE_JSON
BATCHES.npz holds ids_0, length_0, label_0, ids_1, ... (one triple per batch); SHAPE_JSON gives
vocab, embed, hidden, layers, dropout, lr, warmup (batches run before timing) and mode:
"padded" (plain nn.LSTM over the padded batch, as ../shared/bench/peer_torch_lstm.py does) or
"packed" (pack_padded_sequence, so padding is skipped exactly like our length-aware network).
Prints one JSON line: steps, samples, seconds, samples_per_s, process CPU seconds,
samples_per_cpu_s, threads, torch version.
"""
import json
import sys
import time

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class Net(nn.Module):
    """Embedding -> BiLSTM layers -> masked mean+max pooling -> dropout -> Linear."""

    def __init__(self, shape):
        super().__init__()
        self.packed = shape["mode"] == "packed"
        self.embedding = nn.Embedding(shape["vocab"], shape["embed"], padding_idx=0)
        self.lstm = nn.LSTM(shape["embed"], shape["hidden"], shape["layers"], batch_first=True,
                            bidirectional=True, dropout=shape["dropout"])
        self.dropout = nn.Dropout(shape["dropout"])
        self.decoder = nn.Linear(4 * shape["hidden"], 2)

    def forward(self, ids, length):
        x = self.embedding(ids)
        if self.packed:
            packed = pack_padded_sequence(x, length, batch_first=True, enforce_sorted=False)
            out, _ = self.lstm(packed)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=ids.shape[1])
        else:
            out, _ = self.lstm(x)
        mask = (torch.arange(ids.shape[1]).unsqueeze(0) < length.unsqueeze(1)).unsqueeze(2)
        mean = (out * mask).sum(1) / length.unsqueeze(1).to(out.dtype)
        maximum = out.masked_fill(~mask, -1e9).max(1).values
        return self.decoder(self.dropout(torch.cat((mean, maximum), 1)))


def main():
    batches = np.load(sys.argv[1])
    shape = json.loads(sys.argv[2])
    count = len([k for k in batches.files if k.startswith("ids_")])
    data = [(torch.from_numpy(batches[f"ids_{i}"]).long(), torch.from_numpy(batches[f"length_{i}"]).long(),
             torch.from_numpy(batches[f"label_{i}"]).long()) for i in range(count)]
    torch.manual_seed(0)
    net = Net(shape)
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
    print(json.dumps({"framework": "torch " + torch.__version__, "threads": torch.get_num_threads(),
                      "mode": shape["mode"], "steps": count - shape["warmup"], "samples": samples,
                      "seconds": round(seconds, 3), "samples_per_s": round(samples / seconds, 1),
                      "cpu_s": round(cpu, 2), "samples_per_cpu_s": round(samples / cpu, 1)}))


if __name__ == "__main__":
    main()
