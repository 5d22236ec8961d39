"""The model zoo's offline ("310") inference flow on fixed-shape .bin files.

`write_bin_files` (preprocess.py) dumps the test set as fixed-shape .bin batches,
`infer_bin_files` runs an exported MINDIR over them with MindSpore's own loader
(`nn.GraphCell(mindspore.load(...))`, the CPU/GPU stand-in for the Ascend C++ app of
ascend310_infer/: `python -m src.inference.infer_310 --mindir_path X`), and `score_bin_results`
(postprocess.py) computes the accuracy.
"""
from pathlib import Path

import numpy as np

from ..data.mindrecord import create_dataset, prepare
from ..core.device import init_device
from ..core.errors import UserError
from ..core.files import atomic_path, build_folder, write_json, write_text
from .predictor import mindir_forward
from ..core.progress import progress
from ..core.run_folder import VOCAB, run_folder
from ..data.text import Vocab

__all__ = ["write_bin_files", "infer_bin_files", "score_bin_results", "BIN_FOLDERS"]

BIN_FOLDERS = {"ids": "00_data", "length": "01_length", "label": "02_label"}
PAD_LABEL = -1  # label of the rows that only fill up the last fixed-shape batch


def _bin_name(config, index):
    return f"lstm_bs{config.batch_size}_{index:05d}.bin"


def write_bin_files(config, log=print):
    """preprocess.py: the test split as fixed-shape .bin batches, like the model zoo's 310 flow.

    Writes config.result_path/00_data/lstm_bsB_NNNNN.bin (int32 ids [batch_size, max_len]),
    01_length/ (int32 [batch_size]) and 02_label/ (int32 [batch_size]; -1 marks the rows that
    only pad the last batch). The folder is built under a temporary name and renamed.

    Returns:
        The result_path folder.
    """
    prepared = prepare(config, log)
    target = Path(config.result_path)

    def build(building):
        for folder in BIN_FOLDERS.values():
            (building / folder).mkdir()
        dataset = create_dataset(prepared.mindrecord("test"), config.batch_size, config.max_len)
        batches = dataset.create_dict_iterator(output_numpy=True)
        return sum(_write_bin_batch(config, building, index, batch) for index, batch in enumerate(
            progress(batches, "write .bin", dataset.get_dataset_size(), "batch")))
    count, _ = build_folder(target, build, lambda err: (
        f"cannot write {target} ({err.strerror}); pass --result_path in a writable folder"))
    log(f"wrote {count} test reviews as .bin batches into {target}")
    return target


def _write_bin_batch(config, folder, index, batch):
    rows = len(batch["label"])
    padded = {"ids": np.zeros((config.batch_size, config.max_len), np.int32),
              "length": np.ones((config.batch_size,), np.int32),
              "label": np.full((config.batch_size,), PAD_LABEL, np.int32)}
    padded["ids"][:rows, :batch["ids"].shape[1]] = batch["ids"]
    padded["length"][:rows] = batch["length"]
    padded["label"][:rows] = batch["label"]
    for key, sub in BIN_FOLDERS.items():
        padded[key].tofile(folder / sub / _bin_name(config, index))
    return rows


def _bin_batches(data_path):
    files = sorted((Path(data_path) / BIN_FOLDERS["ids"]).glob("*.bin"))
    if not files:
        raise UserError(f"{data_path} holds no {BIN_FOLDERS['ids']}/*.bin files; run "
                        f"preprocess.py (or the script with NEED_PREPROCESS y) first")
    return files


def infer_bin_files(config, log=print):
    """Run the MINDIR config.mindir_path over result_path's .bin batches (CPU, MindSpore).

    Writes config.result_dir/<batch name>_0.bin: float32 logits [batch, num_classes], the
    layout of the zoo's C++ app. Returns the result_dir folder.
    """
    if not config.mindir_path:
        raise UserError("pass --mindir_path FILE.mindir (written by export.py)")
    init_device(config)
    vocab = Vocab.load(run_folder(config) / VOCAB)
    forward, shape = mindir_forward(config.mindir_path, config, vocab)
    target = Path(config.result_dir)
    target.mkdir(parents=True, exist_ok=True)
    for path in progress(_bin_batches(config.result_path), "infer", unit="batch"):
        ids = np.fromfile(path, np.int32)
        length = np.fromfile(Path(config.result_path) / BIN_FOLDERS["length"] / path.name,
                             np.int32)
        if ids.size != shape[0] * shape[1] or length.size != shape[0]:
            raise UserError(f"{path} does not fit the MINDIR's input shape {list(shape)}; run "
                            f"preprocess.py with the batch_size and max_len used by export.py")
        logits = forward(ids.reshape(shape), length)
        with atomic_path(target / f"{path.stem}_0.bin", what="--result_dir") as tmp:
            logits.astype(np.float32).tofile(tmp)
    log(f"wrote logits of {len(_bin_batches(config.result_path))} batches into {target}")
    return target


def score_bin_results(config, log=print):
    """postprocess.py: accuracy of result_dir's logits against result_path's labels.

    Rows labelled -1 (padding of the last batch) are left out. Writes acc.log (one line) and
    acc.json into result_dir.

    Returns:
        {"accuracy": float, "reviews": int}
    """
    correct = total = 0
    for path in _bin_batches(config.result_path):
        labels = np.fromfile(Path(config.result_path) / BIN_FOLDERS["label"] / path.name,
                             np.int32)
        result = Path(config.result_dir) / f"{path.stem}_0.bin"
        if not result.exists():
            raise UserError(f"no inference result {result}; run the inference step first")
        logits = np.fromfile(result, np.float32).reshape(len(labels), -1)
        real = labels != PAD_LABEL
        correct += int((logits.argmax(axis=1)[real] == labels[real]).sum())
        total += int(real.sum())
    outcome = {"accuracy": correct / max(total, 1), "reviews": total}
    line = f"accuracy: {outcome['accuracy']:.6f} ({correct}/{total} reviews)"
    write_text(Path(config.result_dir) / "acc.log", line + "\n", what="--result_dir")
    write_json(Path(config.result_dir) / "acc.json", outcome, what="--result_dir")
    log(line)
    return outcome


if __name__ == "__main__":
    from ..core.cli import run_main
    run_main(infer_bin_files)
