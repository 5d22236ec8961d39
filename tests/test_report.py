"""Run folder, curves, `python -m src.training.report` and eval's per-class scores and confusion matrix."""
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, run_script, tiny_args
from src.core.errors import UserError
from src.training.report import class_scores, format_scores, plot_confusion, plot_runs, read_metrics

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def report(*args):
    return subprocess.run([sys.executable, "-m", "src.training.report", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def read_png(path):
    import matplotlib.image
    assert path.read_bytes()[:8] == PNG_MAGIC
    return matplotlib.image.imread(str(path))


def copy_run(source, target, loss_scale=1.0):
    """A second run folder from the trained one, with its training losses scaled."""
    target.mkdir(parents=True)
    shutil.copy(source / "config.yaml", target / "config.yaml")
    lines = []
    for line in (source / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        if "loss" in record:
            record["loss"] *= loss_scale
        lines.append(json.dumps(record))
    (target / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    return target


def _scores(config, checkpoint, split):
    """(confusion matrix, mean of the batches' mean cross-entropy) of checkpoint on split,
    batched as eval and validation batch it, from logits computed here by onnxruntime (the
    network's weights in ONNX's own operators, src/model/onnx_graph.py: no graph to compile)."""
    from src.model.checkpoint import load_network
    from src.data.mindrecord import eval_batches, prepare
    from src.model.onnx_graph import OnnxForward
    forward = OnnxForward(load_network(config.model, checkpoint))
    dataset = eval_batches(config, prepare(config, log=lambda *_: None).mindrecord(split))
    matrix, losses = np.zeros((config.num_classes,) * 2, int), []
    for ids, length, label in dataset.create_tuple_iterator(output_numpy=True):
        logits = forward(ids, length).astype(np.float64)
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        losses.append(-log_p[np.arange(len(label)), label].mean())
        np.add.at(matrix, (label, logits.argmax(axis=1)), 1)
    return matrix, float(np.mean(losses))


def test_throughput_counts_the_reviews_each_step_really_read(tmp_path, capfd):
    """Long buckets hold fewer reviews than batch_size (batch_tokens): samples/s is theirs."""
    args = tiny_args(tmp_path) + ["--max_len", "150", "--bucket_width", "25",
                                  "--batch_size", "16", "--batch_tokens", "1600"]
    result = run_script("train.py", *args, capfd=capfd)
    assert result.returncode == 0, result.stderr[-2000:]
    steps, _ = read_metrics(tmp_path / "run")
    assert 10 in {s["reviews"] for s in steps} and len({s["reviews"] for s in steps}) >= 3
    for step in steps:
        assert step["samples_per_s"] == pytest.approx(step["reviews"] / step["step_s"],
                                                      rel=0.02, abs=0.06)  # rounded to 0.1
    assert 800 < sum(s["reviews"] for s in steps) <= 900  # the training split, read once


def test_run_folder_holds_log_metrics_and_curves(trained_run, tiny_config):
    names = {p.name for p in trained_run.iterdir()}
    assert {"config.yaml", "vocab.json", "metrics.jsonl", "run.log", "curves.png",
            "lstm-best.ckpt"} <= names
    log = (trained_run / "run.log").read_text().splitlines()
    assert any(line.startswith("epoch 1 validation accuracy") for line in log)
    assert log[-1].startswith("training done")
    steps, epochs = read_metrics(trained_run)
    assert [s["step"] for s in steps] == list(range(1, len(steps) + 1))
    assert {"loss", "lr", "step_s", "samples_per_s"} <= set(steps[0])
    # the epoch's validation scores are its weights' (lstm-best.ckpt) on the validation split
    matrix, loss = _scores(tiny_config, trained_run / "lstm-best.ckpt", "valid")
    accuracy = np.trace(matrix) / matrix.sum()
    assert len(epochs) == 1 and epochs[0]["valid_acc"] == pytest.approx(accuracy, abs=1e-5)
    assert epochs[0]["valid_loss"] == pytest.approx(loss, abs=2e-5)
    assert f"epoch 1 validation accuracy {accuracy:.4f}" in log
    height, width, _ = read_png(trained_run / "curves.png").shape
    assert width > height > 300


def test_read_metrics_keeps_last_record_and_skips_torn_line(tmp_path):
    (tmp_path / "metrics.jsonl").write_text(
        '{"epoch": 1, "step": 1, "loss": 0.9, "lr": 0.1}\n'
        '{"epoch": 1, "step": 2, "loss": 0.8, "lr": 0.1}\n'
        '{"epoch": 1, "step": 2, "loss": 0.7, "lr": 0.1}\n'
        '{"epoch": 1, "valid_acc": 0.6}\n'
        '{"epoch": 2, "step": 3, "lo')
    steps, epochs = read_metrics(tmp_path)
    assert [(s["step"], s["loss"]) for s in steps] == [(1, 0.9), (2, 0.7)]
    assert epochs == [{"epoch": 1, "valid_acc": 0.6}]


def test_report_overlays_runs_into_one_png(trained_run, tmp_path):
    first = copy_run(trained_run, tmp_path / "adam")
    second = copy_run(trained_run, tmp_path / "momentum", loss_scale=1.5)
    out = tmp_path / "compare.png"
    result = report(first, second, "--out", out)
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()[:3]
    assert header.split()[:3] == ["run", "epochs", "steps"]
    assert rows[0].startswith(str(first)) and rows[1].startswith(str(second))
    final = [float(row.split()[3]) for row in rows]
    assert final[1] == pytest.approx(1.5 * final[0], rel=1e-3)
    assert read_png(out).shape[1] > 1000
    assert not list(tmp_path.glob(".*tmp*"))


@pytest.mark.parametrize("case", ["missing", "empty", "no_args", "bad_out"])
def test_report_bad_input_one_line_exit_2(case, trained_run, tmp_path):
    run = copy_run(trained_run, tmp_path / "run")
    args = {"missing": [tmp_path / "nope"],
            "empty": [tmp_path],
            "no_args": [],
            "bad_out": [run, "--out", run / "metrics.jsonl" / "x.png"]}[case]
    result = report(*args)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.rglob("*.png"))


def test_plot_runs_without_any_record_is_a_user_error(tmp_path):
    (tmp_path / "metrics.jsonl").write_text("")
    with pytest.raises(UserError, match="no metrics"):
        plot_runs([tmp_path], tmp_path / "x.png")


def test_class_scores_from_a_known_matrix():
    scores = class_scores([[40, 10], [5, 45]], ["negative", "positive"])
    negative, positive = scores["per_class"]["negative"], scores["per_class"]["positive"]
    assert negative["precision"] == pytest.approx(40 / 45, abs=1e-5)
    assert negative["recall"] == pytest.approx(40 / 50, abs=1e-5)
    assert positive["precision"] == pytest.approx(45 / 55, abs=1e-5)
    assert positive["f1"] == pytest.approx(2 * (45 / 55) * 0.9 / (45 / 55 + 0.9), abs=1e-5)
    assert scores["macro"]["recall"] == pytest.approx((0.8 + 0.9) / 2, abs=1e-5)
    assert negative["support"] == 50


def test_class_scores_never_predicted_class_is_zero_not_nan():
    scores = class_scores([[5, 0, 0], [3, 0, 0], [0, 0, 2]], ["a", "b", "c"])
    assert scores["per_class"]["b"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0,
                                        "support": 3}
    lines = format_scores(scores, [[5, 0, 0], [3, 0, 0], [0, 0, 2]], ["a", "b", "c"])
    assert lines[0].split() == ["class", "precision", "recall", "f1", "support"]
    assert lines[-3].split() == ["a", "5", "0", "0"]


def test_plot_confusion_writes_png(tmp_path):
    path = plot_confusion([[3, 1], [2, 4]], ["negative", "positive"], tmp_path / "cm.png")
    assert read_png(path).shape[0] > 300


def test_eval_reports_per_class_scores_and_confusion_matrix(trained_run, tiny_config):
    from src.training.evaluate import evaluate
    lines = []
    result = evaluate(tiny_config, log=lines.append)
    matrix = np.array(result["confusion_matrix"])
    expected, loss = _scores(tiny_config, trained_run / "lstm-best.ckpt", "test")
    assert (matrix == expected).all() and result["loss"] == pytest.approx(loss, abs=2e-5)
    assert result["accuracy"] == pytest.approx(np.trace(matrix) / matrix.sum())
    assert result["per_class"]["positive"]["support"] == matrix[1].sum()
    assert result["class_names"] == ["negative", "positive"]
    saved = json.loads((trained_run / "eval.json").read_text())
    assert saved["macro"] == result["macro"] and saved["loss"] == result["loss"]
    text = (trained_run / "eval.txt").read_text().splitlines()
    start = lines.index(text[0])
    assert lines[start:start + len(text)] == text
    assert "confusion matrix (rows: true class, columns: predicted)" in text
    assert read_png(trained_run / "confusion.png").shape[0] > 300
