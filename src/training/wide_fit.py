"""The wide part (src/model/wide.py): its table fitted, then mixed into lstm-best.ckpt.

The table is fitted on the training split's reviews as the network reads them (cut to
max_len); train.py fits it before the network's first step (`fit_wide`), since L-BFGS over a
million hashed word pairs takes about 0.4 GB of work memory that is handed back before
training reaches its own peak. After training, `attach_wide` chooses its mixing scale on the
validation split's accuracy, the deep logits being those of lstm-best.ckpt, and writes both
into that file. The test split is never read. About a minute on the full aclImdb.
"""
import time

import mindspore as ms
import numpy as np

from ..model import wide
from ..model.checkpoint import load_network, load_params, save_atomic
from ..data.mindrecord import eval_batches
from ..model.network import evaluator
from ..core.run_folder import BEST

__all__ = ["fit_wide", "attach_wide"]


def _reviews(config, path, deep=None):
    """(ids of each review without padding, labels, logits of the evaluating cell deep or
    None) of one split."""
    reviews, labels, logits = [], [], []
    for ids, length, label in eval_batches(config, path).create_tuple_iterator(output_numpy=True):
        reviews += [row[:n] for row, n in zip(ids, length)]
        labels.append(label)
        if deep is not None:
            _, batch_logits, _ = deep(*map(ms.Tensor, (ids, length, label)))
            logits.append(batch_logits.asnumpy())
    return reviews, np.concatenate(labels), np.concatenate(logits) if logits else None


def _accuracy(logits, labels):
    return float((logits.argmax(axis=1) == labels).mean())


def _save_with_wide(path, params, table, bias, stamp):
    """lstm-best.ckpt again, with the fitted table (added when the run was trained without
    one) and the wide bias folded into the dense layer's; every other entry kept."""
    entries = [] if "wide.table" in params else [{"name": "wide.table", "data": ms.Tensor(table)}]
    for name, value in params.items():
        if isinstance(value, str):
            stamp.setdefault(name, value)
            continue
        data = value.asnumpy()
        if name == "wide.table":
            data = table
        elif name == "decoder.bias":
            data = data + bias
        entries.append({"name": name, "data": ms.Tensor(data)})
    save_atomic(entries, path, stamp)


def fit_wide(config, prepared, log):
    """(table, bias, seconds) of the wide part, fitted on the training split's reviews; None
    without a validation split to mix it in on."""
    if not prepared.mindrecord("valid").exists():
        return None
    started = time.perf_counter()
    reviews, labels, _ = _reviews(config, prepared.mindrecord("train"))
    labelled = np.flatnonzero(labels >= 0)  # graded neutral phrases have no class
    reviews, labels = [reviews[i] for i in labelled], labels[labelled]
    table, bias = wide.fit_table(wide.count_matrix(reviews, len(prepared.vocab)), labels,
                                 config.num_classes)
    seconds = time.perf_counter() - started
    log(f"wide table fitted on {len(reviews)} training reviews in {seconds:.1f} s")
    return table, bias, seconds


def attach_wide(config, prepared, run_dir, log, fitted=None):
    """Mix the wide part into run_dir/lstm-best.ckpt (fitted: fit_wide's result, else it is
    fitted now); returns the record it logs."""
    best = run_dir / BEST
    if not (best.exists() and prepared.mindrecord("valid").exists()):
        log("wide part skipped: it is mixed in on the validation split, and there is none")
        return None
    table, bias, fit_seconds = fitted or fit_wide(config, prepared, log)
    started = time.perf_counter()
    vocab_size = len(prepared.vocab)
    network = evaluator(load_network(config.model, best), config.dynamic_shapes)
    valid_reviews, valid_labels, deep = _reviews(config, prepared.mindrecord("valid"), network)
    alone = wide.wide_logits(wide.count_matrix(valid_reviews, vocab_size), table, bias)
    scale, scores = wide.mix_scale(deep, alone, valid_labels)
    record = {"wide_scale": scale, "valid_acc_deep": round(_accuracy(deep, valid_labels), 5),
              "valid_acc_wide": round(_accuracy(alone, valid_labels), 5),
              "valid_acc": round(scores[scale][0], 5), "valid_loss": round(scores[scale][1], 5),
              "wide_seconds": round(fit_seconds + time.perf_counter() - started, 1)}
    _save_with_wide(best, load_params(best), scale * table, scale * bias,
                    {"wide_scale": scale, "wide_valid_acc": record["valid_acc"]})
    log(f"wide part: validation accuracy {record['valid_acc_deep']:.4f} deep, "
        f"{record['valid_acc_wide']:.4f} wide alone, {record['valid_acc']:.4f} both "
        f"(scale {scale}, chosen on validation) in {record['wide_seconds']} s")
    return record
