"""Evaluation: accuracy (and the confusion matrix) of a checkpoint on the test MindRecord."""
import json
import os
from pathlib import Path

import numpy as np
from mindspore.train import Accuracy, ConfusionMatrix, Model

from src.checkpoint import load_into, load_params
from src.config import UserError
from src.data import create_dataset, prepare
from src.device import init_device
from src.lstm import NetWithEval, build_network

__all__ = ["evaluate", "load_network"]


def load_network(config, checkpoint_path):
    """SentimentNet shaped by config with the weights of checkpoint_path (eval mode)."""
    params = load_params(checkpoint_path)
    if "embedding.embedding_table" not in params:
        raise UserError(f"checkpoint {checkpoint_path} holds no SentimentNet embedding; use a "
                        f"checkpoint written by train.py")
    table = np.zeros(params["embedding.embedding_table"].shape, np.float32)
    network = build_network(config, table)
    load_into(network, params, checkpoint_path)
    network.set_train(False)
    return network


def _checkpoint_of(config):
    if config.checkpoint_path:
        return Path(config.checkpoint_path)
    best = Path(config.ckpt_path) / "lstm-best.ckpt"
    if best.exists():
        return best
    raise UserError(f"no checkpoint given and no {best}; pass --checkpoint_path FILE.ckpt")


def evaluate(config, split="test", log=print):
    """Accuracy of a checkpoint on one split; prints it and writes eval.json beside the ckpt.

    Returns:
        {"accuracy": float, "confusion_matrix": [[...]], "checkpoint": str, "reviews": int}
    """
    init_device(config)
    checkpoint = _checkpoint_of(config)
    network = load_network(config, checkpoint)
    prepared = prepare(config, log)
    vocab_rows = network.embedding.embedding_table.shape[0]
    if vocab_rows != len(prepared.vocab):
        raise UserError(f"checkpoint {checkpoint} has a {vocab_rows}-word vocabulary but the "
                        f"data settings give {len(prepared.vocab)}; evaluate with the training "
                        f"run's config (--config_path RUN_DIR/config.yaml)")
    dataset = create_dataset(prepared.mindrecord(split), config.batch_size, config.max_len,
                             config.bucket_width)
    model = Model(network, eval_network=NetWithEval(network), eval_indexes=[0, 1, 2],
                  metrics={"acc": Accuracy(),
                           "confusion": ConfusionMatrix(config.num_classes)})
    scores = model.eval(dataset, dataset_sink_mode=False)
    matrix = np.asarray(scores["confusion"]).astype(int)
    result = {"checkpoint": str(checkpoint), "split": split, "accuracy": float(scores["acc"]),
              "reviews": int(matrix.sum()), "confusion_matrix": matrix.tolist()}
    log(f"accuracy on {split}: {result['accuracy']:.4f} ({result['reviews']} reviews)")
    _write_json(checkpoint.parent / "eval.json", result)
    return result


def _write_json(path, content):
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(json.dumps(content, indent=2), encoding="utf-8")
        tmp.replace(path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise UserError(f"cannot write {path} ({err.strerror}); make its folder writable") from None
