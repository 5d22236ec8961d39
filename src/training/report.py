"""Pictures and summaries of training runs: loss/accuracy curves, overlays, confusion matrix.

    python -m src.training.report RUN_DIR [RUN_DIR ...] [--out FILE.png]

draws the loss and validation-accuracy curves of one or more run folders (written by train.py)
into one PNG and prints a summary table. train.py draws RUN_DIR/curves.png itself after every
epoch; eval.py draws the confusion matrix with `plot_confusion`. matplotlib (from
requirements-track.txt) is imported only when a picture is drawn, always with the headless
Agg backend.
"""
import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np
import yaml

from ..core.errors import UserError
from ..core.files import atomic_path
from ..core.run_folder import CONFIG, CURVES, EVAL, METRICS

__all__ = ["read_metrics", "summarize", "plot_runs", "plot_run", "plot_confusion",
           "class_scores", "format_scores", "main", "CURVES"]



def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise UserError("drawing plots needs matplotlib; run "
                        "`pip install -r requirements-track.txt`") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def read_metrics(run_dir):
    """The records of RUN_DIR/metrics.jsonl, split into steps and epochs.

    A resumed run repeats the steps after its last checkpoint, and a killed run may leave a
    torn last line: the last record of each step or epoch wins and unreadable lines are skipped.

    Returns:
        (steps, epochs): lists of dicts sorted by step / epoch; step records hold epoch, step,
        loss, lr, step_s, samples_per_s; epoch records hold epoch, valid_acc and maybe valid_loss.
    """
    path = Path(run_dir) / METRICS
    if not path.is_file():
        raise UserError(f"{path} not found; pass a run folder written by train.py "
                        f"(its --run_dir)")
    steps, epochs = {}, {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(record, dict):
            continue
        if "loss" in record and "step" in record:
            steps[record["step"]] = record
        elif "valid_acc" in record and "epoch" in record:
            epochs[record["epoch"]] = {**epochs.get(record["epoch"], {}), **record}
    return [steps[k] for k in sorted(steps)], [epochs[k] for k in sorted(epochs)]


def _read_json(path):
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _run_config(run_dir):
    try:
        content = yaml.safe_load((Path(run_dir) / CONFIG).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return content if isinstance(content, dict) else {}


def summarize(run_dir):
    """One row about a run: epochs, steps, last loss, best validation and test accuracy, speed."""
    steps, epochs = read_metrics(run_dir)
    tail = [s["loss"] for s in steps[-max(len(steps) // 10, 1):]]
    speeds = [s["samples_per_s"] for s in steps[1:] or steps if "samples_per_s" in s]
    test = _read_json(Path(run_dir) / EVAL).get("accuracy")
    return {"run": str(run_dir), "epochs": len(epochs), "steps": len(steps),
            "final_loss": round(statistics.fmean(tail), 4) if tail else None,
            "best_valid_acc": max((e["valid_acc"] for e in epochs), default=None),
            "test_acc": test,
            "samples_per_s": round(statistics.median(speeds), 1) if speeds else None}


def _smooth(values):
    """A trailing mean over ~2% of the points, so the trend shows through the noise."""
    window = max(len(values) // 50, 1)
    if window == 1:
        return np.asarray(values, dtype=float)
    kernel = np.ones(window) / window
    padded = np.concatenate([np.full(window - 1, values[0]), values])
    return np.convolve(padded, kernel, mode="valid")


def _subtitle(config):
    if not config:
        return ""
    layers = f"{config.get('num_layers')}x{config.get('num_hiddens')}"
    kind = "BiLSTM" if config.get("bidirectional") else "LSTM"
    return (f"{config.get('dataset', '')} | {kind} {layers}, {config.get('pooling')} pooling | "
            f"{config.get('embedding')} {config.get('embed_size')}-d | "
            f"{config.get('optimizer')} lr {config.get('learning_rate')} "
            f"({config.get('lr_schedule')}) | batch {config.get('batch_size')}")


def _labels(run_dirs):
    """Short distinct legend names: the folder name, or parent/name when names repeat."""
    names = [Path(d).resolve().name for d in run_dirs]
    if len(set(names)) == len(names):
        return names
    return [f"{Path(d).resolve().parent.name}/{Path(d).resolve().name}" for d in run_dirs]


def _draw_run(axes, label, color, steps, epochs, test_acc):
    ax_loss, ax_acc = axes
    if steps:
        x = [s["step"] for s in steps]
        loss = [s["loss"] for s in steps]
        ax_loss.plot(x, loss, color=color, alpha=0.25, linewidth=0.8)
        ax_loss.plot(x, _smooth(loss), color=color, linewidth=1.8, label=f"{label} train")
    last_step = {}
    for s in steps:
        last_step[s["epoch"]] = s["step"]
    valid_loss = [(last_step[e["epoch"]], e["valid_loss"]) for e in epochs
                  if "valid_loss" in e and e["epoch"] in last_step]
    if valid_loss:
        ax_loss.plot(*zip(*valid_loss), color=color, linestyle="--", marker="o",
                     markersize=4, label=f"{label} valid")
    if epochs:
        ax_acc.plot([e["epoch"] for e in epochs], [e["valid_acc"] for e in epochs],
                    color=color, marker="o", markersize=4, label=f"{label} valid")
    if test_acc is not None:
        ax_acc.axhline(test_acc, color=color, linestyle=":", linewidth=1.5,
                       label=f"{label} test {test_acc:.3f}")


def _save_figure(fig, out):
    with atomic_path(out, suffix=".png", what="--out") as tmp:
        fig.savefig(tmp, dpi=110, format="png")


def plot_runs(run_dirs, out, title=None):
    """Loss (per step, with its trend) and accuracy (per epoch) of several runs in one PNG.

    Args:
        run_dirs: run folders holding metrics.jsonl (and maybe config.yaml, eval.json).
        out: the PNG to write (atomically).
        title: the figure title; by default the run name, or how many runs are overlaid.

    Returns:
        The path of the PNG.
    """
    runs = [(Path(d), *read_metrics(d)) for d in run_dirs]
    if not any(steps or epochs for _, steps, epochs in runs):
        raise UserError(f"no metrics recorded yet in {', '.join(str(d) for d in run_dirs)}; "
                        f"train first (python train.py --run_dir RUN_DIR)")
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (label, (run_dir, steps, epochs)) in enumerate(zip(_labels(run_dirs), runs)):
        test_acc = _read_json(run_dir / EVAL).get("accuracy")
        _draw_run(axes, label, colors[i % len(colors)], steps, epochs, test_acc)
    _style_axes(axes)
    names = _labels(run_dirs)
    fig.suptitle(title or (f"LSTM sentiment: {names[0]}" if len(names) == 1
                           else f"LSTM sentiment: {len(names)} runs"), fontsize=13)
    subtitle = _subtitle(_run_config(run_dirs[0])) if len(run_dirs) == 1 else ""
    if subtitle:
        fig.text(0.5, 0.905, subtitle, ha="center", fontsize=9, color="dimgray")
    fig.tight_layout(rect=(0, 0, 1, 0.9 if subtitle else 0.95))
    _save_figure(fig, out)
    plt.close(fig)
    return Path(out)


def _style_axes(axes):
    from matplotlib.ticker import MaxNLocator
    ax_loss, ax_acc = axes
    ax_loss.set(title="Loss", xlabel="training step", ylabel="cross-entropy loss")
    ax_acc.set(title="Accuracy", xlabel="epoch", ylabel="accuracy")
    ax_acc.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in axes:
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="best")


def plot_run(run_dir):
    """Draw RUN_DIR/curves.png from the run's own metrics; returns its path."""
    return plot_runs([run_dir], Path(run_dir) / CURVES)


def class_scores(matrix, names):
    """Precision, recall, F1 and support per class, and their macro means, from a confusion matrix.

    Args:
        matrix: [C, C] counts, rows the true class, columns the predicted one (MindSpore's
            ConfusionMatrix layout).
        names: the C class names.

    Returns:
        {"per_class": {name: {precision, recall, f1, support}}, "macro": {precision, recall, f1}}.
        A class never predicted (or never present) gets 0.0 rather than a division by zero.
    """
    matrix = np.asarray(matrix, dtype=float)
    hits = np.diag(matrix)
    predicted, actual = matrix.sum(axis=0), matrix.sum(axis=1)
    precision = np.divide(hits, predicted, out=np.zeros_like(hits), where=predicted > 0)
    recall = np.divide(hits, actual, out=np.zeros_like(hits), where=actual > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros_like(hits), where=both > 0)
    per_class = {name: {"precision": round(float(p), 5), "recall": round(float(r), 5),
                        "f1": round(float(f), 5), "support": int(s)}
                 for name, p, r, f, s in zip(names, precision, recall, f1, actual)}
    macro = {"precision": round(float(precision.mean()), 5),
             "recall": round(float(recall.mean()), 5), "f1": round(float(f1.mean()), 5)}
    return {"per_class": per_class, "macro": macro}


def format_scores(scores, matrix, names):
    """The per-class table and the confusion matrix as aligned plain text lines."""
    width = max(12, *(len(n) + 2 for n in names))
    lines = [f"{'class':<{width}}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}"]
    for name, row in scores["per_class"].items():
        lines.append(f"{name:<{width}}{row['precision']:>10.4f}{row['recall']:>10.4f}"
                     f"{row['f1']:>10.4f}{row['support']:>10}")
    macro = scores["macro"]
    support = sum(row["support"] for row in scores["per_class"].values())
    lines.append(f"{'macro avg':<{width}}{macro['precision']:>10.4f}{macro['recall']:>10.4f}"
                 f"{macro['f1']:>10.4f}{support:>10}")
    lines.append("")
    lines.append("confusion matrix (rows: true class, columns: predicted)")
    cell = max(10, *(len(n) + 2 for n in names))
    lines.append(" " * width + "".join(f"{n:>{cell}}" for n in names))
    for name, row in zip(names, np.asarray(matrix).astype(int)):
        lines.append(f"{name:<{width}}" + "".join(f"{v:>{cell}}" for v in row))
    return lines


def plot_confusion(matrix, names, out, title="Confusion matrix"):
    """Draw the confusion matrix (counts and row shares, rows = true class) as a PNG."""
    plt = _pyplot()
    matrix = np.asarray(matrix).astype(int)
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    size = 2.2 + 1.0 * len(names)
    fig, ax = plt.subplots(figsize=(size + 1.2, size))
    image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, f"{count}\n{shares[i, j]:.1%}", ha="center", va="center", fontsize=9,
                color="white" if shares[i, j] > 0.5 else "black")
    ticks = range(len(names))
    ax.set_xticks(ticks, names, rotation=30 if len(names) > 3 else 0)
    ax.set_yticks(ticks, names)
    ax.set(xlabel="predicted class", ylabel="true class", title=title)
    fig.tight_layout()
    _save_figure(fig, out)
    plt.close(fig)
    return Path(out)


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        print(f"error: {message}; see python -m src.training.report --help", file=sys.stderr)
        sys.exit(2)


def main(argv=None):
    """Command line: overlay the curves of RUN_DIRs into one PNG and print a summary table."""
    parser = _Parser(prog="python -m src.training.report",
                     description="Overlay the loss and accuracy curves of training runs.")
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                        help="run folders written by train.py (its --run_dir)")
    parser.add_argument("--out", default="report.png", help="PNG to write (default report.png)")
    parser.add_argument("--title", default=None, help="figure title")
    args = parser.parse_args(argv)
    try:
        for run_dir in args.run_dirs:
            if not Path(run_dir).is_dir():
                raise UserError(f"run folder {run_dir} not found; pass the --run_dir of a "
                                f"training run")
        rows = [summarize(d) for d in args.run_dirs]
        out = plot_runs(args.run_dirs, args.out, args.title)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    _print_table(rows)
    print(f"wrote {out}")
    return 0


def _print_table(rows):
    columns = ("run", "epochs", "steps", "final_loss", "best_valid_acc", "test_acc",
               "samples_per_s")
    cells = [[("-" if row[c] is None else str(row[c])) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    for r in [columns, *cells]:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())


if __name__ == "__main__":
    main()
