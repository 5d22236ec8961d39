"""Inference: raw reviews -> labels and probabilities, from a checkpoint or an exported MINDIR.

Reviews go through `src.text.tokenize` and the training run's vocab.json exactly as in
training (first max_len tokens). Work is batched: reviews are sorted by length, cut into
batches of at most batch_size, and each batch is padded to a small set of fixed shapes so the
compiled graph is reused. Padding never changes a review's result (SentimentNet masks by the
true lengths); padded rows are dropped.

The model-zoo "310" offline flow lives here too: `write_bin_files` (preprocess.py) dumps the
test set as fixed-shape .bin batches, `infer_bin_files` runs an exported MINDIR over them with
MindSpore's own loader (`nn.GraphCell(mindspore.load(...))`), `score_bin_results`
(postprocess.py) computes the accuracy. `python -m src.infer --mindir_path X` is the CPU
stand-in for the Ascend C++ app of ascend310_infer/.
"""
import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from src.run_folder import run_folder
from src.config import UserError, run_main
from src.datasets import read_unlabelled, write_submission
from src.text import Vocab, tokenize

__all__ = ["Predictor", "Prediction", "load_predictor", "read_reviews", "format_prediction",
           "write_bin_files", "infer_bin_files", "score_bin_results", "run_folder",
           "predict_command", "with_run_config", "BIN_FOLDERS"]

BIN_FOLDERS = {"ids": "00_data", "length": "01_length", "label": "02_label"}
PAD_LABEL = -1  # label of the rows that only fill up the last fixed-shape batch


@dataclass
class Prediction:
    """One review's result: the winning label and every class probability."""
    label: str
    probabilities: dict

    def as_dict(self):
        return {"label": self.label, "probabilities": self.probabilities}


def _softmax(logits):
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def _label_names(config):
    from src.datasets import label_names
    return label_names(config)


def _round_up(value, step):
    return -(-value // step) * step


class Predictor:
    """Batches encoded reviews through a forward function and turns logits into predictions.

    Args:
        config: the run's Config (max_len, batch_size, bucket_width, num_classes).
        vocab: the run's Vocab.
        forward: callable (ids [B, T] int32, length [B] int32) -> logits numpy [B, C].
        fixed_shape: (batch, steps) every call must use (an exported MINDIR), or None to pad
            batches to powers of two and steps to multiples of bucket_width (a checkpoint).
        name: how the page and logs name the model (the checkpoint or MINDIR file).
    """

    def __init__(self, config, vocab, forward, fixed_shape=None, name="model"):
        self.config, self.vocab, self.forward = config, vocab, forward
        self.fixed_shape, self.name = fixed_shape, name
        self.labels = _label_names(config)

    def encode(self, texts):
        """Token ids (int32 arrays, 1..max_len long) of each text, as in training."""
        return [self.vocab.encode(tokenize(text), self.config.max_len, self.config.truncate)
                for text in texts]

    def _shape(self, rows, longest):
        if self.fixed_shape:
            return self.fixed_shape
        batch = 1 << (rows - 1).bit_length()
        width = self.config.bucket_width or self.config.max_len
        return min(batch, self.config.batch_size), min(_round_up(longest, width),
                                                       self.config.max_len)

    def _batch_logits(self, encoded):
        batch, steps = self._shape(len(encoded), max(len(ids) for ids in encoded))
        ids = np.zeros((batch, steps), np.int32)
        length = np.ones((batch,), np.int32)
        for row, review in enumerate(encoded):
            ids[row, :len(review)] = review
            length[row] = len(review)
        return np.asarray(self.forward(ids, length))[:len(encoded)]

    def logits(self, encoded):
        """Logits [N, num_classes] of encoded reviews, computed in length-sorted batches."""
        if not encoded:
            return np.zeros((0, self.config.num_classes), np.float32)
        size = self.fixed_shape[0] if self.fixed_shape else self.config.batch_size
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        result = np.zeros((len(encoded), self.config.num_classes), np.float32)
        for start in range(0, len(order), size):
            chosen = order[start:start + size]
            result[chosen] = self._batch_logits([encoded[i] for i in chosen])
        return result

    def predict(self, texts):
        """[Prediction] for each text (str), in input order."""
        probabilities = _softmax(self.logits(self.encode(texts)))
        return [Prediction(self.labels[int(row.argmax())],
                           {name: round(float(p), 6) for name, p in zip(self.labels, row)})
                for row in probabilities]


def _checkpoint_forward(config, checkpoint, vocab_rows):
    import mindspore as ms
    from src.eval import load_network
    network = load_network(config, checkpoint)
    table_rows = network.embedding.embedding_table.shape[0]
    if table_rows != vocab_rows:
        raise UserError(f"checkpoint {checkpoint} has a {table_rows}-word vocabulary but "
                        f"{run_folder(config) / 'vocab.json'} has {vocab_rows}; use the "
                        f"vocab.json of the run that wrote the checkpoint (--ckpt_path RUN_DIR)")
    if config.backend == "onnxruntime":
        from src.onnx_backend import OnnxForward
        return OnnxForward(network, config.quantize)
    return lambda ids, length: network(ms.Tensor(ids), ms.Tensor(length)).asnumpy()


def mindir_input_shapes(path):
    """[(name, shape)] of an exported MINDIR's inputs, read from the file itself."""
    from google.protobuf.message import DecodeError
    from mindspore.train import mind_ir_pb2
    model = mind_ir_pb2.ModelProto()
    try:
        model.ParseFromString(Path(path).read_bytes())
        return [(item.name.rsplit(":", 1)[-1], tuple(item.tensor[0].dims))
                for item in model.graph.input]
    except FileNotFoundError:
        raise UserError(f"MINDIR {path} not found; run export.py first or fix "
                        f"--mindir_path") from None
    except (OSError, ValueError, IndexError, DecodeError) as err:
        raise UserError(f"{path} is not a MINDIR file ({str(err)[:80]}); export one with "
                        f"export.py") from None


def _load_graph(path):
    import mindspore as ms
    from mindspore import nn
    shapes = mindir_input_shapes(path)
    if [name for name, _ in shapes] != ["ids", "length"] or len(shapes[0][1]) != 2:
        raise UserError(f"MINDIR {path} does not take (ids [batch, steps], length [batch]); "
                        f"use a file written by this project's export.py")
    try:
        graph = nn.GraphCell(ms.load(str(path)))
    except (RuntimeError, ValueError) as err:
        raise UserError(f"MindSpore cannot load {path} ({str(err).splitlines()[0][:80]}); "
                        f"export it again with export.py") from None
    return graph, shapes[0][1]


def _mindir_forward(path, config, vocab, device=None):
    """(forward, fixed input shape) of the MINDIR at path, once it is known to fit this run's
    vocabulary and device (src/mindir.py)."""
    import mindspore as ms
    from src.mindir import check_fits
    check_fits(path, config, vocab, device)
    graph, shape = _load_graph(path)
    return (lambda ids, length: graph(ms.Tensor(ids), ms.Tensor(length)).asnumpy()), shape


def _limit_cpu_threads(config):
    """One CPU kernel thread per usable core (MindSpore's default is 25 threads, whatever the
    core count: on 2 cores that more than doubles the latency of one small review)."""
    from mindspore.device_context.cpu.op_tuning import RuntimeConf, threads_num
    configured = RuntimeConf.get_instance().is_op_threads_num_configured()
    if config.device_target == "CPU" and not configured:
        threads_num(len(os.sched_getaffinity(0)))


def load_predictor(config):
    """A Predictor for config.mindir_path if set, else for the run's checkpoint.

    The checkpoint is config.checkpoint_path, or ckpt_path/lstm-best.ckpt; the vocabulary is
    vocab.json of the run folder (see run_folder). Sets up the device (CPU/GPU/Ascend).
    """
    from src.device import init_device
    if config.quantize != "none" and config.backend != "onnxruntime":
        raise UserError(f"quantize: {config.quantize} applies to --backend onnxruntime only; "
                        f"add --backend onnxruntime or drop --quantize")
    if config.mindir_path and config.backend == "onnxruntime":
        raise UserError("a MINDIR runs on MindSpore only; drop --mindir_path to run the "
                        "checkpoint with --backend onnxruntime")
    _limit_cpu_threads(config)
    init_device(config)
    vocab = Vocab.load(run_folder(config) / "vocab.json")
    if config.mindir_path:
        forward, shape = _mindir_forward(config.mindir_path, config, vocab)
        return Predictor(config, vocab, forward, shape, name=Path(config.mindir_path).name)
    checkpoint = Path(config.checkpoint_path or Path(config.ckpt_path) / "lstm-best.ckpt")
    return Predictor(config, vocab, _checkpoint_forward(config, checkpoint, len(vocab)),
                     name=f"{checkpoint.parent.name}/{checkpoint.name}"
                     + _backend_suffix(config))


def _backend_suffix(config):
    if config.backend == "mindspore":
        return ""
    return f" ({config.backend}{'' if config.quantize == 'none' else ' ' + config.quantize})"


def _decode_line(raw, number, source):
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UserError(f"line {number} of {source} is not UTF-8 (bad byte at offset "
                        f"{err.start}); re-save the file as UTF-8") from None
    if not text.strip():
        raise UserError(f"line {number} of {source} is empty; remove blank lines (one review "
                        f"per line)")
    return text


def read_reviews(texts, input_file, stdin=None):
    """The reviews to classify: texts given as arguments, else lines of input_file or stdin.

    Args:
        texts: reviews from the command line (may be empty).
        input_file: path of a UTF-8 file with one review per line, "-" for stdin, or "".
        stdin: binary stream used when input_file is "-" or when no texts and no file are
            given and it is not a terminal.

    Returns:
        A list of non-empty review strings. Empty reviews and non-UTF-8 bytes raise UserError
        naming the line (nothing is predicted then).
    """
    if texts:
        for number, text in enumerate(texts, 1):
            if not text.strip():
                raise UserError(f"review argument {number} is empty; give it text")
        return list(texts)
    stdin = stdin if stdin is not None else sys.stdin.buffer
    if input_file and input_file != "-":
        try:
            raw, source = Path(input_file).read_bytes(), input_file
        except OSError as err:
            raise UserError(f"cannot read --input_file {input_file} ({err.strerror}); pass a "
                            f"readable file with one review per line") from None
    elif input_file == "-" or not getattr(stdin, "isatty", lambda: True)():
        raw, source = stdin.read(), "stdin"
    else:
        raise UserError("no reviews given; pass them as arguments, with --input_file FILE, or "
                        "on stdin")
    lines = raw.splitlines()
    if not lines:
        raise UserError(f"{source} holds no reviews; put one review per line")
    return [_decode_line(line, number, source) for number, line in enumerate(lines, 1)]


def format_prediction(prediction, text, output_format):
    """One output line: JSON, or 'label  p(name)=0.1234 ...  review start'."""
    if output_format == "json":
        return json.dumps(prediction.as_dict(), ensure_ascii=False)
    probabilities = " ".join(f"p({name})={p:.4f}" for name, p in
                             prediction.probabilities.items())
    snippet = " ".join(text.split())
    snippet = snippet if len(snippet) <= 60 else snippet[:57] + "..."
    return f"{prediction.label}\t{probabilities}\t{snippet}"


def split_arguments(argv):
    """Split predict.py's words into config words (--key value) and review texts.

    Every word after a bare "--" is a review, so a review may itself start with "--".
    """
    flags, texts, words = [], [], list(argv)
    while words:
        word = words.pop(0)
        if word == "--":
            texts += words
            break
        if word.startswith("--") and len(word) > 2:
            key, equals, value = word.partition("=")
            flags += [key, value] if equals else [key] + words[:1]
            words = words if equals else words[1:]
        else:
            texts.append(word)
    return flags, texts


def with_run_config(argv):
    """argv with the run's config.yaml put first (network shape, max_len, vocabulary settings).

    The run folder is --ckpt_path, else the folder of --checkpoint_path; nothing changes when
    --config_path is given or the folder has no config.yaml.
    """
    flags, texts = split_arguments(argv)
    values = dict(zip(flags[::2], flags[1::2]))
    folder = values.get("--ckpt_path") or (values.get("--checkpoint_path") and
                                           str(Path(values["--checkpoint_path"]).parent))
    if "--config_path" not in values and folder and (Path(folder) / "config.yaml").exists():
        flags = ["--config_path", str(Path(folder) / "config.yaml")] + flags
    return flags + texts


def _write_submission(config, predictor, out):
    """Predict every unlabelled row of data_path (Kaggle's test.tsv) into a submission CSV."""
    ids, texts = read_unlabelled(config)
    labels = predictor.logits(predictor.encode(texts)).argmax(axis=1)
    path = write_submission(ids, labels.tolist(), config.submission)
    print(f"wrote {len(ids)} predictions to {path}", file=out)
    return 0


def _predict(config, texts, out):
    if config.submission:
        return _write_submission(config, load_predictor(config), out)
    reviews = read_reviews(texts, config.input_file)
    predictor = load_predictor(config)
    for review, prediction in zip(reviews, predictor.predict(reviews)):
        print(format_prediction(prediction, review, config.output_format), file=out)
    return 0


def predict_command(argv, out=None):
    """predict.py: classify reviews given as arguments, in --input_file, or on stdin.

    Args:
        argv: command-line words: reviews and --key value config overrides (predict-specific
            keys: checkpoint_path | mindir_path, ckpt_path (run folder with vocab.json and
            config.yaml), input_file, output_format text|json, submission FILE.csv for the
            unlabelled rows of a phrases_tsv data_path).
        out: text stream for the results (default stdout).
    """
    if argv and argv[0] in ("-h", "--help"):
        print("usage: predict.py --ckpt_path RUN_DIR [--checkpoint_path X.ckpt | --mindir_path "
              "X.mindir] [--input_file FILE|-] [--output_format text|json] [--KEY VALUE ...] "
              "[--] [REVIEW ...]")
        return 0
    flags, texts = split_arguments(argv)
    return run_main(lambda config: _predict(config, texts, out or sys.stdout),
                    with_run_config(flags))


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
    from src.data import create_dataset, prepare
    prepared = prepare(config, log)
    target = Path(config.result_path)
    building = target.with_name(f".{target.name}.building-{os.getpid()}")
    try:
        shutil.rmtree(building, ignore_errors=True)
        for folder in BIN_FOLDERS.values():
            (building / folder).mkdir(parents=True)
        dataset = create_dataset(prepared.mindrecord("test"), config.batch_size, config.max_len)
        count = 0
        for index, batch in enumerate(dataset.create_dict_iterator(output_numpy=True)):
            count += _write_bin_batch(config, building, index, batch)
        shutil.rmtree(target, ignore_errors=True)
        building.rename(target)
    except OSError as err:
        raise UserError(f"cannot write {target} ({err.strerror}); pass --result_path in a "
                        f"writable folder") from None
    finally:
        shutil.rmtree(building, ignore_errors=True)
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
    from src.device import init_device
    if not config.mindir_path:
        raise UserError("pass --mindir_path FILE.mindir (written by export.py)")
    init_device(config)
    vocab = Vocab.load(run_folder(config) / "vocab.json")
    forward, shape = _mindir_forward(config.mindir_path, config, vocab)
    target = Path(config.result_dir)
    target.mkdir(parents=True, exist_ok=True)
    for path in _bin_batches(config.result_path):
        ids = np.fromfile(path, np.int32)
        length = np.fromfile(Path(config.result_path) / BIN_FOLDERS["length"] / path.name,
                             np.int32)
        if ids.size != shape[0] * shape[1] or length.size != shape[0]:
            raise UserError(f"{path} does not fit the MINDIR's input shape {list(shape)}; run "
                            f"preprocess.py with the batch_size and max_len used by export.py")
        logits = forward(ids.reshape(shape), length)
        tmp = target / f".{path.stem}_0.bin.tmp"
        logits.astype(np.float32).tofile(tmp)
        tmp.replace(target / f"{path.stem}_0.bin")
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
    for name, text in (("acc.log", line + "\n"), ("acc.json", json.dumps(outcome))):
        path = Path(config.result_dir) / name
        tmp = path.with_name(f".{name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    log(line)
    return outcome


if __name__ == "__main__":
    run_main(infer_bin_files)
