"""Evaluation of a checkpoint on the test MindRecord: accuracy, loss, per-class scores.

Beside the checkpoint it writes eval.json (everything), eval.txt (the per-class table and the
confusion matrix as printed) and confusion.png; with aim_repo set, the scores also go to the
training run's Aim run.
"""
from pathlib import Path

import numpy as np
from mindspore.train import Accuracy, ConfusionMatrix, Loss, Model

from ..model.checkpoint import load_network
from ..data.mindrecord import eval_batches, prepare
from ..core.device import init_device
from ..core.errors import UserError
from ..core.files import write_json, write_text
from ..model.network import evaluator
from .report import class_scores, format_scores, plot_confusion
from ..data.readers.labelled_text import label_names
from ..core.run_folder import BEST, EVAL
from .tracking import EvalBar, track_evaluation

__all__ = ["evaluate", "checkpoint_of"]


def checkpoint_of(config):
    """The checkpoint to evaluate: --checkpoint_path, else ckpt_path/lstm-best.ckpt."""
    if config.checkpoint_path:
        return Path(config.checkpoint_path)
    best = Path(config.ckpt_path) / BEST
    if best.exists():
        return best
    raise UserError(f"no checkpoint given and no {best}; pass --checkpoint_path FILE.ckpt")


def evaluate(config, split="test", log=print):
    """Accuracy of a checkpoint on one split; prints it and writes eval.json beside the ckpt.

    Returns:
        {"checkpoint": str, "split": str, "accuracy": float, "loss": float, "reviews": int,
         "class_names": [...], "per_class": {name: {precision, recall, f1, support}},
         "macro": {precision, recall, f1}, "confusion_matrix": [[...]] (rows: true class)}
    """
    init_device(config)
    checkpoint = checkpoint_of(config)
    log(f"settings: {config.config_path}, then the command line")
    prepared = prepare(config, log)
    network = load_network(config, checkpoint, prepared.vocab,
                           "the one these data settings give")
    dataset = eval_batches(config, prepared.mindrecord(split))
    model = Model(network, eval_network=evaluator(network, config.dynamic_shapes),
                  eval_indexes=[0, 1, 2],
                  metrics={"acc": Accuracy(), "loss": Loss(),
                           "confusion": ConfusionMatrix(config.num_classes)})
    with np.errstate(invalid="ignore"):  # ConfusionMatrix divides by empty columns
        scores = model.eval(dataset, callbacks=[EvalBar(dataset.get_dataset_size())],
                            dataset_sink_mode=False)
    matrix = np.asarray(scores["confusion"]).astype(int)
    names = list(label_names(config))
    result = {"checkpoint": str(checkpoint), "split": split, "accuracy": float(scores["acc"]),
              "loss": round(float(scores["loss"]), 5), "reviews": int(matrix.sum()),
              "class_names": names, **class_scores(matrix, names),
              "confusion_matrix": matrix.tolist()}
    log(f"accuracy on {split}: {result['accuracy']:.4f} ({result['reviews']} reviews)")
    table = format_scores(result, matrix, names)
    for line in table:
        log(line)
    write_json(checkpoint.parent / EVAL, result, what="--checkpoint_path", indent=2)
    write_text(checkpoint.parent / "eval.txt", "\n".join(table) + "\n", what="--checkpoint_path")
    _draw_confusion(matrix, names, checkpoint, split, log)
    track_evaluation(config, checkpoint.parent, result)
    return result


def _draw_confusion(matrix, names, checkpoint, split, log):
    """confusion.png beside the checkpoint; without matplotlib, say so and go on."""
    try:
        path = plot_confusion(matrix, names, checkpoint.parent / "confusion.png",
                              f"Confusion matrix: {checkpoint.name} on {split}")
    except UserError as err:
        log(f"no confusion.png: {err}")
        return
    log(f"confusion matrix drawn in {path}")
