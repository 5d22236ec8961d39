"""Other datasets: Kaggle phrases TSV, any CSV/TSV, SST trees (src/data/splits.py, src/data/mindrecord.py)."""
import csv

import pytest

from src.core.config import load_config
from src.core.errors import UserError
from src.data.mindrecord import data_key
from src.data.splits import labelled_parts
from src.data.splits import read_dataset, read_unlabelled
from src.inference.predict_io import write_submission
from src.data.readers.labelled_text import label_names
from src.data.readers.sst import parse_tree, tree_phrases
from conftest import ROOT, SAMPLE, run_script, tiny_args
from src.data.readers.aclimdb import read_aclimdb

PHRASES = ROOT / "data" / "phrases_sample"
SST = ROOT / "data" / "sst_sample"


def phrases_config(tmp_path, *extra):
    return load_config(tiny_args(tmp_path) + ["--dataset", "phrases_tsv", "--data_path",
                                              str(PHRASES), "--num_classes", "5", *extra])


def sst_config(tmp_path, classes=5, *extra):
    return load_config(tiny_args(tmp_path) + ["--dataset", "sst", "--data_path", str(SST),
                                              "--sst_classes", str(classes),
                                              "--num_classes", str(classes), *extra])


def csv_config(tmp_path, path, *extra):
    return load_config(tiny_args(tmp_path) + [
        "--dataset", "csv", "--data_path", str(path), "--delimiter", ";",
        "--text_column", "review", "--label_column", "stars", "--id_column", "",
        "--group_column", "", *extra])


def test_phrases_reader_reads_the_kaggle_sample(tmp_path):
    splits = read_dataset(phrases_config(tmp_path))
    train, unlabelled = splits["train"], splits["unlabelled"]
    assert len(train) == 3702 and len(unlabelled) == 570 and splits["test"] == []
    assert {r.label for r in train} == {0, 1, 2, 3, 4}
    assert len({r.group for r in train}) == 200
    assert all(r.label == -1 and r.name.isdigit() for r in unlabelled)
    assert not any("-LRB-" in r.text or "-RRB-" in r.text for r in train)
    first = train[0]
    with open(PHRASES / "train.tsv", encoding="utf-8") as stream:
        row = next(csv.DictReader(stream, delimiter="\t"))
    assert (first.name, first.group, first.label) == (row["PhraseId"], row["SentenceId"],
                                                      int(row["Sentiment"]))


def test_group_split_never_puts_one_sentence_on_two_sides(tmp_path):
    parts = labelled_parts(phrases_config(tmp_path, "--valid_split", "0.2"))
    groups = {name: {r.group for r in rows} for name, rows in parts.items()}
    assert not groups["train"] & groups["valid"]
    assert not groups["train"] & groups["test"]
    assert not groups["valid"] & groups["test"]
    assert sum(len(rows) for rows in parts.values()) == 3702
    assert len(groups["valid"]) == len(groups["test"]) == 40  # 20 % of 200 sentences each


def test_parse_tree_gives_root_label_and_leaf_words():
    root, words = parse_tree("(3 (2 It) (4 (3 (2 -LRB-) (4 works)) (2 -RRB-)))")
    assert root == 3 and words == ["It", "(", "works", ")"]
    first = (SST / "train.txt").read_text(encoding="utf-8").splitlines()[0]
    root, words = parse_tree(first)
    assert root == int(first[1])
    assert first.count("(") == 2 * len(words) - 1  # SST trees are binary: n leaves, n-1 inner
    assert all(f" {word})" in first for word in words if word not in "()")


def test_tree_phrases_list_every_node_root_last():
    nodes = tree_phrases("(1 (2 Not) (0 (2 a) (0 (1 good) (2 film))))")
    assert nodes[-1] == (1, ["Not", "a", "good", "film"])
    assert (0, ["a", "good", "film"]) in nodes and (1, ["good"]) in nodes and len(nodes) == 7


def test_sst_phrases_train_on_every_distinct_phrase(tmp_path):
    sentences = read_dataset(sst_config(tmp_path, 2))
    phrases = read_dataset(sst_config(tmp_path, 2, "--sst_phrases", "true"))
    texts = [r.text for r in phrases["train"]]
    assert len(texts) == len(set(texts)) > 10 * len(sentences["train"])
    assert {r.text for r in sentences["train"]} <= set(texts)
    assert [r.text for r in phrases["test"]] == [r.text for r in sentences["test"]]


def test_sst5_keeps_every_tree_and_sst2_drops_neutral(tmp_path):
    roots = {name: [parse_tree(line)[0] for line in
                    (SST / f"{name}.txt").read_text(encoding="utf-8").splitlines()]
             for name in ("train", "dev", "test")}
    five = read_dataset(sst_config(tmp_path, 5))
    two = read_dataset(sst_config(tmp_path, 2))
    for split, name in (("train", "train"), ("valid", "dev"), ("test", "test")):
        assert [r.label for r in five[split]] == roots[name]
        assert [r.label for r in two[split]] == [int(root > 2) for root in roots[name]
                                                 if root != 2]


def test_csv_with_other_delimiter_columns_and_label_names(tmp_path):
    rows = ["review;stars", "a dull , lifeless film;0", "\"sharp; funny and warm\";positive",
            "utterly boring;negative", "a joy;1"]
    path = tmp_path / "reviews.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    train = read_dataset(csv_config(tmp_path, path))["train"]
    assert [(r.text, r.label) for r in train] == [
        ("a dull , lifeless film", 0), ("sharp; funny and warm", 1), ("utterly boring", 0),
        ("a joy", 1)]
    assert [r.name for r in train] == ["2", "3", "4", "5"]


def test_csv_folder_with_labelled_test_file(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    body = "\n".join(f"review {i} {'good' if i % 2 else 'bad'};{i % 2}" for i in range(40))
    (folder / "train.csv").write_text("review;stars\n" + body + "\n", encoding="utf-8")
    (folder / "test.csv").write_text("review;stars\ngood;1\nbad;0\n", encoding="utf-8")
    parts = labelled_parts(csv_config(tmp_path, folder))
    assert [(r.text, r.label) for r in parts["test"]] == [("good", 1), ("bad", 0)]
    assert len(parts["train"]) + len(parts["valid"]) == 40


def test_unlabelled_rows_become_a_submission_file(tmp_path):
    ids, texts = read_unlabelled(phrases_config(tmp_path))
    assert len(ids) == len(texts) == 570
    path = write_submission(ids, [i % 5 for i in range(len(ids))], tmp_path / "sub.csv")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "PhraseId,Sentiment" and lines[1] == f"{ids[0]},0" and len(lines) == 571
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    with pytest.raises(UserError, match="2 ids but 1 predictions"):
        write_submission(["1", "2"], [0], tmp_path / "bad.csv")
    assert not (tmp_path / "bad.csv").exists()


def test_label_names_follow_num_classes():
    assert label_names(2) == ("negative", "positive")
    assert label_names(5) == ("negative", "somewhat negative", "neutral", "somewhat positive",
                              "positive")
    assert label_names(4) == ("class 0", "class 1", "class 2", "class 3")


def test_cache_key_changes_with_dataset_settings(tmp_path):
    keys = {data_key(phrases_config(tmp_path)),
            data_key(phrases_config(tmp_path, "--group_column", "PhraseId")),
            data_key(sst_config(tmp_path, 5)), data_key(sst_config(tmp_path, 2))}
    assert len(keys) == 4


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


BAD_TABLES = {
    "missing column": ("review;score\nfine;1\n", "has no column 'stars'"),
    "label out of range": ("review;stars\nfine;1\nbad;7\n", r"label 7 is outside 0\.\.1"),
    "label not a number": ("review;stars\nfine;great\n", "label 'great' is not a class"),
    "empty file": ("", "is empty"),
    "header only": ("review;stars\n", "has a header but no rows"),
    "short row": ("review;stars\nfine;1\nno label here\n", "1 fields, the header has 2"),
}


@pytest.mark.parametrize("case", sorted(BAD_TABLES))
def test_bad_csv_gives_one_clear_error(tmp_path, case):
    text, message = BAD_TABLES[case]
    config = csv_config(tmp_path, _write(tmp_path / "bad.csv", text))
    with pytest.raises(UserError, match=message):
        read_dataset(config)


def test_bad_sst_and_config_inputs(tmp_path):
    for bad in ("(3 (2 unbalanced)", "(3 (2 a)) (2 b)", "(x (2 a))", "(3 )", ""):
        with pytest.raises(UserError, match="not a bracketed SST tree"):
            parse_tree(bad, "x")
    folder = tmp_path / "trees"
    folder.mkdir()
    _write(folder / "train.txt", "(3 (2 fine))\n")
    with pytest.raises(UserError, match="has no dev.txt, test.txt"):
        read_dataset(sst_config(tmp_path, 5, "--data_path", str(folder)))
    with pytest.raises(UserError, match="pass --num_classes 5"):
        load_config(tiny_args(tmp_path) + ["--dataset", "sst", "--data_path", str(SST),
                                           "--sst_classes", "5"])
    with pytest.raises(UserError, match="data_path, which is empty"):
        load_config(tiny_args(tmp_path) + ["--dataset", "csv"])
    with pytest.raises(UserError, match="must be one character"):
        csv_config(tmp_path, SST, "--delimiter", ";;")
    with pytest.raises(UserError, match="label 4 is outside 0..1"):
        read_dataset(phrases_config(tmp_path, "--num_classes", "2"))


@pytest.mark.parametrize("case,args", [
    ("missing column", ["--text_column", "Text"]),
    ("label out of range", ["--num_classes", "3"]),
    ("missing path", ["--data_path", "/nonexistent/phrases"]),
])
def test_bad_inputs_exit_2_with_one_line(tmp_path, case, args):
    result = run_script("train.py", *tiny_args(tmp_path), "--dataset", "phrases_tsv",
                        "--data_path", str(PHRASES), "--num_classes", "5", *args, timeout=120)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.stderr
    assert not list((tmp_path / "preprocess").glob("*"))  # no half-built cache left behind


@pytest.mark.slow
def test_five_class_phrases_train_and_eval_end_to_end(tmp_path, capsys):
    import numpy as np
    from predict import main as predict
    from src.training.evaluate import evaluate
    from src.inference.predictor import load_predictor
    from train import main as train
    # 2 epochs at 0.01: the model then tells some phrases from neutral, the majority class
    config = phrases_config(tmp_path, "--batch_size", "64", "--max_len", "32",
                            "--num_epochs", "2", "--learning_rate", "0.01")
    run_dir = train(config, log=lambda *_: None)
    assert (run_dir / "lstm-best.ckpt").exists()
    result = evaluate(config, "test", log=lambda *_: None)
    test_rows = labelled_parts(config)["test"]
    matrix = np.array(result["confusion_matrix"])
    assert result["reviews"] == len(test_rows) and matrix.shape == (5, 5)
    # rows: the true classes of the test rows; the accuracy is the diagonal's share
    assert matrix.sum(axis=1).tolist() == [sum(r.label == c for r in test_rows)
                                           for c in range(5)]
    assert result["accuracy"] == pytest.approx(np.trace(matrix) / len(test_rows))
    assert result["class_names"] == list(label_names(5))

    submission = tmp_path / "submission.csv"
    assert predict([*tiny_args(tmp_path), "--dataset", "phrases_tsv", "--data_path",
                    str(PHRASES), "--submission", str(submission)]) == 0
    assert f"wrote 570 predictions to {submission}" in capsys.readouterr().out
    with open(submission, encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    ids, texts = read_unlabelled(config)
    assert [row["PhraseId"] for row in rows] == ids
    predictor = load_predictor(config)  # the run's lstm-best.ckpt
    expected = predictor.logits(predictor.encode(texts)).argmax(axis=1).tolist()
    assert [int(row["Sentiment"]) for row in rows] == expected
    assert len(set(expected)) > 1, "a one-class model: the comparison would prove little"


def _own_csv(path, reviews, delimiter=",", labels=("negative", "positive")):
    with open(path, "w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream, delimiter=delimiter)
        writer.writerow(["id", "text", "label"])
        writer.writerows((f"r{i}", r.text, labels[r.label]) for i, r in enumerate(reviews))
    return path


@pytest.mark.parametrize("name, delimiter, labels", [
    ("train.csv", ",", ("negative", "positive")),
    ("train.tsv", "\t", ("0", "1")),
])
def test_a_users_own_table_needs_only_its_path(tmp_path, name, delimiter, labels):
    """text and label columns, the delimiter from the file's name, labels as names or numbers."""
    reviews = read_aclimdb(SAMPLE)["train"][::10]
    path = _own_csv(tmp_path / name, reviews, delimiter, labels)
    config = load_config(["--dataset", "csv", "--data_path", str(path)])
    train = read_dataset(config)["train"]
    assert [(r.text, r.label, r.name) for r in train] == \
        [(r.text, r.label, f"r{i}") for i, r in enumerate(reviews)]
