"""Evaluation of a checkpoint on the test MindRecord, or on every row of a user's CSV/TSV
(--data_path FILE): accuracy, loss, per-class scores.

Beside the checkpoint it writes eval.json (everything), eval.txt (the per-class table and the
confusion matrix as printed) and confusion.png; on data other than the run's own, the names
carry the data's (eval-NAME.json, ...), so the run's own figures are never replaced. With
aim_repo set, the scores also go to the training run's Aim run.
"""
import contextlib
import tempfile
from pathlib import Path

import yaml

import numpy as np
from mindspore.train import ConfusionMatrix

from ..model.checkpoint import load_network
from ..data.mindrecord import eval_batches, prepare
from ..core.device import init_device
from ..core.errors import UserError
from ..core.files import write_json, write_text
from ..model.network import scoring_model
from .report import class_scores, format_scores, plot_confusion
from ..data.readers.labelled_text import label_names
from ..core.run_folder import CONFIG, EVAL, SHIPPED, VOCAB, checkpoint_of, run_folder
from ..data.text import Vocab
from ..data.test_set import write_test_set
from .tracking import EvalBar, track_evaluation

__all__ = ["evaluate", "own_data", "results_name"]


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
    own = own_data(config, checkpoint)
    with _test_set(config, split, own, log) as (vocab, path):
        network = load_network(config.model, checkpoint, vocab, "the one these data settings give")
        dataset = eval_batches(config, path)
        model = scoring_model(network, config.dynamic_shapes,
                              confusion=ConfusionMatrix(config.num_classes))
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
    stem = results_name(config, checkpoint, own)
    write_json(checkpoint.parent / f"{stem}.json", result, what="--checkpoint_file", indent=2)
    write_text(checkpoint.parent / f"{stem}.txt", "\n".join(table) + "\n",
               what="--checkpoint_file")
    log(f"wrote {stem}.json and {stem}.txt beside {checkpoint.name}")
    _draw_confusion(matrix, names, checkpoint, stem.replace("eval", "confusion"), log)
    track_evaluation(config, checkpoint.parent, result)
    return result


@contextlib.contextmanager
def _test_set(config, split, own, log):
    """(vocabulary, MindRecord file) to score: the split of the preprocessed cache of the
    run's own data; else the other data's test reviews (a table: every row), encoded with the
    run's vocabulary in a temporary folder."""
    if own:
        prepared = prepare(config, log)
        yield prepared.vocab, prepared.mindrecord(split)
        return
    vocab = Vocab.load(run_folder(config) / VOCAB)
    with tempfile.TemporaryDirectory(prefix="eval-") as folder:
        yield vocab, write_test_set(config, vocab, folder)


def _data_name(values):
    """The data a config (or a run's config.yaml, as a dict) reads: its resolved path."""
    table = str(values.get("data_path") or "").lower().endswith((".csv", ".tsv"))
    own = values.get("dataset", "aclimdb") == "aclimdb" and not table
    return Path((values.get("aclimdb_path") if own else values.get("data_path")) or "").resolve()


def results_name(config, checkpoint, own):
    """The stem of the files written beside the checkpoint: eval for the run's own data,
    eval-NAME for other data, and always for the shipped model, whose eval.json is its card's."""
    if own and checkpoint.parent.resolve() != SHIPPED:
        return Path(EVAL).stem
    return f"eval-{_data_name(vars(config)).name.split('.')[0]}"


def own_data(config, checkpoint):
    """Whether config reads the data the checkpoint's run was trained on (or the checkpoint
    has no config.yaml beside it to tell)."""
    saved = checkpoint.parent / CONFIG
    if not saved.exists():
        return True
    trained = yaml.safe_load(saved.read_text(encoding="utf-8")) or {}
    return _data_name(trained) == _data_name(vars(config))


def _draw_confusion(matrix, names, checkpoint, stem, log):
    """STEM.png beside the checkpoint; without matplotlib, say so and go on."""
    try:
        path = plot_confusion(matrix, names, checkpoint.parent / f"{stem}.png",
                              f"Confusion matrix: {checkpoint.name}")
    except UserError as err:
        log(f"no confusion.png: {err}")
        return
    log(f"confusion matrix drawn in {path}")
