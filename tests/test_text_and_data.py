"""Tokenizer, vocabulary, reading aclImdb and the cached MindRecord files."""
import dataclasses
import json
import shutil

import numpy as np
import pytest

from conftest import SAMPLE
from src.core.errors import UserError
from src.data.readers.aclimdb import read_aclimdb
from src.data.buckets import EVAL_BATCH, EVAL_TOKENS, bucket_batch_sizes
from src.data.mindrecord import (batches_per_epoch, create_dataset, data_key, eval_batches, prepare,
                      train_batches)
from src.data.splits import split_validation
from src.data.glove import glove_words
from src.data.text import PAD, UNK, Vocab, tokenize


def test_tokenizer_drops_markup_and_splits_punctuation_and_contractions():
    text = "I didn't like it.<br /><br />The END, really!"
    assert tokenize(text) == ["i", "did", "n't", "like", "it", ".", "the", "end", ",", "really",
                              "!"]


def test_tokenizer_keeps_accented_words_and_numbers():
    assert tokenize("Amélie: 10/10") == ["amélie", ":", "10", "/", "10"]


def test_tokenizer_bounds_very_long_text():
    assert len(tokenize("word " * 1_000_000)) == 20_000


def test_vocab_orders_by_frequency_and_applies_min_freq_and_max_size():
    vocab = Vocab.build([["b", "a", "b"], ["c", "b", "a"], ["d"]], min_freq=2, max_size=10)
    assert vocab.tokens == [PAD, UNK, "b", "a"]
    assert Vocab.build([["b", "a", "b", "a", "c", "c"]], min_freq=1, max_size=3).tokens[2:] == ["b"]


def test_head_tail_truncation_keeps_both_ends_of_a_long_text():
    vocab = Vocab([PAD, UNK] + list("abcdefg"))
    assert vocab.encode(list("abcdefg"), max_len=5, truncate="head_tail").tolist() == [
        2, 3, 6, 7, 8]
    assert vocab.encode(list("abcdefg"), max_len=5).tolist() == [2, 3, 4, 5, 6]
    assert vocab.encode(list("abc"), max_len=5, truncate="head_tail").tolist() == [2, 3, 4]


def test_vocab_extended_adds_new_words_in_order_up_to_max_size():
    vocab = Vocab([PAD, UNK, "good"])
    assert vocab.extended(["good", "fine", "nice", "dull"], max_size=5).tokens == [
        PAD, UNK, "good", "fine", "nice"]
    assert vocab.extended(["fine"], max_size=3).tokens == vocab.tokens


def test_vocab_from_glove_gives_words_unseen_in_training_their_own_id(tiny_config, tmp_path):
    glove = SAMPLE.parent / "glove_sample.50d.txt.gz"
    config = dataclasses.replace(tiny_config, embedding="glove", glove_path=str(glove),
                                 vocab_from_glove=True, vocab_size=3000, min_freq=20,
                                 preprocess_path=str(tmp_path))
    plain = dataclasses.replace(config, vocab_from_glove=False)
    assert data_key(config) != data_key(plain)
    vocab, trained_only = prepare(config, log=print).vocab, prepare(plain, log=print).vocab
    added = [word for word in vocab.tokens if word not in trained_only.index]
    assert added and len(vocab) <= 3000
    assert vocab.tokens[:len(trained_only)] == trained_only.tokens
    assert set(added) <= set(glove_words(glove))


def test_vocab_encodes_unknown_words_and_truncates(tmp_path):
    vocab = Vocab([PAD, UNK, "good", "film"])
    assert vocab.encode(["good", "bad", "film", "good"], max_len=3).tolist() == [2, 1, 3]
    assert vocab.encode([], max_len=3).tolist() == [1]
    vocab.save(tmp_path / "vocab.json")
    assert json.loads((tmp_path / "vocab.json").read_text())["tokens"] == vocab.tokens
    assert Vocab.load(tmp_path / "vocab.json").index == vocab.index


def test_read_aclimdb_reads_every_review_of_the_sample_with_labels():
    splits = read_aclimdb(SAMPLE)
    assert [len(splits["train"]), len(splits["test"])] == [1000, 500]
    labels = [r.label for r in splits["train"]]
    assert labels.count(0) == labels.count(1) == 500
    first_pos = next(r for r in splits["train"] if r.label == 1)
    assert first_pos.name.startswith("train/pos/")
    assert first_pos.text == (SAMPLE / first_pos.name).read_text(encoding="utf-8")


def test_read_aclimdb_reads_the_tar_gz_archive_too(tmp_path):
    import tarfile
    archive = tmp_path / "aclImdb_v1.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(SAMPLE, arcname="aclImdb")
    from_archive = read_aclimdb(archive)
    from_folder = read_aclimdb(SAMPLE)
    assert [(r.name, r.label, r.text) for r in from_archive["test"]] == \
           [(r.name, r.label, r.text) for r in from_folder["test"]]


def test_validation_split_is_balanced_seeded_and_disjoint():
    train = read_aclimdb(SAMPLE)["train"]
    kept, held = split_validation(train, 0.1, seed=1)
    assert len(held) == 100 and sum(r.label for r in held) == 50
    assert not {r.name for r in kept} & {r.name for r in held}
    assert [r.name for r in split_validation(train, 0.1, seed=1)[1]] == [r.name for r in held]


def test_mindrecord_round_trip_gives_the_encoded_reviews(tiny_config, prepared):
    reviews = read_aclimdb(SAMPLE)["test"]
    dataset = create_dataset(prepared.mindrecord("test"), batch_size=500,
                             max_len=tiny_config.max_len)
    ids, length, label = next(dataset.create_tuple_iterator(output_numpy=True))
    assert ids.shape == (500, tiny_config.max_len)
    assert label.tolist() == [r.label for r in reviews]
    expected = prepared.vocab.encode(tokenize(reviews[7].text), tiny_config.max_len,
                                     tiny_config.truncate)
    assert length[7] == len(expected)
    assert ids[7, :length[7]].tolist() == expected.tolist()
    assert not ids[7, length[7]:].any()


def test_bucketed_batches_pad_only_to_the_bucket_boundary(tiny_config, prepared):
    dataset = create_dataset(prepared.mindrecord("train"), batch_size=16, max_len=64,
                             bucket_width=16)
    for ids, length, _ in dataset.create_tuple_iterator(output_numpy=True):
        assert ids.shape[1] in (16, 32, 48, 64)
        assert length.max() <= ids.shape[1] < length.min() + 16


def test_batch_tokens_caps_the_tokens_of_every_training_batch(prepared):
    """The training batch's LSTM work memory grows with its tokens (about 75 KB each on CPU):
    batch_tokens caps them below batch_size x 10 widths; 0 keeps that rule."""
    assert bucket_batch_sizes(16, 4, 64, batch_tokens=0) == bucket_batch_sizes(16, 4, 64)
    assert bucket_batch_sizes(16, 4, 64, batch_tokens=320) == [16] * 5 + [13, 11, 10, 8, 8, 5, 5]
    dataset = create_dataset(prepared.mindrecord("train"), batch_size=16, max_len=64,
                             bucket_width=4, batch_tokens=320)
    shapes = [ids.shape for ids, _, _ in dataset.create_tuple_iterator(output_numpy=True)]
    assert (5, 64) in shapes
    assert max(rows * length for rows, length in shapes) <= 320


def test_long_buckets_hold_fewer_reviews_so_no_batch_holds_more_tokens(prepared):
    assert bucket_batch_sizes(16, 4, 64) == [16] * 10 + [10, 10]
    dataset = create_dataset(prepared.mindrecord("train"), batch_size=16, max_len=64,
                             bucket_width=4)
    shapes = [ids.shape for ids, _, _ in dataset.create_tuple_iterator(output_numpy=True)]
    assert (10, 64) in shapes
    assert max(rows * length for rows, length in shapes) <= 16 * 40


def test_passes_without_gradient_read_at_most_eval_tokens_a_batch(tiny_config, tmp_path):
    """Validation, eval.py and the wide fit read long reviews in fewer rows: EVAL_BATCH x 600
    tokens would hold 2.4 times EVAL_TOKENS (eval.py of model/ on the sample: 0.96 GB)."""
    config = dataclasses.replace(tiny_config, max_len=600, bucket_width=50,
                                 preprocess_path=str(tmp_path / "preprocess"))
    dataset = eval_batches(config, prepare(config, log=lambda *_: None).mindrecord("test"))
    shapes = [ids.shape for ids, _, _ in dataset.create_tuple_iterator(output_numpy=True)]
    assert sum(rows for rows, _ in shapes) == 500
    assert max(rows for rows, _ in shapes) == EVAL_BATCH
    assert (EVAL_TOKENS // 600, 600) in shapes
    assert max(rows * length for rows, length in shapes) <= EVAL_TOKENS


def test_steps_per_epoch_counts_the_bucketed_batches_training_runs(tiny_config, prepared):
    config = dataclasses.replace(tiny_config, batch_size=16, bucket_width=8)
    batches = train_batches(config, prepared, epoch=0)
    steps = sum(1 for _ in batches.create_tuple_iterator(output_numpy=True))
    assert batches_per_epoch(config, prepared) == steps
    assert steps < len(read_aclimdb(SAMPLE)["train"]) // 16     # a remainder per bucket


def test_prepare_reuses_the_cache_and_rebuilds_when_settings_change(tiny_config, prepared):
    messages = []
    again = prepare(tiny_config, log=messages.append)
    assert again.folder == prepared.folder and messages[0].startswith("reusing")
    other = dataclasses.replace(tiny_config, min_freq=3)
    assert data_key(other) != data_key(tiny_config)


def test_prepare_never_reads_a_half_written_cache(tiny_config, tmp_path):
    config = dataclasses.replace(tiny_config, preprocess_path=str(tmp_path / "pp"))
    complete = prepare(config, log=lambda *_: None)
    (complete.folder / "meta.json").unlink()           # as if killed before the end
    (complete.folder / "test.mindrecord").write_bytes(b"garbage")
    messages = []
    rebuilt = prepare(config, log=messages.append)
    assert messages[-1].startswith("preprocessed")
    assert create_dataset(rebuilt.mindrecord("test"), 500, 64).get_dataset_size() == 1
    assert not list((tmp_path / "pp").glob(".*.tmp-*"))


@pytest.mark.parametrize("layout, message", [
    ("missing", "does not exist"),
    ("no_test", "has no test/neg/ folder"),
])
def test_read_aclimdb_rejects_bad_layouts(tmp_path, layout, message):
    root = tmp_path / "aclImdb"
    if layout == "no_test":
        shutil.copytree(SAMPLE / "train", root / "train")
    with pytest.raises(UserError, match=message):
        read_aclimdb(root)


def test_token_ids_are_int32_and_lengths_match(prepared):
    dataset = create_dataset(prepared.mindrecord("valid"), 8, 64)
    ids, length, label = next(dataset.create_tuple_iterator(output_numpy=True))
    assert ids.dtype == np.int32 and length.dtype == np.int32 and label.dtype == np.int32
    assert ((ids > 0).sum(axis=1) <= length).all()


def test_a_pinned_split_seed_gives_every_seed_one_split_and_one_vocabulary(tiny_config):
    """So one pretrained encoder (tied to its vocabulary) serves runs of several seeds."""
    from src.data.splits import labelled_parts, split_seed
    seed2 = dataclasses.replace(tiny_config, seed=2)
    pinned = dataclasses.replace(tiny_config, seed=2, split_seed=tiny_config.seed)
    assert data_key(seed2) != data_key(tiny_config)
    assert data_key(pinned) == data_key(tiny_config) and split_seed(pinned) == tiny_config.seed
    valid = [r.text for r in labelled_parts(pinned)["valid"]]
    assert valid == [r.text for r in labelled_parts(tiny_config)["valid"]]
    assert valid != [r.text for r in labelled_parts(seed2)["valid"]]
